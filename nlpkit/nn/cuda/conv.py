"""CUDA twins of Conv1d's window unfolding and of pooling over time (:mod:`nlpkit.nn.kernels.conv`).

* ``im2col`` unfolds (N, C, L) into (N·L_out, C·K) windows, channel-major as on the CPU
  (column = channel * K + tap), padding read as zeros; the convolution is then a GEMM
  (``matmul.gemm``).  ``col2im`` is its adjoint written as a gather: each input
  position sums the taps that read it, so no atomics are needed and the sum is deterministic.
* Pooling works on a (A, T, B) view of the input (T the pooled axis) with one length per
  row ``a``; one thread per (a, b) output for max, per element for mean.

Same arguments and results as the CPU layers; device arrays in and out; grid-stride loops.
"""
from __future__ import annotations

import functools

import numpy as np

from . import support as S

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _kernels(dtype_name):
    global cuda
    cuda = S.get_cuda()
    ZERO = np.dtype(dtype_name).type(0)

    @cuda.jit
    def im2col(x, cols, pad_left, stride, dilation, k_size, out_len):
        n_ch, length = x.shape[1], x.shape[2]
        width = n_ch * k_size
        for e in range(cuda.grid(1), cols.shape[0] * width, cuda.gridsize(1)):
            r = e // width
            j = e - r * width
            n = r // out_len
            t = r - n * out_len
            c = j // k_size
            pos = t * stride + (j - c * k_size) * dilation - pad_left
            cols[r, j] = x[n, c, pos] if 0 <= pos < length else ZERO

    @cuda.jit
    def col2im(dcols, dx, pad_left, stride, dilation, k_size, out_len):
        n_b, n_ch, length = dx.shape
        for e in range(cuda.grid(1), n_b * n_ch * length, cuda.gridsize(1)):
            n = e // (n_ch * length)
            rest = e - n * n_ch * length
            c = rest // length
            p = rest - c * length + pad_left
            acc = ZERO
            for k in range(k_size):
                s = p - k * dilation
                if s >= 0 and s % stride == 0 and s // stride < out_len:
                    acc += dcols[n * out_len + s // stride, c * k_size + k]
            dx[n, c, rest - c * length] = acc

    @cuda.jit
    def max_pool(x, lens, out, idx):
        """out[a, b] = max over t < lens[a] of x[a, t, b]; idx its first arg max."""
        n_a, _, n_b = x.shape
        for e in range(cuda.grid(1), n_a * n_b, cuda.gridsize(1)):
            a = e // n_b
            b = e - a * n_b
            best, arg = x[a, 0, b], 0
            for t in range(1, lens[a]):
                if x[a, t, b] > best:
                    best, arg = x[a, t, b], t
            out[a, b] = best
            idx[a, b] = arg

    @cuda.jit
    def max_pool_back(g, idx, dx):
        """dx[a, idx[a, b], b] = g[a, b] (dx zeroed by the caller)."""
        n_a, n_b = g.shape
        for e in range(cuda.grid(1), n_a * n_b, cuda.gridsize(1)):
            a = e // n_b
            b = e - a * n_b
            dx[a, idx[a, b], b] = g[a, b]

    @cuda.jit
    def mean_pool(x, lens, w, out):
        """out[a, b] = sum over t < lens[a] of x[a, t, b] * w[a]."""
        n_a, _, n_b = x.shape
        for e in range(cuda.grid(1), n_a * n_b, cuda.gridsize(1)):
            a = e // n_b
            b = e - a * n_b
            acc = ZERO
            for t in range(lens[a]):
                acc += x[a, t, b] * w[a]
            out[a, b] = acc

    @cuda.jit
    def mean_pool_back(g, lens, w, dx):
        n_a, n_t, n_b = dx.shape
        for e in range(cuda.grid(1), n_a * n_t * n_b, cuda.gridsize(1)):
            a = e // (n_t * n_b)
            rest = e - a * n_t * n_b
            t = rest // n_b
            b = rest - t * n_b
            dx[a, t, b] = g[a, b] * w[a] if t < lens[a] else ZERO

    return dict(im2col=im2col, col2im=col2im, max_pool=max_pool,
                max_pool_back=max_pool_back, mean_pool=mean_pool, mean_pool_back=mean_pool_back)


def _launch(name, n, dtype, *args):
    S.launch_1d(_kernels, name, n, dtype, *args)


def im2col(x, pad_left, stride, dilation, kernel_size, out_len):
    """(N, C, L) device array -> (N·out_len, C·kernel_size) unfolded windows."""
    n, c, _ = x.shape
    cols = S.empty((n * out_len, c * kernel_size), x.dtype)
    _launch("im2col", cols.size, x.dtype, x, cols, int(pad_left), int(stride), int(dilation),
            int(kernel_size), int(out_len))
    return cols


def col2im(dcols, shape, pad_left, stride, dilation, kernel_size, out_len):
    """The adjoint of :func:`im2col_cuda`: window gradients -> (N, C, L) input gradient."""
    dx = S.empty(shape, dcols.dtype)
    _launch("col2im", dx.size, dcols.dtype, dcols, dx, int(pad_left), int(stride),
            int(dilation), int(kernel_size), int(out_len))
    return dx


def max_pool(x3, lens):
    """Max over axis 1 of (A, T, B) within each row's length: (values (A, B), arg max (A, B))."""
    a, _, b = x3.shape
    out, idx = S.empty((a, b), x3.dtype), S.empty((a, b), np.int64)
    _launch("max_pool", a * b, x3.dtype, x3, S.to_device(lens, np.int64), out, idx)
    return out, idx


def max_pool_backward(g2, idx, shape3):
    dx = S.zeros(shape3, g2.dtype)
    _launch("max_pool_back", g2.size, g2.dtype, g2, S.to_device(idx, np.int64), dx)
    return dx


def mean_pool(x3, lens, weights):
    """``sum_t<lens[a] x3[a, t, b] * weights[a]`` as (A, B)."""
    out = S.empty((x3.shape[0], x3.shape[2]), x3.dtype)
    _launch("mean_pool", out.size, x3.dtype, x3, S.to_device(lens, np.int64),
            S.to_device(weights, x3.dtype), out)
    return out


def mean_pool_backward(g2, lens, weights, shape3):
    dx = S.empty(shape3, g2.dtype)
    _launch("mean_pool_back", dx.size, g2.dtype, g2, S.to_device(lens, np.int64),
            S.to_device(weights, g2.dtype), dx)
    return dx
