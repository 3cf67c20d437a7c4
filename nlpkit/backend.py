"""Where kernels run: the device switch, the thread count and the CUDA import.

Every public function that runs a kernel takes ``device`` and ``n_jobs`` and
passes them through here, so the rules live in one place:

* ``device`` is ``'cpu'``, ``'cuda'`` or ``'auto'``; ``None`` means the value
  of the ``NLPKIT_DEVICE`` environment variable, else ``'cpu'``.
  ``'auto'`` picks CUDA when a GPU (or the CUDA simulator) can be used and
  falls back to the CPU otherwise; ``'cuda'`` raises :class:`DeviceError`
  naming what is missing (numba-cuda, or a GPU).
* ``n_jobs`` follows scikit-learn: ``None`` keeps Numba's current setting,
  ``-1`` means all cores, ``-2`` all but one, and so on.  :func:`threads`
  sets it for a ``with`` block and restores the previous value afterwards.
* The CUDA module is imported lazily, on first use: importing nlpkit never
  touches the CUDA driver.

Kernel modules keep a CPU kernel and its CUDA twin side by side with the same
signature; the Python function above them calls :func:`pick`, with the user's
``device`` (n-gram counting and scoring, embedding training) or with the array an
op received (the ``nlpkit.nn`` ops: their data decides).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import os

import numba

DEVICES = ("cpu", "cuda", "auto")


class DeviceError(RuntimeError):
    """The requested device cannot be used on this machine."""


def simulator_enabled() -> bool:
    """True when Numba's CUDA simulator is switched on (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.lru_cache(maxsize=1)
def _cuda_probe():
    """Import the CUDA target once; return ``(module or None, reason)``."""
    try:
        from numba import cuda
    except Exception as exc:  # numba built without CUDA support, broken install
        return None, f"the CUDA target cannot be imported ({exc})"
    if not simulator_enabled():
        try:
            import numba_cuda  # noqa: F401  (NVIDIA's package; Numba's own target is deprecated)
        except ImportError:
            return None, ("numba-cuda is not installed "
                          "(pip install 'nlpkit[cuda]')")
    try:
        ok = cuda.is_available()
    except Exception as exc:
        return None, f"no usable GPU ({exc})"
    if not ok:
        return None, "no CUDA GPU was found (numba-cuda is installed, but the driver sees no device)"
    return cuda, ""


def cuda_status() -> tuple[bool, str]:
    """``(available, reason)``; ``reason`` says what is missing when not available."""
    mod, reason = _cuda_probe()
    return mod is not None, reason


def get_cuda():
    """The ``numba.cuda`` module, or :class:`DeviceError` saying what is missing."""
    mod, reason = _cuda_probe()
    if mod is None:
        raise DeviceError(f"device 'cuda' is not available: {reason}")
    return mod


def resolve_device(device: str | None = None) -> str:
    """Map a user's ``device`` argument to ``'cpu'`` or ``'cuda'``."""
    if device is None:
        device = os.environ.get("NLPKIT_DEVICE", "") or "cpu"
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    device = device.lower()
    if device == "auto":  # a real GPU only: the simulator is for tests, far too slow for work
        return "cuda" if cuda_status()[0] and not simulator_enabled() else "cpu"
    if device == "cuda":
        get_cuda()
    return device


def is_device_array(a) -> bool:
    """True for a CUDA device array (numba-cuda's, or the simulator's stand-in)."""
    return hasattr(a, "copy_to_host")


def to_host(a):
    """A device array copied to the host; anything else as it is."""
    return a.copy_to_host() if hasattr(a, "copy_to_host") else a


def pick(cpu, cuda, where=None):
    """The CPU kernel (function, class or module) or its CUDA twin: the one way nlpkit
    chooses a device.

    ``where`` is a device name ('cpu', 'cuda', 'auto', or None for ``NLPKIT_DEVICE``),
    checked by :func:`resolve_device`, or an array: a CUDA device array picks the twin,
    anything else the CPU (so an op runs where its data is).  ``cuda`` may be given as
    ``"package.module"`` or ``"package.module:name"``: it is imported only when chosen,
    since importing ``numba.cuda`` costs about a second.
    """
    if where is None or isinstance(where, str):
        on_cuda = resolve_device(where) == "cuda"
    else:
        on_cuda = is_device_array(where)
    if not on_cuda:
        return cpu
    if isinstance(cuda, str):
        return _load(cuda)
    return cuda


@functools.lru_cache(maxsize=None)
def _load(path):
    module, _, name = path.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, name) if name else mod


def n_threads(n_jobs: int | None) -> int:
    """Translate scikit-learn's ``n_jobs`` into a Numba thread count."""
    limit = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return numba.get_num_threads()
    if not isinstance(n_jobs, (int,)) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer or None; got {n_jobs!r}")
    if n_jobs < 0:
        return max(1, limit + 1 + n_jobs)
    return min(n_jobs, limit)


@contextlib.contextmanager
def threads(n_jobs: int | None):
    """Run the block with ``n_jobs`` Numba threads, restoring the old count after."""
    old = numba.get_num_threads()
    numba.set_num_threads(n_threads(n_jobs))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(old)


