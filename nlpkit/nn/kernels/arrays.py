"""Array primitives on the host (NumPy).

:mod:`nlpkit.nn.functional` writes each op once against this module or its CUDA
twin :mod:`nlpkit.nn.cuda.arrays` (same names, same arguments, same results),
chosen from the type of the arrays an op receives.  Results are new
C-contiguous arrays unless a name ends in ``_`` (in place).
"""
from __future__ import annotations

import numpy as np

from .blas import split_gemm
from .elementwise import col_sums


def _c(a):
    """``a`` C-contiguous (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    return np.ascontiguousarray(a) if np.ndim(a) else np.array(a)


def asarray(a, dtype=None):
    """``a`` as a host array (device arrays come back, scalars become 0-d arrays)."""
    if hasattr(a, "copy_to_host"):
        a = a.copy_to_host()
    return np.asarray(a, dtype=dtype)


def empty(shape, dtype):
    return np.empty(shape, dtype)


def zeros(shape, dtype):
    return np.zeros(shape, dtype)


def full(shape, value, dtype):
    return np.full(shape, value, dtype)


def fill_(a, value):
    a[...] = value
    return a


def copy(a):
    return np.array(a, copy=True)


def contiguous(a):
    return _c(a)


def reshape(a, shape):
    return _c(a).reshape(shape)


def astype(a, dtype):
    return a.astype(dtype, copy=False)


# ---------------------------------------------------------------- element-wise (broadcasting)
def add(a, b):
    return np.add(a, b)


def sub(a, b):
    return np.subtract(a, b)


def mul(a, b):
    return np.multiply(a, b)


def div(a, b):
    return np.divide(a, b)


def add_(a, b):
    """``a += b`` (b broadcasts to a)."""
    a += b
    return a


def neg(a):
    return np.negative(a)


def exp(a):
    return np.exp(a)


def log(a):
    return np.log(a)


def sqrt(a):
    return np.sqrt(a)


def power(a, p):
    return np.power(a, a.dtype.type(p))


def maximum(a, b):
    return np.maximum(a, b)


def minimum(a, b):
    return np.minimum(a, b)


_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}


def compare(op, a, b):
    """Boolean ``a op b`` (op: eq, ne, lt, le, gt, ge)."""
    return _COMPARE[op](a, b)


def logical_not(a):
    return np.logical_not(a)


def where(cond, a, b):
    return np.where(cond, a, b)


# ---------------------------------------------------------------- reductions and layout
def sum(a, axes=None, keepdims=False):
    return np.asarray(np.sum(a, axis=axes, keepdims=keepdims))


def max(a, axis, keepdims=False):
    """(values, first arg max) over ``axis``."""
    idx = np.argmax(a, axis=axis)
    vals = np.take_along_axis(a, np.expand_dims(idx, axis), axis)
    if not keepdims:
        vals = vals.squeeze(axis)
    else:
        idx = np.expand_dims(idx, axis)
    return _c(vals), idx


def argmax(a, axis, keepdims=False):
    idx = np.argmax(a, axis=axis)
    return np.expand_dims(idx, axis) if keepdims else idx


def max_backward(g, idx, shape, axis, keepdims):
    """The gradient of :func:`max`: ``g`` at each arg max, zeros elsewhere."""
    out = np.zeros(shape, g.dtype)
    if not keepdims:
        g, idx = np.expand_dims(g, axis), np.expand_dims(idx, axis)
    np.put_along_axis(out, idx, g, axis)
    return out


def sum_to(g, shape):
    """Sum ``g`` over the axes along which ``shape`` was broadcast to ``g.shape``."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and g.shape[i + lead] != 1)
    return np.sum(g, axis=axes, keepdims=True).reshape(shape)


def broadcast_to(a, shape):
    return _c(np.broadcast_to(a, shape))


def permute(a, axes):
    return _c(np.transpose(a, axes))


def getitem(a, key):
    return _c(a[key])


def index_backward(g, shape, key):
    """The gradient of ``a[key]``: zeros of ``shape`` with ``g`` added at ``key``
    (repeated indices add up)."""
    out = np.zeros(shape, g.dtype)
    parts = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, np.ndarray) and k.dtype != bool for k in parts):
        np.add.at(out, key, g)
    else:  # basic indexing (or a boolean mask): every position appears once
        out[key] = g
    return out


def concat(arrays, axis):
    return np.concatenate(arrays, axis=axis)


# ---------------------------------------------------------------- products
def gemm(a, b, trans_a=False, trans_b=False):
    """``op(a) @ op(b)`` of 2-D arrays (a new array).  A large product is split over
    Numba's threads (:func:`.blas.split_gemm`, why there); a smaller one goes through
    NumPy's BLAS (measured ~15% faster here than the BLAS Numba links for the layers'
    products).

    ``a.T @ b`` (a weight gradient: the inner dimension runs over every row of a batch)
    with fewer rows than columns is made as ``(b.T @ a).T``: OpenBLAS on two threads took
    3-4 times as long for the (256, 1024) gradient of a 1024 -> 256 linear layer over
    4096 rows as for the transposed product (one thread: the same time either way)."""
    c = split_gemm(a, b, trans_a, trans_b)
    if c is not None:
        return c
    if trans_a and not trans_b and a.shape[1] < b.shape[1]:
        return np.ascontiguousarray(np.dot(b.T, a).T)
    return np.dot(a.T if trans_a else a, b.T if trans_b else b)


def matmul(a, b, trans_a=False, trans_b=False):
    """NumPy's batched, broadcasting ``op(a) @ op(b)`` (op swaps the last two axes)."""
    if b.ndim == 2 and a.ndim > 2 and not trans_a:  # a stack times one matrix: one GEMM
        out = gemm(np.ascontiguousarray(a).reshape(-1, a.shape[-1]), b, False, trans_b)
        return out.reshape(a.shape[:-1] + (out.shape[-1],))
    return np.matmul(np.swapaxes(a, -1, -2) if trans_a else a,
                     np.swapaxes(b, -1, -2) if trans_b else b)


def colsum(a2, weights=None):
    """``(a2 [* weights]).sum(axis=0)`` of a 2-D array."""
    out = np.empty(a2.shape[1], np.result_type(a2, weights) if weights is not None else a2.dtype)
    return col_sums(a2, out, weights=weights, accumulate=False)
