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

from dataclasses import dataclass, field

import numpy as np

from ... import backend
from ..reading.encode import SRILM_SPECIALS
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

    def to_sorted(self):
        """These counts as sorted tables (layout ``'ctx'``; a row's position in its order
        stands in for its first occurrence), as :mod:`.sorted_counts` makes them."""
        from .chunk import CTX
        from .runs import table_from_arrays
        from .sorted_counts import SortedCounts
        W = len(self.vocab)
        uni_count = np.zeros(W, np.int64)
        uni_first = np.full(W, -1, np.int64)
        uni_count[self.word[0]] = self.count[0]
        uni_first[self.word[0]] = np.arange(self.word[0].shape[0])
        tables = []
        for n in range(2, self.order + 1):
            grams = np.ascontiguousarray(self.ngrams(n), dtype=np.int32)
            perm = np.lexsort(grams.T[::-1])
            tables.append(table_from_arrays(words=grams[perm], count=self.count[n - 1][perm],
                                            first=perm.astype(np.int64)))
        return SortedCounts(W, self.order, CTX, uni_count, uni_first, tables)

    @classmethod
    def from_sorted(cls, sc, vocab, closed_vocab=False, meta=None):
        """In-memory counts from sorted tables (layout ``'ctx'``, SRILM ids): rows of each
        order in order of first occurrence, each pointing at its prefix's row."""
        from ..estimation.joins import merge_aligned
        seen = np.flatnonzero(sc.uni_first >= 0)
        seen = seen[np.argsort(sc.uni_first[seen], kind="stable")]
        row_of = np.full(len(vocab), -1, np.int64)
        row_of[seen] = np.arange(seen.shape[0])
        ctxs = [np.zeros(seen.shape[0], np.int32)]
        words = [seen.astype(np.int32)]
        counts = [sc.uni_count[seen]]
        prev_words = seen.reshape(-1, 1).astype(np.int32)[np.argsort(seen)]
        prev_row = row_of[np.sort(seen)]  # rows of the previous order, in ctx order
        for n in range(2, sc.order + 1):
            t = sc.table(n)
            g = t.column("words")
            first = t.column("first")
            idx = np.empty(g.shape[0], np.int64)
            ctx_part = np.ascontiguousarray(g[:, :n - 1])
            # each row's prefix, found in the previous order (both sorted the same way)
            merge_aligned(ctx_part, 0, g.shape[0], prev_words, 0, prev_words.shape[0], n - 1,
                          idx)
            order = np.argsort(first, kind="stable")
            ctxs.append(prev_row[idx[order]].astype(np.int32))
            words.append(g[order, n - 1].astype(np.int32))
            counts.append(t.column("count")[order])
            prev_row = np.empty(g.shape[0], np.int64)
            prev_row[order] = np.arange(g.shape[0])
            prev_words = g
        return cls(list(vocab), ctxs, words, counts, closed_vocab, dict(meta or {}))

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


def count_chunk_cuda(rid, offsets, order, W, *, base=0, layout="rctx", with_first=True,
                     count_dtype=np.int64, first_dtype=np.int64, key_rows=None, unigrams=None):
    """:func:`.chunk.count_chunk`'s result computed with the hash-table counting twins
    on the GPU (``count_order_cuda``): the trie's rows, in order of first occurrence,
    re-sorted into the chunk layout."""
    from .chunk import RCTX, add_unigrams
    rid = np.ascontiguousarray(rid, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if unigrams is None:
        unigrams = (np.zeros(W, np.int64), np.full(W, -1, np.int64))
    uni_count, uni_first = unigrams
    add_unigrams(rid, np.int64(base), uni_count, uni_first)
    runs = []
    prev_idx, n_prev, prev_grams = None, 1, None
    ends = np.repeat(offsets[1:], np.diff(offsets))
    pos = np.arange(rid.shape[0], dtype=np.int64)
    for n in range(1, order + 1):
        ctx, word, count, cur = count_order_cuda(rid, offsets, prev_idx, n, W, n_prev,
                                                 need_idx=True)
        grams = word.reshape(-1, 1) if n == 1 else np.concatenate(
            [prev_grams[ctx], word.reshape(-1, 1)], axis=1)
        if n > 1:
            valid = pos + n <= ends
            first = np.full(word.shape[0], np.iinfo(np.int64).max, np.int64)
            np.minimum.at(first, cur[valid], pos[valid])
            cols = (np.concatenate([grams[:, n - 2::-1], grams[:, n - 1:]], axis=1)
                    if layout == RCTX else grams)
            cols = np.ascontiguousarray(cols, dtype=np.int32)
            perm = np.lexsort(cols.T[::-1])
            runs.append({"words": cols[perm], "count": count[perm].astype(count_dtype),
                         "first": (first[perm] + base).astype(first_dtype) if with_first
                         else np.zeros(0, first_dtype)})
        prev_idx, n_prev, prev_grams = cur, ctx.shape[0], grams
    return uni_count, uni_first, runs
