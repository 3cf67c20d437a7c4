"""Fused row-wise kernels (CPU): layer norm, GELU, softmax cross-entropy, embedding scatter.

Each kernel works on 2-D C-contiguous arrays (rows × features) and compiles
once per dtype.  Rows are independent, so ``prange`` over rows needs no
atomics; the embedding scatter is sequential (rows may repeat).
CUDA twins would sit beside this module with the same signatures.
"""
import math

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def layer_norm_forward(x, weight, bias, eps, y, xhat, rstd):
    n, d = x.shape
    for r in numba.prange(n):
        mean = 0.0
        for j in range(d):
            mean += x[r, j]
        mean /= d
        var = 0.0
        for j in range(d):
            diff = x[r, j] - mean
            var += diff * diff
        var /= d
        s = 1.0 / math.sqrt(var + eps)
        rstd[r] = s
        for j in range(d):
            h = (x[r, j] - mean) * s
            xhat[r, j] = h
            y[r, j] = h * weight[j] + bias[j]


@numba.njit(parallel=True, cache=True)
def layer_norm_backward(dy, xhat, rstd, weight, dx):
    """dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * weight."""
    n, d = dy.shape
    for r in numba.prange(n):
        m1 = 0.0
        m2 = 0.0
        for j in range(d):
            g = dy[r, j] * weight[j]
            m1 += g
            m2 += g * xhat[r, j]
        m1 /= d
        m2 /= d
        for j in range(d):
            dx[r, j] = rstd[r] * (dy[r, j] * weight[j] - m1 - xhat[r, j] * m2)


@numba.njit(parallel=True, cache=True)
def gelu_forward(x, y, approximate):
    """1-D arrays (callers pass flat views)."""
    flat_x = x
    flat_y = y
    for i in numba.prange(flat_x.shape[0]):
        v = flat_x[i]
        if approximate:
            inner = 0.7978845608028654 * (v + 0.044715 * v * v * v)
            flat_y[i] = 0.5 * v * (1.0 + math.tanh(inner))
        else:
            flat_y[i] = 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))


@numba.njit(parallel=True, cache=True)
def gelu_backward(x, dy, dx, approximate):
    flat_x = x
    flat_dy = dy
    flat_dx = dx
    for i in numba.prange(flat_x.shape[0]):
        v = flat_x[i]
        if approximate:
            inner = 0.7978845608028654 * (v + 0.044715 * v * v * v)
            t = math.tanh(inner)
            dinner = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * v * v)
            grad = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * dinner
        else:
            cdf = 0.5 * (1.0 + math.erf(v * 0.7071067811865476))
            pdf = math.exp(-0.5 * v * v) * 0.3989422804014327
            grad = cdf + v * pdf
        flat_dx[i] = flat_dy[i] * grad


@numba.njit(cache=True, inline="always")
def _logsumexp(row):
    """log(sum(exp(row))), shifted by the row's maximum so no term overflows."""
    m = row[0]
    for j in range(1, row.shape[0]):
        if row[j] > m:
            m = row[j]
    total = 0.0
    for j in range(row.shape[0]):
        total += math.exp(row[j] - m)
    return m + math.log(total)


@numba.njit(parallel=True, cache=True)
def cross_entropy_rows(logits, targets, ignore_index, smoothing, dlogits, losses):
    """Per-row loss of log-softmax + NLL with label smoothing; dlogits gets d(loss_row)/d(logits).

    Row loss = (1 - eps) * (-logp[target]) + eps * mean_c(-logp[c]); ignored rows get 0.
    """
    n, c = logits.shape
    for r in numba.prange(n):
        t = targets[r]
        if t == ignore_index:
            losses[r] = 0.0
            dlogits[r, :] = 0.0
            continue
        lse = _logsumexp(logits[r])
        mean_neg_logp = 0.0
        for j in range(c):
            mean_neg_logp += lse - logits[r, j]
        mean_neg_logp /= c
        losses[r] = (1.0 - smoothing) * (lse - logits[r, t]) + smoothing * mean_neg_logp
        for j in range(c):
            dlogits[r, j] = math.exp(logits[r, j] - lse) - smoothing / c
        dlogits[r, t] -= 1.0 - smoothing


@numba.njit(parallel=True, cache=True)
def cross_entropy_rows_weighted(logits, targets, ignore_index, smoothing, weight, dlogits,
                                losses):
    """:func:`cross_entropy_rows` with class weights w, as PyTorch weighs them:
    row loss = (1 - eps) * w[target] * (-logp[target]) + eps / C * sum_c w[c] * (-logp[c])."""
    n, c = logits.shape
    w_total = 0.0
    for j in range(c):
        w_total += weight[j]
    for r in numba.prange(n):
        t = targets[r]
        if t == ignore_index:
            losses[r] = 0.0
            dlogits[r, :] = 0.0
            continue
        lse = _logsumexp(logits[r])
        smooth = 0.0
        for j in range(c):
            smooth += weight[j] * (lse - logits[r, j])
        wt = weight[t]
        losses[r] = (1.0 - smoothing) * wt * (lse - logits[r, t]) + smoothing / c * smooth
        scale = (1.0 - smoothing) * wt + smoothing * w_total / c
        for j in range(c):
            dlogits[r, j] = math.exp(logits[r, j] - lse) * scale - smoothing * weight[j] / c
        dlogits[r, t] -= (1.0 - smoothing) * wt


@numba.njit(parallel=True, cache=True)
def softmax_rows(x, y):
    n, c = x.shape
    for r in numba.prange(n):
        m = x[r, 0]
        for j in range(1, c):
            if x[r, j] > m:
                m = x[r, j]
        total = 0.0
        for j in range(c):
            e = math.exp(x[r, j] - m)
            y[r, j] = e
            total += e
        inv = 1.0 / total
        for j in range(c):
            y[r, j] *= inv


@numba.njit(parallel=True, cache=True)
def softmax_rows_backward(y, dy, dx):
    n, c = y.shape
    for r in numba.prange(n):
        dot = 0.0
        for j in range(c):
            dot += y[r, j] * dy[r, j]
        for j in range(c):
            dx[r, j] = y[r, j] * (dy[r, j] - dot)


@numba.njit(cache=True)
def embedding_scatter_add(ids, dy, grad, padding_idx):
    """grad[ids[i]] += dy[i]: touches only the rows used (sequential: ids may repeat)."""
    d = dy.shape[1]
    for i in range(ids.shape[0]):
        row = ids[i]
        if row == padding_idx:
            continue
        for j in range(d):
            grad[row, j] += dy[i, j]


def rows(a):
    """``a`` as a C-contiguous 2-D (rows × last dim) view or copy."""
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])
