"""The counted n-grams of a corpus, as a trie of arrays (what Katz estimation reads).

For order ``n`` (stored at index ``n - 1``) row ``r`` is the n-gram whose
prefix is row ``ctx[n-1][r]`` of order ``n - 1`` (0 for unigrams) and whose
last word is ``word[n-1][r]``; ``count[n-1][r]`` is its count.  Rows are in
order of first occurrence (in the corpus, or in the count file read), which is
the order SRILM's estimator visits a context's followers in (SRILM-KATZ.md §9.3).
Word ids index ``vocab``; ids 0-3 are SRILM's specials
``<unk>``, ``<s>``, ``</s>``, ``-pau-``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ... import backend
from ...errors import NlpkitError
from ..reading.encode import SRILM_SPECIALS, WordTable, encode_text
from .memory import count_order_cpu
from .memory_cuda import count_order_cuda


@dataclass
class NgramCounts:
    vocab: list[str]
    ctx: list[np.ndarray]
    word: list[np.ndarray]
    count: list[np.ndarray]
    #: words that came from a vocabulary file (closed vocabulary), else None
    closed_vocab: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if tuple(self.vocab[:4]) != SRILM_SPECIALS:
            raise ValueError("NgramCounts.vocab must start with <unk>, <s>, </s>, -pau-")

    @property
    def order(self) -> int:
        return len(self.word)

    def sizes(self) -> list[int]:
        return [w.shape[0] for w in self.word]

    def ngrams(self, n: int) -> np.ndarray:
        """Word ids of the order-``n`` rows, shape ``(rows, n)``, oldest word first."""
        out = self.word[0][:, None]
        for k in range(1, n):
            out = np.concatenate([out[self.ctx[k]], self.word[k][:, None]], axis=1)
        return out

    def as_dict(self) -> dict[tuple[str, ...], int]:
        """``{('w1', 'w2'): count}`` for every n-gram (for tests and small data)."""
        res = {}
        for n in range(1, self.order + 1):
            for row, c in zip(self.ngrams(n).tolist(), self.count[n - 1].tolist()):
                res[tuple(self.vocab[i] for i in row)] = c
        return res


def count_ids(ids, offsets, order, n_words, *, device=None, n_jobs=None):
    """Count all n-grams of orders ``1..order`` of encoded sentences (``<s>``/``</s>`` included).

    Returns per order ``(ctx, word, count)`` lists (see the module docstring).
    """
    kernel = backend.pick(count_order_cpu, count_order_cuda, device)
    ctxs, words, counts = [], [], []
    prev_idx, n_prev = None, 1
    with backend.threads(n_jobs):
        for n in range(1, order + 1):
            ctx, word, count, cur_idx = kernel(ids, offsets, prev_idx, n, n_words, n_prev,
                                               need_idx=n < order)
            ctxs.append(ctx)
            words.append(word)
            counts.append(count)
            prev_idx, n_prev = cur_idx, ctx.shape[0]
    return ctxs, words, counts


def count_text(source, order, *, vocab=None, device=None, n_jobs=None, progress=None):
    """The :class:`NgramCounts` of ``source`` read as SRILM reads text; ``vocab`` (a word
    list) closes the vocabulary.  ``progress(nbytes)`` is called as input is read."""
    table = WordTable()
    closed = vocab is not None
    for w in vocab or ():
        table.add(w)
    ids, offsets = encode_text(source, table, closed=closed, progress=progress)
    label = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the corpus"
    if offsets.shape[0] < 2:
        raise NlpkitError(f"{label}: the corpus is empty (no line holds a word)")
    words = table.words()
    ctx, word, count = count_ids(ids, offsets, order, len(words), device=device, n_jobs=n_jobs)
    return NgramCounts(words, ctx, word, count, closed_vocab=closed,
                       meta={"source": label, "sentences": int(offsets.shape[0] - 1),
                             "tokens": int(ids.shape[0])})