@contextlib.contextmanager
def blas_threads(n: int):
    """Run the block with every loaded BLAS library on ``n`` threads, restoring them after.

    The neural models call two OpenBLAS builds in turn: NumPy's (``@`` in the layers) and
    SciPy's, which Numba's ``np.dot`` links inside the recurrent kernels.  Each keeps its
    own pool of threads that spin-wait after a call, so with both at two threads on two
    cores they take the cores from each other and from Numba's threads: g2p training ran
    2.5x slower than with one BLAS thread, and the products there (tens to hundreds of
    rows) gain nothing from a second one.  ``threadpoolctl`` comes with scikit-learn.
    """
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS Numba calls, so the limit reaches it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


@functools.lru_cache(maxsize=1)
def _kernel_blas():
    """threadpoolctl's controller of the BLAS that Numba's compiled code calls (SciPy's,
    through ``scipy.linalg.cython_blas``), or None when it cannot be told apart."""
    try:
        import scipy
        import scipy.linalg.cython_blas  # noqa: F401  (loaded, so threadpoolctl sees it)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    home = os.path.dirname(scipy.__file__)  # its own libs sit in scipy/ or scipy.libs/
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and lib.filepath.startswith(home):
            return lib
    return None


@functools.lru_cache(maxsize=1)
def kernel_blas_core() -> str | None:
    """The kind of core whose kernels the BLAS of Numba's compiled code runs (OpenBLAS's
    name, such as ``"SkylakeX"`` or ``"Haswell"``), or None when it does not say."""
    lib = _kernel_blas()
    return None if lib is None else getattr(lib, "architecture", None)


def kernel_blas_num_threads() -> int | None:
    """How many threads the BLAS of Numba's compiled code may use (None: unknown)."""
    lib = _kernel_blas()
    return None if lib is None else lib.num_threads


@contextlib.contextmanager
def kernel_blas_threads(n: int):
    """Run the block with the BLAS of Numba's compiled code on ``n`` threads (a call into
    the library, about a microsecond), restoring it after.

    Kernels that split their work over Numba's threads and call BLAS from each (the
    recurrent layers' time loops) need it on one thread: a second pool of spinning BLAS
    threads would fight Numba's for the cores, and concurrent calls queue for one pool."""
    lib = _kernel_blas()
    old = None if lib is None else lib.num_threads
    if old is None or old == n:
        yield
        return
    lib.set_num_threads(n)
    try:
        yield
    finally:
        lib.set_num_threads(old)


@functools.lru_cache(maxsize=1)
def keep_freed_memory(trim_threshold: int = 1 << 30) -> bool:
    """Let the process keep up to ``trim_threshold`` bytes of freed heap memory (glibc's
    ``M_TRIM_THRESHOLD``; the mmap threshold fixed at its 32 MiB maximum) instead of handing
    it back to the OS at every free.

    ``nlpkit.nn`` frees a training step's intermediate arrays together when ``backward``
    ends; by default glibc then trims the heap and the next step faults every page in again
    (7,000 page faults a step for a transformer encoder layer, 12% of its time).  With the
    memory kept, steps reuse it, as when the layers held their caches.  Does nothing off
    glibc, or when the user set ``MALLOC_TRIM_THRESHOLD_`` themselves; returns whether set.
    """
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") is not None:
        return False
    return _mallopt(_M_MMAP_THRESHOLD, 32 << 20) and _mallopt(_M_TRIM_THRESHOLD, trim_threshold)


def pad_heap(pad: int = 64 << 20) -> bool:
    """Let glibc's heap grow and shrink ``pad`` bytes beyond what is in use (``M_TOP_PAD``)
    for the rest of the process; returns whether set (not off glibc, nor when the user set
    ``MALLOC_TOP_PAD_``).

    The n-gram builds make and drop large NumPy temporaries block after block, and by
    default each one's pages are faulted in afresh: a 3-gram build of 6M tokens (KN) took
    380k minor faults and 1.7 s of system time, a quarter of its CPU; with 64 MiB of pad,
    80k and 0.8 s, for 30 MB more peak memory.  (:func:`keep_freed_memory`'s trim
    threshold did not help there.)  Process-wide, so the CLI sets it, not the library."""
    if os.environ.get("MALLOC_TOP_PAD_") is not None:
        return False
    return _mallopt(_M_TOP_PAD, pad)


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's malloc.h


def _mallopt(param: int, value: int) -> bool:
    try:
        import ctypes
        return bool(ctypes.CDLL("libc.so.6").mallopt(param, int(value)))
    except (OSError, AttributeError):
        return False


def cuda_grid(n: int, threads_per_block: int = 128, max_blocks: int = 1024) -> tuple[int, int]:
    """``(blocks, threads)`` for a 1-D launch over ``n`` items (grid-stride loops inside).

    Under the simulator the grid is kept tiny: it runs every thread in Python.
    """
    if simulator_enabled():
        threads_per_block, max_blocks = 32, 4
    blocks = max(1, min(max_blocks, (n + threads_per_block - 1) // threads_per_block))
    return blocks, threads_per_block


def info() -> dict:
    """What ``nlpkit info`` prints: threads and the CUDA situation."""
    ok, reason = cuda_status()
    return {
        "threads": numba.get_num_threads(),
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": _threading_layer(),
        "default_device": os.environ.get("NLPKIT_DEVICE", "") or "cpu",
        "cuda": "available" if ok else f"not available: {reason}",
        "cuda_simulator": simulator_enabled(),
    }


def _threading_layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return "not initialised"

