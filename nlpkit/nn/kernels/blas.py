"""BLAS's ``?gemm`` from compiled code, and products split over Numba's threads.

The estimators hold every BLAS library to one thread (``backend.blas_threads``): NumPy's
and SciPy's OpenBLAS each keep a pool of threads that spin after a call, and on two cores
those pools took the cores from Numba's threads (an LSTM's training ran 2.2x slower with
NumPy's BLAS on two threads).  A large product therefore runs here as blocks of its
result, one per Numba thread, each a single-threaded ``?gemm`` on views of the operands:
the same threads as every other kernel, and no pool left spinning after it.  Measured on
2 cores (float32, the output layer of a word LM, 1120 x 256 x 3497): 23 ms on one BLAS
thread, 12.5 ms on NumPy's two, 11.9 ms split in two here.  A product is split here even
when NumPy's BLAS has been given the threads (outside the estimators, as in ``bench_nn``):
alone, NumPy's two threads do some shapes about 10% faster, but their pool then spins
against Numba's threads in the layer's other kernels (attention, layer norm): a
TransformerEncoderLayer's forward and backward took 267 ms with its products left to
NumPy's two threads and 205 ms split here (B 32, L 128, E 256, FF 1024, 2 cores).
"""
import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from ... import backend

# A product with fewer multiply-adds runs on the calling thread.  Waking Numba's threads
# costs tens of microseconds when they have gone to sleep between products; at 4M
# multiply-adds (about 100 us on one thread) the small transformer of
# bench_models_epoch's s2s-transformer lost more than it gained (1.27x its epoch).
PARALLEL_MIN_MACS = 1 << 24
MIN_BLOCK = 32  # rows or columns of the result per thread, at least

# OpenBLAS (0.3.17 and later) on AVX-512 cores multiplies a small product, m·n·k at most
# 10^6 with neither operand transposed, by kernels that read both operands where they
# lie; a larger one first copies them into packed panels.  A recurrent step's product
# with W_hh (G·H x H times H x B, B a batch of about 32) is mostly that copy of W_hh, at
# every step: in row blocks under the bound the same products ran 1.3-1.5x as fast
# (float32 and float64, SciPy's OpenBLAS 0.3.30 on "SkylakeX" kernels, one thread's half
# of an LSTM's per-step products, H 256, B 32, 50 steps: forward 8.0 -> 5.7 ms, backward
# 5.8 -> 3.8 ms).  Elsewhere such blocks only add calls, so the products stay whole.
SMALL_MNK = 10 ** 6
SMALL_CORES = ("SkylakeX", "Cooperlake", "SapphireRapids")


def _xxgemm_type(dtype):
    ptr = types.CPointer(dtype)
    return types.ExternalFunction("numba_xxgemm", types.intc(
        types.char, types.char, types.char, types.intp, types.intp, types.intp,
        ptr, ptr, types.intp, ptr, types.intp, ptr, ptr, types.intp))


def gemm_into(a, b, c, trans_a=False, trans_b=False, beta=0.0):
    """``c = op(a) @ op(b) + beta * c`` in place, for 2-D arrays (views too) whose rows
    are unit-stride: BLAS's ``?gemm`` through the helper Numba's ``np.dot`` uses (SciPy's
    BLAS), so it works in compiled code, caches, and can write into a column block of a
    larger array and add to what is there."""
    raise NotImplementedError("gemm_into is called from compiled kernels")


