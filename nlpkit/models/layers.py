"""The few layers the models need beyond :mod:`nlpkit.nn`: time pooling, a 1-D convolution,
sinusoidal positions.  Same contract as nlpkit.nn: ``forward`` caches, ``backward`` returns
the input gradient and adds parameter gradients into ``.grads``."""

from __future__ import annotations

import math

import numpy as np

from ..nn import Linear, Module
from ..nn.module import as_rng


def valid_mask(lengths, n_steps):
    """(B, T) bool, True at real (not padded) steps."""
    return np.arange(n_steps)[None, :] < np.asarray(lengths)[:, None]


class TimeMaxPool(Module):
    """Max over the valid time steps of (B, T, D) -> (B, D); every length must be >= 1."""

    def forward(self, x, lengths):
        x = self._check_input(x, ndim=3)
        b, t, d = x.shape
        masked = np.where(valid_mask(lengths, t)[:, :, None], x, -np.inf)
        arg = masked.argmax(axis=1)  # (B, D)
        out = np.take_along_axis(x, arg[:, None, :], axis=1)[:, 0, :]
        self._cache = arg, x.shape
        return np.ascontiguousarray(out)

    def backward(self, grad_output):
        arg, shape = self._need_cache()
        dy = self._check_grad(grad_output, (shape[0], shape[2]))
        dx = np.zeros(shape, self.dtype)
        np.put_along_axis(dx, arg[:, None, :], dy[:, None, :], axis=1)
        return dx


class Conv1d(Module):
    """Convolution over time of (B, T, C_in) -> (B, T, C_out), zero-padded to keep the length.

    Written as one GEMM over the unfolded windows (im2col); the weight is
    (C_out, kernel_size * C_in) with the window's steps outermost.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.in_channels, self.out_channels, self.kernel_size = (
            in_channels,
            out_channels,
            kernel_size,
        )
        self.proj = Linear(kernel_size * in_channels, out_channels, dtype=dtype, rng=as_rng(rng))

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"

    def forward(self, x):
        x = self._check_input(x, ndim=3, last=self.in_channels)
        b, t, c = x.shape
        k = self.kernel_size
        left = (k - 1) // 2
        xp = np.zeros((b, t + k - 1, c), self.dtype)
        xp[:, left : left + t] = x
        # windows[b, t, j, :] = xp[b, t + j, :]
        windows = np.lib.stride_tricks.sliding_window_view(xp, k, axis=1)  # (B, T, C, k)
        cols = np.ascontiguousarray(windows.transpose(0, 1, 3, 2)).reshape(b, t, k * c)
        self._cache = x.shape
        return self.proj(cols)

    def backward(self, grad_output):
        b, t, c = self._need_cache()
        k = self.kernel_size
        dcols = self.proj.backward(grad_output).reshape(b, t, k, c)
        dxp = np.zeros((b, t + k - 1, c), self.dtype)
        for j in range(k):
            dxp[:, j : j + t] += dcols[:, :, j]
        left = (k - 1) // 2
        return np.ascontiguousarray(dxp[:, left : left + t])


def sinusoidal_positions(n_steps, dim, dtype=np.float32):
    """The (T, D) sine/cosine position table of "Attention is all you need"."""
    pos = np.arange(n_steps)[:, None]
    rate = np.exp(-math.log(10000.0) * (np.arange(0, dim, 2) / dim))
    table = np.zeros((n_steps, dim))
    table[:, 0::2] = np.sin(pos * rate)
    table[:, 1::2] = np.cos(pos * rate[: dim // 2])
    return table.astype(dtype)
