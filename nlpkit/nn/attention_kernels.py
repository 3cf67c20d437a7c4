"""Attention softmax kernels (CPU): row softmax over the keys with an optional causal limit.

``scores`` is (G, L, S) C-contiguous (G = batch × heads), already scaled and with
any additive mask added; query i may see keys ``j <= i + S - L`` when causal.
A row whose keys are all masked (-inf) gets zero weights instead of NaN.
The CUDA twin would take the same arguments.
"""
import math

import numba
import numpy as np

# fast-math without 'nnan'/'ninf': masked scores are -inf and must stay so
FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath=FLAGS)
def softmax_forward(scores, causal, probs):
    n_groups, n_q, n_k = scores.shape
    shift = n_k - n_q
    for gi in numba.prange(n_groups * n_q):
        g = gi // n_q
        i = gi - g * n_q
        src = scores[g, i]
        dst = probs[g, i]
        limit = min(n_k, i + shift + 1) if causal else n_k
        m = src[0]  # typed as the scores, so float32 rows use expf
        for j in range(1, limit):
            m = max(m, src[j])
        if limit == 0 or m == -np.inf:
            for j in range(n_k):
                dst[j] = 0
            continue
        total = src[0] - src[0]
        for j in range(limit):
            e = math.exp(src[j] - m)
            dst[j] = e
            total += e
        inv = 1 / total
        for j in range(limit):
            dst[j] *= inv
        for j in range(limit, n_k):
            dst[j] = 0


@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath=FLAGS)
def softmax_backward(probs, dprobs, dscores):
    """dscores = P * (dP - sum_j P dP), row by row (masked entries have P = 0)."""
    n_groups, n_q, n_k = probs.shape
    for gi in numba.prange(n_groups * n_q):
        g = gi // n_q
        i = gi - g * n_q
        p = probs[g, i]
        dp = dprobs[g, i]
        ds = dscores[g, i]
        dot = p[0] - p[0]
        for j in range(n_k):
            dot += p[j] * dp[j]
        for j in range(n_k):
            ds[j] = p[j] * (dp[j] - dot)
