"""Conv1d over time (PyTorch's (N, C, L) layout) and max / mean pooling over time.

The convolution is one GEMM over unfolded windows (im2col), so BLAS does the work.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import NlpkitError
from . import init
from .module import Module, as_rng


class Conv1d(Module):
    """``Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True)``; weight (out, in / groups, kernel).  ``padding`` is an int,
    ``'valid'`` or ``'same'`` (stride 1).  With ``groups`` > 1 each group of in / groups input
    channels feeds its own out / groups output channels (``groups=in_channels`` is depthwise)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.groups = int(groups)
        if self.groups < 1 or in_channels % self.groups or out_channels % self.groups:
            raise NlpkitError(f"Conv1d: in_channels {in_channels} and out_channels "
                              f"{out_channels} must both be divisible by groups {groups}")
        self.kernel_size, self.stride, self.dilation = int(kernel_size), int(stride), int(dilation)
        span = self.dilation * (self.kernel_size - 1)
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if self.stride != 1:
                raise NlpkitError("Conv1d: padding='same' needs stride 1")
            padding = (span // 2, span - span // 2)
        else:
            padding = (int(padding), int(padding))
        self.pad = padding
        rng = as_rng(rng)
        fan_in = self.in_channels // self.groups * self.kernel_size
        w = np.empty((self.out_channels, self.in_channels // self.groups, self.kernel_size))
        self.register_parameter("weight", init.default_uniform_(w, fan_in, rng))
        self.has_bias = bool(bias)
        if bias:
            b = init.default_uniform_(np.empty(self.out_channels), fan_in, rng)
            self.register_parameter("bias", b)

    def extra_repr(self):
        groups = f", groups={self.groups}" if self.groups > 1 else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}{groups}")

    # Windows are unfolded channel-major (column = channel * K + tap), so group g's input
    # columns are one contiguous block; its product is one GEMM, batched over the groups.
    def _grouped(self, a, width):
        """(rows, groups * width) -> (groups, rows, width) view."""
        return a.reshape(a.shape[0], self.groups, width).transpose(1, 0, 2)

    def _weight3(self):
        """weight as (groups, out / groups, in / groups * K)."""
        return self.weight.reshape(self.groups, self.out_channels // self.groups, -1)

    def forward(self, x):
        x = self._check_input(x, ndim=3)
        if x.shape[1] != self.in_channels:
            raise NlpkitError(f"Conv1d: input expected shape (N, {self.in_channels}, L), "
                              f"got {x.shape}")
        n, c, length = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), self.pad)) if any(self.pad) else x
        span = self.dilation * (self.kernel_size - 1) + 1
        if xp.shape[2] < span:
            raise NlpkitError(f"Conv1d: input length {length} is shorter than the kernel "
                              f"span {span}")
        # (N, C, L_out, K) windows, a strided view
        windows = sliding_window_view(xp, span, axis=2)[:, :, ::self.stride, ::self.dilation]
        cols = np.ascontiguousarray(windows.transpose(0, 2, 1, 3)).reshape(n * windows.shape[2], -1)
        if self.groups == 1:
            y = np.dot(cols, self.weight.reshape(self.out_channels, -1).T)
        else:
            w3 = self._weight3()
            y_g = np.matmul(self._grouped(cols, w3.shape[2]), w3.transpose(0, 2, 1))
            y = np.ascontiguousarray(y_g.transpose(1, 0, 2)).reshape(cols.shape[0], -1)
        if self.has_bias:
            y += self.bias
        out_len = windows.shape[2]
        self._cache = cols, x.shape, xp.shape[2], out_len
        return np.ascontiguousarray(y.reshape(n, out_len, self.out_channels).transpose(0, 2, 1))

    def backward(self, grad_output):
        cols, shape, padded_len, out_len = self._need_cache()
        n = shape[0]
        dy = self._check_grad(grad_output, (n, self.out_channels, out_len))
        dy2 = np.ascontiguousarray(dy.transpose(0, 2, 1)).reshape(-1, self.out_channels)
        if self.groups == 1:
            self._grads["weight"] += np.dot(dy2.T, cols).reshape(self.weight.shape)
            dcols = np.dot(dy2, self.weight.reshape(self.out_channels, -1))
        else:
            w3 = self._weight3()
            dy_g = self._grouped(dy2, w3.shape[1])
            self._grads["weight"] += np.matmul(dy_g.transpose(0, 2, 1),
                                               self._grouped(cols, w3.shape[2])).reshape(
                self.weight.shape)
            dcols = np.ascontiguousarray(np.matmul(dy_g, w3).transpose(1, 0, 2))
        if self.has_bias:
            self._grads["bias"] += dy2.sum(axis=0)
        dcols = dcols.reshape(n, out_len, self.in_channels, self.kernel_size)
        dxp = np.zeros((n, self.in_channels, padded_len), self.dtype)
        stop = self.stride * (out_len - 1) + 1
        for k in range(self.kernel_size):  # scatter each tap's gradient back to its input positions
            start = k * self.dilation
            dxp[:, :, start:start + stop:self.stride] += dcols[:, :, :, k].transpose(0, 2, 1)
        left = self.pad[0]
        return dxp[:, :, left:left + shape[2]].copy()


