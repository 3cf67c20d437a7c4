"""The stages around a subword model, as Hugging Face ``tokenizers`` names them.

text -> normalizer -> pre-tokenizer (words) -> model (BPE/WordPiece ids)
     -> post-processor (``[CLS] … [SEP]``); ids -> tokens -> decoder -> text.

Each stage reads and writes its ``tokenizer.json`` entry (``from_json`` /
``to_json``) and does exactly what the ``tokenizers`` stage of that name does
for the options nlpkit supports; an entry it cannot honour raises
:class:`UnsupportedConfig` naming it.  Normalizers work on a block of lines
joined by ``\\n`` (every supported step maps characters one by one and never
touches the line break), pre-tokenizers on one line at a time.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from itertools import chain

import numpy as np

from ...errors import NlpkitError
from . import unicode as uni
from .pretokenize_kernels import split_bert_ascii, split_bytelevel_ascii, split_spaces


class UnsupportedConfig(NlpkitError):
    """A tokenizer.json entry nlpkit cannot reproduce exactly."""

    def __init__(self, where, entry):
        kind = entry.get("type") if isinstance(entry, dict) else entry
        super().__init__(f"tokenizer.json: {where} {kind!r} is not supported by nlpkit "
                         f"(entry: {_short(entry)})")


def _short(entry):
    text = repr(entry)
    return text if len(text) < 160 else text[:157] + "..."


def _lower(text: str) -> str:
    # Rust lowercases character by character; Python's str.lower() writes a final
    # sigma as 'ς' in context.  Only Σ differs, so only text holding it goes slowly.
    if "Σ" in text:
        return "".join(c.lower() for c in text)
    return text.lower()


# ----------------------------------------------------------------- normalizers
class Normalizer:
    """``normalizer(text)`` normalizes one sequence; ``normalizer.block(text)`` a block of
    sequences joined by line feeds (the same as each line alone)."""

    def __call__(self, text: str) -> str:
        raise NotImplementedError

    def block(self, text: str) -> str:
        return self(text)  # steps that map characters one by one: the same

    @staticmethod
    def from_json(entry):
        if entry is None:
            return None
        kind = entry.get("type")
        if kind == "Sequence":
            steps = [Normalizer.from_json(e) for e in entry.get("normalizers", [])]
            return Sequence([s for s in steps if s is not None])
        cls = _NORMALIZERS.get(kind)
        if cls is None:
            raise UnsupportedConfig("normalizer", entry)
        return cls.from_entry(entry)


class Sequence(Normalizer):
    def __init__(self, steps):
        self.steps = list(steps)

    def __call__(self, text):
        for step in self.steps:
            text = step(text)
        return text

    def block(self, text):
        for step in self.steps:
            text = step.block(text)
        return text

    def to_json(self):
        return {"type": "Sequence", "normalizers": [s.to_json() for s in self.steps]}


class Lowercase(Normalizer):
    def __call__(self, text):
        return _lower(text)

    @classmethod
    def from_entry(cls, entry):
        return cls()

    def to_json(self):
        return {"type": "Lowercase"}


class Unicode(Normalizer):
    def __init__(self, form):
        self.form = form

    def __call__(self, text):
        return text if text.isascii() else unicodedata.normalize(self.form, text)

    @classmethod
    def from_entry(cls, entry):
        return cls(entry["type"])

    def to_json(self):
        return {"type": self.form}


class Prepend(Normalizer):
    """Prepend a string to every non-empty line (sentencepiece-converted files: ``▁``)."""

    def __init__(self, prepend):
        self.prepend = prepend

    def __call__(self, text):
        return self.prepend + text if text else text

    def block(self, text):
        p = self.prepend
        return "\n".join(p + line if line else line for line in text.split("\n"))

    @classmethod
    def from_entry(cls, entry):
        return cls(entry.get("prepend", "▁"))

    def to_json(self):
        return {"type": "Prepend", "prepend": self.prepend}


def _strip_accents(text):
    if text.isascii():
        return text
    text = unicodedata.normalize("NFD", text)
    return _sub_chars(text, [c for c in set(text) if unicodedata.category(c) == "Mn"], "")


class StripAccents(Normalizer):
    def __call__(self, text):
        return _strip_accents(text)

    @classmethod
    def from_entry(cls, entry):
        return cls()

    def to_json(self):
        return {"type": "StripAccents"}


class Replace(Normalizer):
    """``Replace`` with a plain string pattern (a regex pattern is not supported)."""

    def __init__(self, old, new):
        if "\n" in old or "\n" in new:
            raise NlpkitError("tokenizer.json: a Replace normalizer with a line break")
        self.old, self.new = old, new

    def __call__(self, text):
        return text.replace(self.old, self.new)

    @classmethod
    def from_entry(cls, entry):
        pattern = entry.get("pattern", {})
        if "String" not in pattern:
            raise UnsupportedConfig("normalizer Replace with pattern", pattern)
        return cls(pattern["String"], entry.get("content", ""))

    def to_json(self):
        return {"type": "Replace", "pattern": {"String": self.old}, "content": self.new}


class BertNormalizer(Normalizer):
    """BERT's cleaning, CJK padding, accent stripping and lowercasing, in that order."""

    def __init__(self, clean_text=True, handle_chinese_chars=True, strip_accents=None,
                 lowercase=True):
        self.clean_text, self.handle_chinese_chars = clean_text, handle_chinese_chars
        self.strip_accents, self.lowercase = strip_accents, lowercase

    def __call__(self, text):
        return self.block(text.replace("\n", " ") if self.clean_text else text)

    def block(self, text):
        # Each step looks only at the distinct characters present (a set is cheap;
        # re over all of Unicode's ranges is not) and rewrites just those.  Line
        # feeds separate the block's sequences and stay.
        if self.clean_text:
            drop, space = [], []
            for c in set(text):
                kind = _bert_clean_kind(c)
                if kind == 1:
                    drop.append(c)
                elif kind == 2:
                    space.append(c)
            text = _sub_chars(_sub_chars(text, drop, ""), space, " ")
        if self.handle_chinese_chars and not text.isascii():
            cjk = [c for c in set(text) if _is_cjk(c)]
            if cjk:
                text = re.sub(f"([{''.join(map(re.escape, cjk))}])", r" \1 ", text)
        strip = self.strip_accents if self.strip_accents is not None else self.lowercase
        if strip:
            text = _strip_accents(text)
        if self.lowercase:
            text = _lower(text)
        return text

    @classmethod
    def from_entry(cls, entry):
        return cls(entry.get("clean_text", True), entry.get("handle_chinese_chars", True),
                   entry.get("strip_accents"), entry.get("lowercase", True))

    def to_json(self):
        return {"type": "BertNormalizer", "clean_text": self.clean_text,
                "handle_chinese_chars": self.handle_chinese_chars,
                "strip_accents": self.strip_accents, "lowercase": self.lowercase}