@overload(gemm_into)
def _gemm_into_impl(a, b, c, trans_a=False, trans_b=False, beta=0.0):
    if a.dtype != b.dtype or a.dtype != c.dtype or a.dtype not in (types.float32, types.float64):
        return None
    fn = _xxgemm_type(a.dtype)
    kind = ord("s" if a.dtype == types.float32 else "d")
    dt = as_dtype(a.dtype)
    size = dt.itemsize

    def impl(a, b, c, trans_a=False, trans_b=False, beta=0.0):
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if (a.shape[1] if trans_a else a.shape[0]) != m or \
                (b.shape[0] if trans_b else b.shape[1]) != n or \
                (b.shape[1] if trans_b else b.shape[0]) != k:
            raise ValueError("gemm_into: shapes do not match")
        if a.strides[1] != size or b.strides[1] != size or c.strides[1] != size:
            raise ValueError("gemm_into: rows must be unit-stride")
        if m == 0 or n == 0:
            return
        if k == 0:
            for i in range(m):
                for j in range(n):
                    c[i, j] = c[i, j] * beta if beta != 0 else 0
            return
        # row-major c = op(a) op(b) is column-major c^T = op(b)^T op(a)^T: swap the operands
        lda = max(a.strides[0] // size, a.shape[1], 1) if a.shape[0] > 1 else max(a.shape[1], 1)
        ldb = max(b.strides[0] // size, b.shape[1], 1) if b.shape[0] > 1 else max(b.shape[1], 1)
        ldc = max(c.strides[0] // size, c.shape[1], 1) if c.shape[0] > 1 else max(c.shape[1], 1)
        alpha, beta_ = np.ones(1, dt), np.full(1, beta, dt)
        fn(kind, ord("t") if trans_b else ord("n"), ord("t") if trans_a else ord("n"), n, m, k,
           alpha.ctypes, b.ctypes, ldb, a.ctypes, lda, beta_.ctypes, c.ctypes, ldc)
    return impl


@numba.njit(inline="always")
def gemm_rows_into(a, b, c, rows, beta):
    """``c = a @ b + beta * c`` (no operand transposed) as products of ``rows`` rows of
    ``a`` and ``c`` at a time (:func:`small_rows`; 0: one product)."""
    m = c.shape[0]
    step = m if rows <= 0 or rows > m else rows
    for r in range(0, m, max(step, 1)):  # (m may be 0: a thread with no rows)
        e = min(r + step, m)
        gemm_into(a[r:e], b, c[r:e], False, False, beta)


def small_rows(n, k):
    """Rows per call with which :func:`gemm_rows_into` keeps a product with ``n``
    columns and inner dimension ``k`` on BLAS's small-matrix kernels (a multiple of 8),
    or 0 (one call) where the BLAS of compiled code has none."""
    rows = SMALL_MNK // max(n * k, 1) // 8 * 8
    return rows if rows and backend.kernel_blas_core() in SMALL_CORES else 0


@numba.njit(parallel=True, cache=True)
def _gemm_blocks(a, b, c, trans_a, trans_b, n_blocks, by_rows):
    """``c = op(a) @ op(b)``, block ``k`` of ``c``'s rows (or columns) on thread ``k``."""
    m, n = c.shape
    for k in numba.prange(n_blocks):
        if by_rows:  # rows lo:hi of op(a)
            lo, hi = k * m // n_blocks, (k + 1) * m // n_blocks
            if trans_a:
                gemm_into(a[:, lo:hi], b, c[lo:hi], True, trans_b)
            else:
                gemm_into(a[lo:hi], b, c[lo:hi], False, trans_b)
        else:  # columns lo:hi of op(b)
            lo, hi = k * n // n_blocks, (k + 1) * n // n_blocks
            if trans_b:
                gemm_into(a, b[lo:hi], c[:, lo:hi], trans_a, True)
            else:
                gemm_into(a, b[:, lo:hi], c[:, lo:hi], trans_a, False)


def split_gemm(a, b, trans_a=False, trans_b=False, n_blocks=None):
    """``op(a) @ op(b)`` as a new C-contiguous array, split over Numba's threads when the
    product is large enough (``n_blocks`` forces a count), else None: the caller then
    uses one BLAS call.  ``a`` and ``b``: 2-D, the same float dtype, unit-stride rows."""
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64) or a.ndim != 2 \
            or b.ndim != 2 or a.strides[1] != a.itemsize or b.strides[1] != b.itemsize:
        return None
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    n = b.shape[0] if trans_b else b.shape[1]
    # weight gradients (trans_a) split better by columns; else the rows (measured)
    by_rows = not trans_a if min(m, n) >= 2 * MIN_BLOCK else m >= n
    if n_blocks is None:
        if m * n * k < PARALLEL_MIN_MACS:
            return None
        n_blocks = min(numba.get_num_threads(), (m if by_rows else n) // MIN_BLOCK)
        if n_blocks < 2:
            return None
    c = np.empty((m, n), a.dtype)
    with backend.kernel_blas_threads(1):  # each block's gemm on its own thread only
        _gemm_blocks(a, b, c, bool(trans_a), bool(trans_b), int(n_blocks), bool(by_rows))
    return c
