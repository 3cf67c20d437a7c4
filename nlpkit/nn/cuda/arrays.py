"""Array primitives on the GPU: the twin of :mod:`nlpkit.nn.kernels.arrays` (same names,
arguments and results), so :mod:`nlpkit.nn.functional` writes each op once.

Device arrays here are always C-contiguous.  Element-wise kernels run one thread per
output element (grid-stride); an operand of another shape is read through an index
map (its flat index for each output element) built on the host with NumPy's own
broadcasting, indexing or transposition rules, then sent once, so every layout op
(broadcast, permute, getitem, concat, reductions over any axes) is one gather or
scatter kernel and cannot disagree with NumPy.  Maps are cached per shape.  This
is correct for any shape; dedicated layout kernels would be faster on a real GPU
(not measured: no GPU was available).
"""
from __future__ import annotations

import builtins
import functools
import math

import numpy as np

from . import support as S
from .elementwise import add_bias, axpy, col_sums
from .matmul import gemm as _gemm

cuda = None  # numba.cuda, set on first use

# operation codes of the element-wise kernels
_BIN = {"add": 0, "sub": 1, "mul": 2, "div": 3, "maximum": 4, "minimum": 5}
_CMP = {"eq": 0, "ne": 1, "lt": 2, "le": 3, "gt": 4, "ge": 5}
_UN = {"neg": 0, "exp": 1, "log": 2, "sqrt": 3, "power": 4}


