"""Token counting kernel (CUDA twin of ``count_kernels.count_ids_cpu``).

A grid-stride loop adds 1 per token with ``cuda.atomic.add``.  The kernel is
compiled lazily on first use, so importing this module needs no GPU.
"""
import functools

import numpy as np
from numba import cuda  # importing needs no GPU; the simulator swaps this module-level name

from .. import backend


@functools.lru_cache(maxsize=1)
def _kernel():
    backend.get_cuda()  # a clear error when CUDA cannot be used

    @cuda.jit
    def histogram(ids, counts):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, ids.shape[0], stride):
            cuda.atomic.add(counts, ids[i], 1)

    return histogram


def count_ids_cuda(ids: np.ndarray, n_types: int) -> np.ndarray:
    """Counts of each id in ``0..n_types-1`` (int64), computed on the GPU."""
    backend.get_cuda()
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    counts = cuda.to_device(np.zeros(n_types, dtype=np.int64))
    if ids.shape[0]:
        blocks, threads = backend.cuda_grid(ids.shape[0])
        _kernel()[blocks, threads](cuda.to_device(ids), counts)
    return counts.copy_to_host()
