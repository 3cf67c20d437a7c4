"""N-gram counting kernels (CPU).  The CUDA twin is ``memory_cuda.py``.

N-grams are counted order by order as a trie: an n-gram is the pair
(row of its (n-1)-gram prefix, last word), packed into one uint64 key
``prefix_row * W + word``.  That fits 64 bits for any order (rows and W are
each far below 2^32), so there is no limit on N or on the vocabulary.

``count_order_cpu`` counts the n-grams that start at each position of each
sentence (those that fit before the sentence's end).  Every thread counts a
slice of the sentences into its own open-addressing table (no CPU atomics);
the tables are then merged in slice order, so rows come out in order of
first occurrence in the corpus — the order SRILM's discounting sums in.
When a table fills up, the kernel stops that slice where it is; the tables
are rehashed into bigger ones and counting resumes, so no pass is wasted.
The per-position row index it returns is the prefix input of the next order.
"""
import numba
import numpy as np

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_FULL, _DONE = 1, 2


@numba.njit(cache=True, inline="always")
def slot_of(key, shift):
    return np.int64((key * _GOLDEN) >> np.uint64(shift))


@numba.njit(parallel=True, cache=True)
def _local_tables(ids, offsets, bounds, prev_idx, n, W, shift, table, row_slot, nrows, cur_idx,
                  status, resume):
    """Each slice counts into its own table, from sentence ``resume[t]`` on.

    ``table[t, slot]`` = (key, row << 32 | count): key, row and count share a
    cache line, so an insert touches one line.  ``row_slot[t, r]`` = slot of
    local row ``r`` (rows numbered by first occurrence in the slice).  A slice
    whose table is full stops at the start of the sentence it was in: its
    n-grams there are counted again after the table has grown, so the partial
    counts of that sentence are undone first.
    """
    n_slots = table.shape[1]
    mask = n_slots - 1
    cap = row_slot.shape[1]
    one = np.uint64(1)
    for t in numba.prange(bounds.shape[0] - 1):
        if status[t] == _DONE:
            continue
        tab = table[t]
        nr = nrows[t]
        status[t] = 0
        for s in range(resume[t], bounds[t + 1]):
            st = offsets[s]
            en = offsets[s + 1]
            for p in range(st, en - n + 1):
                c = prev_idx[p] if n > 1 else 0
                key = np.uint64(c) * np.uint64(W) + np.uint64(ids[p + n - 1])
                i = slot_of(key, shift)
                while True:
                    k = tab[i, 0]
                    if k == key:
                        v = tab[i, 1] + one
                        tab[i, 1] = v
                        cur_idx[p] = np.int32(v >> np.uint64(32))
                        break
                    if k == EMPTY:
                        if nr == cap:
                            status[t] = _FULL
                            break
                        tab[i, 0] = key
                        tab[i, 1] = (np.uint64(nr) << np.uint64(32)) | one
                        row_slot[t, nr] = i
                        cur_idx[p] = nr
                        nr += 1
                        break
                    i = (i + 1) & mask
                if status[t] == _FULL:
                    # undo this sentence's counts so far (its rows stay, with the
                    # counts of earlier sentences) and resume from its start
                    for q in range(st, p):
                        r = cur_idx[q]
                        tab[row_slot[t, r], 1] -= one
                    break
            if status[t] == _FULL:
                resume[t] = s
                break
        nrows[t] = nr
        if status[t] != _FULL:
            status[t] = _DONE


@numba.njit(parallel=True, cache=True)
def _regrow(old, new, row_slot, nrows, shift):
    """Rehash every slice's rows from ``old`` into the bigger ``new`` table."""
    mask = new.shape[1] - 1
    for t in numba.prange(old.shape[0]):
        for i in range(new.shape[1]):
            new[t, i, 0] = EMPTY
        for r in range(nrows[t]):
            o = row_slot[t, r]
            key = old[t, o, 0]
            i = slot_of(key, shift)
            while new[t, i, 0] != EMPTY:
                i = (i + 1) & mask
            new[t, i, 0] = key
            new[t, i, 1] = old[t, o, 1]
            row_slot[t, r] = i


