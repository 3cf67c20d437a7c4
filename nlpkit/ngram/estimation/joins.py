"""Kernels shared by the estimators: walking sorted n-gram rows by context and by middle.

Every estimation pass streams one order's rows in the counting layout ``'rctx'``:
the n-gram ``w1 … wn`` is stored as the int32 columns ``(w[n-1], …, w1, wn)`` and
rows are sorted on them.  Two consequences carry the whole design:

* the followers of a context ``h = w1 … w[n-1]`` are contiguous (a *group*),
  and groups come in *suffix order* of their context (last word first);
* rows that share the *middle* ``w2 … w[n-1]`` are contiguous too (columns
  ``0 … n-3``), and the middles come in the order in which the groups of
  order n-1 come.  The suffix ``w2 … wn`` of every row of a middle block is a
  follower of the order-(n-1) context ``w2 … w[n-1]``: one group of the order
  below, found by walking both streams forward (:func:`suffix_join`).

So an order is estimated with one group of its own and one group of the order
below in memory, whatever the corpus size.
"""
import numba
import numpy as np

NEED_Y = 1  # suffix_join: the lower stream's block ends inside the group being loaded


@numba.njit(cache=True, inline="always")
def cmp_cols(a, i, b, j, ncols):
    """Compare the first ``ncols`` columns of row ``i`` of ``a`` and row ``j`` of ``b``."""
    for c in range(ncols):
        x = a[i, c]
        y = b[j, c]
        if x != y:
            return -1 if x < y else 1
    return 0


@numba.njit(cache=True, inline="always")
def same_cols(a, i, b, j, ncols):
    for c in range(ncols):
        if a[i, c] != b[j, c]:
            return False
    return True


@numba.njit(cache=True)
def group_ends(words, lo, hi, ncols):
    """End (exclusive) of each run of rows of ``words[lo:hi]`` equal on the first ``ncols`` columns."""
    out = np.empty(max(hi - lo, 1), np.int64)
    k = 0
    # (neighbours are compared: a loop that holds a group's first row runs ~10x slower)
    for i in range(lo + 1, hi):
        if not same_cols(words, i, words, i - 1, ncols):
            out[k] = i
            k += 1
    if hi > lo:
        out[k] = hi
        k += 1
    return out[:k]


@numba.njit(cache=True)
def last_group_start(words, lo, hi, ncols):
    """Start of the last run of rows equal on the first ``ncols`` columns in ``words[lo:hi]``."""
    for i in range(hi - 1, lo, -1):
        if not same_cols(words, i - 1, words, i, ncols):
            return i
    return lo


@numba.njit(cache=True)
def next_group_start(words, i, hi, ncols):
    """The first row at or after ``i`` that starts a new run (equal first ``ncols``
    columns), or ``hi``."""
    while i < hi and i > 0 and same_cols(words, i, words, i - 1, ncols):
        i += 1
    return i


@numba.njit(cache=True)
def suffix_join(s_words, s_lo, s_hi, n, y_words, y_pos, y_hi, y_final, dense, loaded, out):
    """For rows ``s_lo..s_hi`` of order ``n >= 3`` (rctx columns), the row of the lower
    stream ``y_words`` (order n-1) that holds each row's suffix ``w2 … wn``.

    ``loaded`` = ``[start, end)`` of the lower group now in ``dense`` (``dense[w]`` =
    its row with last word ``w``; -1 elsewhere), or ``[-1, -1]``.  Returns ``(i, y_pos,
    status)``: rows ``s_lo..i-1`` are done; ``NEED_Y`` when the lower block ends inside
    a group it must load (pass the block again from ``loaded``'s start or ``y_pos``).
    Every suffix of a counted n-gram is counted, so every row finds its suffix.
    """
    m = n - 2  # middle columns
    for i in range(s_lo, s_hi):
        a = loaded[0]
        if a < 0 or ((i == s_lo or not same_cols(s_words, i, s_words, i - 1, m))
                     and not same_cols(s_words, i, y_words, a, m)):
            if a >= 0:
                for r in range(a, loaded[1]):
                    dense[y_words[r, m]] = -1
                loaded[0] = -1
                loaded[1] = -1
            while y_pos < y_hi and cmp_cols(y_words, y_pos, s_words, i, m) < 0:
                y_pos += 1
            e = y_pos
            while e < y_hi and cmp_cols(y_words, e, s_words, i, m) == 0:
                e += 1
            if e == y_hi and not y_final:
                return i, y_pos, NEED_Y
            for r in range(y_pos, e):
                dense[y_words[r, m]] = r
            loaded[0] = y_pos
            loaded[1] = e
            y_pos = e
        out[i] = dense[s_words[i, n - 1]]
    return s_hi, y_pos, 0


