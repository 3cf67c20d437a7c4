"""CUDA twins of the attention kernels (``attention_kernels.py``) and of scaled dot-product
attention (``attention.sdpa_forward``/``sdpa_backward``).

Scores and the weighted sums are batched matrix products (``matmul_cuda.gemm``);
what is fused here is the row-wise part: scale, additive mask, key-padding
mask, causal limit and softmax in one kernel, and the softmax backward (with
the scale) in another.  One block per query row; its threads stride over the
keys and combine through shared-memory reductions.

Arrays are (G, L, S) C-contiguous device arrays, G = batch × heads.  ``bias``
is an additive mask of shape (1 or G, L, S); ``key_padding`` (N, S) uint8 is 1
at keys no query may see, where N = G / heads.  As on the CPU, query i sees keys
``j <= i + S - L`` when causal, and a row with every key masked gets zeros.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import cuda_support as S
from .matmul_cuda import gemm

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


def masked_softmax_cuda(scores, scale=1.0, bias=None, key_padding=None, heads=1, causal=False,
                        probs=None):
    """``softmax(scores * scale + bias)`` row-wise with the key-padding and causal masks.

    With ``scale=1`` and no masks but ``causal`` this is the twin of
    ``attention_kernels.softmax_forward``.  ``probs`` may be ``scores`` (in place).
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


def softmax_backward_cuda(probs, dprobs, scale=1.0, dscores=None):
    """Twin of ``attention_kernels.softmax_backward`` times ``scale``."""
    probs, dprobs = S.to_device(probs), S.to_device(dprobs)
    dscores = S.empty(probs.shape, probs.dtype) if dscores is None else dscores
    g, n_q, _ = probs.shape
    if g * n_q:
        _launch(1, g * n_q, probs.dtype)(probs, dprobs, S.scalar(probs.dtype, scale), dscores)
    return dscores


def sdpa_forward_cuda(q, k, v, scale, bias=None, key_padding=None, heads=1, causal=False,
                      drop_mask=None):
    """Twin of ``attention.sdpa_forward`` on (G, L, d) device arrays.

    Returns ``(output, probs, dropped probs)``, all on the device.
    """
    from .elementwise_kernels_cuda import mul_cuda
    scores = gemm(q, k, trans_b=True)
    probs = masked_softmax_cuda(scores, scale, bias, key_padding, heads, causal, probs=scores)
    dropped = probs if drop_mask is None else mul_cuda(probs, drop_mask)
    return gemm(dropped, v), probs, dropped


def sdpa_backward_cuda(dout, q, k, v, scale, probs, dropped, drop_mask=None):
    """Twin of ``attention.sdpa_backward``: ``(dq, dk, dv)`` on the device."""
    from .elementwise_kernels_cuda import mul_cuda
    dv = gemm(dropped, dout, trans_a=True)
    dprobs = gemm(dout, v, trans_b=True)
    if drop_mask is not None:
        mul_cuda(dprobs, drop_mask, out=dprobs)
    dscores = softmax_backward_cuda(probs, dprobs, scale)
    return gemm(dscores, k), gemm(dscores, q, trans_a=True), dv
