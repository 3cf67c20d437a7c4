"""Conv1d over time (PyTorch's (N, C, L) layout) and max / mean pooling over time."""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from . import functional as F
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
        self.padding = padding
        self.pad = F.conv_padding(padding, self.kernel_size, self.stride, self.dilation)
        rng = as_rng(rng)
        fan_in = self.in_channels // self.groups * self.kernel_size
        w = np.empty((self.out_channels, self.in_channels // self.groups, self.kernel_size))
        self.register_parameter("weight", init.default_uniform_(w, fan_in, rng))
        self.has_bias = bool(bias)
        if bias:
            b = init.default_uniform_(np.empty(self.out_channels), fan_in, rng)
            self.register_parameter("bias", b)
        else:
            self.bias = None

    def extra_repr(self):
        groups = f", groups={self.groups}" if self.groups > 1 else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}{groups}")

    def forward(self, x):
        x = self._check_input(x, ndim=3)
        if x.shape[1] != self.in_channels:
            raise NlpkitError(f"Conv1d: input expected shape (N, {self.in_channels}, L), "
                              f"got {x.shape}")
        span = self.dilation * (self.kernel_size - 1) + 1
        if x.shape[2] + self.pad[0] + self.pad[1] < span:
            raise NlpkitError(f"Conv1d: input length {x.shape[2]} is shorter than the kernel "
                              f"span {span}")
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class _TimePool(Module):
    """Pooling over the time axis ``dim`` (default -1, PyTorch's (N, C, L) layout; use
    ``dim=1`` for (N, L, C)).  ``lengths`` (N,) leaves out padded steps."""

    def __init__(self, dim=-1, dtype=np.float32):
        super().__init__(dtype)
        self.dim = dim

    def _run(self, fn, x, lengths):
        x = self._check_input(x)
        try:
            return fn(x, lengths, self.dim)
        except NlpkitError as exc:
            raise NlpkitError(f"{type(self).__name__}: {str(exc).partition(': ')[2]}") from None


class MaxPoolTime(_TimePool):
    """Max over time (the gradient goes to the first maximum, as ``torch.max(dim)``)."""

    def forward(self, x, lengths=None):
        return self._run(F.max_pool_time, x, lengths)


class MeanPoolTime(_TimePool):
    """Mean over time (over each sequence's own length when ``lengths`` is given)."""

    def forward(self, x, lengths=None):
        return self._run(F.mean_pool_time, x, lengths)
