"""SRILM count files: one n-gram a line, ``w1 w2 … wn<TAB>count``
(``ngram-count -write`` / ``-read``).

Line order is SRILM's: its count trie written depth first, each node's
children in the slot order of SRILM's ``LHash`` tables (emulated by
``bytes_kernels.lhash_positions``; keys are SRILM word indices, which are
nlpkit's count ids: the 4 specials, then words by first appearance).  With
it ``write_counts`` reproduces ``ngram-count -write`` files line for line.

Reading keeps the file's order as the order of first occurrence.  Blank lines
and ``##`` lines are skipped; n-grams longer than ``order`` are ignored;
a prefix that has no line of its own gets count 0, as in SRILM's trie.
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import NlpkitError
from ...text import atomic_write
from ..counting.trie import NgramCounts
from ..reading.encode import WordTable, encode_text
from .lhash import lhash_positions
from .lines import assemble_lines, byte_pool


def _child_groups(parent: np.ndarray, n_parents: int):
    perm = np.argsort(parent, kind="stable")
    gstart = np.searchsorted(parent[perm], np.arange(n_parents + 1)).astype(np.int64)
    return perm.astype(np.int64), gstart


def write_order(counts: NgramCounts) -> tuple[np.ndarray, np.ndarray]:
    """``(order, row)`` of each line of SRILM's ``-write`` output, in output order."""
    N = counts.order
    # rank of each row among its siblings, as SRILM's hash-table iteration visits them
    pos = []
    for k in range(N):
        n_par = 1 if k == 0 else counts.word[k - 1].shape[0]
        parent = (np.zeros(counts.word[k].shape[0], np.int64) if k == 0
                  else counts.ctx[k].astype(np.int64))
        perm, gstart = _child_groups(parent, n_par)
        p = np.empty(counts.word[k].shape[0], dtype=np.int64)
        lhash_positions(perm, gstart, counts.word[k].astype(np.int64), p)
        pos.append(p)
    # depth-first order = lexicographic order of the path of sibling ranks (-1 pads shorter ones)
    total = sum(w.shape[0] for w in counts.word)
    path = np.full((N, total), -1, dtype=np.int64)
    orders = np.empty(total, dtype=np.int64)
    rows = np.empty(total, dtype=np.int64)
    at = 0
    anc = None
    for k in range(N):
        m = counts.word[k].shape[0]
        own = np.arange(m)[None, :]
        anc = own if k == 0 else np.vstack([anc[:, counts.ctx[k]], own])
        for j in range(k + 1):
            path[j, at:at + m] = pos[j][anc[j]]
        orders[at:at + m] = k + 1
        rows[at:at + m] = np.arange(m)
        at += m
    perm = np.lexsort(path[::-1])
    return orders[perm], rows[perm]


def write_counts(counts: NgramCounts, path) -> None:
    """Write ``counts`` as ``ngram-count -write`` does (atomically; ``.gz`` by name)."""
    N = counts.order
    orders, rows = write_order(counts)
    words = np.full((orders.shape[0], N), -1, dtype=np.int32)
    cnt = np.empty(orders.shape[0], dtype=np.int64)
    for n in range(1, N + 1):
        sel = orders == n
        words[sel, :n] = counts.ngrams(n)[rows[sel]]
        cnt[sel] = counts.count[n - 1][rows[sel]]
    uniq, inv = np.unique(cnt, return_inverse=True)
    numpool, numoff = byte_pool([b"%d" % c for c in uniq.tolist()])
    wpool, woff = byte_pool([w.encode("utf-8", "surrogateescape") for w in counts.vocab])
    out = assemble_lines(words, inv.astype(np.int64), np.full(cnt.shape[0], -1, np.int64),
                         wpool, woff, numpool, numoff, True)
    with atomic_write(path, "wb") as fh:
        fh.write(out.tobytes())


def read_counts(path, *, order: int | None = None, vocab_words=None) -> NgramCounts:
    """Read an SRILM count file into :class:`NgramCounts` (rows in file order).

    ``vocab_words`` (closed vocabulary, SRILM ``-vocab``): other words become ``<unk>``.
    """
    table = WordTable()
    closed = vocab_words is not None
    for w in vocab_words or ():
        table.add(w)
    ids, offsets, cnt = encode_text(path, table, closed=closed, count_file=True)
    label = os.fspath(path)
    if cnt.shape[0] == 0:
        raise NlpkitError(f"{label}: count file holds no n-grams")
    lens = np.diff(offsets)
    N = int(lens.max()) if order is None else order
    keep = lens <= N
    starts = offsets[:-1]
    W = len(table)
    ctx, word, count = [], [], []
    prefix = np.zeros(lens.shape[0], dtype=np.int64)  # row of each line's k-prefix
    for k in range(1, N + 1):
        sel = np.flatnonzero(keep & (lens >= k))
        key = prefix[sel] * W + ids[starts[sel] + k - 1]
        uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
        by_first = np.argsort(first, kind="stable")  # rows in file order
        row_of = np.empty(uniq.shape[0], dtype=np.int64)
        row_of[by_first] = np.arange(uniq.shape[0])
        rows = row_of[inv]
        prefix[sel] = rows
        ctx.append((uniq[by_first] // W).astype(np.int32))
        word.append((uniq[by_first] % W).astype(np.int32))
        c = np.zeros(uniq.shape[0], dtype=np.int64)
        last = lens[sel] == k
        np.add.at(c, rows[last], cnt[sel][last])
        count.append(c)
    vocab = table.words()
    return NgramCounts(vocab, ctx, word, count, closed_vocab=closed, meta={"source": label})


__all__ = ["read_counts", "write_counts", "write_order"]
