"""Token counting kernel (CPU): a histogram of int ids.

Numba has no CPU atomics, so each thread counts its slice into its own row of
a ``(threads, n_types)`` buffer and the rows are summed afterwards.
Its CUDA twin, with the same signature, is in ``count_kernels_cuda.py``.
"""
import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def _histogram_rows(ids, n_types, n_chunks):
    rows = np.zeros((n_chunks, n_types), dtype=np.int64)
    n = ids.shape[0]
    step = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        row = rows[c]
        for i in range(c * step, min(n, (c + 1) * step)):
            row[ids[i]] += 1
    return rows


def count_ids_cpu(ids: np.ndarray, n_types: int) -> np.ndarray:
    """Counts of each id in ``0..n_types-1`` (int64).  Ids must be in range."""
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    n_chunks = max(1, min(numba.get_num_threads(), ids.shape[0] // 65536 or 1))
    return _histogram_rows(ids, np.int64(n_types), np.int64(n_chunks)).sum(axis=0)