@functools.lru_cache(maxsize=None)
def _bert_clean_kind(c):
    """1: BERT's cleaning drops ``c`` (NUL, U+FFFD, controls but tab, CR, LF); 2: it becomes
    ' ' (LF too, in one sequence: :meth:`BertNormalizer.__call__`)."""
    if c in "\t\r":
        return 2
    if c == "\n":
        return 0
    if c in "\x00\ufffd" or unicodedata.category(c) in ("Cc", "Cf", "Cn", "Co", "Cs"):
        return 1
    return 2 if unicodedata.category(c) == "Zs" else 0


def _is_cjk(c):
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in uni.CJK_RANGES)


def _sub_chars(text, chars, repl):
    if not chars:
        return text
    if len(chars) == 1:
        return text.replace(chars[0], repl)
    return re.sub(f"[{''.join(map(re.escape, chars))}]", repl, text)


_NORMALIZERS = {"Lowercase": Lowercase, "NFC": Unicode, "NFD": Unicode, "NFKC": Unicode,
                "NFKD": Unicode, "StripAccents": StripAccents, "Replace": Replace, "Prepend": Prepend,
                "BertNormalizer": BertNormalizer}


# -------------------------------------------------------------- pre-tokenizers
class PreTokenizer:
    """``split(line)`` gives the pieces of one line; ``words(pieces)`` the strings the
    model sees (the byte-level spelling for ByteLevel, the pieces themselves
    otherwise), applied once per distinct piece."""

    # Whether training may hand a file's blocks to encode_utf8 as UTF-8 bytes (readers.
    # iter_utf8_blocks: lines end at \n, a CR before it stays, bad bytes replaced as the
    # text readers replace them) rather than to encode_pieces as lines: only a
    # pre-tokenizer to which CR is whitespace splits both alike.
    reads_bytes = False

    def words(self, pieces: list[str]) -> list[str]:
        return pieces

    def split_lines(self, lines: list[str]) -> list[list[str]]:
        return [self.split(line) for line in lines]

    def encode_pieces(self, lines: list[str], encoder) -> np.ndarray:
        """The ids ``encoder`` (a :class:`nlpkit.text.corpus.Encoder`) gives the pieces of
        ``lines``, all lines' back to back: what training counts."""
        return encoder.encode(list(chain.from_iterable(self.split_lines(lines))))

    def split(self, line: str) -> list[str]:
        raise NotImplementedError

    @staticmethod
    def from_json(entry):
        if entry is None:
            return NoSplit()  # no pre-tokenizer: the whole line is one word
        kind = entry.get("type")
        if kind == "Sequence":
            parts = [PreTokenizer.from_json(e) for e in entry.get("pretokenizers", [])]
            if len(parts) == 1:
                return parts[0]
            raise UnsupportedConfig("pre_tokenizer Sequence of", [p.to_json() for p in parts])
        cls = _PRE_TOKENIZERS.get(kind)
        if cls is None:
            raise UnsupportedConfig("pre_tokenizer", entry)
        return cls.from_entry(entry)


