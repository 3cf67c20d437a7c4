"""Helpers shared by the nn tests: finite differences and comparison with torch."""
import numpy as np
import pytest


def rel_err(ours, theirs):
    """max |ours - theirs| relative to the largest |theirs| (the tolerance the issue states)."""
    if hasattr(theirs, "detach"):
        theirs = theirs.detach().numpy()
    theirs = np.asarray(theirs, dtype=np.float64)
    ours = np.asarray(ours, dtype=np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = max(np.abs(theirs).max(initial=0.0), 1e-12)
    return float(np.abs(ours - theirs).max(initial=0.0) / scale)


TOL = {np.float64: 1e-6, np.float32: 1e-4}


def numeric_check(loss_fn, arrays, analytic, eps=1e-6, tol=1e-6, max_entries=40, rng=None):
    """Compare analytic gradients with central differences of ``loss_fn()`` (float64).

    ``arrays`` are perturbed in place; ``analytic`` are their gradients.  At most
    ``max_entries`` entries per array are probed (chosen at random) to keep tests fast.
    """
    rng = rng or np.random.default_rng(0)
    for a, g in zip(arrays, analytic):
        assert g.shape == a.shape
        flat, gflat = a.reshape(-1), np.asarray(g).reshape(-1)
        idx = np.arange(flat.size)
        if flat.size > max_entries:
            idx = rng.choice(flat.size, max_entries, replace=False)
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            up = loss_fn()
            flat[i] = old - eps
            down = loss_fn()
            flat[i] = old
            num = (up - down) / (2 * eps)
            assert abs(num - gflat[i]) <= tol * max(1.0, abs(num)), (i, num, gflat[i])


@pytest.fixture(scope="module")
def torch():
    import torch as _torch
    _torch.manual_seed(0)
    return _torch


@pytest.fixture(scope="session")
def nn_rel_err():
    return rel_err


@pytest.fixture(scope="session")
def nn_numeric_check():
    return numeric_check
