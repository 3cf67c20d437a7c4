"""Unicode facts as Hugging Face ``tokenizers`` (Rust) sees them, and GPT-2's byte map.

Python's ``re`` has no ``\\p{L}``, and its ``\\s``/``\\w`` differ from Rust's in
corners (``\\x1c``-``\\x1f`` are spaces to Python, not to Rust; combining marks
are word characters to Rust, not to Python): the pre-tokenizers build their
classes from ``unicodedata`` and the sets here (``pipeline._Classes``).
"""
from __future__ import annotations

import functools

# Unicode's White_Space property: Rust's char::is_whitespace and Oniguruma's \s.
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
               + "\u2028\u2029\u202f\u205f\u3000")

# BERT's CJK ideograph blocks (tokenizers' is_chinese_char), each padded with spaces.
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character (printable bytes map to themselves)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


@functools.lru_cache(maxsize=1)
def byte_translation() -> dict[int, str]:
    """``str.translate`` table taking a latin-1-decoded byte string to GPT-2's characters."""
    return {b: c for b, c in bytes_to_unicode().items()}


@functools.lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def to_byte_level(text: str) -> str:
    """``text``'s UTF-8 bytes, each written as its GPT-2 character."""
    return text.encode("utf-8").decode("latin-1").translate(byte_translation())


def from_byte_level(text: str) -> str:
    """The inverse of :func:`to_byte_level`; invalid UTF-8 becomes U+FFFD, as in ``tokenizers``."""
    table = unicode_to_bytes()
    return bytes(table[c] for c in text if c in table).decode("utf-8", errors="replace")
