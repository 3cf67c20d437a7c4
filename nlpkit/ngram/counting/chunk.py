"""Count the n-grams of a chunk of encoded text into sorted runs (CPU kernels).

A chunk is word ids (``rid``, already mapped to the ids whose order the output
follows) with int64 sentence offsets.  Orders are counted one after the other
by sorting *occurrences*: every position ``p`` where an n-gram starts becomes
one uint64, ``context id | follower | p`` bit-packed, and NumPy sorts them (its
sort of plain integers is vectorized, several times faster than any
key-and-payload sort).  In sorted order a distinct n-gram is a run of equal
``context id | follower``: its count is the run's length and its first position
(the order SRILM sums a context's followers in) the run's first ``p``.  When the
three fields need more than 64 bits the occurrences are first bucketed by the
context id's high bits (one counting pass) and each bucket is sorted on its own.
The context id of order n is the rank of the (n-1)-gram in the order the next
order's contexts must come in, so the output is sorted by construction:

* ``'rctx'`` (SRILM's ARPA order, and the order estimation streams): n-gram
  ``w1 … wn`` sorts on ``(w[n-1], …, w1, wn)``, its context in *suffix order*
  (last word first).  The context ids of order n+1 are therefore the ranks of
  the n-grams in suffix order, a stable counting sort of the output by its last
  word.
* ``'ctx'`` (count files): plain ``(w1, …, wn)`` order; the context ids of the
  next order are the output rows themselves.

The words of each output row are stored as int32 columns in the significance
order of the sort key (``'rctx'``: ``w[n-1], …, w1, wn``; ``'ctx'``: ``w1, …,
wn``), so comparing two rows is comparing their columns left to right.
"""
from __future__ import annotations

import numba
import numpy as np

RCTX, CTX = "rctx", "ctx"
KEY_BITS = 64  # bits of a packed occurrence (tests lower it to exercise the buckets)


@numba.njit(cache=True)
def add_unigrams(rid, base, count, first):
    """Add a chunk's words to the dense ``count`` and ``first`` (-1: not seen yet) by id."""
    for p in range(rid.shape[0]):
        w = rid[p]
        count[w] += 1
        if first[w] < 0:
            first[w] = base + p


@numba.njit(cache=True)
def occurrence_keys(rid, offsets, n, pid, low_bits, fb, pb, bucket_shift, b0, b1, bucket_start,
                    out):
    """Pack ``pid[p] (low bits) | follower | p`` for every position ``p`` that starts
    an n-gram inside its sentence and whose bucket (``pid[p] >> bucket_shift``) is in
    ``b0..b1-1``, into ``out``, grouped by bucket: ``bucket_start`` holds where each
    bucket begins and is advanced as keys are placed."""
    fsh = np.uint64(pb)
    csh = np.uint64(pb + fb)
    lmask = (np.uint64(1) << np.uint64(low_bits)) - np.uint64(1)
    bsh = np.uint64(bucket_shift)
    for s in range(offsets.shape[0] - 1):
        for p in range(offsets[s], offsets[s + 1] - n + 1):
            c = np.uint64(pid[p])
            b = np.int64(c >> bsh)
            if b < b0 or b >= b1:
                continue
            k = bucket_start[b]
            out[k] = ((c & lmask) << csh) | (np.uint64(rid[p + n - 1]) << fsh) | np.uint64(p)
            bucket_start[b] = k + 1


@numba.njit(cache=True)
def bucket_sizes(offsets, n, pid, bucket_shift, n_buckets):
    sizes = np.zeros(n_buckets + 1, np.int64)
    bsh = np.uint64(bucket_shift)
    for s in range(offsets.shape[0] - 1):
        for p in range(offsets[s], offsets[s + 1] - n + 1):
            sizes[np.int64(np.uint64(pid[p]) >> bsh) + 1] += 1
    for b in range(n_buckets):
        sizes[b + 1] += sizes[b]
    return sizes


