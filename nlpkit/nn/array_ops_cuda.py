"""CUDA twins of the array glue (``array_ops.py``): device arrays in, device arrays out.

Joins, splits and transposes reuse the layout kernels of ``elementwise_kernels_cuda``
and ``conv_kernels_cuda`` on (rows, columns) views.  Kernels of its own:
``count_hits`` compares each row's arg max with its target and counts the hits
with an atomic add, so a training step sends back one integer, not the logits;
``scale_to_norm`` rescales each row to a given L2 norm (a thread per row);
the additive (Bahdanau) scores' broadcast add of (B, T, A) and (B, S, A) into
(B, T, S, A) and, for their backward, the tanh gradient summed over the keys or
the queries (one thread per output element, so no atomics).  The tanh and the
products with ``v`` reuse the activation kernel and ``gemm``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import cuda_support as S
from . import elementwise_kernels_cuda as E

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


def _rows(x):
    last = tuple(x.shape)[-1]
    return x.reshape(x.size // last if last else 0, last)


def concat_last(arrays):
    lead = tuple(arrays[0].shape)[:-1]
    out = S.empty(lead + (sum(tuple(a.shape)[-1] for a in arrays),), arrays[0].dtype)
    offset = 0
    for a in arrays:
        E.copy_cols_cuda(_rows(a), _rows(out), offset)
        offset += tuple(a.shape)[-1]
    return out


def _cols(x, offset, width):
    out = S.empty(tuple(x.shape)[:-1] + (width,), x.dtype)
    E.copy_cols_cuda(_rows(out), _rows(x), offset, to_dst=False)
    return out


def split_last(x, sections):
    width = tuple(x.shape)[-1] // sections
    return [_cols(x, i * width, width) for i in range(sections)]


def split_at(x, width):
    return _cols(x, 0, width), _cols(x, width, tuple(x.shape)[-1] - width)


def swap12(x):
    from .conv_kernels_cuda import swap12_cuda
    return swap12_cuda(x)


def copy(x):
    out = S.empty(x.shape, x.dtype)
    out.copy_to_device(x)
    return out


def add_all(arrays):
    out = copy(arrays[0])
    for a in arrays[1:]:
        E.axpy_cuda(a, out)
    return out


def mul(x, m):
    if not S.is_device_array(m):  # a host mask, broadcast to x's shape and sent once
        m = np.ascontiguousarray(np.broadcast_to(m, tuple(x.shape)), dtype=x.dtype)
    return E.mul_cuda(x, m)


def take_rows(table, index):
    index = np.asarray(index)
    flat = np.ascontiguousarray(index.reshape(-1), dtype=np.int64)
    return E.gather_rows_cuda(table, flat).reshape(*index.shape, table.shape[1])


def add_rows(index, values, n_rows):
    d = tuple(values.shape)[-1]
    out = S.zeros((n_rows, d), values.dtype)
    flat = np.ascontiguousarray(np.asarray(index).reshape(-1), dtype=np.int64)
    E.scatter_add_rows_cuda(flat, _rows(values), out)
    return out


def take(x, index, axis):
    from ..errors import NlpkitError
    shape = tuple(x.shape)
    if int(np.prod(shape[:axis], dtype=np.int64)) != 1:
        raise NlpkitError(f"take: on the device only the first axis longer than 1 can be "
                          f"indexed; got axis {axis} of shape {shape}")
    rest = shape[axis + 1:]
    rows = x.reshape(shape[axis], int(np.prod(rest, dtype=np.int64)))
    index = np.asarray(index, dtype=np.int64)
    return take_rows(rows, index).reshape(*(shape[:axis] + (len(index),) + rest))


def weighted_sum(values, weights):
    w = S.to_device(np.asarray(weights).reshape(-1, 1), values.dtype)
    total = S.zeros(1, values.dtype)
    E.col_sums_cuda(values.reshape(values.size, 1), total, weights=w)
    return float(total.copy_to_host()[0])


@functools.lru_cache(maxsize=None)
def _kernels():
    global cuda
    cuda = S.get_cuda()

    @cuda.jit
    def hits(x, targets, out):
        """out[0] += number of rows r whose first arg max equals targets[r]."""
        n, c = x.shape
        for r in range(cuda.grid(1), n, cuda.gridsize(1)):
            best, arg = x[r, 0], 0
            for j in range(1, c):
                if x[r, j] > best:
                    best, arg = x[r, j], j
            if arg == targets[r]:
                cuda.atomic.add(out, 0, 1)

    @cuda.jit
    def row_scale(x, size, out):
        """out[r] = x[r] * size / ||x[r]|| (0 for an all-zero row); a thread per row: the
        rows are few (a batch) and this runs once per training step."""
        n, d = x.shape
        for r in range(cuda.grid(1), n, cuda.gridsize(1)):
            ss = 0.0
            for j in range(d):
                ss += x[r, j] * x[r, j]
            scale = size / math.sqrt(ss) if ss > 0.0 else 0.0
            for j in range(d):
                out[r, j] = x[r, j] * scale

    return dict(hits=hits, row_scale=row_scale)


def scale_to_norm(x, size):
    shape = tuple(x.shape)
    rows = x.reshape(shape[0], x.size // shape[0] if shape[0] else 0)
    out = S.empty(tuple(rows.shape), x.dtype)
    if rows.shape[0] and rows.shape[1]:
        blocks, threads = S.grid_1d(rows.shape[0])
        _kernels()["row_scale"][blocks, threads](rows, float(size), out)
    return out.reshape(*shape)


def count_hits(logits, targets):
    x = _rows(logits)
    t = S.to_device(np.ascontiguousarray(np.asarray(targets).reshape(-1), dtype=np.int64))
    out = S.to_device(np.zeros(1, np.int64))
    if x.shape[0] and x.shape[1]:
        blocks, threads = S.grid_1d(x.shape[0])
        _kernels()["hits"][blocks, threads](x, t, out)
    return int(out.copy_to_host()[0])


@functools.lru_cache(maxsize=None)
def _additive_kernels(dtype_name):
    global cuda
    cuda = S.get_cuda()
    ONE = np.dtype(dtype_name).type(1)  # typed: float32 stays float32

    @cuda.jit
    def pair_sum(x, y, out):
        """out[b, t, s, :] = x[b, t, :] + y[b, s, :]."""
        nb, nt, ns, na = out.shape
        for i in range(cuda.grid(1), nb * nt * ns * na, cuda.gridsize(1)):
            a = i % na
            r = i // na
            s = r % ns
            r //= ns
            t = r % nt
            b = r // nt
            out[b, t, s, a] = x[b, t, a] + y[b, s, a]

    @cuda.jit
    def tanh_sum(ds, v, e, out, over_keys):
        """out[b, i, a] = sum over j of ds * v[a] * (1 - e * e) at query i, key j when
        over_keys, else at query j, key i (the CPU's product order, then the sum)."""
        nb, nt, ns, na = e.shape
        n_i = out.shape[1]
        n_j = ns if over_keys else nt
        for k in range(cuda.grid(1), nb * n_i * na, cuda.gridsize(1)):
            a = k % na
            r = k // na
            i = r % n_i
            b = r // n_i
            acc = ONE - ONE
            for j in range(n_j):
                if over_keys:
                    y = e[b, i, j, a]
                    acc += ds[b, i, j] * v[a] * (ONE - y * y)
                else:
                    y = e[b, j, i, a]
                    acc += ds[b, j, i] * v[a] * (ONE - y * y)
            out[b, i, a] = acc

    return dict(pair_sum=pair_sum, tanh_sum=tanh_sum)


def _launch_additive(name, n, *args):
    S.launch_1d(_additive_kernels, name, n, args[0].dtype, *args)


def additive_scores(pq, pk, v):
    from .matmul_cuda import gemm
    b, t, a = pq.shape
    e = S.empty((b, t, pk.shape[1], a), pq.dtype)
    _launch_additive("pair_sum", e.size, pq, pk, e)
    E.activation_cuda("tanh", e, out=e)
    return gemm(_rows(e), v.reshape(a, 1)).reshape(*e.shape[:3]), e


def additive_scores_backward(ds, v, e, grad_v):
    from .matmul_cuda import gemm
    b, t, s, a = e.shape
    gemm(ds.reshape(1, b * t * s), _rows(e), out=grad_v.reshape(1, a), beta=1.0)
    d_pq, d_pk = S.empty((b, t, a), e.dtype), S.empty((b, s, a), e.dtype)
    for out, over_keys in ((d_pq, True), (d_pk, False)):
        _launch_additive("tanh_sum", out.size, ds, v, e, out, over_keys)
    return d_pq, d_pk
