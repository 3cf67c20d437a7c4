"""Products split over Numba's threads (nn/kernels/blas.py) against NumPy's."""
import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nlpkit.nn.kernels import arrays, blas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m, k, n", [(5, 7, 3), (70, 33, 129), (1, 5, 64), (300, 1, 70)])
def test_split_gemm_equals_numpy(dtype, trans_a, trans_b, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    ref = (a.T if trans_a else a) @ (b.T if trans_b else b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for n_blocks in (1, 2, 3, 7):  # more blocks than rows or columns leaves some empty
        c = blas.split_gemm(a, b, trans_a, trans_b, n_blocks=n_blocks)
        assert c.dtype == dtype and c.shape == ref.shape and c.flags.c_contiguous
        np.testing.assert_allclose(c, ref, rtol=tol, atol=tol)


def test_split_gemm_on_views_and_refusals():
    rng = np.random.default_rng(0)
    big = rng.standard_normal((40, 60))
    a, b = big[3:23, 5:45], big[:40, 10:30]  # unit-stride rows, longer row stride
    np.testing.assert_allclose(blas.split_gemm(a, b, n_blocks=2), a @ b, rtol=1e-12)
    assert blas.split_gemm(big[:, ::2], big[:30, :20], n_blocks=2) is None  # strided rows
    assert blas.split_gemm(a.astype(np.float32), b, n_blocks=2) is None  # mixed dtypes
    assert blas.split_gemm(a.astype(np.int64), b.astype(np.int64), n_blocks=2) is None
    assert blas.split_gemm(a, b) is None  # below PARALLEL_MIN_MACS: one BLAS call


def test_gemm_splits_a_large_product_and_keeps_the_result(monkeypatch):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 64), dtype=np.float32)
    b = rng.standard_normal((200, 64), dtype=np.float32)
    calls = []
    real = blas._gemm_blocks
    monkeypatch.setattr(blas, "_gemm_blocks", lambda *args: calls.append(args[5]) or real(*args))
    monkeypatch.setattr(blas, "PARALLEL_MIN_MACS", 1)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        with threadpool_limits(1, user_api="blas"):  # as the estimators run
            check_products(a, b)
        if numba.config.NUMBA_NUM_THREADS >= 2:
            assert calls and all(n == 2 for n in calls)
        else:
            assert not calls  # one thread: nothing to split
        calls.clear()
        with threadpool_limits(2, user_api="blas"):  # split all the same: one pool of threads
            check_products(a, b)
        if numba.config.NUMBA_NUM_THREADS >= 2:
            assert calls and all(n == 2 for n in calls)
    finally:
        numba.set_num_threads(old)


def check_products(a, b):
    """gemm and matmul in each orientation give ``a @ b.T``."""
    for ta, tb, x, y in [(False, True, a, b), (True, False, a.T.copy(), b.T.copy()),
                         (False, False, a, b.T.copy())]:
        np.testing.assert_allclose(arrays.gemm(x, y, ta, tb), a @ b.T, rtol=1e-5, atol=1e-4)
        if not ta:  # a stack times one matrix: the same product
            np.testing.assert_allclose(arrays.matmul(x[None], y, ta, tb)[0], a @ b.T,
                                       rtol=1e-5, atol=1e-4)


@numba.njit(cache=True)
def _rows_into(a, b, c, rows, beta):
    blas.gemm_rows_into(a, b, c, rows, beta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_in_row_blocks_equals_numpy(dtype, beta):
    """Products in blocks of rows (the recurrent steps' products under BLAS's small-matrix
    bound), into a column block of a larger array as the RNN's step writes, with and
    without adding to what is there."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((21, 13)).astype(dtype)
    b = rng.standard_normal((13, 6)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for rows in (0, 1, 8, 20, 21, 64):  # 0: one call; 8 and 20 leave a short last block
        big = rng.standard_normal((21, 18)).astype(dtype)
        ref = a @ b + beta * big[:, 6:12]
        _rows_into(a, b, big[:, 6:12], rows, beta)
        np.testing.assert_allclose(big[:, 6:12], ref, rtol=tol, atol=tol)


def test_small_rows_only_where_blas_has_small_kernels(monkeypatch):
    from nlpkit import backend
    monkeypatch.setattr(backend, "kernel_blas_core", lambda: "SkylakeX")
    rows = blas.small_rows(32, 385)
    assert rows == 80 and rows * 32 * 385 <= blas.SMALL_MNK  # a multiple of 8 under it
    assert blas.small_rows(32, 1024) == 24
    assert blas.small_rows(4096, 4096) == 0  # not one row fits: one call
    for core in ("Haswell", "Zen", None):  # no small-matrix kernels: products stay whole
        monkeypatch.setattr(backend, "kernel_blas_core", lambda: core)
        assert blas.small_rows(32, 385) == 0