class NoSplit(PreTokenizer):
    def split(self, line):
        return [line] if line else []

    def to_json(self):
        return None


class WhitespaceSplit(PreTokenizer):
    """Split on Unicode White_Space (Rust's ``char::is_whitespace``)."""

    def split(self, line):
        if _PY_ONLY_SPACE.search(line) is None:
            return line.split()
        return [p for p in _split_white(line) if p]

    def split_lines(self, lines):
        if _PY_ONLY_SPACE.search("".join(lines)) is None:  # the usual case: str.split() is right
            return [line.split() for line in lines]
        return [self.split(line) for line in lines]

    reads_bytes = True

    def encode_pieces(self, lines, encoder):
        # (line feeds are whitespace here: the joined block splits alike)
        return self.encode_utf8("\n".join(lines).encode("utf-8", "surrogatepass"), encoder)

    def encode_utf8(self, data, encoder):
        # Training's counting: in the usual case (no \x1c-\x1f, the only characters where
        # str.split() and Rust's whitespace differ) the UTF-8 bytes go to the encoder's
        # kernel, which splits at the same whitespace and interns the pieces as bytes; a
        # string per piece (split, then hashed into a dict) cost half of suffix BPE's
        # training.
        if _PY_ONLY_SPACE_UTF8.search(data) is None:
            got = encoder.encode_bytes(data)
            if got is not None:  # (None: the encoder already holds pieces as strings)
                return got[0]
        return super().encode_pieces(data.decode("utf-8", "surrogatepass").split("\n"), encoder)

    @classmethod
    def from_entry(cls, entry):
        return cls()

    def to_json(self):
        return {"type": "WhitespaceSplit"}


