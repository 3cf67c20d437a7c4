"""Optimizer updates (CPU): SGD and Adam/AdamW as one fused pass over a parameter.

Twin: :mod:`nlpkit.nn.cuda.optim` (same names and arguments); the per-element
update is :mod:`.scalar_math`'s, shared with it.  Arrays are flat views.
"""
import numba
import numpy as np

from . import scalar_math
from .jit import by_size

_M = scalar_math.compiled(numba.njit(inline="always", cache=True))
_sgd_update, _adam_update = _M["sgd_update"], _M["adam_update"]


@by_size
def _sgd(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    for i in numba.prange(p.shape[0]):
        p[i], buf[i] = _sgd_update(p[i], g[i], buf[i], lr, momentum, dampening, weight_decay,
                                   nesterov, first)


@by_size
def _adam(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, step_size, sqrt_bc2):
    for i in numba.prange(p.shape[0]):
        p[i], m[i], v[i] = _adam_update(p[i], g[i], m[i], v[i], lr, b1, b2, eps, weight_decay,
                                        decoupled, step_size, sqrt_bc2)


def _flat(a):
    return a.reshape(-1)


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """One torch.optim.SGD update of ``p`` and its momentum buffer ``buf``, in place."""
    _sgd(_flat(p), _flat(g), _flat(buf), float(lr), float(momentum), float(dampening),
         float(weight_decay), bool(nesterov), bool(first))


def adam_step(p, g, m, v, lr, betas, eps, weight_decay, decoupled, step):
    """One Adam/AdamW update of ``p`` and its moments ``m``, ``v``, in place."""
    b1, b2 = betas
    bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
    _adam(_flat(p), _flat(g), _flat(m), _flat(v), float(lr), float(b1), float(b2), float(eps),
          float(weight_decay), bool(decoupled), float(lr / bc1), float(np.sqrt(bc2)))


def sum_squares(g):
    """float(sum(g ** 2)), accumulated in float64."""
    flat = g.reshape(-1)
    return float(np.dot(flat.astype(np.float64), flat))


def scale_(g, coef):
    g *= g.dtype.type(coef)
