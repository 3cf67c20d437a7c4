"""What the CUDA twins of the nn kernels share: launch sizes, block reductions, array helpers.

Nothing here touches the GPU at import: ``numba.cuda`` is fetched through
:func:`nlpkit.backend.get_cuda` on first use (a clear DeviceError when it is
missing), and every kernel is compiled lazily by a cached factory.

Sizes are smaller under the simulator, which runs each GPU thread in Python:
the kernels are written with grid-stride loops, so any grid gives the same
result.
"""
from __future__ import annotations

import functools

import numpy as np

from ... import backend

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


def get_cuda():
    return backend.get_cuda()


def tile() -> int:
    """Side of the square shared-memory tiles of the matrix product."""
    return 4 if backend.simulator_enabled() else 16


def row_threads() -> int:
    """Threads per block of the row kernels (one block per row; a power of two)."""
    return 4 if backend.simulator_enabled() else 128


def grid_1d(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` for a grid-stride loop over ``n`` items."""
    if backend.simulator_enabled():
        return max(1, min(2, (n + 7) // 8)), 8
    return backend.cuda_grid(n, threads_per_block=256, max_blocks=4096)


def launch_1d(kernels, name, n, dtype, *args):
    """Run ``kernels(dtype name)[name]`` (a lazily compiled table of grid-stride kernels)
    over ``n`` items; nothing to launch when ``n`` is 0."""
    if n:
        blocks, threads = grid_1d(n)
        kernels(np.dtype(dtype).name)[name][blocks, threads](*args)


def grid_rows(n_rows: int) -> tuple[int, int]:
    """``(blocks, threads)`` for the row kernels: a block per row, grid-stride over rows."""
    cap = 2 if backend.simulator_enabled() else 65535
    return max(1, min(cap, n_rows)), row_threads()


def is_device_array(a) -> bool:
    return hasattr(a, "copy_to_host")


def to_device(a, dtype=None):
    """``a`` on the device (device arrays are passed through unchanged)."""
    if is_device_array(a):
        return a
    a = np.ascontiguousarray(a, dtype=dtype)
    return get_cuda().to_device(a)


def to_host(a):
    return a.copy_to_host() if is_device_array(a) else np.asarray(a)


def empty(shape, dtype):
    shape = (shape,) if np.isscalar(shape) else shape
    return get_cuda().device_array(tuple(int(s) for s in shape), dtype=np.dtype(dtype))


def zeros(shape, dtype):
    out = empty(shape, dtype)
    fill(out, 0)
    return out


def scalar(dtype, value):
    """``value`` as a NumPy scalar of ``dtype``: kernels then compute in that precision."""
    return np.dtype(dtype).type(value)


@functools.lru_cache(maxsize=None)
def _fill_kernel():
    global cuda
    cuda = get_cuda()

    @cuda.jit
    def fill_flat(x, value):
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            x[i] = value

    return fill_flat


def fill(a, value):
    """Set every element of the device array ``a`` to ``value``."""
    n = int(a.size)
    if n:
        blocks, threads = grid_1d(n)
        _fill_kernel()[blocks, threads](a.reshape(n), scalar(a.dtype, value))
    return a


@functools.lru_cache(maxsize=1)
def reductions():
    """Device functions ``block_sum(buf, v)`` and ``block_max(buf, v)`` over one block.

    ``buf`` is a shared array of blockDim.x entries (a power of two); every thread
    of the block must call them (they synchronise) and all get the result.
    """
    global cuda
    cuda = get_cuda()

    @cuda.jit(device=True)
    def block_sum(buf, v):
        tid = cuda.threadIdx.x
        buf[tid] = v
        cuda.syncthreads()
        s = cuda.blockDim.x // 2
        while s > 0:
            if tid < s:
                buf[tid] += buf[tid + s]
            cuda.syncthreads()
            s //= 2
        r = buf[0]
        cuda.syncthreads()  # buf is reused by the next call
        return r

    @cuda.jit(device=True)
    def block_max(buf, v):
        tid = cuda.threadIdx.x
        buf[tid] = v
        cuda.syncthreads()
        s = cuda.blockDim.x // 2
        while s > 0:
            if tid < s and buf[tid + s] > buf[tid]:
                buf[tid] = buf[tid + s]
            cuda.syncthreads()
            s //= 2
        r = buf[0]
        cuda.syncthreads()
        return r

    return block_sum, block_max
