"""Attention kernels (CPU).  Twin: :mod:`nlpkit.nn.cuda.attention` (same names and arguments).

``fused_forward``/``fused_backward``: the whole per-head attention (scores, masks,
softmax, dropout, P·V and their gradients) fused, one (batch, head) group per
parallel iteration, reading the heads in place from strided (N, H, L, d) views.
:func:`attention` / :func:`attention_backward` run them on (N, H, L, d) arrays (any
strides); :func:`mha` / :func:`mha_backward` on MultiheadAttention's projections in
the caller's layout ((L, N, E), or (N, L, E) with ``batch_first``; packed: one
(…, 3E) array holding q, k and v), the heads being strided views, so no head is
split or merged by a copy.

Query i may see keys ``j <= i + S - L`` when causal (the last query sees every key:
the alignment incremental decoding with cached keys needs).  A row whose keys are
all masked (-inf) gets zero weights instead of NaN.
"""
import math

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from .jit import by_size

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


# Fused attention per (batch, head) group: the heads are read straight from the projections'
# strided layout (no head split/merge copies), scores stay in cache, and the products run
# through BLAS (np.dot) on blocks of ROWS query rows.  Causal blocks stop at their last visible
# key, so most of the masked upper triangle is skipped.  With ROWS = 32 each product is below
# OpenBLAS's threading threshold (m·n·k <= 262144) for keys up to 8192/d, so the BLAS calls run
# single-threaded inside the parallel group loop instead of nesting thread pools.
# q, k, v, ctx and the gradients are (N, H, L|S, d) views of any layout; bias is a 4-D
# additive mask broadcastable to (N, H, L, S) (pass has_bias=False and any 4-D array for
# none); slopes (H,) are ALiBi's per-head slopes (has_alibi=False: none), whose bias
# -slope_h |j - i'| (i' = i + S - L, the query's position aligned at the end of the keys)
# is computed here, so no (L, S) array is ever built; keep is the scaled dropout mask
# (N, H, L, S) (or any 4-D array with has_keep=False).  The bias is a constant: the backward
# reads the probabilities, so ALiBi changes nothing there.
ROWS = 32


@numba.njit(cache=True, fastmath=FLAGS)
def _visible(i, n_q, n_k, causal):
    """Keys query row i may see: all, or j <= i + n_k - n_q when causal (may be <= 0)."""
    return min(n_k, i + n_k - n_q + 1) if causal else n_k


@by_size(fastmath=FLAGS)
def fused_forward(q, k, v, scale, bias, has_bias, slopes, has_alibi, causal, keep, has_keep,
                  probs, ctx):
    n_b, n_h, n_q, d = q.shape
    n_k = k.shape[2]
    shift = n_k - n_q
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
                if has_alibi:  # -slope_h |j - i'|, i' the query's position among the keys
                    slope = probs.dtype.type(slopes[h])
                    for j in range(limit):
                        row[j] -= slope * probs.dtype.type(abs(j - i - shift))
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


@by_size(fastmath=FLAGS)
def fused_backward(dctx, q, k, v, scale, probs, causal, keep, has_keep, dq, dk, dv):
    """Gradients of :func:`fused_forward` written into dq, dk, dv (not accumulated)."""
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


def _optional(a, dtype):
    """(4-D array, present) for the fused kernels' optional bias / keep arguments."""
    if a is None:
        return np.zeros((1, 1, 1, 1), dtype), False
    a = np.asarray(a, dtype)
    return np.ascontiguousarray(a.reshape((1,) * (4 - a.ndim) + a.shape)), True


def _slopes(slopes):
    """(slopes (H,) float64, present) for the fused kernels' optional ALiBi argument."""
    if slopes is None:
        return np.zeros(1), False
    return np.ascontiguousarray(slopes, np.float64), True


