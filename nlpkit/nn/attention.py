"""Scaled dot-product attention and MultiheadAttention (PyTorch's in_proj layout and masks).

Masks follow PyTorch: a boolean ``attn_mask``/``key_padding_mask`` marks with
True what may NOT be attended; a float mask is added to the scores.  A query
row with every key masked gets zero weights (PyTorch gives NaN there).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError
from . import attention_kernels as K
from . import init
from .layers import Linear
from .module import Module, as_rng


def _rows3(a):
    return a.reshape(-1, a.shape[-2], a.shape[-1])


def additive_mask(mask, dtype, what):
    """Boolean mask (True = masked) to 0/-inf, float mask as is."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        out = np.zeros(mask.shape, dtype)
        out[mask] = -np.inf
        return out
    if not np.issubdtype(mask.dtype, np.floating):
        raise NlpkitError(f"{what} must be boolean or float, got dtype {mask.dtype}")
    return mask.astype(dtype, copy=False)


def sdpa_forward(q, k, v, scale, bias=None, causal=False, drop_mask=None):
    """Attention over the last two axes of (…, L, d) arrays.

    Returns (output, probs, dropped probs).

    ``bias`` (broadcastable to (…, L, S)) is added to the scaled scores.
    """
    scores = np.matmul(q, np.swapaxes(k, -1, -2))
    scores *= scores.dtype.type(scale)
    if bias is not None:
        scores += bias
    scores = np.ascontiguousarray(scores)
    probs = scores  # softmax in place
    K.softmax_forward(_rows3(scores), bool(causal), _rows3(probs))
    dropped = probs if drop_mask is None else probs * drop_mask
    return np.matmul(dropped, v), probs, dropped


def sdpa_backward(dout, q, k, v, scale, probs, dropped, drop_mask=None):
    """Gradients (dq, dk, dv) of :func:`sdpa_forward`."""
    dv = np.matmul(np.swapaxes(dropped, -1, -2), dout)
    dprobs = np.matmul(dout, np.swapaxes(v, -1, -2))
    if drop_mask is not None:
        dprobs *= drop_mask
    dscores = np.empty_like(probs)
    K.softmax_backward(_rows3(probs), _rows3(np.ascontiguousarray(dprobs)), _rows3(dscores))
    dscores *= dscores.dtype.type(scale)
    dq = np.matmul(dscores, k)
    dk = np.matmul(np.swapaxes(dscores, -1, -2), q)
    return dq, dk, dv


class ScaledDotProductAttention(Module):
    """``softmax(q k^T * scale + mask) v`` over (…, L, d) arrays.

    ``backward`` returns (dq, dk, dv).
    """

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
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        bias = None if attn_mask is None else additive_mask(attn_mask, self.dtype, "attn_mask")
        drop = _drop_mask(self, q.shape[:-1] + (k.shape[-2],))
        out, probs, dropped = sdpa_forward(q, k, v, scale, bias, is_causal and bias is None, drop)
        self._cache = q, k, v, scale, probs, dropped, drop
        return out

    def backward(self, grad_output):
        q, k, v, scale, probs, dropped, drop = self._need_cache()
        dout = self._check_grad(grad_output, q.shape[:-1] + (v.shape[-1],))
        return sdpa_backward(dout, q, k, v, scale, probs, dropped, drop)


def _drop_mask(module, shape):
    if not module.training or module.dropout_p == 0.0:
        return None
    keep = module.rng.random(shape, dtype=module.dtype) >= module.dropout_p  # no float64 temporary
    return keep.astype(module.dtype) / module.dtype(1.0 - module.dropout_p)


