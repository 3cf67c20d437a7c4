"""Matrix products on the GPU (behind ``nlpkit.nn.cuda.arrays.gemm`` / ``matmul``).

``gemm(a, b, out)`` computes ``out[g] = alpha * op(a[g]) @ op(b[g]) + beta * out[g]``
for 2-D or batched 3-D device arrays (a batch of 1 broadcasts), where ``op``
transposes when ``trans_a``/``trans_b`` is set.  With CuPy installed the
product goes to cuBLAS; otherwise a tiled shared-memory kernel runs: each
block computes one TILE×TILE tile of ``out``, staging TILE×TILE tiles of the
operands in shared memory, and grid-stride loops cover any size.
"""
from __future__ import annotations

import functools

import numpy as np

from ... import backend
from . import support as S

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _kernel(tile, dtype_name):
    global cuda
    cuda = S.get_cuda()
    dtype = np.dtype(dtype_name).type  # the scalar class, as cuda.shared.array expects

    @cuda.jit
    def gemm(a, b, c, trans_a, trans_b, alpha, beta):
        sa = cuda.shared.array((tile, tile), dtype)
        sb = cuda.shared.array((tile, tile), dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        n_batch, m, n = c.shape
        kdim = a.shape[1] if trans_a else a.shape[2]
        zero = alpha - alpha  # typed as the arrays, so float32 stays float32
        for g in range(cuda.blockIdx.z, n_batch, cuda.gridDim.z):
            ga = g if a.shape[0] > 1 else 0
            gb = g if b.shape[0] > 1 else 0
            for row0 in range(cuda.blockIdx.y * tile, m, cuda.gridDim.y * tile):
                for col0 in range(cuda.blockIdx.x * tile, n, cuda.gridDim.x * tile):
                    row = row0 + ty
                    col = col0 + tx
                    acc = zero
                    for k0 in range(0, kdim, tile):
                        k = k0 + tx
                        if row < m and k < kdim:
                            sa[ty, tx] = a[ga, k, row] if trans_a else a[ga, row, k]
                        else:
                            sa[ty, tx] = zero
                        k = k0 + ty
                        if col < n and k < kdim:
                            sb[ty, tx] = b[gb, col, k] if trans_b else b[gb, k, col]
                        else:
                            sb[ty, tx] = zero
                        cuda.syncthreads()
                        for kk in range(tile):
                            acc += sa[ty, kk] * sb[kk, tx]
                        cuda.syncthreads()
                    if row < m and col < n:
                        if beta == zero:
                            c[g, row, col] = alpha * acc
                        else:
                            c[g, row, col] = alpha * acc + beta * c[g, row, col]

    return gemm


@functools.lru_cache(maxsize=1)
def _cupy():
    """CuPy when it is importable (and a real GPU is in use), else None."""
    if backend.simulator_enabled():
        return None
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _as3(x):
    return x.reshape((1,) + tuple(x.shape)) if len(x.shape) == 2 else x


def gemm(a, b, out=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """``out = alpha * op(a) @ op(b) + beta * out`` on the device; returns ``out``.

    ``a``, ``b`` and ``out`` are C-contiguous device arrays, all 2-D or all 3-D
    (a leading batch of 1 broadcasts).  ``out`` is allocated when not given.
    """
    a, b = S.to_device(a), S.to_device(b)
    two_d = len(a.shape) == 2 and len(b.shape) == 2
    a3, b3 = _as3(a), _as3(b)
    m = a3.shape[2] if trans_a else a3.shape[1]
    k = a3.shape[1] if trans_a else a3.shape[2]
    kb = b3.shape[2] if trans_b else b3.shape[1]
    n = b3.shape[1] if trans_b else b3.shape[2]
    if k != kb:
        raise ValueError(f"gemm: inner sizes differ ({k} and {kb})")
    batch = max(a3.shape[0], b3.shape[0])
    shape = (m, n) if two_d else (batch, m, n)
    if out is None:
        out = S.empty(shape, a.dtype)
        beta = 0.0
    elif tuple(out.shape) != shape:
        raise ValueError(f"gemm: out has shape {tuple(out.shape)}, expected {shape}")
    c3 = _as3(out)
    cp = _cupy()
    if cp is not None:
        _gemm_cupy(cp, a3, b3, c3, trans_a, trans_b, alpha, beta)
        return out
    t = S.tile()
    cap = 2 if backend.simulator_enabled() else 1024
    grid = (max(1, min(cap, -(-n // t))), max(1, min(cap, -(-m // t))), max(1, min(cap, batch)))
    dt = a.dtype
    _kernel(t, dt.name)[grid, (t, t)](a3, b3, c3, bool(trans_a), bool(trans_b),
                                      S.scalar(dt, alpha), S.scalar(dt, beta))
    return out


def _gemm_cupy(cp, a3, b3, c3, trans_a, trans_b, alpha, beta):
    """cuBLAS through CuPy on the same device memory (no copies)."""
    a, b, c = cp.asarray(a3), cp.asarray(b3), cp.asarray(c3)
    if trans_a:
        a = a.transpose(0, 2, 1)
    if trans_b:
        b = b.transpose(0, 2, 1)
    prod = cp.matmul(a, b)
    if beta:
        c *= beta
        c += alpha * prod
    else:
        c[...] = prod if alpha == 1.0 else alpha * prod