@numba.njit(parallel=True, cache=True)
def walk_runs(keys, lo, hi, bucket_high, low_bits, fb, pb, n, ctx_words, base, out_words,
              out_count, out_first, with_first, rows, cur, need_cur):
    """One sorted bucket ``keys[lo:hi]``: each run of equal ``context | follower`` is a
    distinct n-gram, written as row ``rows, rows + 1, …``: words = the context's
    columns then the follower, count = run length, first = global position of the
    run's first occurrence.  With ``need_cur``, ``cur[p]`` gets the row of the n-gram
    starting at ``p``.  Returns the new row count.

    In parallel over pieces of the bucket cut at run starts: a first pass counts each
    piece's runs, which gives every piece its first row, so the rows are numbered as one
    walk from ``lo`` would number them (the walk's random writes to ``cur`` and reads of
    ``ctx_words`` were a serial second of a 3-gram build)."""
    sh = np.uint64(pb)
    n_pieces = max(1, min(64, (hi - lo) >> 16))
    cut = np.empty(n_pieces + 1, np.int64)
    for t in range(n_pieces + 1):
        c = lo + (hi - lo) * t // n_pieces
        while lo < c < hi and (keys[c] >> sh) == (keys[c - 1] >> sh):
            c += 1  # (a run belongs to the piece it starts in)
        cut[t] = c
    first_row = np.zeros(n_pieces + 1, np.int64)
    for t in numba.prange(n_pieces):
        runs = 0
        for i in range(cut[t], cut[t + 1]):
            if i == cut[t] or (keys[i] >> sh) != (keys[i - 1] >> sh):
                runs += 1
        first_row[t + 1] = runs
    first_row[0] = rows
    for t in range(n_pieces):
        first_row[t + 1] += first_row[t]
    for t in numba.prange(n_pieces):
        _walk_piece(keys, cut[t], cut[t + 1], bucket_high, low_bits, fb, pb, n, ctx_words,
                    base, out_words, out_count, out_first, with_first, first_row[t], cur,
                    need_cur)
    return first_row[n_pieces]


@numba.njit(cache=True)
def _walk_piece(keys, lo, hi, bucket_high, low_bits, fb, pb, n, ctx_words, base, out_words,
                out_count, out_first, with_first, rows, cur, need_cur):
    pmask = (np.uint64(1) << np.uint64(pb)) - np.uint64(1)
    fmask = (np.uint64(1) << np.uint64(fb)) - np.uint64(1)
    sh = np.uint64(pb)
    csh = np.uint64(pb + fb)
    m1 = n - 1
    i = lo
    while i < hi:
        head = keys[i] >> sh
        j = i + 1
        while j < hi and (keys[j] >> sh) == head:
            j += 1
        g = np.int64((bucket_high << np.uint64(low_bits)) | (keys[i] >> csh))
        for c in range(m1):
            out_words[rows, c] = ctx_words[g, c]
        out_words[rows, m1] = np.int32(head & fmask)
        out_count[rows] = j - i
        if with_first:
            out_first[rows] = base + np.int64(keys[i] & pmask)
        if need_cur:
            for t in range(i, j):
                cur[np.int64(keys[t] & pmask)] = rows
        rows += 1
        i = j
    return rows


