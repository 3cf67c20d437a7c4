"""Attention kernels (CPU).

``softmax_forward``/``softmax_backward``: row softmax over the keys of (G, L, S)
C-contiguous scores (G = batch × heads), already scaled and with any additive mask
added (used by ScaledDotProductAttention).  ``attention_forward``/``attention_backward``:
MultiheadAttention's whole per-head attention (scores, masks, softmax, dropout, P·V and
their gradients) fused, one (batch, head) group per parallel iteration.

Query i may see keys ``j <= i + S - L`` when causal.  A row whose keys are all masked
(-inf) gets zero weights instead of NaN.  The CUDA twins would take the same arguments.
"""
import math

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

# fast-math without 'nnan'/'ninf': masked scores are -inf and must stay so
FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}


# exp without SVML: LLVM calls scalar expf, which dominated the softmax.  For float32 rows a
# Cephes-style expf (2^n * e^r with a degree-6 polynomial; < 1e-7 relative error) vectorises.
_LOG2E = np.float32(1.44269504)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)  # ln 2 = HI + LO
_P = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                     4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
_EXP_MIN = np.float32(-87.0)  # below this e^x underflows: return 0 (masked keys are -inf)


def exp_sum(src, m, dst, n, bits):  # pragma: no cover - replaced by the overload in kernels
    """dst[:n] = exp(src[:n] - m); returns their sum.  ``bits`` is an int32 scratch of len >= n."""
    raise NotImplementedError


@overload(exp_sum, jit_options={"fastmath": FLAGS})
def _exp_sum(src, m, dst, n, bits):
    if src.dtype != types.float32:
        def exact(src, m, dst, n, bits):
            total = m - m  # zero of the scores' type; src[0] may be -inf (masked)
            for j in range(n):
                e = math.exp(src[j] - m)
                dst[j] = e
                total += e
            return total
        return exact

    def poly(src, m, dst, n, bits):
        for j in range(n):
            x = max(src[j] - m, _EXP_MIN)
            fx = math.floor(x * _LOG2E + np.float32(0.5))
            r = x - fx * _LN2_HI - fx * _LN2_LO
            y = _P[0]
            y = y * r + _P[1]
            y = y * r + _P[2]
            y = y * r + _P[3]
            y = y * r + _P[4]
            y = y * r + _P[5]
            dst[j] = y * r * r + r + np.float32(1.0)
            bits[j] = (np.int32(fx) + np.int32(127)) << np.int32(23)
        two_n = bits.view(np.float32)
        total = np.float32(0.0)
        for j in range(n):
            e = dst[j] * two_n[j] if src[j] - m > _EXP_MIN else np.float32(0.0)
            dst[j] = e
            total += e
        return total
    return poly


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
        total = m - m  # zero of the scores' type; src[0] may be -inf (masked)
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


# Fused attention per (batch, head) group: the heads are read straight from the projections'
# strided layout (no head split/merge copies), scores stay in cache, and the products run
# through BLAS (np.dot) on blocks of ROWS query rows.  Causal blocks stop at their last visible
# key, so most of the masked upper triangle is skipped.  With ROWS = 32 each product is below
# OpenBLAS's threading threshold (m·n·k <= 262144) for keys up to 8192/d, so the BLAS calls run
# single-threaded inside the parallel group loop instead of nesting thread pools.
# q, k, v, ctx and the gradients are (N, H, L|S, d) views of any layout; bias is a 4-D
# additive mask broadcastable to (N, H, L, S) (pass has_bias=False and any 4-D array for
# none); keep is the scaled dropout mask (N, H, L, S) (or any 4-D array with has_keep=False).
ROWS = 32


@numba.njit(cache=True, fastmath=FLAGS)
def _visible(i, n_q, n_k, causal):
    """Keys query row i may see: all, or j <= i + n_k - n_q when causal (may be <= 0)."""
    return min(n_k, i + n_k - n_q + 1) if causal else n_k


