"""Initialisers, written in place into a parameter array (PyTorch's names and formulas)."""
from __future__ import annotations

import math

import numpy as np

from .module import as_rng
from .tensor import Tensor


def _array(a):
    """The host array to fill: a Parameter's data (a CUDA parameter is filled through a host
    copy), or the array itself."""
    return a.data if isinstance(a, Tensor) else a


def _fans(a):
    if len(a.shape) < 2:
        raise ValueError("fan in/out need an array with at least 2 dimensions")
    receptive = int(np.prod(a.shape[2:])) if len(a.shape) > 2 else 1
    return a.shape[1] * receptive, a.shape[0] * receptive


def _fill(a, values):
    target = _array(a)
    if hasattr(target, "copy_to_device"):
        target.copy_to_device(np.ascontiguousarray(values, dtype=target.dtype))
    else:
        target[...] = values
    return a


def uniform_(a, low, high, rng=None):
    return _fill(a, as_rng(rng).uniform(low, high, size=a.shape))


def normal_(a, mean=0.0, std=1.0, rng=None):
    return _fill(a, as_rng(rng).normal(mean, std, size=a.shape))


def default_uniform_(a, fan_in, rng=None):
    """PyTorch's default for Linear/Conv/recurrent weights and biases:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(a, -bound, bound, rng)


def xavier_uniform_(a, gain=1.0, rng=None):
    fan_in, fan_out = _fans(a)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(a, -bound, bound, rng)


def xavier_normal_(a, gain=1.0, rng=None):
    fan_in, fan_out = _fans(a)
    return normal_(a, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(a, nonlinearity="relu", rng=None):
    fan_in, _ = _fans(a)
    gain = math.sqrt(2.0) if nonlinearity == "relu" else 1.0
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(a, -bound, bound, rng)


def orthogonal_(a, gain=1.0, rng=None):
    """A (semi-)orthogonal matrix, as ``torch.nn.init.orthogonal_`` (QR of a Gaussian,
    sign-fixed)."""
    rows = a.shape[0]
    cols = int(np.prod(a.shape)) // rows
    flat = as_rng(rng).normal(size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(a, (gain * q).reshape(a.shape))


def zeros_(a):
    return _fill(a, np.zeros(a.shape))


def ones_(a):
    return _fill(a, np.ones(a.shape))