def stable_order_by_column(words, col, W):
    """Row order that sorts ``words`` by column ``col``, ties kept in row order
    (a counting sort: O(rows + W)).

    In parallel over contiguous pieces of rows, one per thread, each with its own counts
    (no atomics); a word's rows go piece by piece, so ties stay in row order.  At most as
    many pieces as the rows fill the counts (``pieces * W <= rows``), so a large
    vocabulary does not multiply the memory."""
    pieces = max(1, min(numba.get_num_threads(), words.shape[0] // max(int(W), 1)))
    return _stable_order(words, np.int64(col), np.int64(W), np.int64(pieces))


@numba.njit(parallel=True, cache=True)
def _stable_order(words, col, W, pieces):
    rows = words.shape[0]
    start = np.zeros((pieces, W), np.int64)
    for t in numba.prange(pieces):
        for r in range(rows * t // pieces, rows * (t + 1) // pieces):
            start[t, words[r, col]] += 1
    total = 0
    for w in range(W):
        for t in range(pieces):
            c = start[t, w]
            start[t, w] = total
            total += c
    out = np.empty(rows, np.int64)
    for t in numba.prange(pieces):
        for r in range(rows * t // pieces, rows * (t + 1) // pieces):
            w = words[r, col]
            out[start[t, w]] = r
            start[t, w] += 1
    return out


@numba.njit(parallel=True, cache=True)
def suffix_contexts(words, perm, cur, offsets, n, out_pid):
    """Context ids of order n+1 in ``'rctx'`` mode: ``perm`` lists this order's rows
    in suffix order; the id of the n-gram at ``p`` is its suffix rank.  Returns the
    rows' columns in suffix layout (last word first), indexed by suffix rank.
    (Every loop writes each index once: ``perm`` is a permutation, ``p`` a position.)"""
    rows = perm.shape[0]
    rank = np.empty(rows, np.int64)
    for s in numba.prange(rows):
        rank[perm[s]] = s
    suf = np.empty((rows, n), np.int32)
    for s in numba.prange(rows):
        r = perm[s]
        suf[s, 0] = words[r, n - 1]
        for c in range(n - 1):
            suf[s, c + 1] = words[r, c]
    for si in numba.prange(offsets.shape[0] - 1):
        for p in range(offsets[si], offsets[si + 1] - n + 1):
            out_pid[p] = rank[cur[p]]
    return suf


def count_chunk(rid, offsets, order, W, *, base=0, layout=RCTX, with_first=True,
                count_dtype=np.int64, first_dtype=np.int64, key_rows=1 << 22, unigrams=None):
    """Count orders 1..``order`` of one chunk.

    ``rid``: int32 ids below ``W``; ``offsets``: int64 sentence bounds into ``rid``;
    ``base``: the global position of ``rid[0]``.  Returns ``(uni_count, uni_first,
    runs)``: dense counts and first positions by id (``unigrams``, a pair of such arrays,
    is updated instead of making new ones), and for orders 2..N a dict of arrays ``words``
    (rows, n) int32, ``count`` and (``with_first``) ``first`` in the given dtypes, sorted by
    ``layout``.  At most about ``key_rows`` occurrences are sorted at once (the
    occurrences are taken bucket by bucket).
    """
    rid = np.ascontiguousarray(rid, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    T = rid.shape[0]
    if unigrams is None:
        unigrams = (np.zeros(W, np.int64), np.full(W, -1, np.int64))
    uni_count, uni_first = unigrams
    add_unigrams(rid, np.int64(base), uni_count, uni_first)
    runs = []
    pb = max(1, int(T - 1).bit_length())
    fb = max(1, int(W - 1).bit_length())
    pid, n_ctx = rid, W  # order 2: the context of a bigram is its first word
    ctx_words = np.arange(W, dtype=np.int32).reshape(W, 1)
    keys = None
    row_dtype = np.int32 if T < 2**31 else np.int64
    for n in range(2, order + 1):
        pid_bits = max(1, int(n_ctx - 1).bit_length())
        # high context bits choose a bucket: as many as the packing needs, and enough that
        # a bucket's occurrences fit the key buffer (buckets are sorted one after another)
        need = max(0, pid_bits + fb + pb - KEY_BITS)
        split = max(0, int(-(-T // max(1, key_rows)) - 1).bit_length())
        shift = min(pid_bits, max(need, split))
        n_buckets = 1 << shift
        low_bits = pid_bits - shift
        starts = bucket_sizes(offsets, np.int64(n), pid, np.int64(low_bits), np.int64(n_buckets))
        groups = _bucket_groups(starts, key_rows)
        if keys is None or keys.shape[0] < max(b - a for a, b in _group_spans(starts, groups)):
            keys = np.empty(max(b - a for a, b in _group_spans(starts, groups)), np.uint64)
        need_cur = n < order
        nk = int(starts[-1])
        # the walk writes cur over pid: only when pid is not read again (one bucket group)
        cur = (pid if n > 2 and len(groups) == 1 else np.empty(T, row_dtype)) if need_cur \
            else np.empty(0, row_dtype)
        # room for one row per occurrence: np.empty only reserves it, and the pages the
        # distinct n-grams never reach are never made resident
        run = {"words": np.empty((nk, n), np.int32), "count": np.empty(nk, count_dtype),
               "first": np.empty(nk if with_first else 0, first_dtype)}
        rows = 0
        for g0, g1 in groups:
            _fill(keys, rid, offsets, n, pid, low_bits, fb, pb, starts, g0, g1)
            a = int(starts[g0])
            for b in range(g0, g1):
                rows = walk_runs(keys, int(starts[b]) - a, int(starts[b + 1]) - a, np.uint64(b),
                                 np.int64(low_bits), np.int64(fb), np.int64(pb), np.int64(n),
                                 ctx_words, np.int64(base), run["words"], run["count"],
                                 run["first"], with_first, rows, cur, need_cur)
        run = {k: v[:rows] if v.shape[0] else v for k, v in run.items()}
        runs.append(run)
        if not need_cur:
            break
        if layout == RCTX:
            perm = stable_order_by_column(run["words"], np.int64(n - 1), np.int64(W))
            ctx_words = suffix_contexts(run["words"], perm, cur, offsets, np.int64(n), cur)
            del perm
        else:
            ctx_words = run["words"]
        pid = cur
        n_ctx = rows
    return uni_count, uni_first, runs


def _bucket_groups(starts, key_rows):
    """Consecutive buckets whose occurrences together stay within ``key_rows`` (a bucket
    larger than that is a group of its own)."""
    groups, g0 = [], 0
    n = starts.shape[0] - 1
    for b in range(1, n + 1):
        if b == n or starts[b + 1] - starts[g0] > key_rows:
            groups.append((g0, b))
            g0 = b
    return groups or [(0, 0)]


def _group_spans(starts, groups):
    return [(int(starts[a]), int(starts[b])) for a, b in groups] or [(0, 1)]


def _fill(keys, rid, offsets, n, pid, low_bits, fb, pb, starts, g0, g1):
    """The occurrence keys of buckets ``g0..g1-1``, each bucket sorted, from ``keys[0]`` on."""
    fill = starts[:-1] - starts[g0]
    occurrence_keys(rid, offsets, np.int64(n), pid, np.int64(low_bits), np.int64(fb),
                    np.int64(pb), np.int64(low_bits), np.int64(g0), np.int64(g1), fill, keys)
    a = int(starts[g0])
    for b in range(g0, g1):
        keys[int(starts[b]) - a:int(starts[b + 1]) - a].sort()
