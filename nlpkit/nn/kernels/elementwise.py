"""Element-wise and row-wise kernels (CPU): activations, layer norm, softmax cross-entropy,
binary cross-entropy, embedding gather/scatter.  Twin: :mod:`nlpkit.nn.cuda.elementwise`
(same names and arguments).

Row kernels work on 2-D C-contiguous arrays (rows × features) and compile once per
dtype, on one thread and in parallel (:func:`.jit.by_size` picks by the size of the work).
Rows are independent, so ``prange`` over rows needs no atomics; the
embedding scatter is sequential (rows may repeat).  The per-element math of the
activations and of binary cross-entropy is :mod:`.scalar_math`, shared with the twin.
"""
import math

import numba
import numpy as np

from . import scalar_math
from .attention import exp_sum
from .jit import PARALLEL_MIN, by_size

_M = scalar_math.compiled(numba.njit(inline="always", cache=True))
_act, _act_grad, _bce, _sigmoid = _M["act"], _M["act_grad"], _M["bce_logits"], _M["sigmoid"]
_relu, _relu_grad = _M["relu"], _M["relu_grad"]
# Reductions may be reassociated (so a row's sums vectorise: a float32 layer norm's rows
# took 4 ms for 4096 x 256, one add after another); no 'nnan'/'ninf', so NaN and inf
# still propagate, and no approximate functions.
SUM_FLAGS = {"nsz", "contract", "reassoc"}
KINDS = {"tanh": scalar_math.TANH, "sigmoid": scalar_math.SIGMOID, "relu": scalar_math.RELU,
         "gelu": scalar_math.GELU, "gelu_tanh": scalar_math.GELU_TANH}


@by_size
def _act_kernel(x, y, kind):
    for i in numba.prange(x.shape[0]):
        y[i] = _act(kind, x[i])


@by_size
def _act_grad_kernel(x, y, dy, dx, kind):
    for i in numba.prange(x.shape[0]):
        dx[i] = dy[i] * _act_grad(kind, x[i], y[i])


def _sigmoid_np(x):
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out


# ReLU has kernels of its own beside _act_kernel's: without the per-element switch on
# ``kind`` and with a zero of the array's type, their loops vectorise.
@by_size
def _relu_kernel(x, y, zero):
    for i in numba.prange(x.shape[0]):
        y[i] = _relu(x[i], zero)


@by_size
def _relu_grad_kernel(x, dy, dx, zero):
    for i in numba.prange(x.shape[0]):
        dx[i] = _relu_grad(x[i], dy[i], zero)


def activation(kind, x):
    """``kind`` ('tanh', 'sigmoid', 'relu', 'gelu', 'gelu_tanh') of ``x``, a new array.
    tanh and sigmoid through NumPy's vectorised loops (faster here than a scalar
    kernel); ReLU in a kernel (NumPy's one thread took 3 ms for a transformer layer's
    4M activations); GELU through the shared scalar math."""
    if kind == "tanh":
        return np.tanh(x)
    if kind == "relu":
        if not (np.ndim(x) and x.flags.c_contiguous):  # a scalar or a view: NumPy's, no copy
            return np.maximum(x, 0)
        y = np.empty_like(x)
        _relu_kernel(x.reshape(-1), y.reshape(-1), x.dtype.type(0))
        return y
    if kind == "sigmoid":
        return _sigmoid_np(x)
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _act_kernel(x.reshape(-1), y.reshape(-1), KINDS[kind])
    return y


def activation_grad(kind, x, y, dy):
    """The gradient with respect to ``x`` of ``y = kind(x)`` given ``dy``."""
    if kind == "tanh":
        return dy * (1 - y * y)
    if kind == "relu":
        if not (np.ndim(x) and np.shape(x) == np.shape(dy) and x.flags.c_contiguous
                and dy.flags.c_contiguous):  # broadcast, a scalar or a view: NumPy's
            return dy * (x > 0)
        dx = np.empty_like(dy)
        _relu_grad_kernel(x.reshape(-1), dy.reshape(-1), dx.reshape(-1), dy.dtype.type(0))
        return dx
    if kind == "sigmoid":
        return dy * y * (1 - y)
    x, y, dy = np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(dy)
    dx = np.empty_like(x)
    _act_grad_kernel(x.reshape(-1), y.reshape(-1), dy.reshape(-1), dx.reshape(-1), KINDS[kind])
    return dx


@by_size
def _bce_kernel(x, y, losses, d):
    for i in numba.prange(x.shape[0]):
        losses[i] = _bce(x[i], y[i])
        d[i] = _sigmoid(x[i]) - y[i]