# Python's str.split() also splits at \x1c-\x1f, which are not White_Space
_PY_ONLY_SPACE = re.compile("[\x1c-\x1f]")
_PY_ONLY_SPACE_UTF8 = re.compile(b"[\x1c-\x1f]")


def _split_white(line):
    return re.split(f"[{re.escape(uni.WHITE_SPACE)}]+", line)


# Pure-ASCII lines (most lines of most corpora) use these: small classes that
# sre matches with a bitmap.
_ASCII_SPACE = "\t\n\x0b\x0c\r "
_ASCII_PUNCT = re.escape("".join(c for c in map(chr, range(33, 127)) if not c.isalnum()))


class _Classes:
    """Class bodies for ASCII plus the (non-ASCII) characters ``chars``."""

    def __init__(self, chars):
        cat = {c: unicodedata.category(c) for c in chars}

        def pick(test):
            return "".join(re.escape(c) for c in sorted(chars) if test(c, cat[c]))

        self.space = _ASCII_SPACE + pick(lambda c, k: c in uni.WHITE_SPACE)
        self.letter = "A-Za-z" + pick(lambda c, k: k[0] == "L")
        self.number = "0-9" + pick(lambda c, k: k[0] == "N")
        # Rust's Unicode \w: letters, marks, Nd, Nl, Pc and the joiners
        self.word = "A-Za-z0-9_" + pick(lambda c, k: k[0] in "LM" or k in ("Nd", "Nl", "Pc")
                                        or c in "\u200c\u200d")
        self.punct = _ASCII_PUNCT + pick(lambda c, k: k[0] == "P")


class _RegexSplit(PreTokenizer):
    """A pre-tokenizer that is a regular expression over Unicode classes (``\\p{L}``…).

    ``re`` has no Unicode classes, and a class spelling out all of Unicode makes
    ``re`` slow, so each pattern is built for the text at hand: ASCII's members
    plus the members among the non-ASCII characters present (the same matches on
    that text).  Pure-ASCII lines use the ASCII pattern."""

    _ascii = None  # set below, per class

    def split(self, line):
        line = self._prepare(line)
        if line.isascii():
            return self._ascii.findall(line)
        return self._pattern(frozenset(c for c in line if c > "\x7f")).findall(line)

    def split_lines(self, lines):
        lines = [self._prepare(line) for line in lines]
        other = [line for line in lines if not line.isascii()]
        if not other:
            return [self._ascii.findall(line) for line in lines]
        pattern = self._pattern(frozenset(c for c in "".join(other) if c > "\x7f"))
        ascii_pattern = self._ascii
        return [(ascii_pattern if line.isascii() else pattern).findall(line) for line in lines]

    def _prepare(self, line):
        return line

    def _encode_ascii_by(self, kernel, lines, encoder, *, line_feeds, prepare=False):
        """``encode_pieces`` with the ASCII lines (nearly all, in most corpora) split by
        ``kernel`` as bytes and their pieces interned as bytes (no string per piece), the
        other lines by the regex, after them.  ``line_feeds``: whether the kernel splits a
        line holding a line feed as the regex does (else such a line goes to the regex);
        ``prepare``: whether the ASCII lines go through :meth:`_prepare` first (the regex
        path prepares its own)."""
        text, other = _ascii_partition(lines, line_feeds)
        if prepare:
            text = "\n".join(map(self._prepare, text.split("\n")))
        # (the kernel's block first: the encoder then keeps bytes)
        ids = encoder.encode_pieces(*kernel(np.frombuffer(text.encode("ascii"), np.uint8)))
        if other:
            ids = np.concatenate([ids, super().encode_pieces(other, encoder)])
        return ids

    @classmethod
    def _pattern(cls, chars):
        return _compiled(cls._template, chars)