def attention(q, k, v, scale, bias, causal, keep, ctx=None, slopes=None):
    """``softmax(q k^T * scale + bias + alibi) v`` of (N, H, L, d) arrays: (ctx, probs
    (N, H, L, S)).

    ``bias`` broadcasts to (N, H, L, S) (or None); ``slopes`` (H,) adds ALiBi's
    ``-slope_h |j - (i + S - L)|`` (or None); ``keep`` is a scaled dropout mask of
    that shape (or None); ``ctx`` may be given (any strides) to be written in place."""
    n, h, n_q, _ = q.shape
    probs = np.empty((n, h, n_q, k.shape[2]), q.dtype)
    if ctx is None:
        ctx = np.empty(q.shape[:3] + (v.shape[3],), q.dtype)
    fused_forward(q, k, v, scale, *_optional(bias, q.dtype), *_slopes(slopes), bool(causal),
                  *_optional(keep, q.dtype), probs, ctx)
    return ctx, probs


def attention_backward(dctx, q, k, v, scale, probs, causal, keep, dq=None, dk=None, dv=None):
    """(dq, dk, dv) of :func:`attention`; they may be given (any strides) to be written."""
    dq = np.empty(q.shape, q.dtype) if dq is None else dq
    dk = np.empty(k.shape, q.dtype) if dk is None else dk
    dv = np.empty(v.shape, q.dtype) if dv is None else dv
    fused_backward(dctx, q, k, v, scale, probs, bool(causal), *_optional(keep, q.dtype),
                   dq, dk, dv)
    return dq, dk, dv


def heads(x, num_heads, batch_first, offset=0, width=None):
    """Columns ``offset:offset + width`` of the caller's-layout (…, E) array ``x`` as an
    (N, H, L, d) strided view."""
    width = x.shape[2] - offset if width is None else width
    a, b, _ = x.shape
    block = x[:, :, offset:offset + width].reshape(a, b, num_heads, width // num_heads)
    return block.transpose(0, 2, 1, 3) if batch_first else block.transpose(1, 2, 0, 3)


def _blocks(q, k, v, packed):
    """(array, column offset) of q, k and v: the three E-wide blocks of a packed array."""
    if packed:
        e = q.shape[2] // 3
        return [(q, 0, e), (q, e, e), (q, 2 * e, e)]
    return [(q, 0, q.shape[2]), (k, 0, k.shape[2]), (v, 0, v.shape[2])]


def mha(q, k, v, num_heads, batch_first, packed, scale, bias, causal, keep, slopes=None):
    """Attention over the heads of the projections (caller's layout): (ctx (…, E), probs);
    ``slopes``: ALiBi's per-head slopes or None."""
    (qa, qo, e), (ka, ko, _), (va, vo, ev) = _blocks(q, k, v, packed)
    hq, hk, hv = (heads(a, num_heads, batch_first, o, w)
                  for a, o, w in ((qa, qo, e), (ka, ko, e), (va, vo, ev)))
    ctx = np.empty(qa.shape[:2] + (ev,), q.dtype)  # written head by head in place
    _, probs = attention(hq, hk, hv, scale, bias, causal, keep,
                         ctx=heads(ctx, num_heads, batch_first), slopes=slopes)
    return ctx, probs


def mha_backward(dctx, q, k, v, num_heads, batch_first, packed, scale, probs, causal, keep):
    """(dq, dk, dv) of :func:`mha`, in the projections' layout; packed: (dqkv, None, None)."""
    blocks = _blocks(q, k, v, packed)
    views = [heads(a, num_heads, batch_first, o, w) for a, o, w in blocks]
    if packed:
        dqkv = np.empty(q.shape, q.dtype)
        outs = [heads(dqkv, num_heads, batch_first, o, w) for _, o, w in blocks]
    else:
        grads = [np.empty(a.shape, q.dtype) for a in (q, k, v)]
        outs = [heads(g, num_heads, batch_first) for g in grads]
    attention_backward(heads(dctx, num_heads, batch_first), *views, scale, probs, causal, keep,
                       *outs)
    return (dqkv, None, None) if packed else tuple(grads)
