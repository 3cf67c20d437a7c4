"""CUDA twins of the positional encodings (``position.py``): added tables and rotary (RoPE).

* Sinusoidal and learned encodings add ``table[position]`` to (L, N, E) or (N, L, E)
  inputs, one thread per element; the learned table's gradient sums over the batch, one
  thread per (position, feature), so no atomics are needed.
* RoPE rotates (G, L, D) rows by host-computed cos / sin tables (the CPU layer's own),
  "rotate half" form; its backward is the inverse rotation.

Same arguments and results as the CPU layers; device arrays in and out; grid-stride loops.
"""
from __future__ import annotations

import functools

import numpy as np

from . import cuda_support as S

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _kernels(dtype_name):
    global cuda
    cuda = S.get_cuda()
    ZERO = np.dtype(dtype_name).type(0)

    @cuda.jit
    def add_table(x, table, out, batch_first):
        n_a, n_b, d = x.shape
        for e in range(cuda.grid(1), n_a * n_b * d, cuda.gridsize(1)):
            a = e // (n_b * d)
            rest = e - a * n_b * d
            b = rest // d
            j = rest - b * d
            out[a, b, j] = x[a, b, j] + table[b if batch_first else a, j]

    @cuda.jit
    def table_grad(g, grad, batch_first):
        """grad[p, j] += sum over the batch of g at position p (p < the sequence length)."""
        n_a, n_b, d = g.shape
        length, batch = (n_b, n_a) if batch_first else (n_a, n_b)
        for e in range(cuda.grid(1), length * d, cuda.gridsize(1)):
            p = e // d
            j = e - p * d
            acc = ZERO
            for n in range(batch):
                acc += g[n, p, j] if batch_first else g[p, n, j]
            grad[p, j] += acc

    @cuda.jit
    def rope(x, cos, sin, out, inverse):
        """out = x * cos + rotate_half(x) * sin, or its inverse (the backward) when asked."""
        n_g, length, d = x.shape
        half = d // 2
        for e in range(cuda.grid(1), n_g * length * d, cuda.gridsize(1)):
            g = e // (length * d)
            rest = e - g * length * d
            t = rest // d
            i = rest - t * d
            if inverse:  # g * cos + [u[half:], -u[:half]] with u = g * sin
                if i < half:
                    rot = x[g, t, i + half] * sin[t, i + half]
                else:
                    rot = -x[g, t, i - half] * sin[t, i - half]
                out[g, t, i] = x[g, t, i] * cos[t, i] + rot
            else:
                rot = -x[g, t, i + half] if i < half else x[g, t, i - half]
                out[g, t, i] = x[g, t, i] * cos[t, i] + rot * sin[t, i]

    return dict(add_table=add_table, table_grad=table_grad, rope=rope)


def _launch(name, n, dtype, *args):
    S.launch_1d(_kernels, name, n, dtype, *args)


def add_table_cuda(x, table, batch_first):
    """``x + table[:L]`` broadcast over the batch, for (L, N, E) or (N, L, E) device arrays."""
    out = S.empty(x.shape, x.dtype)
    _launch("add_table", x.size, x.dtype, x, table, out, bool(batch_first))
    return out


def table_grad_cuda(g, grad, batch_first):
    """``grad[:L] += g`` summed over the batch (in place)."""
    _launch("table_grad", g.shape[1 if batch_first else 0] * g.shape[2], g.dtype, g, grad,
            bool(batch_first))
    return grad


def rope_cuda(x3, cos, sin, inverse=False):
    """RoPE of (G, L, D) device rows with (L, D) cos / sin tables; ``inverse`` for backward."""
    out = S.empty(x3.shape, x3.dtype)
    _launch("rope", x3.size, x3.dtype, x3, cos, sin, out, bool(inverse))
    return out