def _ascii_partition(lines, line_feeds):
    """``(text, other)``: the ASCII lines joined by line feeds and the other lines (with
    ``line_feeds`` false, the lines holding a line feed too), each in order."""
    text = "\n".join(lines)
    if text.isascii() and (line_feeds or text.count("\n") == len(lines) - 1):
        return text, []
    plain = [line.isascii() and (line_feeds or "\n" not in line) for line in lines]
    return ("\n".join(line for line, ok in zip(lines, plain) if ok),
            [line for line, ok in zip(lines, plain) if not ok])


@functools.lru_cache(maxsize=64)
def _compiled(template, chars):
    return re.compile(template(_Classes(chars)))


class Whitespace(_RegexSplit):
    r"""``\w+|[^\w\s]+`` with Unicode classes, as ``tokenizers``' Whitespace."""

    @staticmethod
    def _template(k):
        return f"[{k.word}]+|[^{k.word}{k.space}]+"

    @classmethod
    def from_entry(cls, entry):
        return cls()

    def to_json(self):
        return {"type": "Whitespace"}


class BertPreTokenizer(_RegexSplit):
    """Split on whitespace and make every punctuation character a word of its own."""

    def encode_pieces(self, lines, encoder):
        # whitespace, line feeds included, only separates here: a document holding line
        # feeds splits alike in the kernel
        return self._encode_ascii_by(split_bert_ascii, lines, encoder, line_feeds=True)

    @staticmethod
    def _template(k):
        return f"[^{k.punct}{k.space}]+|[{k.punct}]"

    @classmethod
    def from_entry(cls, entry):
        return cls()

    def to_json(self):
        return {"type": "BertPreTokenizer"}


class ByteLevel(_RegexSplit):
    """GPT-2: its regular expression, then every piece's UTF-8 bytes as printable characters."""

    def __init__(self, add_prefix_space=False, use_regex=True, trim_offsets=True):
        self.add_prefix_space, self.use_regex = add_prefix_space, use_regex
        self.trim_offsets = trim_offsets

    @staticmethod
    def _template(k):
        s, L, N = k.space, k.letter, k.number
        return (rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{s}{L}{N}]+"
                rf"|[{s}]+(?![^{s}])|[{s}]+")

    def _prepare(self, line):
        if self.add_prefix_space and line and not line.startswith(" "):
            return " " + line
        return line

    def split(self, line):
        if not self.use_regex:
            line = self._prepare(line)
            return [line] if line else []
        return super().split(line)

    def split_lines(self, lines):
        if not self.use_regex:
            return [self.split(line) for line in lines]
        return super().split_lines(lines)

    def encode_pieces(self, lines, encoder):
        # ASCII lines (nearly all, in most corpora) are split by a kernel, as bytes, and
        # their pieces interned as bytes: no string per piece; the other lines by the regex.
        if not self.use_regex:
            return super().encode_pieces(lines, encoder)
        # (a line feed inside a document is whitespace to the regex: such lines go there)
        return self._encode_ascii_by(split_bytelevel_ascii, lines, encoder, line_feeds=False,
                                     prepare=self.add_prefix_space)

    def words(self, pieces):
        # One translation for all: when no piece holds a line feed, the byte-level
        # line feed 'Ċ' (which no other byte maps to) separates them again.
        joined = "\n".join(pieces)
        if joined.count("\n") != len(pieces) - 1:
            return [uni.to_byte_level(p) for p in pieces]
        return uni.to_byte_level(joined).split(uni.bytes_to_unicode()[10]) if pieces else []

    @classmethod
    def from_entry(cls, entry):
        return cls(entry.get("add_prefix_space", True), entry.get("use_regex", True),
                   entry.get("trim_offsets", True))

    def to_json(self):
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space,
                "trim_offsets": self.trim_offsets, "use_regex": self.use_regex}


for _cls in (Whitespace, BertPreTokenizer, ByteLevel):
    _cls._ascii = re.compile(_cls._template(_Classes(frozenset())))