@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath=FLAGS)
def attention_forward(q, k, v, scale, bias, has_bias, causal, keep, has_keep, probs, ctx):
    n_b, n_h, n_q, d = q.shape
    n_k = k.shape[2]
    bn, bh, bl = bias.shape[0], bias.shape[1], bias.shape[2]
    for g in numba.prange(n_b * n_h):
        b = g // n_h
        h = g - b * n_h
        sc = probs.dtype.type(scale)
        qs = np.empty((n_q, d), probs.dtype)
        kg = np.empty((n_k, d), probs.dtype)
        vg = np.empty((n_k, d), probs.dtype)
        for i in range(n_q):
            for c in range(d):
                qs[i, c] = q[b, h, i, c] * sc
        for j in range(n_k):
            for c in range(d):
                kg[j, c] = k[b, h, j, c]
                vg[j, c] = v[b, h, j, c]
        s_flat = np.empty(ROWS * n_k, probs.dtype)
        o_flat = np.empty(ROWS * d, probs.dtype)
        bits = np.empty(n_k, np.int32)
        for r0 in range(0, n_q, ROWS):
            nr = min(ROWS, n_q - r0)
            kmax = max(0, _visible(r0 + nr - 1, n_q, n_k, causal))
            sb = s_flat[:nr * kmax].reshape((nr, kmax))
            ob = o_flat[:nr * d].reshape((nr, d))
            if kmax > 0:
                np.dot(qs[r0:r0 + nr], kg[:kmax].T, sb)
            for ii in range(nr):
                i = r0 + ii
                limit = max(0, _visible(i, n_q, n_k, causal))
                row = sb[ii]
                p = probs[b, h, i]
                if has_bias:
                    brow = bias[b if bn > 1 else 0, h if bh > 1 else 0, i if bl > 1 else 0]
                    for j in range(limit):
                        row[j] += brow[j]
                m = row[0] if limit > 0 else -np.inf  # typed as the scores: float32 uses expf
                for j in range(1, limit):
                    m = max(m, row[j])
                if m == -np.inf:  # every key masked: zero weights (PyTorch gives NaN)
                    limit = 0
                else:
                    inv = 1 / exp_sum(row, m, p, limit, bits)
                    for j in range(limit):
                        p[j] *= inv
                        row[j] = p[j] * keep[b, h, i, j] if has_keep else p[j]
                for j in range(limit, n_k):
                    p[j] = 0
                for j in range(limit, kmax):
                    row[j] = 0
            if kmax > 0:
                np.dot(sb, vg[:kmax], ob)
            else:
                ob[:] = 0
            for ii in range(nr):
                for c in range(d):
                    ctx[b, h, r0 + ii, c] = ob[ii, c]


@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath=FLAGS)
def attention_backward(dctx, q, k, v, scale, probs, causal, keep, has_keep, dq, dk, dv):
    """Gradients of :func:`attention_forward` written into dq, dk, dv (not accumulated)."""
    n_b, n_h, n_q, d = q.shape
    n_k = k.shape[2]
    for g in numba.prange(n_b * n_h):
        b = g // n_h
        h = g - b * n_h
        sc = probs.dtype.type(scale)
        qg = np.empty((n_q, d), probs.dtype)
        do = np.empty((n_q, d), probs.dtype)
        kg = np.empty((n_k, d), probs.dtype)
        vg = np.empty((n_k, d), probs.dtype)
        for i in range(n_q):
            for c in range(d):
                qg[i, c] = q[b, h, i, c]
                do[i, c] = dctx[b, h, i, c]
        for j in range(n_k):
            for c in range(d):
                kg[j, c] = k[b, h, j, c]
                vg[j, c] = v[b, h, j, c]
        dkg = np.zeros((n_k, d), probs.dtype)
        dvg = np.zeros((n_k, d), probs.dtype)
        p_flat = np.empty(ROWS * n_k, probs.dtype)
        dp_flat = np.empty(ROWS * n_k, probs.dtype)
        t_flat = np.empty(n_k * d, probs.dtype)
        dqb_flat = np.empty(ROWS * d, probs.dtype)
        for r0 in range(0, n_q, ROWS):
            nr = min(ROWS, n_q - r0)
            kmax = max(0, _visible(r0 + nr - 1, n_q, n_k, causal))
            dqb = dqb_flat[:nr * d].reshape((nr, d))
            if kmax == 0:
                dqb[:] = 0
            else:
                pb = p_flat[:nr * kmax].reshape((nr, kmax))  # the (dropped) weights used
                dpb = dp_flat[:nr * kmax].reshape((nr, kmax))
                tb = t_flat[:kmax * d].reshape((kmax, d))
                for ii in range(nr):
                    for j in range(kmax):
                        pb[ii, j] = probs[b, h, r0 + ii, j]
                        if has_keep:
                            pb[ii, j] *= keep[b, h, r0 + ii, j]
                np.dot(pb.T, do[r0:r0 + nr], tb)
                for j in range(kmax):
                    for c in range(d):
                        dvg[j, c] += tb[j, c]
                np.dot(do[r0:r0 + nr], vg[:kmax].T, dpb)
                for ii in range(nr):  # dS = P * (dP - sum_j P dP), masked entries have P = 0
                    p = probs[b, h, r0 + ii]
                    row = dpb[ii]
                    if has_keep:
                        for j in range(kmax):
                            row[j] *= keep[b, h, r0 + ii, j]
                    dot = row[0] - row[0]
                    for j in range(kmax):
                        dot += p[j] * row[j]
                    for j in range(kmax):
                        row[j] = p[j] * (row[j] - dot) * sc
                np.dot(dpb, kg[:kmax], dqb)
                np.dot(dpb.T, qg[r0:r0 + nr], tb)
                for j in range(kmax):
                    for c in range(d):
                        dkg[j, c] += tb[j, c]
            for ii in range(nr):
                for c in range(d):
                    dq[b, h, r0 + ii, c] = dqb[ii, c]
        for j in range(n_k):
            for c in range(d):
                dk[b, h, j, c] = dkg[j, c]
                dv[b, h, j, c] = dvg[j, c]
