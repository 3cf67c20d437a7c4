"""The encoded corpus every kernel consumes: flat int32 ids plus int64 sentence offsets.

Sentence ``i`` is ``ids[offsets[i]:offsets[i + 1]]``.  Strings stop here: the
kernels downstream see only these two arrays (and the vocabulary size).
"""
from __future__ import annotations

import gc
import os
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from collections import defaultdict
from itertools import count, repeat

import numpy as np

from ..errors import InputFileError, NlpkitError
from . import encode_kernels
from .readers import iter_chunks, iter_utf8_blocks, read_lines
from .tokenize import Tokenizer, make_tokenizer
from .vocab import SPECIALS, Vocabulary

_BLOCK = 1 << 16  # lines encoded per block: bounds the Python lists held at once


@dataclass
class Corpus:
    """An encoded corpus.

    Attributes
    ----------
    ids : int32 array, the tokens of all sentences back to back
    offsets : int64 array of length ``n_sentences + 1``
    vocab : the :class:`Vocabulary` the ids index
    """

    ids: np.ndarray
    offsets: np.ndarray
    vocab: Vocabulary

    def __post_init__(self):
        self.ids = np.ascontiguousarray(self.ids, dtype=np.int32)
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or self.offsets.shape[0] < 1 or self.offsets[0] != 0 \
                or self.offsets[-1] != self.ids.shape[0] or np.any(np.diff(self.offsets) < 0):
            raise NlpkitError("corpus offsets must start at 0, never decrease and end at len(ids)")

    @property
    def n_sentences(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def n_tokens(self) -> int:
        return self.ids.shape[0]

    def __len__(self):
        return self.n_sentences

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self):
        for i in range(self.n_sentences):
            yield self.sentence(i)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def decode(self, i: int) -> list[str]:
        return self.vocab.decode(self.sentence(i))

    # ---------------------------------------------------------------- building
    @classmethod
    def from_text(cls, source, *, vocab: Vocabulary | None = None, tokenizer=None,
                  min_count=1, max_size=None, specials=SPECIALS, skip_empty=True,
                  device=None, n_jobs=None, on_progress=None):
        """Encode ``source``: a path (plain/.gz/.bz2/.xz, ``-`` for stdin) or an
        iterable of strings or of token lists.

        With ``vocab`` the ids are its ids (unknown tokens become ``<unk>``; an
        error if it has none).  Without, a vocabulary is built from the text in
        the same single pass (``min_count``, ``max_size``; counting runs in the
        token-count kernel on ``device``); pruned words become ``<unk>``, or are
        dropped when ``specials`` has no ``<unk>``.  Blank sentences are dropped
        unless ``skip_empty`` is false.
        """
        encoder = Encoder(vocab)
        with _gc_paused():
            ids, lengths = [], []
            for block_ids, block_lengths in iter_encoded(source, tokenizer, encoder,
                                                         skip_empty=skip_empty,
                                                         on_progress=on_progress):
                ids.append(block_ids)
                lengths.append(block_lengths)
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int32)
        offsets = _offsets(lengths)
        if vocab is not None:
            if vocab.unk_id < 0 and ids.size and ids.min() < 0:
                raise NlpkitError("the text has words that are not in the vocabulary, and the "
                                  "vocabulary has no <unk> to map them to")
            return cls(ids, offsets, vocab)
        vocab, remap = Vocabulary.from_ids(encoder.first_seen, ids, min_count=min_count,
                                           max_size=max_size, specials=specials,
                                           device=device, n_jobs=n_jobs)
        ids = remap[ids]
        if ids.size and ids.min() < 0:  # no <unk>: pruned words are dropped
            keep = ids >= 0
            sentence_of = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
            lengths = np.bincount(sentence_of[keep], minlength=offsets.shape[0] - 1)
            ids, offsets = ids[keep], _offsets([lengths])
        return cls(ids, offsets, vocab)

    def save(self, path):
        """Save ids, offsets and vocabulary in one ``.npz`` file (atomic)."""
        from .readers import atomic_write
        with atomic_write(path, "wb", compress="") as fh:
            np.savez(fh, ids=self.ids, offsets=self.offsets,
                     words=np.array(self.vocab.itos, dtype=object).astype(str),
                     counts=self.vocab.counts, specials=np.array(self.vocab.specials, dtype=str))

    @classmethod
    def load(cls, path):
        """A corpus saved by :meth:`save`; a damaged file raises InputFileError."""
        path = os.fspath(path)
        names = ("ids", "offsets", "words", "counts", "specials")
        try:
            _check_npz_sizes(path, names)
            with np.load(path) as z:
                arrays = {k: z[k] for k in names}
        except FileNotFoundError:
            raise InputFileError(path, "no such file") from None
        except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError,
                NotImplementedError, RuntimeError, zipfile.BadZipFile, zlib.error) as exc:
            raise InputFileError(path, f"not a corpus saved by nlpkit ({exc})") from None
        ids, offsets, words = arrays["ids"], arrays["offsets"], arrays["words"]
        counts, specials = arrays["counts"], arrays["specials"]
        if not (ids.ndim == offsets.ndim == words.ndim == counts.ndim == specials.ndim == 1
                and ids.dtype.kind in "iu" and offsets.dtype.kind in "iu"
                and counts.dtype.kind in "iu" and words.dtype.kind == "U"
                and specials.dtype.kind == "U" and counts.shape == words.shape):
            raise InputFileError(path, "damaged corpus (arrays of the wrong kind or shape)")
        # the kernels index by these ids unchecked: they must be words of the vocabulary
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= words.shape[0]):
            raise InputFileError(path, "damaged corpus (ids outside the vocabulary)")
        try:
            vocab = Vocabulary(words.tolist(), counts, tuple(specials.tolist()))
            return cls(ids, offsets, vocab)
        except (NlpkitError, OverflowError) as exc:
            raise InputFileError(path, f"damaged corpus ({exc})") from None


