"""N-gram counting kernel (CUDA twin of ``memory.count_order_cpu``, same signature).

One global open-addressing table over packed keys ``prefix_row * W + word``:
each thread inserts the n-grams of its positions with ``atomic.cas`` on the
key, ``atomic.add`` on the count and ``atomic.min`` on the first position.
The host then numbers the occupied slots by first position, so rows come out
in first-occurrence order exactly as on the CPU.  Kernels are compiled lazily.
"""
import functools

import numpy as np

from ... import backend

_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
# numba.cuda, imported on first use; the kernels read it as a module global
# because the simulator swaps globals named ``cuda`` (not closure variables)
cuda = None


@functools.lru_cache(maxsize=1)
def _kernels():
    global cuda
    cuda = backend.get_cuda()

    @cuda.jit
    def insert(ids, ends, prev_idx, n, W, keys, counts, first, slot_at):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        mask = np.uint64(keys.shape[0] - 1)
        empty = np.uint64(0xFFFFFFFFFFFFFFFF)
        for p in range(start, ids.shape[0], stride):
            if p + n > ends[p]:
                continue
            c = np.uint64(0)
            if n > 1:
                c = np.uint64(prev_idx[p])
            key = c * np.uint64(W) + np.uint64(ids[p + n - 1])
            # 32x32-bit products cannot overflow (the simulator warns on uint64 wrap-around)
            h = ((key & np.uint64(0xFFFFFFFF)) * np.uint64(0x9E3779B1)) ^ \
                ((key >> np.uint64(32)) * np.uint64(0x85EBCA77))
            i = (h ^ (h >> np.uint64(29))) & mask
            while True:
                old = cuda.atomic.cas(keys, i, empty, key)
                if old == empty or old == key:
                    break
                i = (i + np.uint64(1)) & mask
            cuda.atomic.add(counts, i, 1)
            cuda.atomic.min(first, i, p)
            slot_at[p] = i

    @cuda.jit
    def rows_of(ends, n, slot_at, row_of_slot, cur_idx):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for p in range(start, ends.shape[0], stride):
            if p + n <= ends[p]:
                cur_idx[p] = row_of_slot[slot_at[p]]

    return insert, rows_of


def count_order_cuda(ids, offsets, prev_idx, n, W, n_prev_rows, need_idx=True):
    """Same contract as :func:`nlpkit.ngram.counting.memory.count_order_cpu`, on the GPU."""
    insert, rows_of = _kernels()
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n_pos = ids.shape[0]
    ends = np.repeat(offsets[1:], np.diff(offsets)).astype(np.int64)
    n_valid = int(np.maximum(np.diff(offsets) - n + 1, 0).sum())
    n_slots = 1 << max(4, int(2 * n_valid + 1).bit_length())
    if prev_idx is None:
        prev_idx = np.zeros(max(n_pos, 1), dtype=np.int32)
    d_ids, d_ends = cuda.to_device(ids if n_pos else np.zeros(1, np.int32)), cuda.to_device(
        ends if n_pos else np.zeros(1, np.int64))
    d_keys = cuda.to_device(np.full(n_slots, _EMPTY, dtype=np.uint64))
    d_counts = cuda.to_device(np.zeros(n_slots, dtype=np.int64))
    d_first = cuda.to_device(np.full(n_slots, np.iinfo(np.int64).max, dtype=np.int64))
    d_slot_at = cuda.to_device(np.zeros(max(n_pos, 1), dtype=np.int64))
    if n_pos:
        blocks, threads = backend.cuda_grid(n_pos)
        insert[blocks, threads](d_ids, d_ends, cuda.to_device(np.ascontiguousarray(prev_idx)),
                                np.int64(n), np.int64(W), d_keys, d_counts, d_first, d_slot_at)
    keys = d_keys.copy_to_host()
    used = np.flatnonzero(keys != _EMPTY)
    first = d_first.copy_to_host()[used]
    order = np.argsort(first, kind="stable")
    slots = used[order]
    row_of_slot = np.zeros(n_slots, dtype=np.int32)
    row_of_slot[slots] = np.arange(slots.shape[0], dtype=np.int32)
    skeys = keys[slots]
    ctx = (skeys // np.uint64(W)).astype(np.int32)
    word = (skeys % np.uint64(W)).astype(np.int32)
    count = d_counts.copy_to_host()[slots]
    if not need_idx:
        return ctx, word, count, None
    d_cur = cuda.to_device(np.zeros(max(n_pos, 1), dtype=np.int32))
    if n_pos:
        rows_of[blocks, threads](d_ends, np.int64(n), d_slot_at, cuda.to_device(row_of_slot), d_cur)
    cur_idx = d_cur.copy_to_host()[:n_pos]
    return ctx, word, count, cur_idx