class MultiheadAttention(Module):
    """PyTorch's MultiheadAttention: ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v], ``out_proj``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None)``;
    ``backward(grad_output) -> (d_query, d_key, d_value)``.  When query, key and value are
    the same array (self-attention) the whole input gradient is in ``d_query`` and the
    other two are zero.  ``is_causal`` without ``attn_mask`` applies the causal mask.

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
            self.out_proj.bias[...] = 0

    def extra_repr(self):
        dims = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"{self.embed_dim}, num_heads={self.num_heads}{dims}, "
                f"batch_first={self.batch_first}")

    # Arrays stay in the caller's layout, (L, N, E) or (N, L, E) with batch_first: the
    # projections work row by row and the heads are strided views, so no transposes are copied.
    def _check(self, x, what, last=None):
        return self._check_input(x, what, last=last or self.embed_dim, ndim=3)

    def _in_weight(self, rows):
        """(weight, gradient) of the input projection rows ``rows`` of [W_q; W_k; W_v]."""
        if self._qkv_same_embed_dim:
            return self.in_proj_weight[rows], self._grads["in_proj_weight"][rows]
        name = self._QKV_NAMES[rows.start // self.embed_dim]  # one of the three blocks
        return self._params[name], self._grads[name]

    def _batch_len(self, x):
        return (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])

    def _split_heads(self, x):  # caller's layout (…, E) -> (N, H, L, d) view
        a, b, _ = x.shape
        x = x.reshape(a, b, self.num_heads, self.head_dim)
        return x.transpose(0, 2, 1, 3) if self.batch_first else x.transpose(1, 2, 0, 3)

    def _project(self, x, rows):
        w, _ = self._in_weight(rows)
        y = np.dot(x.reshape(-1, w.shape[1]), w.T)
        if self.has_bias:
            y += self.in_proj_bias[rows]
        return y.reshape(x.shape[:2] + (w.shape[0],))

    def _bias(self, n, n_q, n_k, key_padding_mask, attn_mask):
        bias = None
        if attn_mask is not None:
            m = additive_mask(attn_mask, self.dtype, "attn_mask")
            if m.shape == (n_q, n_k):
                bias = m
            elif m.shape == (n * self.num_heads, n_q, n_k):
                bias = m.reshape(n, self.num_heads, n_q, n_k)
            else:
                raise NlpkitError(f"MultiheadAttention: attn_mask expected shape {(n_q, n_k)} or "
                                  f"{(n * self.num_heads, n_q, n_k)}, got {m.shape}")
        if key_padding_mask is not None:
            m = additive_mask(key_padding_mask, self.dtype, "key_padding_mask")
            if m.shape != (n, n_k):
                raise NlpkitError("MultiheadAttention: key_padding_mask expected shape "
                                  f"{(n, n_k)}, "
                                  f"got {m.shape}")
            m = m.reshape(n, 1, 1, n_k)
            bias = m if bias is None else bias + m
        return bias

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        fused = query is key and key is value and self._qkv_same_embed_dim
        q_in = self._check(query, "query")
        k_in = q_in if fused else self._check(key, "key", self.kdim)
        v_in = q_in if fused else self._check(value, "value", self.vdim)
        (n, n_q), (n_kb, n_k) = self._batch_len(q_in), self._batch_len(k_in)
        if k_in.shape[:2] != v_in.shape[:2] or n_kb != n:
            raise NlpkitError(f"MultiheadAttention: query {query.shape}, key {key.shape} and value "
                              f"{value.shape} disagree in batch or length")
        e = self.embed_dim
        if fused:
            qkv = self._project(q_in, slice(0, 3 * e))
            q, k, v = qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        else:
            q = self._project(q_in, slice(0, e))
            k = self._project(k_in, slice(e, 2 * e))
            v = self._project(v_in, slice(2 * e, 3 * e))
        bias = self._bias(n, n_q, n_k, key_padding_mask, attn_mask)
        qh, kh, vh = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        scale = 1.0 / math.sqrt(self.head_dim)
        drop = _drop_mask(self, (n, self.num_heads, n_q, n_k))
        causal = is_causal and attn_mask is None  # an explicit attn_mask wins, as in PyTorch
        ctx = np.empty(q_in.shape[:2] + (e,), self.dtype)  # written head by head in place
        probs = np.empty((n, self.num_heads, n_q, n_k), self.dtype)
        K.attention_forward(qh, kh, vh, scale, *_kernel_arg(bias, self.dtype), causal,
                            *_kernel_arg(drop, self.dtype), probs, self._split_heads(ctx))
        out = self.out_proj(ctx)
        self._cache = fused, q_in, k_in, v_in, qh, kh, vh, scale, probs, causal, drop
        weights = None
        if need_weights:
            weights = probs.mean(axis=1) if average_attn_weights else probs.copy()
        return out, weights

    def backward(self, grad_output):
        fused, q_in, k_in, v_in, qh, kh, vh, scale, probs, causal, drop = self._need_cache()
        dout = self._check_grad(grad_output, q_in.shape)
        dctx = self.out_proj.backward(dout)
        e = self.embed_dim
        # the kernel writes the head gradients straight into the projections' layout
        if fused:
            dqkv = np.empty(q_in.shape[:2] + (3 * e,), self.dtype)
            d_proj = [dqkv[..., i * e:(i + 1) * e] for i in range(3)]
        else:
            d_proj = [np.empty(x.shape[:2] + (e,), self.dtype) for x in (q_in, k_in, v_in)]
        K.attention_backward(self._split_heads(dctx), qh, kh, vh, scale, probs, causal,
                             *_kernel_arg(drop, self.dtype),
                             *(self._split_heads(d) for d in d_proj))
        grads = []
        if fused:
            w, dw = self.in_proj_weight, self._grads["in_proj_weight"]
            dqkv = dqkv.reshape(-1, 3 * e)
            x2 = q_in.reshape(-1, e)
            dw += np.dot(dqkv.T, x2)
            if self.has_bias:
                self._grads["in_proj_bias"] += dqkv.sum(axis=0)
            dx = np.dot(dqkv, w).reshape(q_in.shape)
            zero = np.zeros_like(dx)
            grads = [dx, zero, zero]
        else:
            for i, (d2, x) in enumerate(zip(d_proj, (q_in, k_in, v_in))):
                rows = slice(i * e, (i + 1) * e)
                w, dw = self._in_weight(rows)
                d2 = d2.reshape(-1, e)
                dw += np.dot(d2.T, x.reshape(-1, x.shape[-1]))
                if self.has_bias:
                    self._grads["in_proj_bias"][rows] += d2.sum(axis=0)
                grads.append(np.dot(d2, w).reshape(x.shape))
        return tuple(grads)


def _kernel_arg(optional, dtype):
    """(4-D array, present) for the fused kernels' optional bias / dropout-mask arguments."""
    if optional is None:
        return np.zeros((1, 1, 1, 1), dtype), False
    a = np.asarray(optional, dtype)
    return np.ascontiguousarray(a.reshape((1,) * (4 - a.ndim) + a.shape)), True


def causal_mask(length, dtype=np.float32):
    """The (L, L) additive causal mask (0 on and below the diagonal, -inf above), as PyTorch's
    ``Transformer.generate_square_subsequent_mask``."""
    return np.triu(np.full((length, length), -np.inf, dtype), 1)
