"""CUDA twins of the element-wise and row-wise kernels (:mod:`nlpkit.nn.kernels.elementwise`).

* Activations (tanh, sigmoid, ReLU, GELU exact/tanh) forward and backward and binary
  cross-entropy: one thread per element, grid-stride, over flat C-contiguous device
  arrays; the per-element math is :mod:`nlpkit.nn.kernels.scalar_math`, shared with
  the CPU kernels.
* Layer norm and softmax cross-entropy: one block per row, its threads stride
  over the columns and combine through shared-memory tree reductions
  (``support.reductions``); parameter gradients are column sums.
* Embedding gather/scatter, head split/merge and column copies; small helpers:
  ``y += a * x``, bias add, column sums.

Same names, arguments and results as the CPU kernels; device arrays in and out.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels import scalar_math
from ..kernels.elementwise import KINDS
from . import support as S

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _flat(dtype_name):
    global cuda
    cuda = S.get_cuda()
    M = scalar_math.compiled(cuda.jit(device=True))
    ZERO = np.dtype(dtype_name).type(0)
    act, act_grad, bce, sigmoid = M["act"], M["act_grad"], M["bce_logits"], M["sigmoid"]

    @cuda.jit
    def act_forward(x, y, kind):
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            y[i] = act(kind, x[i])

    @cuda.jit
    def act_backward(x, y, dy, dx, kind):
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            dx[i] = dy[i] * act_grad(kind, x[i], y[i])

    @cuda.jit
    def axpy(x, y, a):
        """y += a * x (flat)."""
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            y[i] += a * x[i]

    @cuda.jit
    def add_bias(y, bias):
        """y[r, :] += bias (2-D)."""
        n, d = y.shape
        for i in range(cuda.grid(1), n * d, cuda.gridsize(1)):
            y[i // d, i % d] += bias[i % d]

    @cuda.jit
    def col_sums(x, w, out, use_w, accumulate):
        """out[j] (+)= sum_r x[r, j] (* w[r, j] when use_w): one thread per column."""
        n, d = x.shape
        for j in range(cuda.grid(1), d, cuda.gridsize(1)):
            acc = ZERO
            for r in range(n):
                acc += x[r, j] * w[r, j] if use_w else x[r, j]
            out[j] = out[j] + acc if accumulate else acc

    @cuda.jit
    def bce_logits(x, y, losses, d):
        """Binary cross-entropy from logits, stably: the losses and d loss / d x = σ(x) - y."""
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            losses[i] = bce(x[i], y[i])
            d[i] = sigmoid(x[i]) - y[i]

    return dict(act_forward=act_forward, act_backward=act_backward, axpy=axpy,
                add_bias=add_bias, col_sums=col_sums, bce_logits=bce_logits)


def _flat_view(a):
    return a.reshape(int(np.prod(a.shape)))


def _launch_flat(name, n, *args):
    S.launch_1d(_flat, name, n, args[0].dtype, *args)


def activation(kind, x):
    """``kind`` ('tanh', 'sigmoid', 'relu', 'gelu', 'gelu_tanh') of device array ``x``."""
    x = S.to_device(x)
    out = S.empty(x.shape, x.dtype)
    _launch_flat("act_forward", x.size, _flat_view(x), _flat_view(out), KINDS[kind])
    return out


def activation_grad(kind, x, y, dy):
    """Gradient with respect to ``x`` of ``y = kind(x)`` given ``dy``."""
    x, y, dy = S.to_device(x), S.to_device(y), S.to_device(dy)
    out = S.empty(x.shape, x.dtype)
    _launch_flat("act_backward", x.size, _flat_view(x), _flat_view(y), _flat_view(dy),
                 _flat_view(out), KINDS[kind])
    return out


def bce_with_logits(x, y):
    """(per-element losses, σ(x) - y), shaped as ``x``."""
    y = S.to_device(y, x.dtype)
    losses, d = S.empty(x.shape, x.dtype), S.empty(x.shape, x.dtype)
    _launch_flat("bce_logits", x.size, _flat_view(x), _flat_view(y), _flat_view(losses),
                 _flat_view(d))
    return losses, d


def axpy(x, y, a=1.0):
    """``y += a * x`` in place (same shapes); returns ``y``."""
    _launch_flat("axpy", y.size, _flat_view(S.to_device(x, y.dtype)), _flat_view(y),
                 S.scalar(y.dtype, a))
    return y


def add_bias(y2, bias):
    """``y2[r, :] += bias`` in place for a 2-D device array."""
    _launch_flat("add_bias", y2.size, y2, S.to_device(bias, y2.dtype))
    return y2


def col_sums(x2, out, weights=None, accumulate=True):
    """``out (+)= (x2 [* weights]).sum(axis=0)`` for 2-D device arrays."""
    w = x2 if weights is None else weights
    if x2.shape[1]:
        blocks, threads = S.grid_1d(x2.shape[1])
        _flat(x2.dtype.name)["col_sums"][blocks, threads](x2, w, out, weights is not None,
                                                          bool(accumulate))
    return out


# ------------------------------------------------------------------ row kernels
@functools.lru_cache(maxsize=None)
def _rows(threads, dtype_name):
    global cuda
    cuda = S.get_cuda()
    block_sum, block_max = S.reductions()
    dtype = np.dtype(dtype_name).type  # the scalar class, as cuda.shared.array expects
    ONE = dtype(1)

    @cuda.jit
    def layer_norm_forward(x, weight, bias, eps, y, xhat, rstd):
        buf = cuda.shared.array(threads, dtype)
        n, d = x.shape
        tid = cuda.threadIdx.x
        zero = eps - eps
        for r in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            part = zero
            for j in range(tid, d, threads):
                part += x[r, j]
            mean = block_sum(buf, part) / dtype(d)
            part = zero
            for j in range(tid, d, threads):
                diff = x[r, j] - mean
                part += diff * diff
            var = block_sum(buf, part) / dtype(d)
            s = ONE / math.sqrt(var + eps)
            if tid == 0:
                rstd[r] = s
            for j in range(tid, d, threads):
                h = (x[r, j] - mean) * s
                xhat[r, j] = h
                y[r, j] = h * weight[j] + bias[j]

    @cuda.jit
    def layer_norm_backward(dy, xhat, rstd, weight, dx):
        buf = cuda.shared.array(threads, dtype)
        n, d = dy.shape
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            p1 = rstd[r] - rstd[r]
            p2 = p1
            for j in range(tid, d, threads):
                g = dy[r, j] * weight[j]
                p1 += g
                p2 += g * xhat[r, j]
            m1 = block_sum(buf, p1) / dtype(d)
            m2 = block_sum(buf, p2) / dtype(d)
            for j in range(tid, d, threads):
                dx[r, j] = rstd[r] * (dy[r, j] * weight[j] - m1 - xhat[r, j] * m2)

    @cuda.jit(device=True)
    def row_logsumexp(buf, logits, r, tid, c, zero):
        """log(sum(exp(logits[r]))) over the block's threads, shifted by the row's maximum."""
        part = logits[r, 0]
        for j in range(tid, c, threads):
            if logits[r, j] > part:
                part = logits[r, j]
        m = block_max(buf, part)
        part = zero
        for j in range(tid, c, threads):
            part += math.exp(logits[r, j] - m)
        return m + math.log(block_sum(buf, part))

    @cuda.jit
    def cross_entropy_rows(logits, targets, ignore_index, smoothing, dlogits, losses):
        buf = cuda.shared.array(threads, dtype)
        n, c = logits.shape
        tid = cuda.threadIdx.x
        zero = smoothing - smoothing
        for r in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            t = targets[r]
            if t == ignore_index:  # the same for the whole block: no thread skips a sync
                if tid == 0:
                    losses[r] = zero
                for j in range(tid, c, threads):
                    dlogits[r, j] = zero
                continue
            lse = row_logsumexp(buf, logits, r, tid, c, zero)
            mean_neg_logp = zero
            if smoothing > zero:  # as the CPU twin: a masked (-inf) logit would make it NaN
                part = zero
                for j in range(tid, c, threads):
                    part += lse - logits[r, j]
                mean_neg_logp = block_sum(buf, part) / dtype(c)
            if tid == 0:
                losses[r] = (ONE - smoothing) * (lse - logits[r, t]) + smoothing * mean_neg_logp
            for j in range(tid, c, threads):
                v = math.exp(logits[r, j] - lse) - smoothing / dtype(c)
                if j == t:
                    v -= ONE - smoothing
                dlogits[r, j] = v

    @cuda.jit
    def cross_entropy_rows_weighted(logits, targets, ignore_index, smoothing, weight, w_total,
                                    dlogits, losses):
        """cross_entropy_rows with class weights (w_total = weight.sum(), from the host)."""
        buf = cuda.shared.array(threads, dtype)
        n, c = logits.shape
        tid = cuda.threadIdx.x
        zero = smoothing - smoothing
        eps_c = smoothing / dtype(c)
        for r in range(cuda.blockIdx.x, n, cuda.gridDim.x):
            t = targets[r]
            if t == ignore_index:
                if tid == 0:
                    losses[r] = zero
                for j in range(tid, c, threads):
                    dlogits[r, j] = zero
                continue
            lse = row_logsumexp(buf, logits, r, tid, c, zero)
            smooth = zero
            if smoothing > zero:
                part = zero
                for j in range(tid, c, threads):
                    part += weight[j] * (lse - logits[r, j])
                smooth = block_sum(buf, part)
            wt = weight[t]
            if tid == 0:
                losses[r] = (ONE - smoothing) * wt * (lse - logits[r, t]) + eps_c * smooth
            scale = (ONE - smoothing) * wt + eps_c * w_total
            for j in range(tid, c, threads):
                v = math.exp(logits[r, j] - lse) * scale - eps_c * weight[j]
                if j == t:
                    v -= (ONE - smoothing) * wt
                dlogits[r, j] = v

    return dict(layer_norm_forward=layer_norm_forward, layer_norm_backward=layer_norm_backward,
                cross_entropy_rows=cross_entropy_rows,
                cross_entropy_rows_weighted=cross_entropy_rows_weighted)


def _row_kernel(name, x):
    blocks, threads = S.grid_rows(x.shape[0])
    return _rows(threads, x.dtype.name)[name][blocks, threads]


def layer_norm_forward(x, weight, bias, eps, y, xhat, rstd):
    """GPU twin of ``kernels.elementwise.layer_norm_forward`` (same arguments)."""
    if x.shape[0]:
        _row_kernel("layer_norm_forward", x)(x, weight, bias, S.scalar(x.dtype, eps), y, xhat, rstd)


def layer_norm_backward(dy, xhat, rstd, weight, dx):
    """GPU twin of ``kernels.elementwise.layer_norm_backward``."""
    if dy.shape[0]:
        _row_kernel("layer_norm_backward", dy)(dy, xhat, rstd, weight, dx)


def cross_entropy_rows(logits, targets, ignore_index, smoothing, dlogits, losses):
    """GPU twin of ``kernels.elementwise.cross_entropy_rows`` (targets int64)."""
    if logits.shape[0]:
        _row_kernel("cross_entropy_rows", logits)(logits, targets, np.int64(ignore_index),
                                                  S.scalar(logits.dtype, smoothing), dlogits,
                                                  losses)


def cross_entropy_rows_weighted(logits, targets, ignore_index, smoothing, weight, dlogits,
                                losses):
    """GPU twin of ``kernels.elementwise.cross_entropy_rows_weighted`` (weight (C,))."""
    if logits.shape[0]:
        w = S.to_host(weight).astype(logits.dtype)
        _row_kernel("cross_entropy_rows_weighted", logits)(
            logits, targets, np.int64(ignore_index), S.scalar(logits.dtype, smoothing),
            S.to_device(w), S.scalar(logits.dtype, w.sum(dtype=np.float64)), dlogits, losses)


# ------------------------------------------------------------------ layouts, embeddings
@functools.lru_cache(maxsize=None)
def _moves(dtype_name):
    global cuda
    cuda = S.get_cuda()

    @cuda.jit
    def heads(x, out, batch_first, n_heads, to_heads):
        """(L, N, E) or (N, L, E) <-> (N·heads, L, d), either way."""
        n_groups, length, d = out.shape
        for e in range(cuda.grid(1), n_groups * length * d, cuda.gridsize(1)):
            g = e // (length * d)
            rest = e - g * length * d
            i = rest // d
            c = rest - i * d
            n = g // n_heads
            col = (g - n * n_heads) * d + c
            if batch_first:
                if to_heads:
                    out[g, i, c] = x[n, i, col]
                else:
                    x[n, i, col] = out[g, i, c]
            else:
                if to_heads:
                    out[g, i, c] = x[i, n, col]
                else:
                    x[i, n, col] = out[g, i, c]

    @cuda.jit
    def gather_rows(table, ids, out):
        n, d = out.shape
        for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
            r = e // d
            out[r, e - r * d] = table[ids[r], e - r * d]

    @cuda.jit
    def scatter_add_rows(ids, dy, grad, padding_idx):
        """grad[ids[i]] += dy[i] with atomics (ids may repeat); padding_idx gets nothing."""
        n, d = dy.shape
        for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
            r = e // d
            row = ids[r]
            if row != padding_idx:
                cuda.atomic.add(grad, (row, e - r * d), dy[r, e - r * d])

    return dict(heads=heads, gather_rows=gather_rows,
                scatter_add_rows=scatter_add_rows)


def _launch_moves(name, n, *args):
    S.launch_1d(_moves, name, n, args[0].dtype, *args)


def split_heads(x, n_heads, batch_first):
    """Caller's layout (L, N, E) / (N, L, E) -> contiguous (N·heads, L, d)."""
    a, b, e = x.shape
    n, length = (a, b) if batch_first else (b, a)
    out = S.empty((n * n_heads, length, e // n_heads), x.dtype)
    _launch_moves("heads", out.size, x, out, bool(batch_first), int(n_heads), True)
    return out


def merge_heads(xh, n_heads, batch_first, out=None):
    """(N·heads, L, d) -> the caller's layout (L, N, E) / (N, L, E)."""
    g, length, d = xh.shape
    n = g // n_heads
    shape = (n, length, n_heads * d) if batch_first else (length, n, n_heads * d)
    out = S.empty(shape, xh.dtype) if out is None else out
    _launch_moves("heads", xh.size, out, xh, bool(batch_first), int(n_heads), False)
    return out


def gather_rows(table, ids):
    out = S.empty((ids.shape[0], table.shape[1]), table.dtype)
    _launch_moves("gather_rows", out.size, table, S.to_device(ids, np.int64), out)
    return out


def scatter_add_rows(ids, dy2, grad, padding_idx=-1):
    """Twin of ``kernels.elementwise.embedding_scatter_add`` (atomic adds)."""
    _launch_moves("scatter_add_rows", dy2.size, S.to_device(ids, np.int64), dy2, grad,
                  np.int64(padding_idx))
