"""Glue between the models' (batch, time, features) layout and :mod:`nlpkit.nn`'s layers.

The models keep every sequence as (B, T, D) with its lengths beside it;
nlpkit.nn's Conv1d works on PyTorch's (N, C, L).  The convolution itself is
nlpkit.nn's, as are the pooling (``MaxPoolTime(dim=1)``) and the positions.
"""

from __future__ import annotations

import numpy as np

from ..nn import Conv1d, Module


def valid_mask(lengths, n_steps):
    """(B, T) bool, True at real (not padded) steps."""
    return np.arange(n_steps)[None, :] < np.asarray(lengths)[:, None]


class TimeConv1d(Module):
    """:class:`nlpkit.nn.Conv1d` over (B, T, C_in) -> (B, T, C_out), zero-padded ('same')
    to keep the length (for an even width the extra step of padding goes on the right)."""

    def __init__(self, in_channels, out_channels, kernel_size, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.conv = Conv1d(
            in_channels, out_channels, kernel_size, padding="same", dtype=dtype, rng=rng
        )

    def forward(self, x):
        x = self._check_input(x, ndim=3, last=self.conv.in_channels)
        return self.conv(x.transpose(1, 2)).transpose(1, 2)