class _TimePool(Module):
    """Pooling over the time axis ``dim`` (default -1, PyTorch's (N, C, L) layout; use
    ``dim=1`` for (N, L, C)).  ``lengths`` (N,) leaves out padded steps."""

    def __init__(self, dim=-1, dtype=np.float32):
        super().__init__(dtype)
        self.dim = dim

    def _valid(self, x, lengths):
        if lengths is None:
            return None
        lengths = np.asarray(lengths, dtype=np.int64)
        t_axis = self.dim % x.ndim
        n_steps = x.shape[t_axis]
        if lengths.shape != (x.shape[0],) or lengths.min() < 1 or lengths.max() > n_steps:
            raise NlpkitError(f"{type(self).__name__}: lengths expected shape ({x.shape[0]},) "
                              "with values "
                              f"in [1, {n_steps}], got {lengths}")
        valid = np.arange(n_steps)[None, :] < lengths[:, None]  # (N, L)
        shape = [1] * x.ndim
        shape[0], shape[t_axis] = x.shape[0], n_steps
        return valid.reshape(shape)


class MaxPoolTime(_TimePool):
    """Max over time (the gradient goes to the first maximum, as ``torch.max(dim)``)."""

    def forward(self, x, lengths=None):
        x = self._check_input(x)
        valid = self._valid(x, lengths)
        xm = x if valid is None else np.where(valid, x, -np.inf).astype(self.dtype)
        idx = np.argmax(xm, axis=self.dim)
        self._cache = idx, x.shape
        return np.take_along_axis(xm, np.expand_dims(idx, self.dim), self.dim).squeeze(self.dim)

    def backward(self, grad_output):
        idx, shape = self._need_cache()
        dx = np.zeros(shape, self.dtype)
        g = self._check_grad(grad_output, idx.shape)
        np.put_along_axis(dx, np.expand_dims(idx, self.dim), np.expand_dims(g, self.dim), self.dim)
        return dx


class MeanPoolTime(_TimePool):
    """Mean over time (over each sequence's own length when ``lengths`` is given)."""

    def forward(self, x, lengths=None):
        x = self._check_input(x)
        valid = self._valid(x, lengths)
        if valid is None:
            weights = np.full((1,) * x.ndim, 1.0 / x.shape[self.dim], self.dtype)
        else:
            weights = (valid / valid.sum(axis=self.dim, keepdims=True)).astype(self.dtype)
        self._cache = weights, x.shape
        return (x * weights).sum(axis=self.dim)

    def backward(self, grad_output):
        weights, shape = self._need_cache()
        reduced = tuple(s for i, s in enumerate(shape) if i != self.dim % len(shape))
        g = self._check_grad(grad_output, reduced)
        return np.broadcast_to(np.expand_dims(g, self.dim) * weights, shape).copy()
