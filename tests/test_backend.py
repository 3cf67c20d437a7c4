import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from nlpkit import backend
from nlpkit.text import Vocabulary
from nlpkit.text.count_kernels import count_ids_cpu


def _run(code, **env):
    """Run code in a fresh interpreter without the simulator (conftest turns it on here)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "NLPKIT_DEVICE")}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ)


def test_device_names_and_env_default(monkeypatch):
    assert backend.resolve_device("cpu") == "cpu"
    assert backend.resolve_device("CPU") == "cpu"
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, auto; got 'tpu'"):
        backend.resolve_device("tpu")
    monkeypatch.setenv("NLPKIT_DEVICE", "cpu")
    assert backend.resolve_device(None) == "cpu"
    monkeypatch.setenv("NLPKIT_DEVICE", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        backend.resolve_device(None)


def test_auto_never_picks_the_simulator():
    assert backend.simulator_enabled()
    assert backend.resolve_device("auto") == "cpu"


def test_cuda_without_gpu_says_what_is_missing():
    code = ("from nlpkit import backend\n"
            "print(backend.resolve_device('auto'))\n"
            "backend.resolve_device('cuda')\n")
    r = _run(code)
    assert r.stdout.strip() == "cpu"
    assert "DeviceError: device 'cuda' is not available: no CUDA GPU was found" in r.stderr


def test_cuda_without_numba_cuda_says_so():
    code = ("import sys; sys.modules['numba_cuda'] = None\n"
            "from nlpkit import backend\n"
            "backend.resolve_device('cuda')\n")
    r = _run(code)
    assert "device 'cuda' is not available: numba-cuda is not installed" in r.stderr


def test_threads_are_set_and_restored():
    before = numba.get_num_threads()
    with backend.threads(1) as n:
        assert n == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    assert backend.n_threads(-1) == numba.config.NUMBA_NUM_THREADS
    assert backend.n_threads(10_000) == numba.config.NUMBA_NUM_THREADS
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_jobs"):
            backend.n_threads(bad)
    with pytest.raises(RuntimeError):
        with backend.threads(1):
            raise RuntimeError
    assert numba.get_num_threads() == before


def test_pick_imports_the_cuda_twin_lazily():
    cpu = backend.pick(count_ids_cpu, "nlpkit.text.count_kernels_cuda:count_ids_cuda", "cpu")
    assert cpu is count_ids_cpu
    cuda = backend.pick(count_ids_cpu, "nlpkit.text.count_kernels_cuda:count_ids_cuda", "cuda")
    assert cuda.__name__ == "count_ids_cuda"


def test_count_kernel_cpu_matches_bincount():
    ids = np.random.default_rng(1).integers(0, 1000, 300_000).astype(np.int32)
    for n_jobs in (1, 2):
        with backend.threads(n_jobs):
            assert np.array_equal(count_ids_cpu(ids, 1000), np.bincount(ids, minlength=1000))
    assert count_ids_cpu(np.zeros(0, np.int32), 3).tolist() == [0, 0, 0]


@pytest.mark.cuda
def test_count_kernel_cuda_twin_matches_cpu():
    from nlpkit.text.count_kernels_cuda import count_ids_cuda
    ids = np.random.default_rng(2).integers(0, 37, 2_000).astype(np.int32)
    assert np.array_equal(count_ids_cuda(ids, 37), count_ids_cpu(ids, 37))
    assert count_ids_cuda(np.zeros(0, np.int32), 4).tolist() == [0, 0, 0, 0]


@pytest.mark.cuda
def test_vocabulary_built_on_cuda_equals_cpu():
    first_seen = ["b", "a", "c", "<unk>"]
    ids = np.array([0, 1, 1, 2, 3, 1, 0], np.int32)
    cpu, remap_cpu = Vocabulary.from_ids(first_seen, ids, device="cpu")
    gpu, remap_gpu = Vocabulary.from_ids(first_seen, ids, device="cuda")
    assert cpu == gpu and np.array_equal(remap_cpu, remap_gpu)
    assert cpu.itos == ["<s>", "</s>", "<unk>", "a", "b", "c"]


def test_blas_threads_cover_numpys_and_numbas_blas_and_are_restored():
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas()
        with backend.blas_threads(1):
            inside = blas()
        assert blas() == before
    assert set(before.values()) == {2} and set(inside.values()) == {1}
    assert inside.keys() == before.keys()
