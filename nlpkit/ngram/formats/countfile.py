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
from .lines import NO_MAP, assemble_lines, byte_pool, natural_columns


def write_counts(counts: NgramCounts, path) -> None:
    """Write ``counts`` as ``ngram-count -write`` does (atomically; ``.gz`` by name)."""
    write_count_tables(counts.to_sorted(), counts.vocab, path)


def _word_pool(vocab):
    """``(pool, offsets)`` of a :class:`WordTable` or a list of words."""
    if isinstance(vocab, WordTable):
        return vocab.byte_pool()
    return byte_pool([w.encode("utf-8", "surrogateescape") for w in vocab])


def write_count_tables(sc, vocab, path, *, plan=None) -> None:
    """Write sorted counts (layout ``'ctx'``, SRILM ids, first positions) as SRILM's
    ``-write`` prints them: its count trie depth first, each node's children in the
    slot order of its ``LHash`` table (keys: word ids, inserted in order of first
    occurrence).  Each order's rows get the path of sibling positions from the root,
    are sorted on it, and the orders are merged (a path sorts before its extensions).
    ``plan``: the memory plan (None: every table in memory)."""
    from ..counting.merge import merge_tables, sort_table
    from ..counting.runs import GroupBlocks, TableWriter, table_from_arrays
    from ..estimation.joins import align_rows
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    space, block = plan.space_for_tables(), plan.block_rows
    N = sc.order
    W = sc.W
    # unigrams: the root's table
    ids = np.flatnonzero(sc.uni_first >= 0)
    by_first = ids[np.argsort(sc.uni_first[ids], kind="stable")].astype(np.int64)
    pos = np.empty(W, np.int64)
    p1 = np.empty(by_first.shape[0], np.int64)
    lhash_positions(np.arange(by_first.shape[0], dtype=np.int64),
                    np.array([0, by_first.shape[0]], np.int64), by_first, p1)
    pos[by_first] = p1
    paths = table_from_arrays(words=ids.reshape(-1, 1).astype(np.int32),
                              path=pos[ids].reshape(-1, 1).astype(np.int32))
    out_tables = [_padded(ids.reshape(-1, 1), pos[ids].reshape(-1, 1), sc.uni_count[ids], N,
                          space, W, 1)]
    for n in range(2, N + 1):
        prev = paths
        pw = TableWriter({"words": (np.int32, (n,)), "path": (np.int32, (n,))}, space,
                         stem=f"paths{n}") if n < N else None
        ow = TableWriter({"words": (np.int32, (2 * N,)), "count": (np.int64, ())}, space,
                         stem=f"dfs{n}")
        it = prev.blocks(["words", "path"], block)
        cur, nxt, ppos = next(it, None), None, 0
        nxt = next(it, None)
        for blk, final in GroupBlocks(sc.table(n), ["words", "count", "first"], n - 1, block):
            words = blk["words"]
            rows = words.shape[0]
            ctx = np.ascontiguousarray(words[:, :n - 1])
            idx = np.full(rows, -1, np.int64)
            pre = np.empty((rows, n - 1), np.int32)
            i = 0
            while i < rows:
                j, ppos = align_rows(ctx, i, rows, cur["words"], ppos, cur["words"].shape[0],
                                     nxt is None, n - 1, idx)
                pre[i:j] = cur["path"][idx[i:j]]
                i = j
                if i < rows:
                    cur, nxt, ppos = nxt, next(it, None), 0
            gstart = np.r_[0, _group_ends(words, n - 1)].astype(np.int64)
            perm = _by_first_in_groups(blk["first"], gstart)
            own = np.empty(rows, np.int64)
            lhash_positions(perm, gstart, words[:, n - 1].astype(np.int64), own)
            dfs = np.concatenate([pre, own.reshape(-1, 1).astype(np.int32)], axis=1)
            if pw is not None:
                pw.append(words=words, path=dfs)
            ow.append(**_padded_block(words, dfs, blk["count"], N))
        prev.drop()
        paths = pw.close() if pw is not None else None
        out_tables.append(sort_table(ow.close(), list(range(2 * N)), ["count"], W=W + 1,
                                     space=space, presorted=2 * N - n, stem=f"dfs{n}s",
                                     chunk_rows=plan.rows_for(8 * N + 8, 0.5)))
    wpool, woff = _word_pool(vocab)
    with atomic_write(path, "wb") as fh:
        per_run = plan.rows_for((8 * N + 8) * (N + 2), 0.5)
        for blk in merge_tables(out_tables, ["count"], block_rows=per_run):
            cnt = blk["count"]
            uniq, inv = np.unique(cnt, return_inverse=True)
            numpool, numoff = byte_pool([b"%d" % c for c in uniq.tolist()])
            out = assemble_lines(np.ascontiguousarray(blk["words"][:, N:]),
                                 natural_columns(N, "natural"), NO_MAP, inv.astype(np.int64),
                                 np.full(cnt.shape[0], -1, np.int64), wpool, woff, numpool,
                                 numoff, True)
            fh.write(out.data)
    for tb in out_tables:
        tb.drop()


def _padded_block(words, path, count, N):
    rows, n = words.shape
    both = np.full((rows, 2 * N), -1, np.int32)
    both[:, :n] = path
    both[:, N:N + n] = words
    return {"words": both, "count": count}


def _padded(words, path, count, N, space, W, n):
    from ..counting.merge import sort_table
    from ..counting.runs import table_from_arrays
    t = table_from_arrays(**_padded_block(words.astype(np.int32), path.astype(np.int32),
                                          count.astype(np.int64), N))
    return sort_table(t, list(range(2 * N)), ["count"], W=W + 1, space=None,
                      presorted=2 * N - n)


def _group_ends(words, ncols):
    from ..estimation.joins import group_ends
    return group_ends(words, 0, words.shape[0], ncols)


def _by_first_in_groups(first, gstart):
    """Rows of each group (``gstart`` bounds) in order of first occurrence."""
    group = np.repeat(np.arange(gstart.shape[0] - 1), np.diff(gstart))
    return np.lexsort((first, group)).astype(np.int64)


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
