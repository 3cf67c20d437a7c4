"""CUDA twin of :mod:`nlpkit.metrics.edit_kernels`: ``distances`` with the same arguments and
result, one thread per pair, each with its own row of the table in global memory."""
from __future__ import annotations

import functools

import numpy as np

from .. import backend

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=1)
def _kernel():
    global cuda
    cuda = backend.get_cuda()

    @cuda.jit
    def edit(hyp, hyp_off, ref, ref_off, rows, row_off, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            r0 = row_off[i]
            m = ref_off[i + 1] - ref_off[i]
            for j in range(m + 1):
                rows[r0 + j] = j
            for a in range(hyp_off[i], hyp_off[i + 1]):
                diag = rows[r0]
                rows[r0] = a - hyp_off[i] + 1
                for j in range(m):
                    up = rows[r0 + j + 1]
                    best = diag + (1 if hyp[a] != ref[ref_off[i] + j] else 0)
                    if up + 1 < best:
                        best = up + 1
                    if rows[r0 + j] + 1 < best:
                        best = rows[r0 + j] + 1
                    rows[r0 + j + 1] = best
                    diag = up
            out[i] = rows[r0 + m]

    return edit


def distances(hyp, hyp_off, ref, ref_off, out):
    """Twin of ``edit_kernels.distances``: host arrays in, ``out`` (host) written."""
    kernel = _kernel()
    n = out.shape[0]
    if n == 0:
        return
    row_off = np.zeros(n + 1, np.int64)
    np.cumsum(np.diff(ref_off) + 1, out=row_off[1:])
    rows = cuda.device_array(int(row_off[-1]), np.int64)
    d_out = cuda.device_array(n, np.int64)
    blocks, threads = backend.cuda_grid(n)
    args = [cuda.to_device(np.ascontiguousarray(a)) for a in (hyp, hyp_off, ref, ref_off)]
    kernel[blocks, threads](*args, rows, cuda.to_device(row_off), d_out)
    out[:] = d_out.copy_to_host()
