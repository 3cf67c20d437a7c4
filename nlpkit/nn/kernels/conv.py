"""Conv1d's window unfolding and pooling over time (CPU).  Twin: :mod:`nlpkit.nn.cuda.conv`.

``im2col`` unfolds (N, C, L) into (N·L_out, C·K) windows, channel-major (column =
channel * K + tap), padding read as zeros, so the convolution is one GEMM;
``col2im`` is its adjoint.  Pooling works on an (A, T, B) view of the input (T the
pooled axis) with one length per row ``a``.
"""
import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def im2col(x, pad_left, stride, dilation, kernel_size, out_len):
    n, c, length = x.shape
    span = dilation * (kernel_size - 1) + 1
    need = (out_len - 1) * stride + span
    xp = np.zeros((n, c, max(need, pad_left + length)), x.dtype)
    xp[:, :, pad_left:pad_left + length] = x
    windows = sliding_window_view(xp[:, :, :need], span, axis=2)[:, :, ::stride, ::dilation]
    return np.ascontiguousarray(windows.transpose(0, 2, 1, 3)).reshape(n * out_len, c * kernel_size)


def col2im(dcols, shape, pad_left, stride, dilation, kernel_size, out_len):
    n, c, length = shape
    dc = dcols.reshape(n, out_len, c, kernel_size)
    padded = max((out_len - 1) * stride + dilation * (kernel_size - 1) + 1, pad_left + length)
    dxp = np.zeros((n, c, padded), dcols.dtype)
    stop = stride * (out_len - 1) + 1
    for k in range(kernel_size):  # each tap's gradient back to the input positions it read
        start = k * dilation
        dxp[:, :, start:start + stop:stride] += dc[:, :, :, k].transpose(0, 2, 1)
    return np.ascontiguousarray(dxp[:, :, pad_left:pad_left + length])


@numba.njit(cache=True)
def _max_pool(x, lens, out, idx):
    n_a, _, n_b = x.shape
    for a in range(n_a):
        for b in range(n_b):
            best, arg = x[a, 0, b], 0
            for t in range(1, lens[a]):
                if x[a, t, b] > best:
                    best, arg = x[a, t, b], t
            out[a, b] = best
            idx[a, b] = arg


def max_pool(x3, lens):
    """Max over axis 1 of (A, T, B) within each row's length: (values (A, B), arg max)."""
    a, _, b = x3.shape
    out, idx = np.empty((a, b), x3.dtype), np.empty((a, b), np.int64)
    _max_pool(np.ascontiguousarray(x3), np.asarray(lens, np.int64), out, idx)
    return out, idx


def max_pool_backward(g2, idx, shape3):
    dx = np.zeros(shape3, g2.dtype)
    np.put_along_axis(dx, idx[:, None, :], g2[:, None, :], axis=1)
    return dx


def mean_pool(x3, lens, weights):
    """``sum_t<lens[a] x3[a, t, b] * weights[a]`` as (A, B)."""
    valid = np.arange(x3.shape[1])[None, :] < np.asarray(lens)[:, None]
    w = (valid * np.asarray(weights)[:, None]).astype(x3.dtype)
    return np.einsum("atb,at->ab", x3, w)


def mean_pool_backward(g2, lens, weights, shape3):
    valid = np.arange(shape3[1])[None, :] < np.asarray(lens)[:, None]
    w = (valid * np.asarray(weights)[:, None]).astype(g2.dtype)
    return g2[:, None, :] * w[:, :, None]