def _check_npz_sizes(path, names):
    """Each array ``names`` of the ``.npz`` file must be stored whole: its ``.npy`` header's
    shape and dtype must fit the member's size (checked before NumPy allocates them)."""
    from numpy.lib import format as npy
    with zipfile.ZipFile(path) as zf:
        for name in names:
            info = zf.getinfo(name + ".npy")
            with zf.open(info) as fh:
                version = npy.read_magic(fh)
                read = npy.read_array_header_1_0 if version == (1, 0) else \
                    npy.read_array_header_2_0
                shape, _fortran, dtype = read(fh)
                count = 1
                for k in shape:
                    count *= k
                if dtype.hasobject or count * dtype.itemsize > info.file_size:
                    raise ValueError(f"array {name} is larger than the file holds")


@contextmanager
def _gc_paused():
    """The encoder makes millions of short-lived lists and no cycles: pause the
    cyclic garbage collector, which would otherwise run over and over."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Encoder:
    """Maps tokens to int32 ids, block by block.

    With a vocabulary, its ids (unknown words -> ``<unk>``'s id, or -1).
    Without, ids in order of first appearance; ``first_seen`` lists the words.

    Two stores, whichever is used first: UTF-8 bytes split and interned in a kernel
    (:meth:`encode_bytes`: files read with the whitespace tokenizer) or a dict (token
    lists: :meth:`encode`).  Token lists can go into the byte store (as their UTF-8
    bytes); bytes cannot go into the dict store (:meth:`encode_bytes` says so and the
    caller decodes them).
    """

    def __init__(self, vocab: Vocabulary | None = None):
        self.vocab = vocab
        self._types = None   # the kernel's byte-keyed table
        self._remap = None   # its ids -> the vocabulary's, where they differ
        self._lookup = None  # the dict store

    def _dict_store(self):
        vocab = self.vocab
        if vocab is None:
            # A missing key calls count().__next__: a new word gets the next id, all in C.
            self._index = defaultdict(count().__next__)
            self._index[_EOL]  # the line-end marker takes id 0; words are shifted by one
            get = self._index.__getitem__
            self._eol, self._shift = 0, 1
        else:
            # Unknown words get <unk>'s id from a C-level default factory (much
            # faster than dict.get with a default); they are remembered, which
            # bounds the table by the number of types.
            table = defaultdict(repeat(vocab.unk_id).__next__, vocab.stoi)
            table[_EOL] = -2
            table[_NUL_WORD] = vocab.stoi.get(_EOL, vocab.unk_id)
            get = table.__getitem__
            self._eol, self._shift = -2, 0
        self._lookup = lambda tokens: map(get, tokens)

    def _byte_store(self):
        self._types = _TypeTable()
        if self.vocab is not None:
            ids = self._types.intern(list(self.vocab.stoi), insert=True)
            ids_of = np.fromiter(self.vocab.stoi.values(), np.int32, len(self.vocab.stoi))
            # the table numbers the vocabulary's words 0, 1, ...: keep its ids when they differ
            self._remap = None if np.array_equal(ids, ids_of) else ids_of
        return self._types

    @property
    def first_seen(self) -> list[str]:
        if self._types is not None:
            return self._types.words()
        if self._lookup is None:
            return []
        return [_EOL if w is _NUL_WORD else w for w in list(self._index)[1:]]

    def _to_vocab(self, ids):
        if self._remap is not None:
            ids = np.where(ids >= 0, self._remap[np.maximum(ids, 0)], ids)
        return ids

    def encode_pieces(self, buf, ends) -> np.ndarray:
        """Ids of tokens given as UTF-8 bytes back to back, ``buf[ends[j - 1]:ends[j]]`` (a
        kernel's split); they go to the byte store, as :meth:`encode`'s do after it."""
        if self._lookup is not None:
            raise NlpkitError("Encoder: tokens as bytes after tokens in a dict store")
        types = self._types if self._types is not None else self._byte_store()
        missing = -1 if self.vocab is None else self.vocab.unk_id
        ids = types.intern_bytes(buf, ends, insert=self.vocab is None, missing=missing)
        return ids if self.vocab is None else self._to_vocab(ids)

    def encode(self, tokens: list[str]) -> np.ndarray:
        if self._types is not None:
            missing = -1 if self.vocab is None else self.vocab.unk_id
            ids = self._types.intern(tokens, insert=self.vocab is None, missing=missing)
            return ids if self.vocab is None else self._to_vocab(ids)
        if self._lookup is None:
            self._dict_store()
        if _EOL in tokens:  # a token "\x00" (the marker's spelling) is a word here
            tokens = [_NUL_WORD if t == _EOL else t for t in tokens]
        ids = np.fromiter(self._lookup(tokens), np.int32, len(tokens))
        return ids - self._shift if self._shift else ids

    def encode_marked(self, tokens: list[str]):
        """Encode tokens with line-end markers in them: ``(ids, lengths)``."""
        if self._types is not None:  # (the byte store: the markers are not words)
            eol = np.fromiter((t == _EOL for t in tokens), bool, len(tokens))
            ids = np.full(len(tokens), -2, np.int32)
            ids[~eol] = self.encode([t for t in tokens if t != _EOL])
            ends = np.flatnonzero(eol)
            return ids[~eol], np.diff(ends, prepend=-1) - 1
        if self._lookup is None:
            self._dict_store()
        ids = np.fromiter(self._lookup(tokens), np.int32, len(tokens))
        ends = np.flatnonzero(ids == self._eol)
        lengths = np.diff(ends, prepend=-1) - 1
        ids = ids[ids != self._eol]
        return (ids - self._shift if self._shift else ids), lengths

    def encode_bytes(self, data: bytes):
        """Split UTF-8 ``data`` on whitespace (as ``str.split``), lines at ``\\n``: ``(ids,
        lengths)`` with every line's length (a last line without ``\\n`` when it has
        tokens).  ``None`` when this encoder already holds a dict store."""
        if self._lookup is not None:
            return None
        types = self._types if self._types is not None else self._byte_store()
        missing = -1 if self.vocab is None else self.vocab.unk_id
        ids, lengths = types.split(data, insert=self.vocab is None, missing=missing)
        return (ids if self.vocab is None else self._to_vocab(ids)), lengths


class _TypeTable:
    """The byte-keyed table of :mod:`nlpkit.text.encode_kernels`, grown on demand; its
    words, in id order, are decoded once when asked for."""

    def __init__(self):
        self.slots = np.full(1 << 14, -1, np.int32)
        self.hashes = np.empty(1 << 12, np.uint64)
        self.starts = np.zeros((1 << 12) + 1, np.int64)
        self.arena = np.empty(1 << 16, np.uint8)
        self.n = 0
        self._ids = np.empty(0, np.int32)

    def _tables(self):
        return self.slots, self.hashes, self.starts, self.arena

    def _grow(self, length):
        """Room for one more type of ``length`` bytes (the kernel stopped for want of it)."""
        n = self.n
        if n >= self.hashes.shape[0]:
            self.hashes = np.concatenate([self.hashes, np.empty_like(self.hashes)])
        if n + 1 >= self.starts.shape[0]:
            self.starts = np.concatenate([self.starts, np.zeros_like(self.starts)])
        used = int(self.starts[n])
        if used + length > self.arena.shape[0]:
            arena = np.empty(max(2 * self.arena.shape[0], used + length), np.uint8)
            arena[:used] = self.arena[:used]
            self.arena = arena
        if 2 * (n + 1) > self.slots.shape[0]:
            self.slots = encode_kernels.rehash(self.hashes, n, 2 * self.slots.shape[0])

    def split(self, data: bytes, *, insert, missing=-1):
        buf = np.frombuffer(data, np.uint8)
        size = buf.shape[0] // 2 + 1
        if self._ids.shape[0] < size:  # reused from block to block
            self._ids = np.empty(size, np.int32)
        ids = self._ids
        lengths = np.empty(data.count(b"\n") + 1, np.int64)
        pos = nt = nl = cur = 0
        while True:
            pos, nt, nl, cur, self.n, need = encode_kernels.intern_split(
                buf, pos, ids, nt, lengths, nl, cur, *self._tables(), self.n, insert, missing)
            if need < 0:
                return ids[:nt].copy(), lengths[:nl]
            self._grow(need)

    def intern(self, tokens, *, insert, missing=-1):
        pieces = [t.encode("utf-8", "surrogatepass") for t in tokens]
        ends = np.cumsum(np.fromiter(map(len, pieces), np.int64, len(pieces)))
        return self.intern_bytes(np.frombuffer(b"".join(pieces), np.uint8), ends,
                                 insert=insert, missing=missing)

    def intern_bytes(self, buf, ends, *, insert, missing=-1):
        """Ids of the tokens ``buf[ends[j - 1]:ends[j]]`` (UTF-8 bytes back to back)."""
        ids = np.empty(ends.shape[0], np.int32)
        j = 0
        while True:
            j, self.n, need = encode_kernels.intern_tokens(buf, ends, j, ids, *self._tables(),
                                                           self.n, insert, missing)
            if need < 0:
                return ids
            self._grow(need)

    def words(self) -> list[str]:
        data = self.arena[:self.starts[self.n]].tobytes()
        bounds = self.starts[:self.n + 1].tolist()
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(bounds, bounds[1:])]


# A line end becomes this token, so a whole chunk of a file is split by one
# str.split() call and sentence lengths are read off where the marker falls.
# Chunks that contain a NUL character take the line-by-line path instead.
_EOL = "\x00"
_NUL_WORD = ("\x00",)  # the dict store's key for a token "\x00" in a token list
_BLOCK_LINES = 1 << 15


def iter_encoded(source, tokenizer, encoder: Encoder, *, skip_empty=True, on_progress=None):
    """Stream ``source`` as ``(ids, lengths)`` blocks (int32 ids, int64 sentence lengths).

    A file read with the whitespace tokenizer is split a few MB at a time, as bytes in a
    kernel (the fast path); anything else goes line by line.  Memory is bounded by one
    block.
    """
    tok = make_tokenizer(tokenizer)
    if isinstance(source, (str, os.PathLike)) and isinstance(tok, Tokenizer) and tok.pattern is None:
        if not tok.lower and encoder._lookup is None:
            for data in iter_utf8_blocks(source, on_progress=on_progress):
                ids, lengths = encoder.encode_bytes(data)
                yield ids, (lengths[lengths > 0] if skip_empty else lengths)
            return
        for chunk in iter_chunks(source, on_progress=on_progress):
            if tok.lower:
                chunk = chunk.lower()
            if not chunk.endswith("\n"):
                chunk += "\n"
            if _EOL in chunk:
                ids, lengths = _encode_lines([line.split() for line in chunk.split("\n")[:-1]],
                                             encoder)
            else:
                ids, lengths = encoder.encode_marked(chunk.replace("\n", " \x00 ").split())
            yield ids, (lengths[lengths > 0] if skip_empty else lengths)
        return
    block = []
    for toks in _token_lists(source, tok, on_progress):
        if toks or not skip_empty:
            block.append(toks)
        if len(block) >= _BLOCK_LINES:
            yield _encode_lines(block, encoder)
            block = []
    if block:
        yield _encode_lines(block, encoder)


def _encode_lines(token_lists, encoder):
    lengths = np.fromiter(map(len, token_lists), np.int64, len(token_lists))
    return encoder.encode([t for toks in token_lists for t in toks]), lengths


def _token_lists(source, tok, on_progress=None):
    """Yield one token list per sentence from a path or an iterable of strings/token lists."""
    if isinstance(source, (str, os.PathLike)):
        source = read_lines(source, on_progress=on_progress)
    for item in source:
        if isinstance(item, str):
            yield tok(item)
        elif isinstance(item, (list, tuple)):
            yield list(item)
        else:
            raise NlpkitError(f"expected a sentence as str or token list; got {type(item).__name__}")


def _offsets(lengths):
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets
