"""CUDA twins of the optimizer updates (:mod:`nlpkit.nn.kernels.optim`): same names and
arguments, the per-element update from :mod:`nlpkit.nn.kernels.scalar_math`."""
from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels import scalar_math
from . import support as S

cuda = None  # numba.cuda, set on first use


@functools.lru_cache(maxsize=None)
def _kernels():
    global cuda
    cuda = S.get_cuda()
    M = scalar_math.compiled(cuda.jit(device=True))
    sgd, adam = M["sgd_update"], M["adam_update"]

    @cuda.jit
    def sgd_kernel(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
        for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
            p[i], buf[i] = sgd(p[i], g[i], buf[i], lr, momentum, dampening, weight_decay,
                               nesterov, first)

    @cuda.jit
    def adam_kernel(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, step_size, sqrt_bc2):
        for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
            p[i], m[i], v[i] = adam(p[i], g[i], m[i], v[i], lr, b1, b2, eps, weight_decay,
                                    decoupled, step_size, sqrt_bc2)

    @cuda.jit
    def sum_squares_kernel(x, out):
        """out[0] += sum x^2 (atomics; out is float64)."""
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            cuda.atomic.add(out, 0, np.float64(x[i]) * np.float64(x[i]))

    @cuda.jit
    def scale_kernel(x, a):
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            x[i] *= a

    return dict(sgd=sgd_kernel, adam=adam_kernel, sum_squares=sum_squares_kernel,
                scale=scale_kernel)


def _flat(a):
    return a.reshape(int(a.size))


def _launch(name, n, *args):
    if n:
        blocks, threads = S.grid_1d(n)
        _kernels()[name][blocks, threads](*args)


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    _launch("sgd", int(p.size), _flat(p), _flat(g), _flat(buf), float(lr), float(momentum),
            float(dampening), float(weight_decay), bool(nesterov), bool(first))


def adam_step(p, g, m, v, lr, betas, eps, weight_decay, decoupled, step):
    b1, b2 = betas
    bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
    _launch("adam", int(p.size), _flat(p), _flat(g), _flat(m), _flat(v), float(lr), float(b1),
            float(b2), float(eps), float(weight_decay), bool(decoupled), float(lr / bc1),
            float(math.sqrt(bc2)))


def sum_squares(g):
    out = S.to_device(np.zeros(1, np.float64))
    _launch("sum_squares", int(g.size), _flat(g), out)
    return float(out.copy_to_host()[0])


def scale_(g, coef):
    _launch("scale", int(g.size), _flat(g), S.scalar(g.dtype, coef))