class Metaspace(PreTokenizer):
    """sentencepiece's word starts: spaces become ``▁``, one is prepended, words start at each."""

    def __init__(self, replacement="▁", prepend_scheme="always", split=True):
        if prepend_scheme not in ("always", "first", "never"):
            raise UnsupportedConfig("Metaspace prepend_scheme", prepend_scheme)
        self.replacement, self.prepend_scheme, self.split_words = replacement, prepend_scheme, split

    @property
    def _plain(self):
        # The usual case: every word starts with the replacement, so pieces are the
        # text between spaces and words() prepends it once per distinct piece.
        return self.prepend_scheme == "always" and self.split_words

    def split_lines(self, lines):
        if not self._plain or any(self.replacement in line for line in lines):
            return [self._split(line) for line in lines]
        return [(line.split(" ")[1:] if line[0] == " " else line.split(" ")) if line else []
                for line in lines]

    def split(self, line):
        return self.split_lines([line])[0]

    def encode_pieces(self, lines, encoder):
        # Training's counting, in the usual case: a kernel cuts the UTF-8 bytes at spaces
        # and the pieces are interned as bytes (a string per piece, split then hashed into
        # a dict, cost a fifth of metaspace BPE's training on linux-doc x2).  Lines that
        # hold the replacement or a line feed go to split_lines, after the others.
        if not self._plain:
            return super().encode_pieces(lines, encoder)
        r = self.replacement
        text, other = "\n".join(lines), []
        if r in text or text.count("\n") != len(lines) - 1:
            plain = [r not in line and "\n" not in line for line in lines]
            text = "\n".join(line for line, ok in zip(lines, plain) if ok)
            other = [line for line, ok in zip(lines, plain) if not ok]
        # (the kernel's block first, even when empty: the encoder then keeps bytes)
        data = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
        ids = encoder.encode_pieces(*split_spaces(data))
        if other:
            ids = np.concatenate([ids, super().encode_pieces(other, encoder)])
        return ids

    def words(self, pieces):
        if not self._plain:
            return pieces
        r = self.replacement
        return [r + p if not p.startswith(r) else p for p in pieces]

    def _split(self, line):
        if not line:
            return []
        r = self.replacement
        text = line.replace(" ", r)
        if self.prepend_scheme != "never" and not text.startswith(r):
            text = r + text
        if not self.split_words:
            return [text] if text else []
        parts = text.split(r)
        out = [r + p for p in parts[1:]]
        if parts[0]:
            out.insert(0, parts[0])
        return out

    @classmethod
    def from_entry(cls, entry):
        if "add_prefix_space" in entry and "prepend_scheme" not in entry:  # older files
            scheme = "always" if entry["add_prefix_space"] else "never"
        else:
            scheme = entry.get("prepend_scheme", "always")
        return cls(entry.get("replacement", "▁"), scheme, entry.get("split", True))

    def to_json(self):
        return {"type": "Metaspace", "replacement": self.replacement,
                "prepend_scheme": self.prepend_scheme, "split": self.split_words}


_PRE_TOKENIZERS = {"WhitespaceSplit": WhitespaceSplit, "Whitespace": Whitespace,
                   "BertPreTokenizer": BertPreTokenizer, "ByteLevel": ByteLevel,
                   "Metaspace": Metaspace}


# -------------------------------------------------------------------- decoders
class Decoder:
    def __call__(self, tokens: list[str]) -> str:
        raise NotImplementedError

    @staticmethod
    def from_json(entry):
        if entry is None:
            return Fuse()
        cls = _DECODERS.get(entry.get("type"))
        if cls is None:
            raise UnsupportedConfig("decoder", entry)
        return cls.from_entry(entry)


class Fuse(Decoder):
    """No decoder: tokens are joined as they are."""

    def __call__(self, tokens):
        return "".join(tokens)

    def to_json(self):
        return None


