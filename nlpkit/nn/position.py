"""Positional encodings: sinusoidal and learned (added to the input), ALiBi biases, rotary (RoPE).

Inputs are (L, N, E), or (N, L, E) with ``batch_first``.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError
from . import functional as F
from . import init
from .module import Module, as_rng
from .tensor import Tensor


def sinusoidal_table(max_len, d_model, dtype=np.float32):
    """``pe[p, 2i] = sin(p / 10000^(2i/d))``, ``pe[p, 2i+1] = cos(…)`` (as in the Transformer
    paper)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(pos * div)
    pe[:, 1::2] = np.cos(pos * div[: d_model // 2])
    return pe.astype(dtype)


class _AddedPosition(Module):
    def _positions(self, x):
        x = self._check_input(x, last=self.d_model, ndim=3)
        length = x.shape[1] if self.batch_first else x.shape[0]
        if length > self.max_len:
            raise NlpkitError(f"{type(self).__name__}: sequence length {length} exceeds "
                              f"max_len {self.max_len}")
        return x, length

    def _broadcast(self, table):
        """(L, E) -> (1, L, E) with ``batch_first``, else (L, 1, E)."""
        length, d = table.shape
        return F.reshape(table, (1, length, d) if self.batch_first else (length, 1, d))


class SinusoidalPositionalEncoding(_AddedPosition):
    """``x + pe[:L]`` with the fixed sinusoidal table (no parameters)."""

    def __init__(self, d_model, max_len=5000, batch_first=False, dtype=np.float32):
        super().__init__(dtype)
        self.d_model, self.max_len, self.batch_first = int(d_model), int(max_len), bool(batch_first)
        self.table = sinusoidal_table(self.max_len, self.d_model, self.dtype)

    def forward(self, x):
        x, length = self._positions(x)
        return x + self._broadcast(Tensor(self.table[:length]))


class LearnedPositionalEncoding(_AddedPosition):
    """``x + weight[:L]`` with a trained (max_len, d_model) table; its gradient touches rows < L."""

    def __init__(self, max_len, d_model, batch_first=False, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.d_model, self.max_len, self.batch_first = int(d_model), int(max_len), bool(batch_first)
        table = init.normal_(np.empty((self.max_len, self.d_model)), 0.0, 0.02, as_rng(rng))
        self.register_parameter("weight", table)

    def forward(self, x):
        x, length = self._positions(x)
        return x + self._broadcast(self.weight[:length])


def alibi_slopes(num_heads):
    """Per-head slopes of ALiBi (Press et al.): 2^(-8/n), 2^(-16/n), … with the paper's rule when
    ``num_heads`` is not a power of two."""
    def power_of_two(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]
    if math.log2(num_heads).is_integer():
        return np.array(power_of_two(num_heads))
    closest = 2 ** int(math.floor(math.log2(num_heads)))
    extra = power_of_two(2 * closest)[0::2][: num_heads - closest]
    return np.array(power_of_two(closest) + extra)


def alibi_mask(num_heads, n_q, n_k=None, batch_size=1, causal=True, dtype=np.float32):
    """Additive ALiBi bias ``slope_h * (j - i)`` of shape (batch·heads, L, S), with -inf above the
    diagonal when ``causal``; pass it as ``attn_mask`` to MultiheadAttention."""
    n_k = n_q if n_k is None else n_k
    shift = n_k - n_q
    dist = np.arange(n_k)[None, :] - (np.arange(n_q)[:, None] + shift)  # j - i, aligned at the end
    bias = alibi_slopes(num_heads)[:, None, None] * np.minimum(dist, 0)[None] if causal else \
        -alibi_slopes(num_heads)[:, None, None] * np.abs(dist)[None]
    if causal:
        bias = np.where(dist[None] > 0, -np.inf, bias)
    return np.tile(bias.astype(dtype), (batch_size, 1, 1))


class RotaryEmbedding(Module):
    """RoPE on (…, L, head_dim) queries or keys: the "rotate half" form (GPT-NeoX / LLaMA).

    ``forward(x, offset=0)`` rotates position p = offset + t by angles p·base^(-2i/d),
    composed of tensor ops (so its backward, the inverse rotation, comes from autograd).
    Scores of rotated q, k depend only on the distance between positions.
    """

    def __init__(self, head_dim, base=10000.0, dtype=np.float32):
        super().__init__(dtype)
        if head_dim % 2:
            raise NlpkitError(f"RotaryEmbedding: head_dim must be even, got {head_dim}")
        self.head_dim, self.base = int(head_dim), float(base)

    def cos_sin(self, length, offset=0):
        """The (L, head_dim) cos and sin tables for positions offset … offset + L - 1."""
        inv_freq = self.base ** (-np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim)
        angles = np.arange(offset, offset + length, dtype=np.float64)[:, None] * inv_freq[None]
        angles = np.concatenate([angles, angles], axis=1)
        return np.cos(angles).astype(self.dtype), np.sin(angles).astype(self.dtype)

    def forward(self, x, offset=0):
        x = self._check_input(x, last=self.head_dim)
        if x.ndim < 2:
            raise NlpkitError(f"RotaryEmbedding: input expected shape (..., L, {self.head_dim}), "
                              f"got {x.shape}")
        cos, sin = self.cos_sin(x.shape[-2], offset)
        half = self.head_dim // 2
        rotated = F.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin
