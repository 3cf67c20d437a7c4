"""CUDA twins of the attention kernels (:mod:`nlpkit.nn.kernels.attention`): ``attention``,
``attention_backward``, ``mha``, ``mha_backward`` with the same arguments and results.

Scores and the weighted sums are batched matrix products (``matmul.gemm``);
what is fused here is the row-wise part: scale, additive mask, key-padding
mask, causal limit and softmax in one kernel, and the softmax backward (with
the scale) in another.  One block per query row; its threads stride over the
keys and combine through shared-memory reductions.

Inside, arrays are (G, L, S) C-contiguous device arrays, G = batch × heads (heads
are split from the projections into their own arrays and merged back).  ``bias``
is an additive mask of shape (1 or G, L, S); ``key_padding`` (N, S) uint8 is 1
at keys no query may see, where N = G / heads.  As on the CPU, query i sees keys
``j <= i + S - L`` when causal, and a row with every key masked gets zeros.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import support as S
from .matmul import gemm

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _kernels(threads, dtype_name):
    global cuda
    cuda = S.get_cuda()
    block_sum, block_max = S.reductions()
    dtype = np.dtype(dtype_name).type  # the scalar class, as cuda.shared.array expects
    NEG_INF, ONE = dtype(-np.inf), dtype(1)  # typed: float32 rows stay float32

    @cuda.jit(device=True)
    def score(scores, g, i, j, scale, bias, has_bias, key_padding, has_kp, heads):
        v = scores[g, i, j] * scale
        if has_bias:
            v += bias[g if bias.shape[0] > 1 else 0, i, j]
        if has_kp and key_padding[g // heads, j] != 0:
            v = NEG_INF
        return v

    @cuda.jit
    def masked_softmax(scores, scale, bias, has_bias, key_padding, has_kp, heads, causal, probs):
        buf = cuda.shared.array(threads, dtype)
        n_groups, n_q, n_k = scores.shape
        shift = n_k - n_q
        tid = cuda.threadIdx.x
        zero = scale - scale
        for row in range(cuda.blockIdx.x, n_groups * n_q, cuda.gridDim.x):
            g = row // n_q
            i = row - g * n_q
            limit = min(n_k, i + shift + 1) if causal else n_k
            if limit < 0:
                limit = 0
            part = NEG_INF
            for j in range(tid, limit, threads):
                v = score(scores, g, i, j, scale, bias, has_bias, key_padding, has_kp, heads)
                if v > part:
                    part = v
            m = block_max(buf, part)
            if limit == 0 or m == NEG_INF:  # the same for the whole block
                for j in range(tid, n_k, threads):
                    probs[g, i, j] = zero
                continue
            part = zero
            for j in range(tid, limit, threads):
                e = math.exp(score(scores, g, i, j, scale, bias, has_bias, key_padding, has_kp,
                                   heads) - m)
                probs[g, i, j] = e
                part += e
            inv = ONE / block_sum(buf, part)
            for j in range(tid, limit, threads):
                probs[g, i, j] *= inv
            for j in range(limit + tid, n_k, threads):
                probs[g, i, j] = zero

    @cuda.jit
    def softmax_backward(probs, dprobs, scale, dscores):
        buf = cuda.shared.array(threads, dtype)
        n_groups, n_q, n_k = probs.shape
        tid = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, n_groups * n_q, cuda.gridDim.x):
            g = row // n_q
            i = row - g * n_q
            part = scale - scale
            for j in range(tid, n_k, threads):
                part += probs[g, i, j] * dprobs[g, i, j]
            dot = block_sum(buf, part)
            for j in range(tid, n_k, threads):
                dscores[g, i, j] = probs[g, i, j] * (dprobs[g, i, j] - dot) * scale

    return masked_softmax, softmax_backward


def _launch(which, rows, dtype):
    blocks, threads = S.grid_rows(rows)
    return _kernels(threads, np.dtype(dtype).name)[which][blocks, threads]


def masked_softmax(scores, scale=1.0, bias=None, key_padding=None, heads=1, causal=False,
                   probs=None):
    """``softmax(scores * scale + bias)`` row-wise with the key-padding and causal masks
    (the row-wise part of :func:`attention`).  ``probs`` may be ``scores`` (in place).
    """
    scores = S.to_device(scores)
    dt = scores.dtype
    probs = S.empty(scores.shape, dt) if probs is None else probs
    g, n_q, n_k = scores.shape
    dummy3 = scores
    b = dummy3 if bias is None else S.to_device(bias, dt)
    if bias is not None and len(b.shape) == 2:
        b = b.reshape((1,) + tuple(b.shape))
    kp = (S.to_device(np.zeros((1, 1), np.uint8)) if key_padding is None
          else S.to_device(key_padding, np.uint8))
    if g * n_q:
        _launch(0, g * n_q, dt)(scores, S.scalar(dt, scale), b, bias is not None, kp,
                                key_padding is not None, int(heads), bool(causal), probs)
    return probs


def softmax_backward(probs, dprobs, scale=1.0, dscores=None):
    """The scores' gradient of :func:`masked_softmax`, times ``scale``."""
    probs, dprobs = S.to_device(probs), S.to_device(dprobs)
    dscores = S.empty(probs.shape, probs.dtype) if dscores is None else dscores
    g, n_q, _ = probs.shape
    if g * n_q:
        _launch(1, g * n_q, probs.dtype)(probs, dprobs, S.scalar(probs.dtype, scale), dscores)
    return dscores


def _groups(bias, keep, n, h, n_q, n_k, dtype):
    """The host bias (broadcastable to (N, H, L, S)) as (1 or G, L, S), keep as (G, L, S)."""
    b = None
    if bias is not None:
        bias = np.asarray(bias, dtype)
        bias = bias.reshape((1,) * (4 - bias.ndim) + bias.shape)
        if bias.shape[:3] == (1, 1, n_q):
            b = S.to_device(np.ascontiguousarray(np.broadcast_to(bias, (1, 1, n_q, n_k)))
                            .reshape(1, n_q, n_k))
        else:
            b = S.to_device(np.ascontiguousarray(np.broadcast_to(bias, (n, h, n_q, n_k)))
                            .reshape(n * h, n_q, n_k))
    k = None if keep is None else S.to_device(np.asarray(keep, dtype).reshape(n * h, n_q, n_k))
    return b, k


def _core(qg, kg, vg, scale, bias, causal, keep):
    from .arrays import mul
    scores = gemm(qg, kg, trans_b=True)
    probs = masked_softmax(scores, scale, bias, None, 1, causal, probs=scores)
    dropped = probs if keep is None else mul(probs, keep)
    return gemm(dropped, vg), probs


def _core_backward(dout, qg, kg, vg, scale, probs, keep):
    from .arrays import mul
    dropped = probs if keep is None else mul(probs, keep)
    dv = gemm(dropped, dout, trans_a=True)
    dprobs = gemm(dout, vg, trans_b=True)
    if keep is not None:
        dprobs = mul(dprobs, keep)
    dscores = softmax_backward(probs, dprobs, scale)
    return gemm(dscores, kg), gemm(dscores, qg, trans_a=True), dv


def attention(q, k, v, scale, bias, causal, keep, ctx=None):
    """Twin of ``kernels.attention.attention`` on (N, H, L, d) device arrays."""
    n, h, n_q, d = q.shape
    n_k, dv = k.shape[2], v.shape[3]
    b, kp = _groups(bias, keep, n, h, n_q, n_k, q.dtype)
    out, probs = _core(q.reshape(n * h, n_q, d), k.reshape(n * h, n_k, d),
                       v.reshape(n * h, n_k, dv), scale, b, causal, kp)
    return out.reshape(n, h, n_q, dv), probs.reshape(n, h, n_q, n_k)


def attention_backward(dctx, q, k, v, scale, probs, causal, keep):
    n, h, n_q, d = q.shape
    n_k, dv = k.shape[2], v.shape[3]
    _, kp = _groups(None, keep, n, h, n_q, n_k, q.dtype)
    grads = _core_backward(dctx.reshape(n * h, n_q, dv), q.reshape(n * h, n_q, d),
                           k.reshape(n * h, n_k, d), v.reshape(n * h, n_k, dv), scale,
                           probs.reshape(n * h, n_q, n_k), kp)
    return tuple(g.reshape(*a.shape) for g, a in zip(grads, (q, k, v)))


def _blocks(q, k, v, packed):
    from .arrays import getitem
    if not packed:
        return q, k, v
    e = q.shape[2] // 3
    return tuple(getitem(q, (slice(None), slice(None), slice(i * e, (i + 1) * e)))
                 for i in range(3))


def mha(q, k, v, num_heads, batch_first, packed, scale, bias, causal, keep):
    """Twin of ``kernels.attention.mha``: (ctx in the caller's layout, probs (N, H, L, S))."""
    from .elementwise import merge_heads, split_heads
    q, k, v = _blocks(q, k, v, packed)
    n = q.shape[0] if batch_first else q.shape[1]
    n_q = q.shape[1] if batch_first else q.shape[0]
    n_k = k.shape[1] if batch_first else k.shape[0]
    b, kp = _groups(bias, keep, n, num_heads, n_q, n_k, q.dtype)
    hq, hk, hv = (split_heads(x, num_heads, batch_first) for x in (q, k, v))
    out, probs = _core(hq, hk, hv, scale, b, causal, kp)
    return merge_heads(out, num_heads, batch_first), probs.reshape(n, num_heads, n_q, n_k)


def mha_backward(dctx, q, k, v, num_heads, batch_first, packed, scale, probs, causal, keep):
    from .arrays import concat
    from .elementwise import merge_heads, split_heads
    q, k, v = _blocks(q, k, v, packed)
    n = q.shape[0] if batch_first else q.shape[1]
    n_q = q.shape[1] if batch_first else q.shape[0]
    n_k = k.shape[1] if batch_first else k.shape[0]
    _, kp = _groups(None, keep, n, num_heads, n_q, n_k, q.dtype)
    hq, hk, hv = (split_heads(x, num_heads, batch_first) for x in (q, k, v))
    grads = _core_backward(split_heads(dctx, num_heads, batch_first), hq, hk, hv, scale,
                           probs.reshape(n * num_heads, n_q, n_k), kp)
    merged = [merge_heads(g, num_heads, batch_first) for g in grads]
    if packed:
        return concat(merged, 2), None, None
    return tuple(merged)
