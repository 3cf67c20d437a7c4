"""BLAS threads for the neural-model benchmarks, set at run time.

The recurrent kernels call many small GEMMs in sequence; two OpenBLAS threads on a
busy 2-core machine made them 10-100x slower, so the model benchmarks run BLAS on one
thread (Numba's kernels still use every ``--threads`` core).  ``OPENBLAS_NUM_THREADS``
is read only when a BLAS library loads, and numpy's loads at import, so the limit is
set here with threadpoolctl (the ``bench`` extra) once numpy's and scipy's BLAS are in.
"""

from __future__ import annotations


def limit_blas(n_threads: int):
    import numpy  # noqa: F401  (load the BLAS libraries first, so the limit reaches them)
    import scipy.linalg  # noqa: F401  (the BLAS Numba's np.dot calls)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n_threads, user_api="blas")
