"""Session-wide test set-up.

CUDA kernels are tested against their CPU twins under Numba's CUDA simulator:
no GPU is needed.  The simulator must be switched on before Numba is imported,
so it is done here.  Set NLPKIT_TEST_REAL_GPU=1 to run the CUDA tests on a real
GPU instead.
"""
import os

if not os.environ.get("NLPKIT_TEST_REAL_GPU"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pathlib  # noqa: E402

import pytest  # noqa: E402

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir():
    return DATA