@numba.njit(cache=True)
def _merge(W, table, row_slot, nrows, remap):
    """Merge the per-slice tables in slice order; ``remap[t, r]`` = global row."""
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
    gkey = np.empty(total, dtype=np.uint64)
    gcount = np.empty(total, dtype=np.int64)
    low = np.uint64(0xFFFFFFFF)
    ng = 0
    for t in range(nrows.shape[0]):
        for r in range(nrows[t]):
            slot = row_slot[t, r]
            key = table[t, slot, 0]
            cnt = np.int64(table[t, slot, 1] & low)
            i = slot_of(key, shift)
            while True:
                k = keys[i]
                if k == key:
                    g = rows[i]
                    gcount[g] += cnt
                    break
                if k == EMPTY:
                    keys[i] = key
                    rows[i] = ng
                    gkey[ng] = key
                    gcount[ng] = cnt
                    g = ng
                    ng += 1
                    break
                i = (i + 1) & mask
            remap[t, r] = g
    gkey = gkey[:ng]
    gctx = (gkey // np.uint64(W)).astype(np.int32)
    gword = (gkey % np.uint64(W)).astype(np.int32)
    return gctx, gword, gcount[:ng]


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


def _table(n_chunks, cap):
    """A table for ``cap`` rows per slice at a load of at most 0.7, and its hash shift."""
    n_slots = 1 << max(4, int(cap / 0.7).bit_length())
    return np.empty((n_chunks, n_slots, 2), dtype=np.uint64), 64 - (n_slots.bit_length() - 1)


def count_order_cpu(ids, offsets, prev_idx, n, W, n_prev_rows, need_idx=True):
    """Count the n-grams of order ``n``.

    Parameters: ``ids`` int32 tokens, ``offsets`` int64 sentence bounds,
    ``prev_idx`` int32 row of the (n-1)-gram starting at each position (None
    for n=1), ``W`` the number of word ids, ``n_prev_rows`` rows of order n-1.

    Returns ``(ctx, word, count, cur_idx)``: per n-gram row (first-occurrence
    order) its prefix row, last word and count; and per position the row of the
    n-gram starting there (undefined where none fits; None unless ``need_idx``,
    e.g. for the highest order).
    """
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n_pos = ids.shape[0]
    n_chunks = max(1, min(numba.get_num_threads(), n_pos // 200_000 or 1))
    bounds = _slices(offsets, n_chunks)
    per_chunk = int(np.max(offsets[bounds[1:]] - offsets[bounds[:-1]])) if n_pos else 0
    # First guess of the distinct n-grams per slice; the tables grow when it is low.  From
    # bigrams on, text has many more n-grams than (n-1)-grams, so allow for a quarter of
    # the slice's positions (up to 1M rows, 32 MB of table per slice) from the start.
    guess = W if n == 1 else max(2 * n_prev_rows + 1024, min(per_chunk // 4, 1 << 20))
    cap = max(16, min(per_chunk, guess))
    cur_idx = np.empty(n_pos, dtype=np.int32)
    if prev_idx is None:
        prev_idx = cur_idx  # not read for n = 1
    table, shift = _table(n_chunks, cap)
    table[:, :, 0] = EMPTY
    row_slot = np.empty((n_chunks, cap), dtype=np.int64)
    nrows = np.zeros(n_chunks, dtype=np.int64)
    status = np.zeros(n_chunks, dtype=np.int64)
    resume = bounds[:-1].copy()
    while True:
        _local_tables(ids, offsets, bounds, prev_idx, np.int64(n), np.int64(W), np.int64(shift),
                      table, row_slot, nrows, cur_idx, status, resume)
        if (status == _DONE).all():
            break
        cap = min(max(per_chunk, 16), 2 * cap)
        new, shift = _table(n_chunks, cap)
        grown = np.empty((n_chunks, cap), dtype=np.int64)
        grown[:, :row_slot.shape[1]] = row_slot
        row_slot = grown
        _regrow(table, new, row_slot, nrows, np.int64(shift))
        table = new
    remap = np.empty((n_chunks, cap), dtype=np.int32)
    ctx, word, count = _merge(np.int64(W), table, row_slot, nrows, remap)
    del table, row_slot
    if not need_idx:
        return ctx, word, count, None
    if n_chunks > 1:  # with one slice local rows already are global rows
        _gather(offsets, bounds, np.int64(n), remap, cur_idx)
    return ctx, word, count, cur_idx
