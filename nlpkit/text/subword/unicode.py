"""Unicode character classes and GPT-2's byte-to-unicode map, as Hugging Face ``tokenizers`` sees them.

Python's ``re`` has no ``\\p{L}`` and its ``\\s``/``\\w`` differ from Rust's in
corners (``\\x1c``-``\\x1f`` are spaces to Python, not to Rust; combining marks
are word characters to Rust, not to Python).  The pre-tokenizers must split text
exactly where ``tokenizers`` does, so the classes they need are built here from
``unicodedata`` as explicit character ranges (once, on first use) and pasted
into ordinary ``re`` patterns.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from itertools import chain

# Unicode's White_Space property: Rust's char::is_whitespace and Oniguruma's \s.
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
               + "\u2028\u2029\u202f\u205f\u3000")

# BERT's CJK ideograph blocks (tokenizers' is_chinese_char), each padded with spaces.
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


@functools.lru_cache(maxsize=1)
def _categories() -> dict:
    """General category -> sorted list of code points, for the planes that hold
    assigned characters other than private use (0-3 and 14; surrogates excluded)."""
    by_cat: dict[str, list[int]] = {}
    category = unicodedata.category
    for cp in chain(range(0xD800), range(0xE000, 0x40000), range(0xE0000, 0xF0000)):
        by_cat.setdefault(category(chr(cp)), []).append(cp)
    return by_cat


def _ranges(codes) -> str:
    """A ``re`` character-class body for a sorted iterable of code points."""
    out, codes = [], sorted(set(codes))
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        lo, hi = re.escape(chr(codes[i])), re.escape(chr(codes[j]))
        out.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(out)


@functools.lru_cache(maxsize=None)
def char_class(*categories: str, extra: str = "") -> str:
    """Class body for the union of general categories (``'L'`` = every ``L*``) and ``extra``."""
    cats = _categories()
    codes = [ord(c) for c in extra]
    for name in categories:
        for cat, cps in cats.items():
            if cat == name or (len(name) == 1 and cat[0] == name):
                codes.extend(cps)
    return _ranges(codes)


def space_class() -> str:
    return _ranges(map(ord, WHITE_SPACE))


def word_class() -> str:
    """Rust regex's Unicode ``\\w``: letters, marks, Nd, Nl, Pc and the joiners.

    (Other_Alphabetic symbols outside the mark categories, such as circled
    letters, are the one corner left out.)"""
    return char_class("L", "M", "Nd", "Nl", "Pc", extra="\u200c\u200d")


def bert_punctuation_class() -> str:
    """BERT's punctuation: ASCII punctuation and every ``P*`` character."""
    ascii_punct = "".join(c for c in map(chr, range(33, 127)) if not c.isalnum())
    return char_class("P", extra=ascii_punct)


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