@numba.njit(cache=True)
def clear_dense(dense, y_words, loaded, col):
    if loaded[0] >= 0:
        for r in range(loaded[0], loaded[1]):
            dense[y_words[r, col]] = -1
    loaded[0] = -1
    loaded[1] = -1


@numba.njit(cache=True)
def stable_order_by_columns(words, cols, W):
    """Row order sorting ``words`` on the columns ``cols`` (most significant first),
    ties kept in row order: LSD counting sorts, O(len(cols) * (rows + W))."""
    rows = words.shape[0]
    perm = np.arange(rows)
    tmp = np.empty(rows, np.int64)
    start = np.empty(W + 1, np.int64)
    for k in range(cols.shape[0] - 1, -1, -1):
        c = cols[k]
        start[:] = 0
        for r in range(rows):
            start[words[perm[r], c] + 1] += 1
        for w in range(W):
            start[w + 1] += start[w]
        for r in range(rows):
            v = perm[r]
            w = words[v, c]
            tmp[start[w]] = v
            start[w] += 1
        perm, tmp = tmp, perm
    return perm


@numba.njit(cache=True)
def merge_aligned(y_words, y_lo, y_hi, b_words, b_pos, b_hi, ncols, out_idx):
    """For rows of ``y_words`` (sorted), the row of the sorted ``b_words`` with equal
    first ``ncols`` columns, or -1.  Returns the new ``b_pos``."""
    for i in range(y_lo, y_hi):
        while b_pos < b_hi and cmp_cols(b_words, b_pos, y_words, i, ncols) < 0:
            b_pos += 1
        if b_pos < b_hi and cmp_cols(b_words, b_pos, y_words, i, ncols) == 0:
            out_idx[i] = b_pos
        else:
            out_idx[i] = -1
    return b_pos


@numba.njit(cache=True)
def align_rows(y_words, y_lo, y_hi, b_words, b_pos, b_hi, b_final, ncols, out_idx):
    """Like :func:`merge_aligned` for a ``b`` read in blocks: stops at the first row
    of ``y`` that the rest of this ``b`` block cannot decide.  Returns ``(i, b_pos)``:
    rows ``y_lo..i-1`` are done."""
    for i in range(y_lo, y_hi):
        while b_pos < b_hi and cmp_cols(b_words, b_pos, y_words, i, ncols) < 0:
            b_pos += 1
        if b_pos == b_hi and not b_final:
            return i, b_pos
        if b_pos < b_hi and cmp_cols(b_words, b_pos, y_words, i, ncols) == 0:
            out_idx[i] = b_pos
        else:
            out_idx[i] = -1
    return y_hi, b_pos


@numba.njit(cache=True)
def find_rows(words, queries):
    """Row of each query in the lexicographically sorted ``words`` (-1 if absent)."""
    k = words.shape[1]
    out = np.full(queries.shape[0], -1, np.int64)
    for q in range(queries.shape[0]):
        lo = 0
        hi = words.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if cmp_cols(words, mid, queries, q, k) < 0:
                lo = mid + 1
            else:
                hi = mid
        if lo < words.shape[0] and cmp_cols(words, lo, queries, q, k) == 0:
            out[q] = lo
    return out
