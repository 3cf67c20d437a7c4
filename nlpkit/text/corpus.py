"""The encoded corpus every kernel consumes: flat int32 ids plus int64 sentence offsets.

Sentence ``i`` is ``ids[offsets[i]:offsets[i + 1]]``.  Strings stop here: the
kernels downstream see only these two arrays (and the vocabulary size).
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from collections import defaultdict
from itertools import count, repeat

import numpy as np

from ..errors import NlpkitError
from .readers import iter_chunks, read_lines
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
        with np.load(os.fspath(path)) as z:
            vocab = Vocabulary(z["words"].tolist(), z["counts"], tuple(z["specials"].tolist()))
            return cls(z["ids"], z["offsets"], vocab)


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
    """

    def __init__(self, vocab: Vocabulary | None = None):
        self.vocab = vocab
        if vocab is None:
            # A missing key calls count().__next__: a new word gets the next id, all in C.
            self._index = defaultdict(count().__next__)
            self._index[_EOL]  # the line-end marker takes id 0; words are shifted by one
            get = self._index.__getitem__
            self._lookup = lambda tokens: map(get, tokens)
            self._eol, self._shift = 0, 1
        else:
            # Unknown words get <unk>'s id from a C-level default factory (much
            # faster than dict.get with a default); they are remembered, which
            # bounds the table by the number of types.
            table = defaultdict(repeat(vocab.unk_id).__next__, vocab.stoi)
            table[_EOL] = -2
            get = table.__getitem__
            self._lookup = lambda tokens: map(get, tokens)
            self._eol, self._shift = -2, 0

    @property
    def first_seen(self) -> list[str]:
        return list(self._index)[1:]

    def encode(self, tokens: list[str]) -> np.ndarray:
        ids = np.fromiter(self._lookup(tokens), np.int32, len(tokens))
        return ids - self._shift if self._shift else ids

    def encode_marked(self, tokens: list[str]):
        """Encode tokens with line-end markers in them: ``(ids, lengths)``."""
        ids = np.fromiter(self._lookup(tokens), np.int32, len(tokens))
        ends = np.flatnonzero(ids == self._eol)
        lengths = np.diff(ends, prepend=-1) - 1
        ids = ids[ids != self._eol]
        return (ids - self._shift if self._shift else ids), lengths


# A line end becomes this token, so a whole chunk of a file is split by one
# str.split() call and sentence lengths are read off where the marker falls.
# Chunks that contain a NUL character take the line-by-line path instead.
_EOL = "\x00"
_BLOCK_LINES = 1 << 15


def iter_encoded(source, tokenizer, encoder: Encoder, *, skip_empty=True, on_progress=None):
    """Stream ``source`` as ``(ids, lengths)`` blocks (int32 ids, int64 sentence lengths).

    A file read with the whitespace tokenizer is split a few MB at a time (the
    fast path); anything else goes line by line.  Memory is bounded by one block.
    """
    tok = make_tokenizer(tokenizer)
    if isinstance(source, (str, os.PathLike)) and isinstance(tok, Tokenizer) and tok.pattern is None:
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
