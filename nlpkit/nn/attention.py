"""Scaled dot-product attention and MultiheadAttention (PyTorch's in_proj layout and masks).

Masks follow PyTorch's MultiheadAttention: a boolean ``attn_mask``/``key_padding_mask``
marks with True what may NOT be attended; a float mask is added to the scores.  A query
row with every key masked gets zero weights (PyTorch gives NaN there).  Each call is one
fused attention node (:func:`nlpkit.nn.functional.attention_heads`) between the
projections, whose heads it reads in place.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import NlpkitError
from . import functional as F
from . import init
from .functional import additive_mask  # noqa: F401  (re-exported)
from .layers import Linear
from .module import Module, as_rng


class ScaledDotProductAttention(Module):
    """``softmax(q k^T * scale + mask) v`` over (…, L, d) tensors; a boolean ``attn_mask``
    marks with True what may NOT be attended (as MultiheadAttention's)."""

    def __init__(self, dropout_p=0.0, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.dropout_p = float(dropout_p)
        self.rng = as_rng(rng)

    def forward(self, query, key, value, attn_mask=None, is_causal=False, scale=None):
        q = self._check_input(query, "query")
        k = self._check_input(key, "key", last=q.shape[-1])
        v = self._check_input(value, "value")
        if k.shape[:-1] != v.shape[:-1]:
            raise NlpkitError(f"ScaledDotProductAttention: key {k.shape} and value {v.shape} "
                              "disagree")
        if attn_mask is not None:
            m = np.asarray(backend.to_host(F._data(attn_mask)))
            attn_mask = ~m if m.dtype == bool else m  # functional's convention: True = attend
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask, self.dropout_p if self.training else 0.0, is_causal, scale,
            generator=self.rng)


class MultiheadAttention(Module):
    """PyTorch's MultiheadAttention: ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v], ``out_proj``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None)``.  When
    query, key and value are the same tensor (self-attention) one product projects all
    three.  ``is_causal`` without ``attn_mask`` applies the causal mask.

    ``kdim``/``vdim`` (the key's and value's feature sizes, default ``embed_dim``): when
    either differs from ``embed_dim`` the projections are PyTorch's separate
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim) and ``v_proj_weight`` (E, vdim)
    instead of ``in_proj_weight``; ``in_proj_bias`` stays one (3E,) vector.
    """

    _QKV_NAMES = ("q_proj_weight", "k_proj_weight", "v_proj_weight")

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False,
                 dtype=np.float32, rng=None, kdim=None, vdim=None):
        super().__init__(dtype)
        if embed_dim % num_heads:
            raise NlpkitError(f"MultiheadAttention: embed_dim {embed_dim} is not divisible by "
                              f"num_heads {num_heads}")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout_p, self.batch_first = float(dropout), bool(batch_first)
        self.has_bias = bool(bias)
        self.rng = as_rng(rng)
        e = self.embed_dim
        self.kdim = e if kdim is None else int(kdim)
        self.vdim = e if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == e and self.vdim == e
        if self._qkv_same_embed_dim:
            w = init.xavier_uniform_(np.empty((3 * e, e)), rng=self.rng)
            self.register_parameter("in_proj_weight", w)
        else:
            for name, d_in in zip(self._QKV_NAMES, (e, self.kdim, self.vdim)):
                w = init.xavier_uniform_(np.empty((e, d_in)), rng=self.rng)
                self.register_parameter(name, w)
        if bias:
            self.register_parameter("in_proj_bias", np.zeros(3 * e))
        self.out_proj = Linear(e, e, bias=bias, dtype=dtype, rng=self.rng)
        if bias:
            self.out_proj.bias.data[...] = 0

    def extra_repr(self):
        dims = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"{self.embed_dim}, num_heads={self.num_heads}{dims}, "
                f"batch_first={self.batch_first}")

    def _check(self, x, what, last):
        return self._check_input(x, what, last=last, ndim=3)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        self_attn = query is key and key is value and self._qkv_same_embed_dim
        q = self._check(query, "query", self.embed_dim)
        k = q if self_attn else self._check(key, "key", self.kdim)
        v = q if self_attn else self._check(value, "value", self.vdim)
        batch_q = q.shape[0] if self.batch_first else q.shape[1]
        batch_k = k.shape[0] if self.batch_first else k.shape[1]
        if k.shape[:2] != v.shape[:2] or batch_k != batch_q:
            raise NlpkitError(f"MultiheadAttention: query {q.shape}, key {k.shape} and value "
                              f"{v.shape} disagree in batch or length")
        p = self._params
        return F.multi_head_attention_forward(
            q, k, v, self.embed_dim, self.num_heads, p.get("in_proj_weight"),
            p.get("in_proj_bias"), dropout_p=self.dropout_p, out_proj_weight=self.out_proj.weight,
            out_proj_bias=self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=p.get("q_proj_weight"), k_proj_weight=p.get("k_proj_weight"),
            v_proj_weight=p.get("v_proj_weight"), average_attn_weights=average_attn_weights,
            is_causal=is_causal, batch_first=self.batch_first, generator=self.rng)


def causal_mask(length, dtype=np.float32):
    """The (L, L) additive causal mask (0 on and below the diagonal, -inf above), as PyTorch's
    ``Transformer.generate_square_subsequent_mask``."""
    return np.triu(np.full((length, length), -np.inf, dtype), 1)