class BPEDecoder(Decoder):
    def __init__(self, suffix="</w>"):
        self.suffix = suffix

    def __call__(self, tokens):
        last = len(tokens) - 1
        return "".join(t.replace(self.suffix, "" if i == last else " ")
                       for i, t in enumerate(tokens))

    @classmethod
    def from_entry(cls, entry):
        return cls(entry.get("suffix", "</w>"))

    def to_json(self):
        return {"type": "BPEDecoder", "suffix": self.suffix}


class ByteLevelDecoder(Decoder):
    def __call__(self, tokens):
        return uni.from_byte_level("".join(tokens))

    @classmethod
    def from_entry(cls, entry):
        return cls()

    def to_json(self):
        return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                "use_regex": True}


class MetaspaceDecoder(Decoder):
    def __init__(self, replacement="▁", prepend_scheme="always", split=True):
        self.replacement, self.prepend_scheme, self.split = replacement, prepend_scheme, split

    def __call__(self, tokens):
        out = []
        for i, t in enumerate(tokens):
            t = t.replace(self.replacement, " ")
            if i == 0 and self.prepend_scheme != "never" and t.startswith(" "):
                t = t[1:]
            out.append(t)
        return "".join(out)

    @classmethod
    def from_entry(cls, entry):
        pre = Metaspace.from_entry(entry)
        return cls(pre.replacement, pre.prepend_scheme, pre.split_words)

    def to_json(self):
        return {"type": "Metaspace", "replacement": self.replacement,
                "prepend_scheme": self.prepend_scheme, "split": self.split}


_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
            (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class WordPieceDecoder(Decoder):
    def __init__(self, prefix="##", cleanup=True):
        self.prefix, self.cleanup = prefix, cleanup

    def __call__(self, tokens):
        out = []
        for i, t in enumerate(tokens):
            if i > 0:
                t = t[len(self.prefix):] if t.startswith(self.prefix) else " " + t
            if self.cleanup:
                for old, new in _CLEANUP:
                    t = t.replace(old, new)
            out.append(t)
        return "".join(out)

    @classmethod
    def from_entry(cls, entry):
        return cls(entry.get("prefix", "##"), entry.get("cleanup", True))

    def to_json(self):
        return {"type": "WordPiece", "prefix": self.prefix, "cleanup": self.cleanup}


_DECODERS = {"BPEDecoder": BPEDecoder, "ByteLevel": ByteLevelDecoder,
             "Metaspace": MetaspaceDecoder, "WordPiece": WordPieceDecoder}


# ------------------------------------------------------------- post-processors
class PostProcessor:
    """Special tokens around one sequence: ``prefix`` + ids + ``suffix`` (token strings)."""

    def __init__(self, prefix=(), suffix=(), entry=None):
        self.prefix, self.suffix, self.entry = list(prefix), list(suffix), entry

    @staticmethod
    def from_json(entry):
        if entry is None:
            return None
        kind = entry.get("type")
        if kind == "ByteLevel":
            return None  # offsets only
        if kind in ("BertProcessing", "RobertaProcessing"):
            return PostProcessor([entry["cls"][0]], [entry["sep"][0]], entry)
        if kind == "TemplateProcessing":
            prefix, suffix, seen = [], [], False
            for piece in entry.get("single", []):
                if "Sequence" in piece:
                    seen = True
                elif "SpecialToken" in piece:
                    (suffix if seen else prefix).append(piece["SpecialToken"]["id"])
                else:
                    raise UnsupportedConfig("post_processor template piece", piece)
            for name, spec in entry.get("special_tokens", {}).items():
                if len(spec.get("tokens", [name])) != 1:
                    raise UnsupportedConfig("post_processor special token", spec)
            return PostProcessor(prefix, suffix, entry)
        if kind == "Sequence":
            procs = [PostProcessor.from_json(p) for p in entry.get("processors", [])]
            procs = [p for p in procs if p is not None]
            if len(procs) > 1:
                raise UnsupportedConfig("post_processor", entry)
            return procs[0] if procs else None
        raise UnsupportedConfig("post_processor", entry)

    def to_json(self):
        return self.entry
