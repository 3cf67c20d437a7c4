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
from .readers import read_lines
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
                  device=None, n_jobs=None):
        """Encode ``source``: a path (plain/.gz/.bz2/.xz, ``-`` for stdin) or an
        iterable of strings or of token lists.

        With ``vocab`` the ids are its ids (unknown tokens become ``<unk>``, or
        are an error if it has none).  Without, a vocabulary is built from the
        text in the same single pass (``min_count``, ``max_size``); pruned words
        become ``<unk>``.  Blank sentences are dropped unless ``skip_empty`` is
        false.
        """
        tok = make_tokenizer(tokenizer)
        sentences = _token_lists(source, tok)
        with _gc_paused():
            if vocab is not None:
                ids, offsets = _encode_known(sentences, vocab, skip_empty)
                return cls(ids, offsets, vocab)
            first_seen, ids, offsets = _encode_first_seen(sentences, skip_empty)
        vocab, remap = Vocabulary.from_ids(first_seen, ids, min_count=min_count, max_size=max_size,
                                           specials=specials, device=device, n_jobs=n_jobs)
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


def _token_lists(source, tok):
    """Yield one token list per sentence from a path or an iterable of strings/token lists."""
    if isinstance(source, (str, os.PathLike)):
        source = read_lines(source)
    fast = isinstance(tok, Tokenizer) and tok.is_whitespace
    for item in source:
        if isinstance(item, str):
            yield item.split() if fast else tok(item)
        elif isinstance(item, (list, tuple)):
            yield list(item)
        else:
            raise NlpkitError(f"expected a sentence as str or token list; got {type(item).__name__}")


def _encode_first_seen(sentences, skip_empty):
    """One pass: ids by first appearance.  Returns ``(words, ids, offsets)``."""
    # A missing key calls count().__next__: a new word gets the next id, all in C.
    index = defaultdict(count().__next__)
    lookup = index.__getitem__
    blocks, lengths, buf, buf_lengths = [], [], [], []
    for toks in sentences:
        if not toks and skip_empty:
            continue
        buf.extend(toks)
        buf_lengths.append(len(toks))
        if len(buf_lengths) >= _BLOCK:
            blocks.append(np.fromiter(map(lookup, buf), np.int32, len(buf)))
            lengths.append(np.array(buf_lengths, dtype=np.int64))
            buf, buf_lengths = [], []
    blocks.append(np.fromiter(map(lookup, buf), np.int32, len(buf)))
    lengths.append(np.array(buf_lengths, dtype=np.int64))
    return list(index), _concat_ids(blocks), _offsets(lengths)


def _encode_known(sentences, vocab, skip_empty):
    unk = vocab.unk_id
    get = vocab.stoi.get
    blocks, lengths, buf, buf_lengths = [], [], [], []
    for toks in sentences:
        if not toks and skip_empty:
            continue
        buf.extend(toks)
        buf_lengths.append(len(toks))
        if len(buf_lengths) >= _BLOCK:
            blocks.append(np.fromiter(map(get, buf, repeat(unk)), np.int32, len(buf)))
            lengths.append(np.array(buf_lengths, dtype=np.int64))
            buf, buf_lengths = [], []
    blocks.append(np.fromiter(map(get, buf, repeat(unk)), np.int32, len(buf)))
    lengths.append(np.array(buf_lengths, dtype=np.int64))
    ids = _concat_ids(blocks)
    if unk < 0 and ids.size and ids.min() < 0:
        raise NlpkitError("the text has words that are not in the vocabulary, and the vocabulary "
                          "has no <unk> to map them to")
    return ids, _offsets(lengths)


def _concat_ids(blocks):
    return np.concatenate(blocks) if blocks else np.zeros(0, np.int32)


def _offsets(lengths):
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets
