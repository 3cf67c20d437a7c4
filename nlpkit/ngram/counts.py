"""N-gram counting kernels (CPU).  The CUDA twin is ``counts_cuda.py``.

N-grams are counted order by order as a trie: an n-gram is the pair
(row of its (n-1)-gram prefix, last word), packed into one uint64 key
``prefix_row * W + word``.  That fits 64 bits for any order (rows and W are
each far below 2^32), so there is no limit on N or on the vocabulary.

``count_order_cpu`` counts the n-grams that start at each position of each
sentence (those that fit before the sentence's end).  Every thread counts a
slice of the sentences into its own open-addressing table (no CPU atomics);
the tables are then merged in slice order, so rows come out in order of
first occurrence in the corpus — the order SRILM's discounting sums in.
The per-position row index it returns is the prefix input of the next order.
"""
import numba
import numpy as np

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, inline="always")
def slot_of(key, shift):
    return np.int64((key * _GOLDEN) >> np.uint64(shift))


@numba.njit(parallel=True, cache=True)
def _local_tables(ids, offsets, bounds, prev_idx, n, W, shift, keys, slot_row, lctx, lword, lcount,
                  nrows, cur_idx, failed):
    n_chunks = bounds.shape[0] - 1
    n_slots = keys.shape[1]
    mask = n_slots - 1
    cap = lctx.shape[1]
    for t in numba.prange(n_chunks):
        tk = keys[t]
        tr = slot_row[t]
        for i in range(n_slots):
            tk[i] = EMPTY
        nr = 0
        bad = False
        for s in range(bounds[t], bounds[t + 1]):
            if bad:
                break
            st = offsets[s]
            en = offsets[s + 1]
            for p in range(st, en - n + 1):
                c = prev_idx[p] if n > 1 else 0
                w = ids[p + n - 1]
                key = np.uint64(c) * np.uint64(W) + np.uint64(w)
                i = slot_of(key, shift)
                while True:
                    k = tk[i]
                    if k == key:
                        r = tr[i]
                        break
                    if k == EMPTY:
                        if nr == cap:
                            bad = True
                            r = 0
                            break
                        tk[i] = key
                        tr[i] = nr
                        lctx[t, nr] = c
                        lword[t, nr] = w
                        lcount[t, nr] = 0
                        r = nr
                        nr += 1
                        break
                    i = (i + 1) & mask
                if bad:
                    break
                lcount[t, r] += 1
                cur_idx[p] = r
        nrows[t] = nr
        failed[t] = bad


@numba.njit(cache=True)
def _merge(W, lctx, lword, lcount, nrows, remap):
    """Merge the per-thread tables in slice order; ``remap[t, r]`` = global row."""
    total = 0
    for t in range(nrows.shape[0]):
        total += nrows[t]
    n_slots = 1
    shift = 64
    while n_slots < 2 * total + 2:
        n_slots *= 2
        shift -= 1
    mask = n_slots - 1
    keys = np.full(n_slots, EMPTY, dtype=np.uint64)
    rows = np.empty(n_slots, dtype=np.int32)
    gctx = np.empty(total, dtype=np.int32)
    gword = np.empty(total, dtype=np.int32)
    gcount = np.empty(total, dtype=np.int64)
    ng = 0
    for t in range(nrows.shape[0]):
        for r in range(nrows[t]):
            c = lctx[t, r]
            w = lword[t, r]
            key = np.uint64(c) * np.uint64(W) + np.uint64(w)
            i = slot_of(key, shift)
            while True:
                k = keys[i]
                if k == key:
                    g = rows[i]
                    gcount[g] += lcount[t, r]
                    break
                if k == EMPTY:
                    keys[i] = key
                    rows[i] = ng
                    gctx[ng] = c
                    gword[ng] = w
                    gcount[ng] = lcount[t, r]
                    g = ng
                    ng += 1
                    break
                i = (i + 1) & mask
            remap[t, r] = g
    return gctx[:ng], gword[:ng], gcount[:ng]


@numba.njit(parallel=True, cache=True)
def _gather(offsets, bounds, n, remap, cur_idx):
    for t in numba.prange(bounds.shape[0] - 1):
        for s in range(bounds[t], bounds[t + 1]):
            for p in range(offsets[s], offsets[s + 1] - n + 1):
                cur_idx[p] = remap[t, cur_idx[p]]


def _slices(offsets, n_chunks):
    """Sentence bounds of ``n_chunks`` slices with about equal numbers of tokens."""
    n_sent = offsets.shape[0] - 1
    targets = np.linspace(0, offsets[-1], n_chunks + 1)
    bounds = np.searchsorted(offsets, targets).astype(np.int64)
    bounds[0], bounds[-1] = 0, n_sent
    return np.maximum.accumulate(np.minimum(bounds, n_sent))


def count_order_cpu(ids, offsets, prev_idx, n, W, n_prev_rows):
    """Count the n-grams of order ``n``.

    Parameters: ``ids`` int32 tokens, ``offsets`` int64 sentence bounds,
    ``prev_idx`` int32 row of the (n-1)-gram starting at each position (ignored
    for n=1), ``W`` the number of word ids, ``n_prev_rows`` rows of order n-1.

    Returns ``(ctx, word, count, cur_idx)``: per n-gram row (first-occurrence
    order) its prefix row, last word and count; and per position the row of the
    n-gram starting there (undefined where none fits).
    """
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n_pos = ids.shape[0]
    n_chunks = max(1, min(numba.get_num_threads(), n_pos // 200_000 or 1))
    bounds = _slices(offsets, n_chunks)
    per_chunk = int(np.max(offsets[bounds[1:]] - offsets[bounds[:-1]])) if n_pos else 0
    # A first guess of the distinct n-grams per slice, doubled on overflow.
    guess = W if n == 1 else 4 * n_prev_rows + 1024
    cap = max(16, min(per_chunk, guess))
    cur_idx = np.empty(n_pos, dtype=np.int32)
    if prev_idx is None:
        prev_idx = cur_idx  # not read for n = 1
    while True:
        n_slots = 1 << int(2 * cap - 1).bit_length()
        keys = np.empty((n_chunks, n_slots), dtype=np.uint64)
        slot_row = np.empty((n_chunks, n_slots), dtype=np.int32)
        lctx = np.empty((n_chunks, cap), dtype=np.int32)
        lword = np.empty((n_chunks, cap), dtype=np.int32)
        lcount = np.empty((n_chunks, cap), dtype=np.int64)
        nrows = np.zeros(n_chunks, dtype=np.int64)
        failed = np.zeros(n_chunks, dtype=np.bool_)
        shift = 64 - (n_slots.bit_length() - 1)
        _local_tables(ids, offsets, bounds, prev_idx, np.int64(n), np.int64(W), np.int64(shift),
                      keys, slot_row,
                      lctx, lword, lcount, nrows, cur_idx, failed)
        if not failed.any():
            break
        cap = min(max(per_chunk, 16), 2 * cap)
    del keys, slot_row
    remap = np.empty((n_chunks, cap), dtype=np.int32)
    ctx, word, count = _merge(np.int64(W), lctx, lword, lcount, nrows, remap)
    if n_chunks > 1:  # with one slice local rows already are global rows
        _gather(offsets, bounds, np.int64(n), remap, cur_idx)
    return ctx, word, count, cur_idx