def bce_with_logits(x, y):
    """(per-element losses, σ(x) - y) of binary cross-entropy from logits ``x``."""
    x = np.ascontiguousarray(x)
    y = np.ascontiguousarray(y, dtype=x.dtype)
    losses, d = np.empty_like(x), np.empty_like(x)
    _bce_kernel(x.reshape(-1), y.reshape(-1), losses.reshape(-1), d.reshape(-1))
    return losses, d


@by_size(fastmath=SUM_FLAGS)
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


@by_size(fastmath=SUM_FLAGS)
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
def _col_sums_parts(x, w, use_w, parts):
    """parts[k] += the sums of the k-th slice of x's rows (times w's when use_w): one
    slice a thread, the columns vectorised; the caller adds the parts."""
    n_parts, d = parts.shape
    n = x.shape[0]
    for k in numba.prange(n_parts):
        acc = parts[k]
        for r in range(n * k // n_parts, n * (k + 1) // n_parts):
            if use_w:
                for j in range(d):
                    acc[j] += x[r, j] * w[r, j]
            else:
                for j in range(d):
                    acc[j] += x[r, j]


def col_sums(x2, out, weights=None, accumulate=True):
    """``out (+)= (x2 [* weights]).sum(axis=0)`` for 2-D arrays.  Large ones are summed
    by slices of rows over Numba's threads (NumPy sums on one: a bias gradient of a
    transformer's 4096 x 1024 activations took about 2 ms)."""
    w = x2 if weights is None else weights
    if x2.size < PARALLEL_MIN or numba.get_num_threads() < 2 or not x2.flags.c_contiguous \
            or not w.flags.c_contiguous or w.dtype != x2.dtype or w.shape != x2.shape:
        sums = (x2 if weights is None else x2 * weights).sum(axis=0)
    else:
        parts = np.zeros((numba.get_num_threads(), x2.shape[1]), x2.dtype)
        _col_sums_parts(x2, w, weights is not None, parts)
        sums = parts.sum(axis=0)
    if accumulate:
        out += sums
    else:
        out[...] = sums
    return out


@numba.njit(cache=True, inline="always")
def _softmax_into(row, out):
    """out = softmax(row), each exp computed once (float32: :func:`.attention.exp_sum`'s
    vectorised exp); returns log(sum(exp(row))).  The loss kernels took an exp of every
    logit twice, for the log-sum-exp and for the gradient: 22% of a word LM's step."""
    n = row.shape[0]
    m = row[0]
    finite = True  # no +inf or NaN (masked -inf logits are fine)
    for j in range(n):
        if row[j] > m:
            m = row[j]
        if not row[j] < np.inf:
            finite = False
    if finite and m > -np.inf:
        total = exp_sum(row, m, out, n, np.empty(n, np.int32))
    else:  # exp as it comes, so +inf or NaN logits (a diverged model) give a NaN loss
        total = m - m
        for j in range(n):
            e = math.exp(row[j] - m)
            out[j] = e
            total += e
    inv = 1 / total
    for j in range(n):
        out[j] *= inv
    return m + math.log(total)


@by_size
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
        lse = _softmax_into(logits[r], dlogits[r])
        mean_neg_logp = 0.0
        if smoothing > 0:  # only then: a masked (-inf) logit makes it inf, and 0 * inf NaN
            for j in range(c):
                mean_neg_logp += lse - logits[r, j]
            mean_neg_logp /= c
            for j in range(c):
                dlogits[r, j] -= smoothing / c
        losses[r] = (1.0 - smoothing) * (lse - logits[r, t]) + smoothing * mean_neg_logp
        dlogits[r, t] -= 1.0 - smoothing


@by_size
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
        lse = _softmax_into(logits[r], dlogits[r])
        smooth = 0.0
        if smoothing > 0:  # as in cross_entropy_rows
            for j in range(c):
                smooth += weight[j] * (lse - logits[r, j])
        wt = weight[t]
        losses[r] = (1.0 - smoothing) * wt * (lse - logits[r, t]) + smoothing / c * smooth
        scale = (1.0 - smoothing) * wt + smoothing * w_total / c
        for j in range(c):
            dlogits[r, j] = dlogits[r, j] * scale - smoothing * weight[j] / c
        dlogits[r, t] -= (1.0 - smoothing) * wt


def gather_rows(table, ids):
    """``table[ids]`` for a 2-D table and 1-D int64 ids."""
    return table[ids]


@numba.njit(cache=True)
def scatter_add_rows(ids, dy, grad, padding_idx):
    """grad[ids[i]] += dy[i]: touches only the rows used (sequential: ids may repeat)."""
    d = dy.shape[1]
    for i in range(ids.shape[0]):
        row = ids[i]
        if row == padding_idx:
            continue
        for j in range(d):
            grad[row, j] += dy[i, j]
