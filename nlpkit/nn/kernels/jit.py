"""Kernels compiled twice, one thread and parallel, chosen by the size of the work.

A Numba parallel region costs tens of microseconds to start and join, and much more
when other processes hold the cores (a training step of a small classifier spent 60%
of its time waiting in them); so a kernel given fewer than :data:`PARALLEL_MIN`
elements runs on the calling thread, a larger one on every thread (``prange``).
"""
import functools
import types

import numba

PARALLEL_MIN = 1 << 18
# NumPy's error model (a float division by zero gives inf or NaN, as in NumPy and torch)
# unless a kernel asks otherwise: Python's checks every divisor and raises, and that
# branch kept LLVM from vectorising the loops (Adam's update took 4x as long, 100 us for
# 16k parameters).  Results are otherwise bit for bit the same.
DEFAULT_OPTIONS = {"error_model": "numpy"}


def by_size(fn=None, **options):
    """``fn`` (a loop over ``numba.prange``) as a kernel that runs in parallel when its
    first argument has at least :data:`PARALLEL_MIN` elements, on one thread otherwise.
    ``options`` go to both ``numba.njit`` compilations (``@by_size(fastmath=...)``), over
    :data:`DEFAULT_OPTIONS`."""
    if fn is None:
        return functools.partial(by_size, **options)
    options = {**DEFAULT_OPTIONS, **options}
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel",
                              fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_parallel"  # its own cache entry
    serial = numba.njit(cache=True, **options)(fn)
    parallel = numba.njit(parallel=True, cache=True, **options)(twin)

    @functools.wraps(fn)
    def kernel(*args):
        return (parallel if args[0].size >= PARALLEL_MIN else serial)(*args)

    kernel.serial, kernel.parallel = serial, parallel
    return kernel