@functools.lru_cache(maxsize=None)
def _kernels():
    global cuda
    cuda = S.get_cuda()

    @cuda.jit(device=True)
    def operand(a, ia, mode, i, s):
        """a[i] (mode 0), a[ia[i]] (mode 1: an index map) or the scalar s (mode 2)."""
        if mode == 0:
            return a[i]
        if mode == 1:
            return a[ia[i]]
        return s

    @cuda.jit
    def binary(a, ia, ma, sa, b, ib, mb, sb, out, op):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            x = operand(a, ia, ma, i, sa)
            y = operand(b, ib, mb, i, sb)
            if op == 0:
                r = x + y
            elif op == 1:
                r = x - y
            elif op == 2:
                r = x * y
            elif op == 3:
                r = x / y
            elif op == 4:
                r = x if x >= y else y
            else:
                r = x if x <= y else y
            out[i] = r

    @cuda.jit
    def compare(a, ia, ma, sa, b, ib, mb, sb, out, op):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            x = operand(a, ia, ma, i, sa)
            y = operand(b, ib, mb, i, sb)
            if op == 0:
                r = x == y
            elif op == 1:
                r = x != y
            elif op == 2:
                r = x < y
            elif op == 3:
                r = x <= y
            elif op == 4:
                r = x > y
            else:
                r = x >= y
            out[i] = r

    @cuda.jit
    def where(c, ic, mc, a, ia, ma, sa, b, ib, mb, sb, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            take = c[i] if mc == 0 else c[ic[i]]
            out[i] = operand(a, ia, ma, i, sa) if take else operand(b, ib, mb, i, sb)

    @cuda.jit
    def unary(a, out, op, p):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            x = a[i]
            if op == 0:
                out[i] = -x
            elif op == 1:
                out[i] = math.exp(x)
            elif op == 2:
                out[i] = math.log(x)
            elif op == 3:
                out[i] = math.sqrt(x)
            else:
                out[i] = x ** p

    @cuda.jit
    def logical_not(a, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = not a[i]

    @cuda.jit
    def gather(src, idx, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = src[idx[i]]

    @cuda.jit
    def scatter(src, idx, out):
        """out[idx[i]] = src[i] (idx without repeats)."""
        for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
            out[idx[i]] = src[i]

    @cuda.jit
    def scatter_add(src, idx, out):
        """out[idx[i]] += src[i] (repeats add up: atomics)."""
        for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
            cuda.atomic.add(out, idx[i], src[i])

    @cuda.jit
    def row_sum(x, out):
        """out[m] = sum_r x[m, r]: a thread per row."""
        n, r = x.shape
        for m in range(cuda.grid(1), n, cuda.gridsize(1)):
            acc = x[m, 0] - x[m, 0]
            for j in range(r):
                acc += x[m, j]
            out[m] = acc

    @cuda.jit
    def row_max(x, out, idx):
        """out[m] = max_r x[m, r], idx[m] its first arg max: a thread per row."""
        n, r = x.shape
        for m in range(cuda.grid(1), n, cuda.gridsize(1)):
            best, arg = x[m, 0], 0
            for j in range(1, r):
                if x[m, j] > best:
                    best, arg = x[m, j], j
            out[m] = best
            idx[m] = arg

    @cuda.jit
    def put_rows(g, idx, pos, out, r):
        """out[pos[m * r + idx[m]]] = g[m] (the gradient of a row max)."""
        n_rows = g.shape[0]
        for m in range(cuda.grid(1), n_rows, cuda.gridsize(1)):
            out[pos[m * r + idx[m]]] = g[m]

    return dict(binary=binary, compare=compare, where=where, unary=unary,
                logical_not=logical_not, gather=gather, scatter=scatter,
                scatter_add=scatter_add, row_sum=row_sum, row_max=row_max, put_rows=put_rows)


def _launch(name, n, *args):
    if n:
        blocks, threads = S.grid_1d(n)
        _kernels()[name][blocks, threads](*args)


def _flat(a):
    return a.reshape(int(a.size))


# ---------------------------------------------------------------- index maps (host-built, cached)
@functools.lru_cache(maxsize=256)
def _map_host(kind, shape, arg):
    n = int(np.prod(shape, dtype=np.int64))
    grid = np.arange(n, dtype=np.int64).reshape(shape)
    if kind == "broadcast":
        return np.ascontiguousarray(np.broadcast_to(grid, arg)).reshape(-1)
    if kind == "permute":
        return np.ascontiguousarray(grid.transpose(arg)).reshape(-1)
    raise ValueError(kind)


@functools.lru_cache(maxsize=256)
def _map(kind, shape, arg):
    return S.to_device(_map_host(kind, shape, arg))


def _index_map(shape, key):
    """Flat indices of ``np.empty(shape)[key]`` (host), its shape."""
    n = int(np.prod(shape, dtype=np.int64))
    sel = np.arange(n, dtype=np.int64).reshape(shape)[key]
    return np.ascontiguousarray(sel).reshape(-1), sel.shape


# ---------------------------------------------------------------- creation and conversion
def asarray(a, dtype=None):
    """``a`` as a device array (host arrays and numbers are copied over)."""
    if S.is_device_array(a):
        if dtype is None or np.dtype(a.dtype) == np.dtype(dtype):
            return a
        return S.to_device(a.copy_to_host().astype(dtype))
    return S.to_device(np.ascontiguousarray(np.asarray(a, dtype=dtype)))


def empty(shape, dtype):
    return S.empty(tuple(shape), dtype)


def zeros(shape, dtype):
    return S.zeros(tuple(shape), dtype)


def full(shape, value, dtype):
    return S.fill(S.empty(tuple(shape), dtype), value)


def fill_(a, value):
    return S.fill(a, value)


def copy(a):
    out = S.empty(a.shape, a.dtype)
    out.copy_to_device(a)
    return out


def contiguous(a):
    return asarray(a)


def reshape(a, shape):
    shape = tuple(int(s) for s in shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        shape = tuple(int(a.size) // builtins.max(known, 1) if s == -1 else s for s in shape)
    return a.reshape(shape) if shape else a.reshape(())


def astype(a, dtype):
    return asarray(a, dtype)


# ---------------------------------------------------------------- element-wise
def _is_scalar(b):
    return np.ndim(b) == 0 and not S.is_device_array(b)


def _operand(x, out_shape, dtype):
    """(array, index map, mode, scalar) of one operand for the element-wise kernels."""
    if _is_scalar(x):
        dummy = _map("broadcast", (1,), (1,))
        return dummy, dummy, 2, np.dtype(dtype).type(np.asarray(x))
    x = asarray(x)
    shape = tuple(x.shape)
    if shape == out_shape:
        return _flat(x), _flat(x), 0, np.dtype(dtype).type(0)
    return _flat(x), _map("broadcast", shape, out_shape), 1, np.dtype(dtype).type(0)


def _out_shape(*arrays):
    return tuple(np.broadcast_shapes(*[tuple(np.shape(a)) if not S.is_device_array(a)
                                       else tuple(a.shape) for a in arrays]))


def _dtype_of(*arrays):
    for a in arrays:
        if S.is_device_array(a):
            return np.dtype(a.dtype)
    return np.result_type(*arrays)


def _binary(op, a, b):
    shape = _out_shape(a, b)
    dtype = _dtype_of(a, b)
    out = S.empty(shape, dtype)
    _launch("binary", int(np.prod(shape, dtype=np.int64)), *_operand(a, shape, dtype),
            *_operand(b, shape, dtype), _flat(out), _BIN[op])
    return out


def add(a, b):
    return _binary("add", a, b)


def sub(a, b):
    return _binary("sub", a, b)


def mul(a, b):
    return _binary("mul", a, b)


def div(a, b):
    return _binary("div", a, b)


def maximum(a, b):
    return _binary("maximum", a, b)


def minimum(a, b):
    return _binary("minimum", a, b)


def add_(a, b):
    """``a += b`` in place (b broadcasts to a)."""
    b = asarray(b, a.dtype) if not _is_scalar(b) else b
    if _is_scalar(b):
        tmp = add(a, b)
        a.copy_to_device(tmp)
    elif tuple(b.shape) == tuple(a.shape):
        axpy(b, a)
    elif len(a.shape) == 2 and tuple(b.shape) == (a.shape[1],):
        add_bias(a, b)
    else:
        axpy(broadcast_to(b, tuple(a.shape)), a)
    return a


def compare(op, a, b):
    shape = _out_shape(a, b)
    dtype = _dtype_of(a, b)
    out = S.empty(shape, np.bool_)
    _launch("compare", int(np.prod(shape, dtype=np.int64)), *_operand(a, shape, dtype),
            *_operand(b, shape, dtype), _flat(out), _CMP[op])
    return out


def logical_not(a):
    out = S.empty(a.shape, np.bool_)
    _launch("logical_not", int(a.size), _flat(a), _flat(out))
    return out


def where(cond, a, b):
    shape = _out_shape(cond, a, b)
    dtype = _dtype_of(a, b)
    out = S.empty(shape, dtype)
    c = asarray(cond, np.bool_)
    cf, ci, cm, _ = _operand(c, shape, dtype)
    _launch("where", int(np.prod(shape, dtype=np.int64)), cf, ci, cm, *_operand(a, shape, dtype),
            *_operand(b, shape, dtype), _flat(out))
    return out


def _unary(op, a, p=0.0):
    out = S.empty(a.shape, a.dtype)
    _launch("unary", int(a.size), _flat(a), _flat(out), _UN[op], np.dtype(a.dtype).type(p))
    return out


def neg(a):
    return _unary("neg", a)


def exp(a):
    return _unary("exp", a)


def log(a):
    return _unary("log", a)


def sqrt(a):
    return _unary("sqrt", a)


def power(a, p):
    return _unary("power", a, p)


# ---------------------------------------------------------------- layout
def _gather(a, idx, shape):
    out = S.empty(shape, a.dtype)
    _launch("gather", int(out.size), _flat(a), idx, _flat(out))
    return out


def broadcast_to(a, shape):
    a = asarray(a)
    shape = tuple(shape)
    if tuple(a.shape) == shape:
        return a
    return _gather(a, _map("broadcast", tuple(a.shape), shape), shape)


def permute(a, axes):
    axes = tuple(int(x) for x in axes)
    if axes == tuple(range(len(a.shape))):
        return a
    shape = tuple(a.shape)
    return _gather(a, _map("permute", shape, axes), tuple(shape[i] for i in axes))


def getitem(a, key):
    idx, shape = _index_map(tuple(a.shape), key)
    return _gather(a, S.to_device(idx), shape)


def index_backward(g, shape, key):
    idx, _ = _index_map(tuple(shape), key)
    out = S.zeros(tuple(shape), g.dtype)
    if idx.size:
        _launch("scatter_add", int(idx.size), _flat(g), S.to_device(idx), _flat(out))
    return out


def concat(arrays, axis):
    arrays = [asarray(a) for a in arrays]
    shape = list(arrays[0].shape)
    shape[axis] = builtins.sum(int(a.shape[axis]) for a in arrays)
    out = S.empty(tuple(shape), arrays[0].dtype)
    offset = 0
    for a in arrays:
        width = int(a.shape[axis])
        key = (slice(None),) * axis + (slice(offset, offset + width),)
        idx, _ = _index_map(tuple(shape), key)
        _launch("scatter", int(a.size), _flat(a), S.to_device(idx), _flat(out))
        offset += width
    return out


# ---------------------------------------------------------------- reductions
def _rows_last(a, axes):
    """``a`` with ``axes`` moved to the end, as (M, R), and the kept shape."""
    shape = tuple(a.shape)
    keep = [i for i in range(len(shape)) if i not in axes]
    order = tuple(keep) + tuple(axes)
    moved = permute(a, order)
    r = int(np.prod([shape[i] for i in axes], dtype=np.int64))
    m = int(a.size) // builtins.max(r, 1)
    return moved.reshape(m, r), tuple(shape[i] for i in keep), order


def sum(a, axes=None, keepdims=False):
    shape = tuple(a.shape)
    axes = tuple(range(len(shape))) if axes is None else tuple(sorted(axes))
    rows, kept, _ = _rows_last(a, axes)
    out = S.empty((rows.shape[0],), a.dtype)
    if rows.shape[1] == 0:
        S.fill(out, 0)
    else:
        _launch("row_sum", int(rows.shape[0]), rows, out)
    if keepdims:
        return out.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return out.reshape(kept) if kept else out.reshape(())


def max(a, axis, keepdims=False):
    """(values, first arg max) over ``axis``."""
    shape = tuple(a.shape)
    rows, kept, _ = _rows_last(a, (axis,))
    vals = S.empty((rows.shape[0],), a.dtype)
    idx = S.empty((rows.shape[0],), np.int64)
    _launch("row_max", int(rows.shape[0]), rows, vals, idx)
    out_shape = tuple(1 if i == axis else s for i, s in enumerate(shape)) if keepdims else kept
    return vals.reshape(out_shape), idx.reshape(out_shape)


def argmax(a, axis, keepdims=False):
    return max(a, axis, keepdims)[1]


def max_backward(g, idx, shape, axis, keepdims):
    shape = tuple(shape)
    keep = tuple(i for i in range(len(shape)) if i != axis)
    pos = _map("permute", shape, keep + (axis,))
    out = S.zeros(shape, g.dtype)
    _launch("put_rows", int(g.size), _flat(g), _flat(idx), pos, _flat(out), int(shape[axis]))
    return out


def sum_to(g, shape):
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and g.shape[i + lead] != 1)
    return sum(g, axes, keepdims=True).reshape(shape)


# ---------------------------------------------------------------- products
def gemm(a, b, trans_a=False, trans_b=False):
    return _gemm(asarray(a), asarray(b), trans_a=trans_a, trans_b=trans_b)


def matmul(a, b, trans_a=False, trans_b=False):
    """Batched, broadcasting ``op(a) @ op(b)`` of arrays with at least 2 dimensions."""
    a, b = asarray(a), asarray(b)
    sa, sb = tuple(a.shape), tuple(b.shape)
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    n = int(np.prod(batch, dtype=np.int64))

    def as3(x, s):
        if s[:-2] != batch and int(np.prod(s[:-2], dtype=np.int64)) != 1:
            x = broadcast_to(x, batch + s[-2:])
        nb = int(np.prod(tuple(x.shape)[:-2], dtype=np.int64))
        return x.reshape(nb, s[-2], s[-1])

    c = _gemm(as3(a, sa), as3(b, sb), trans_a=trans_a, trans_b=trans_b)
    m = sa[-1] if trans_a else sa[-2]
    k = sb[-2] if trans_b else sb[-1]
    return c.reshape(batch + (m, k)) if n != 1 or batch else c.reshape(m, k)


def colsum(a2, weights=None):
    out = S.zeros((a2.shape[1],), a2.dtype)
    return col_sums(a2, out, weights=weights, accumulate=False)
