"""nlpkit.nn.functional: the ops, each a forward and a backward over the kernels.

Every op is a :class:`~nlpkit.nn.tensor.Function`: its forward runs the kernels
and saves on the call's ``ctx`` what its backward needs.  An op chooses the CPU
kernels (:mod:`nlpkit.nn.kernels`) or their CUDA twins (:mod:`nlpkit.nn.cuda`,
same module and function names) from the arrays it gets (:func:`_kernels`, through
:func:`nlpkit.backend.pick`): a CUDA device array among them sends the op to the
GPU (host arrays such as ids and masks are copied over), otherwise it runs on the
CPU.  That is the one device mechanism: a module on the GPU is a module whose
parameters hold device arrays.

Fused ops stay fused: one graph node per recurrent call (every layer and
direction, :func:`lstm`, :func:`gru`, :func:`rnn_tanh`, :func:`rnn_relu`), per
attention call (:func:`scaled_dot_product_attention`,
:func:`multi_head_attention_forward`), per layer norm and per cross-entropy.
Names and signatures follow ``torch.nn.functional`` where it has the op;
arguments may be Tensors, arrays or Python numbers (arrays and numbers are
constants).
"""
from __future__ import annotations

import builtins
import functools
import math
import numbers

import numpy as np

from .. import backend
from ..errors import NlpkitError
from . import kernels as _cpu
from .tensor import Function, Parameter, Tensor, is_array, no_grad, tensor  # noqa: F401

__all__ = [
    "linear", "embedding", "dropout", "relu", "tanh", "sigmoid", "gelu", "softmax",
    "log_softmax", "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits",
    "layer_norm", "conv1d", "max_pool_time", "mean_pool_time", "scaled_dot_product_attention",
    "multi_head_attention_forward", "attention_heads", "rotary_embedding", "lstm", "gru",
    "rnn_tanh", "rnn_relu",
    "add", "sub", "mul", "div", "neg", "matmul", "exp", "log", "sqrt", "pow", "sum", "mean",
    "max", "argmax", "reshape", "transpose", "permute", "unsqueeze", "squeeze", "cat",
    "stack", "split", "chunk", "getitem", "gather", "masked_fill", "where", "maximum",
    "normalize", "clamp_min", "zeros_like", "to_device", "no_grad", "tensor",
]

# ------------------------------------------------------------------ device choice


def _kernels(*arrays):
    """The kernel package for these arrays: the CUDA twins when any is a device array."""
    return _cpu.for_arrays(*arrays)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x if is_array(x) else np.asarray(x))


def _on(xp, a, dtype=None):
    """``a`` (array, number) as an array of ``xp``'s device."""
    if a is None:
        return None
    return xp.arrays.asarray(a, dtype)


def _float_dtype(*arrays):
    for a in arrays:
        if is_array(a) and np.dtype(a.dtype).kind == "f":
            return np.dtype(a.dtype)
    return np.dtype(np.float32)


def to_device(x, device):
    """``x`` on ``device`` ('cpu', 'cuda' or 'auto'); differentiable (the gradient goes back)."""
    return _tensor(x).to(device)


# ------------------------------------------------------------------ element-wise arithmetic
def _scalar(x):
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


class _Binary(Function):
    """a op b with NumPy broadcasting; gradients summed back to each operand's shape."""

    @staticmethod
    def forward(ctx, a, b, op):
        xp = _kernels(a, b)
        a, b = _on(xp, a), _on(xp, b)
        ctx.xp, ctx.op = xp.arrays, op
        ctx.shapes = tuple(a.shape), tuple(b.shape)
        if op in ("mul", "div"):
            ctx.a, ctx.b = a, b
        return getattr(xp.arrays, op)(a, b)

    @staticmethod
    def backward(ctx, g):
        xp, op = ctx.xp, ctx.op
        sa, sb = ctx.shapes
        ga = gb = None
        na, nb = ctx.needs_input_grad
        if op == "add":
            ga, gb = (g if na else None), (g if nb else None)
        elif op == "sub":
            ga, gb = (g if na else None), (xp.neg(g) if nb else None)
        elif op == "mul":
            ga = xp.mul(g, ctx.b) if na else None
            gb = xp.mul(g, ctx.a) if nb else None
        else:  # div: d(a/b) = g/b, -g a / b^2
            ga = xp.div(g, ctx.b) if na else None
            gb = xp.neg(xp.div(xp.mul(g, ctx.a), xp.mul(ctx.b, ctx.b))) if nb else None
        return (None if ga is None else xp.sum_to(ga, sa),
                None if gb is None else xp.sum_to(gb, sb))


class _Scaled(Function):
    """a * s + t for Python numbers s, t (one pass, no broadcasting)."""

    @staticmethod
    def forward(ctx, a, s, t):
        xp = _kernels(a).arrays
        ctx.xp, ctx.s = xp, s
        y = a if s == 1 else xp.mul(a, np.asarray(s, a.dtype))
        return y if t == 0 else xp.add(y, np.asarray(t, a.dtype))

    @staticmethod
    def backward(ctx, g):
        return g if ctx.s == 1 else ctx.xp.mul(g, np.asarray(ctx.s, g.dtype))


def _binary(a, b, op):
    if _scalar(b) and isinstance(a, Tensor):
        if op == "add":
            return _Scaled.apply(a, 1, b)
        if op == "sub":
            return _Scaled.apply(a, 1, -b)
        if op == "mul":
            return _Scaled.apply(a, b, 0)
        if op == "div":
            return _Scaled.apply(a, 1.0 / b, 0)
    if _scalar(a) and isinstance(b, Tensor):
        if op == "add":
            return _Scaled.apply(b, 1, a)
        if op == "mul":
            return _Scaled.apply(b, a, 0)
        if op == "sub":
            return _Scaled.apply(b, -1, a)
        a = np.asarray(a, b.dtype)
    if _scalar(b):
        b = np.asarray(b, _float_dtype(_data(a)))
    if _scalar(a):
        a = np.asarray(a, _float_dtype(_data(b)))
    return _Binary.apply(_tensor(a), _tensor(b), op=op)


def add(input, other, alpha=1):
    return _binary(input, other if alpha == 1 else mul(other, alpha), "add")


def sub(input, other, alpha=1):
    return _binary(input, other if alpha == 1 else mul(other, alpha), "sub")


def mul(input, other):
    return _binary(input, other, "mul")


def div(input, other):
    return _binary(input, other, "div")


def neg(input):
    return _Scaled.apply(_tensor(input), -1, 0)


class _Unary(Function):
    @staticmethod
    def forward(ctx, x, op, p=None):
        xp = _kernels(x).arrays
        ctx.xp, ctx.op, ctx.x, ctx.p = xp, op, x, p
        y = xp.power(x, p) if op == "pow" else getattr(xp, op)(x)
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, g):
        xp, op = ctx.xp, ctx.op
        if op == "exp":
            return xp.mul(g, ctx.y)
        if op == "log":
            return xp.div(g, ctx.x)
        if op == "sqrt":
            return xp.div(g, xp.mul(ctx.y, np.asarray(2, g.dtype)))
        # pow: p x^(p-1)
        return xp.mul(g, xp.mul(xp.power(ctx.x, ctx.p - 1), np.asarray(ctx.p, g.dtype)))


def exp(input):
    return _Unary.apply(_tensor(input), op="exp")


def log(input):
    return _Unary.apply(_tensor(input), op="log")


def sqrt(input):
    return _Unary.apply(_tensor(input), op="sqrt")


def pow(input, exponent):
    if not _scalar(exponent):
        raise NlpkitError("pow: the exponent must be a number")
    if exponent == 2:
        return mul(input, input)
    return _Unary.apply(_tensor(input), op="pow", p=float(exponent))


class _Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = _kernels(a, b)
        a, b = _on(xp, a), _on(xp, b)
        ctx.xp = xp.arrays
        ctx.pick_a = xp.arrays.compare("ge", a, b)
        ctx.shapes = tuple(a.shape), tuple(b.shape)
        return xp.arrays.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        zero = np.zeros((), g.dtype)
        ga = xp.sum_to(xp.where(ctx.pick_a, g, zero), ctx.shapes[0])
        gb = xp.sum_to(xp.where(ctx.pick_a, zero, g), ctx.shapes[1])
        return ga, gb


def maximum(input, other):
    """Element-wise maximum (the gradient goes to ``input`` on ties)."""
    if _scalar(other):
        other = np.asarray(other, _float_dtype(_data(input)))
    return _Maximum.apply(_tensor(input), _tensor(other))


def clamp_min(input, min):
    return maximum(input, min)


def _compare(a, b, op):
    """Boolean tensor ``a op b`` (no gradient)."""
    a, b = _data(a), _data(b)
    xp = _kernels(a, b)
    if _scalar(b):
        b = np.asarray(b, _float_dtype(a))
    return Tensor(xp.arrays.compare(op, _on(xp, a), _on(xp, b)))


# ------------------------------------------------------------------ activations
class _Activation(Function):
    @staticmethod
    def forward(ctx, x, kind):
        E = _kernels(x).elementwise
        y = E.activation(kind, x)
        ctx.E, ctx.kind, ctx.x, ctx.y = E, kind, x, y
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.E.activation_grad(ctx.kind, ctx.x, ctx.y, g)


def relu(input, inplace=False):
    return _Activation.apply(_tensor(input), kind="relu")


def tanh(input):
    return _Activation.apply(_tensor(input), kind="tanh")


def sigmoid(input):
    return _Activation.apply(_tensor(input), kind="sigmoid")


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise NlpkitError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")
    return _Activation.apply(_tensor(input), kind="gelu" if approximate == "none" else "gelu_tanh")


def _dim(dim, ndim):
    if not -ndim <= dim < builtins.max(ndim, 1):
        raise NlpkitError(f"dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % builtins.max(ndim, 1)


def softmax(input, dim=-1):
    x = _tensor(input)
    e = exp(sub(x, max(x.detach(), dim, keepdim=True)[0]))
    return div(e, sum(e, dim, keepdim=True))


def log_softmax(input, dim=-1):
    x = _tensor(input)
    z = sub(x, max(x.detach(), dim, keepdim=True)[0])
    return sub(z, log(sum(exp(z), dim, keepdim=True)))


# ------------------------------------------------------------------ reductions
def _axes(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(_dim(d, ndim) for d in dims))


class _Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = _kernels(x).arrays
        ctx.xp, ctx.shape, ctx.axes, ctx.keepdim = xp, tuple(x.shape), axes, keepdim
        return xp.sum(x, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        if not ctx.keepdim:
            kept = tuple(1 if i in ctx.axes else s for i, s in enumerate(ctx.shape))
            g = xp.reshape(g, kept)
        return xp.broadcast_to(g, ctx.shape)


def sum(input, dim=None, keepdim=False):
    x = _tensor(input)
    return _Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    x = _tensor(input)
    axes = _axes(dim, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return mul(sum(x, dim, keepdim), 1.0 / builtins.max(n, 1))


class _Max(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdim):
        xp = _kernels(x).arrays
        vals, idx = xp.max(x, axis, keepdim)
        ctx.xp, ctx.idx, ctx.shape, ctx.axis, ctx.keepdim = xp, idx, tuple(x.shape), axis, keepdim
        ctx.mark_non_differentiable(1)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi):
        return ctx.xp.max_backward(g, ctx.idx, ctx.shape, ctx.axis, ctx.keepdim)


def max(input, dim=None, keepdim=False):
    """``max(x)`` (a scalar) or ``max(x, dim)`` -> (values, indices), as torch; the
    gradient goes to the first maximum."""
    x = _tensor(input)
    if dim is None:
        return _Max.apply(reshape(x, (-1,)), axis=0, keepdim=False)[0]
    return _Max.apply(x, axis=_dim(dim, x.ndim), keepdim=keepdim)


def argmax(input, dim=-1, keepdim=False):
    x = _data(input)
    return Tensor(_kernels(x).arrays.argmax(x, _dim(dim, len(x.shape)), keepdim))


# ------------------------------------------------------------------ layout
class _Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        xp = _kernels(x).arrays
        ctx.xp, ctx.shape = xp, tuple(x.shape)
        return xp.reshape(x, shape)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(g, ctx.shape)


def reshape(input, shape):
    x = _tensor(input)
    shape = tuple(int(s) for s in shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        shape = tuple(x.size // builtins.max(known, 1) if s == -1 else s for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise NlpkitError(f"reshape: shape {shape} is invalid for a tensor of {x.size} "
                          f"elements (shape {x.shape})")
    if shape == x.shape:
        return x
    return _Reshape.apply(x, shape=shape)


class _Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        xp = _kernels(x).arrays
        ctx.xp, ctx.inverse = xp, tuple(np.argsort(axes))
        return xp.permute(x, axes)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.permute(g, ctx.inverse)


def permute(input, dims):
    x = _tensor(input)
    axes = tuple(_dim(d, x.ndim) for d in dims)
    if axes == tuple(range(x.ndim)):
        return x
    return _Permute.apply(x, axes=axes)


def transpose(input, dim0, dim1):
    x = _tensor(input)
    axes = list(range(x.ndim))
    a, b = _dim(dim0, x.ndim), _dim(dim1, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, axes)


def unsqueeze(input, dim):
    x = _tensor(input)
    d = dim % (x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(input, dim=None):
    x = _tensor(input)
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    d = _dim(dim, x.ndim)
    return x if x.shape[d] != 1 else reshape(x, x.shape[:d] + x.shape[d + 1:])


def _key(key):
    """An index with Tensors replaced by their (host) arrays."""
    if isinstance(key, tuple):
        return tuple(_key(k) for k in key)
    if isinstance(key, Tensor):
        key = key.data
    if backend.is_device_array(key):
        key = key.copy_to_host()
    if isinstance(key, list):
        key = np.asarray(key)
    return key


class _GetItem(Function):
    @staticmethod
    def forward(ctx, x, key):
        xp = _kernels(x).arrays
        ctx.xp, ctx.shape, ctx.key = xp, tuple(x.shape), key
        return xp.getitem(x, key)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.index_backward(g, ctx.shape, ctx.key)


def getitem(input, key):
    """``input[key]``: ints, slices, None, Ellipsis and integer (or boolean) index arrays,
    as NumPy; the gradient adds back (repeated indices add up)."""
    return _GetItem.apply(_tensor(input), key=_key(key))


def gather(input, dim, index):
    """torch.gather: ``out[i][j] = input[index[i][j]][j]`` along ``dim`` (and so on)."""
    x = _tensor(input)
    idx = _key(index)
    d = _dim(dim, x.ndim)
    grids = np.meshgrid(*[np.arange(s) for s in idx.shape], indexing="ij")
    key = tuple(idx if i == d else grids[i] for i in range(x.ndim))
    return getitem(x, key)


class _Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        xp = _kernels(*arrays)
        arrays = [_on(xp, a) for a in arrays]
        ctx.xp, ctx.axis = xp.arrays, axis
        ctx.bounds = np.cumsum([0] + [a.shape[axis] for a in arrays])
        return xp.arrays.concat(arrays, axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(ctx.xp.getitem(g, lead + (slice(int(a), int(b)),)) if need else None
                     for a, b, need in zip(ctx.bounds[:-1], ctx.bounds[1:],
                                           ctx.needs_input_grad))


def cat(tensors, dim=0):
    tensors = [_tensor(t) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    return _Cat.apply(*tensors, axis=_dim(dim, tensors[0].ndim))


def stack(tensors, dim=0):
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(tensor, split_size_or_sections, dim=0):
    x = _tensor(tensor)
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
    out, start = [], 0
    for s in sizes:
        out.append(getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    x = _tensor(input)
    n = x.shape[_dim(dim, x.ndim)]
    return split(x, -(-n // chunks), dim)


class _Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        xp = _kernels(cond, a, b)
        cond, a, b = _on(xp, cond, bool), _on(xp, a), _on(xp, b)
        ctx.xp, ctx.cond, ctx.shapes = xp.arrays, cond, (tuple(a.shape), tuple(b.shape))
        return xp.arrays.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        zero = np.zeros((), g.dtype)
        _, na, nb = ctx.needs_input_grad
        ga = xp.sum_to(xp.where(ctx.cond, g, zero), ctx.shapes[0]) if na else None
        gb = xp.sum_to(xp.where(ctx.cond, zero, g), ctx.shapes[1]) if nb else None
        return None, ga, gb


def where(condition, input, other):
    dt = _float_dtype(_data(input), _data(other))
    a = np.asarray(input, dt) if _scalar(input) else input
    b = np.asarray(other, dt) if _scalar(other) else other
    return _Where.apply(_data(condition), _tensor(a), _tensor(b))


def masked_fill(input, mask, value):
    """``input`` with ``value`` where the boolean ``mask`` (broadcasting) is True."""
    x = _tensor(input)
    return where(mask, np.asarray(value, x.dtype), x)


def zeros_like(input):
    x = _data(input)
    return Tensor(_kernels(x).arrays.zeros(tuple(x.shape), x.dtype))


# ------------------------------------------------------------------ products
class _MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = _kernels(a, b)
        a, b = _on(xp, a), _on(xp, b)
        ctx.xp, ctx.a, ctx.b = xp.arrays, a, b
        return xp.arrays.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        xp, a, b = ctx.xp, ctx.a, ctx.b
        na, nb = ctx.needs_input_grad
        ga = xp.sum_to(xp.matmul(g, b, trans_b=True), tuple(a.shape)) if na else None
        gb = None
        if nb and len(b.shape) == 2:  # one matrix shared by every batch: one product
            k, n = tuple(b.shape)
            gb = xp.gemm(xp.reshape(a, (-1, k)), xp.reshape(g, (-1, n)), trans_a=True)
        elif nb:
            gb = xp.sum_to(xp.matmul(a, g, trans_a=True), tuple(b.shape))
        return ga, gb


def matmul(input, other):
    """NumPy's ``@``: batched and broadcasting; 1-D operands are promoted and squeezed."""
    a, b = _tensor(input), _tensor(other)
    if a.ndim == 1 and b.ndim == 1:
        return sum(mul(a, b))
    if a.ndim == 1:
        return squeeze(matmul(unsqueeze(a, 0), b), -2)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    return _MatMul.apply(a, b)


class _Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        xp = _kernels(x, w).arrays
        x = xp.asarray(x)
        x2 = xp.reshape(x, (-1, tuple(x.shape)[-1]))
        y = xp.gemm(x2, w, trans_b=True)
        if b is not None:
            xp.add_(y, b)
        ctx.xp, ctx.x2, ctx.w, ctx.shape = xp, x2, w, tuple(x.shape)
        return xp.reshape(y, ctx.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        g2 = xp.reshape(g, (-1, tuple(g.shape)[-1]))
        nx, nw, nb = ctx.needs_input_grad
        gx = xp.reshape(xp.gemm(g2, ctx.w), ctx.shape) if nx else None
        gw = xp.gemm(g2, ctx.x2, trans_a=True) if nw else None
        gb = xp.colsum(g2) if nb else None
        return gx, gw, gb


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` over the last axis (weight (out, in))."""
    return _Linear.apply(_tensor(input), weight, bias)


# ------------------------------------------------------------------ embedding, dropout
def _host_ids(ids, n_rows, what="embedding"):
    ids = backend.to_host(_data(ids))
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise NlpkitError(f"{what}: ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= n_rows):
        raise NlpkitError(f"{what}: ids must lie in [0, {n_rows}); got range "
                          f"[{ids.min()}, {ids.max()}]")
    return ids


class _Embedding(Function):
    @staticmethod
    def forward(ctx, w, ids, padding_idx):
        K = _kernels(w)
        flat = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        ctx.E, ctx.shape, ctx.padding_idx, ctx.n = K.elementwise, ids.shape, padding_idx, w.shape
        ctx.flat = K.arrays.asarray(flat)
        rows = K.elementwise.gather_rows(w, ctx.flat)
        return K.arrays.reshape(rows, ids.shape + (w.shape[1],))

    @staticmethod
    def backward(ctx, g):
        xp = _kernels(g).arrays
        grad = xp.zeros(ctx.n, g.dtype)
        ctx.E.scatter_add_rows(ctx.flat, xp.reshape(g, (-1, ctx.n[1])), grad,
                               np.int64(-1 if ctx.padding_idx is None else ctx.padding_idx))
        return grad, None, None


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ids ``input``; the row
    ``padding_idx`` gets no gradient."""
    ids = _host_ids(input, weight.shape[0])
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return _Embedding.apply(weight, ids, padding_idx)


class _Mask(Function):
    """x * mask for a constant mask of x's shape (dropout)."""

    @staticmethod
    def forward(ctx, x, mask):
        xp = _kernels(x).arrays
        ctx.xp, ctx.mask = xp, _on(_kernels(x), mask)
        return xp.mul(x, ctx.mask)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.mul(g, ctx.mask), None


def dropout_mask(shape, p, dtype, generator=None):
    """The scaled keep mask of dropout: 1/(1-p) with probability 1-p, else 0 (drawn on
    the host from ``generator``, so a seeded model gives the same mask on every device)."""
    rng = generator if generator is not None else np.random.default_rng()
    keep = rng.random(shape, dtype=np.dtype(dtype).type) >= p  # no float64 temporary
    return keep.astype(dtype) / np.dtype(dtype).type(1.0 - p)


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    if not 0.0 <= p < 1.0:
        raise NlpkitError(f"dropout: p must be in [0, 1); got {p}")
    x = _tensor(input)
    if not training or p == 0.0:
        return x
    return _Mask.apply(x, dropout_mask(x.shape, p, x.dtype, generator))


# ------------------------------------------------------------------ losses
class _CrossEntropyRows(Function):
    """Per-row softmax cross-entropy of (N, C) logits (0 for ignored rows)."""

    @staticmethod
    def forward(ctx, x, t, weight, ignore_index, smoothing):
        K = _kernels(x)
        x = K.arrays.contiguous(x)
        dlogits = K.arrays.empty(tuple(x.shape), x.dtype)
        losses = K.arrays.empty((x.shape[0],), x.dtype)
        td = K.arrays.asarray(t)
        if weight is None:
            K.elementwise.cross_entropy_rows(x, td, np.int64(ignore_index),
                                             x.dtype.type(smoothing), dlogits, losses)
        else:
            K.elementwise.cross_entropy_rows_weighted(x, td, np.int64(ignore_index),
                                                      x.dtype.type(smoothing),
                                                      K.arrays.asarray(weight, x.dtype),
                                                      dlogits, losses)
        ctx.xp, ctx.dlogits = K.arrays, dlogits
        return losses

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        return xp.mul(ctx.dlogits, xp.reshape(g, (-1, 1))), None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy from logits: input (N, C), (C,) or (N, C, d1, …)
    (classes on dim 1), integer targets; ``weight`` per class (PyTorch's weighted mean),
    ``ignore_index``, ``label_smoothing``, ``reduction`` 'mean' | 'sum' | 'none'."""
    x = _tensor(input)
    if reduction not in ("mean", "sum", "none"):
        raise NlpkitError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none'; "
                          f"got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise NlpkitError(f"cross_entropy: label_smoothing must be in [0, 1]; "
                          f"got {label_smoothing}")
    if x.dtype.kind != "f":
        raise NlpkitError(f"cross_entropy: input must be float32 or float64, got {x.dtype}")
    t = np.asarray(backend.to_host(_data(target)))
    single = x.ndim == 1
    if single:
        x, t = unsqueeze(x, 0), t.reshape(1)
    c = x.shape[1]
    if x.shape[:1] + x.shape[2:] != t.shape:
        raise NlpkitError(f"cross_entropy: target expected shape {x.shape[:1] + x.shape[2:]} "
                          f"(input {x.shape} without the class dim 1), got {t.shape}")
    if x.ndim > 2:  # classes to the last axis, rows flattened
        x = reshape(permute(x, (0,) + tuple(range(2, x.ndim)) + (1,)), (-1, c))
    flat = np.ascontiguousarray(t, dtype=np.int64).reshape(-1)
    used = flat != ignore_index
    if np.any((flat[used] < 0) | (flat[used] >= c)):
        raise NlpkitError(f"cross_entropy: targets must lie in [0, {c}) or equal ignore_index")
    w = None
    if weight is not None:
        w = np.asarray(backend.to_host(_data(weight)), dtype=np.float64)
        if w.shape != (c,):
            raise NlpkitError(f"cross_entropy: weight expected shape ({c},) (one per class), "
                              f"got {w.shape}")
    rows = _CrossEntropyRows.apply(x, flat, w, ignore_index, float(label_smoothing))
    if reduction == "none":
        return reshape(rows, t.shape) if not single else reshape(rows, ())
    total = sum(rows)
    if reduction == "sum":
        return total
    count = float(w[flat[used]].sum()) if w is not None else int(used.sum())
    return mul(total, 1.0 / count) if count else mul(total, math.nan)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C)."""
    x = _tensor(input)
    t = np.asarray(backend.to_host(_data(target)), dtype=np.int64)
    used = t != ignore_index
    picked = getitem(x, (np.arange(x.shape[0]), np.where(used, t, 0)))
    w = np.where(used, 1.0, 0.0) if weight is None else \
        np.where(used, np.asarray(_data(weight))[np.where(used, t, 0)], 0.0)
    losses = mul(neg(picked), w.astype(x.dtype))
    if reduction == "none":
        return losses
    if reduction == "sum":
        return sum(losses)
    return mul(sum(losses), 1.0 / float(w.sum()))


class _BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y):
        K = _kernels(x)
        losses, d = K.elementwise.bce_with_logits(K.arrays.contiguous(x), _on(K, y, x.dtype))
        ctx.xp, ctx.d = K.arrays, d
        return losses

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.mul(ctx.d, g), None


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """``-(y log σ(x) + (1-y) log(1-σ(x)))`` computed stably from the logits."""
    x = _tensor(input)
    if pos_weight is not None:
        raise NlpkitError("binary_cross_entropy_with_logits: pos_weight is not supported yet")
    if tuple(_data(target).shape) != x.shape:
        raise NlpkitError(f"binary_cross_entropy_with_logits: target expected shape {x.shape}, "
                          f"got {tuple(_data(target).shape)}")
    losses = _BCEWithLogits.apply(x, _data(target))
    if weight is not None:
        losses = mul(losses, weight)
    if reduction == "none":
        return losses
    return sum(losses) if reduction == "sum" else mean(losses)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` along ``dim`` (p = 2)."""
    if p != 2.0:
        raise NlpkitError("normalize: only p=2 is supported")
    x = _tensor(input)
    norm = sqrt(sum(mul(x, x), dim, keepdim=True))
    return div(x, maximum(norm, eps))


# ------------------------------------------------------------------ layer norm
class _LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, w, b, size, eps):
        K = _kernels(x, w)
        xp = K.arrays
        x = xp.contiguous(_on(K, x))
        x2 = xp.reshape(x, (-1, size))
        y, xhat = xp.empty(tuple(x2.shape), x.dtype), xp.empty(tuple(x2.shape), x.dtype)
        rstd = xp.empty((x2.shape[0],), x.dtype)
        w1 = xp.full((size,), 1, x.dtype) if w is None else xp.reshape(w, (size,))
        b1 = xp.zeros((size,), x.dtype) if b is None else xp.reshape(b, (size,))
        K.elementwise.layer_norm_forward(x2, w1, b1, x.dtype.type(eps), y, xhat, rstd)
        ctx.K, ctx.xhat, ctx.rstd, ctx.w1, ctx.shape = K, xhat, rstd, w1, tuple(x.shape)
        ctx.wshape = None if w is None else tuple(w.shape)
        return xp.reshape(y, ctx.shape)

    @staticmethod
    def backward(ctx, g):
        K = ctx.K
        xp = K.arrays
        size = ctx.w1.shape[0]
        g2 = xp.reshape(xp.contiguous(g), (-1, size))
        dx = xp.empty(tuple(g2.shape), g.dtype)
        K.elementwise.layer_norm_backward(g2, ctx.xhat, ctx.rstd, ctx.w1, dx)
        _, nw, nb = ctx.needs_input_grad
        gw = xp.reshape(xp.colsum(g2, ctx.xhat), ctx.wshape) if nw else None
        gb = xp.reshape(xp.colsum(g2), ctx.wshape) if nb else None
        return xp.reshape(dx, ctx.shape), gw, gb


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    x = _tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise NlpkitError(f"layer_norm: input expected shape (..., "
                          f"{', '.join(map(str, shape))}), got {x.shape}")
    return _LayerNorm.apply(x, weight, bias, size=int(np.prod(shape)), eps=float(eps))


# ------------------------------------------------------------------ convolution and pooling
def conv_padding(padding, kernel_size, stride, dilation):
    """(left, right) padding from an int, 'valid' or 'same' (stride 1)."""
    span = dilation * (kernel_size - 1)
    if padding == "valid":
        return 0, 0
    if padding == "same":
        if stride != 1:
            raise NlpkitError("conv1d: padding='same' needs stride 1")
        return span // 2, span - span // 2
    if isinstance(padding, (tuple, list)):
        return int(padding[0]), int(padding[0])
    return int(padding), int(padding)


class _Conv1d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, pad, dilation, groups):
        K = _kernels(x, w)
        xp = K.arrays
        x = _on(K, x)
        n, c, length = x.shape
        o, cg, k = w.shape
        span = dilation * (k - 1) + 1
        padded = length + pad[0] + pad[1]
        out_len = (padded - span) // stride + 1
        cols = K.conv.im2col(xp.contiguous(x), pad[0], stride, dilation, k, out_len)
        w2 = xp.reshape(w, (o, cg * k))
        og, wc = o // groups, cg * k
        if groups == 1:
            y2 = xp.gemm(cols, w2, trans_b=True)
        else:  # one product per group on its block of window columns
            y2 = xp.concat([xp.gemm(xp.getitem(cols, (slice(None), slice(gi * wc, (gi + 1) * wc))),
                                    xp.getitem(w2, slice(gi * og, (gi + 1) * og)), trans_b=True)
                            for gi in range(groups)], 1)
        if b is not None:
            xp.add_(y2, b)
        ctx.K, ctx.cols, ctx.w2, ctx.wshape = K, cols, w2, tuple(w.shape)
        ctx.conf = tuple(x.shape), pad[0], stride, dilation, k, out_len, groups
        return xp.permute(xp.reshape(y2, (n, out_len, o)), (0, 2, 1))

    @staticmethod
    def backward(ctx, g):
        K = ctx.K
        xp = K.arrays
        shape, pad_left, stride, dilation, k, out_len, groups = ctx.conf
        o = ctx.wshape[0]
        g2 = xp.reshape(xp.permute(g, (0, 2, 1)), (-1, o))
        nx, nw, nb = ctx.needs_input_grad
        gb = xp.colsum(g2) if nb else None
        og, wc = o // groups, ctx.w2.shape[1]
        if groups == 1:
            gw = xp.gemm(g2, ctx.cols, trans_a=True) if nw else None
            dcols = xp.gemm(g2, ctx.w2) if nx else None
        else:
            parts = [(xp.getitem(g2, (slice(None), slice(gi * og, (gi + 1) * og))),
                      xp.getitem(ctx.cols, (slice(None), slice(gi * wc, (gi + 1) * wc))),
                      xp.getitem(ctx.w2, slice(gi * og, (gi + 1) * og)))
                     for gi in range(groups)]
            gw = xp.concat([xp.gemm(gg, cc, trans_a=True) for gg, cc, _ in parts], 0) \
                if nw else None
            dcols = xp.concat([xp.gemm(gg, ww) for gg, _, ww in parts], 1) if nx else None
        gx = K.conv.col2im(dcols, shape, pad_left, stride, dilation, k, out_len) if nx else None
        return gx, (xp.reshape(gw, ctx.wshape) if nw else None), gb


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C_in, L) with weight (C_out, C_in / groups, K), as torch's:
    padding an int, 'valid' or 'same' (stride 1); windows unfolded, then one GEMM."""
    x = _tensor(input)
    k = weight.shape[2]
    pad = conv_padding(padding, k, stride, dilation)
    span = dilation * (k - 1) + 1
    if x.ndim != 3 or x.shape[1] != weight.shape[1] * groups:
        raise NlpkitError(f"conv1d: input expected shape (N, {weight.shape[1] * groups}, L), "
                          f"got {x.shape}")
    if x.shape[2] + pad[0] + pad[1] < span:
        raise NlpkitError(f"conv1d: input length {x.shape[2]} is shorter than the kernel "
                          f"span {span}")
    return _Conv1d.apply(x, weight, bias, stride=int(stride), pad=pad, dilation=int(dilation),
                         groups=int(groups))


def _pool_view(shape, dim, lengths, what):
    """(A, T, B) around the pooled axis and each row's length (A,) on the host."""
    t_axis = dim % len(shape)
    a = int(np.prod(shape[:t_axis], dtype=np.int64))
    b = int(np.prod(shape[t_axis + 1:], dtype=np.int64))
    n_steps = shape[t_axis]
    if lengths is None:
        return (a, n_steps, b), np.full(a, n_steps, np.int64), t_axis
    lengths = np.asarray(backend.to_host(_data(lengths)), dtype=np.int64)
    if t_axis == 0 or lengths.shape != (shape[0],) or lengths.min() < 1 or \
            lengths.max() > n_steps:
        raise NlpkitError(f"{what}: lengths expected shape ({shape[0]},) with values in "
                          f"[1, {n_steps}], got {lengths}")
    return (a, n_steps, b), np.repeat(lengths, a // shape[0]), t_axis


class _MaxPoolTime(Function):
    @staticmethod
    def forward(ctx, x, shape3, lens, out_shape):
        K = _kernels(x)
        out, idx = K.conv.max_pool(K.arrays.reshape(x, shape3), K.arrays.asarray(lens))
        ctx.K, ctx.idx, ctx.shape3, ctx.shape = K, idx, shape3, tuple(x.shape)
        return K.arrays.reshape(out, out_shape)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.K.arrays
        g2 = xp.reshape(g, (ctx.shape3[0], ctx.shape3[2]))
        return xp.reshape(ctx.K.conv.max_pool_backward(g2, ctx.idx, ctx.shape3), ctx.shape)


class _MeanPoolTime(Function):
    @staticmethod
    def forward(ctx, x, shape3, lens, out_shape):
        K = _kernels(x)
        xp = K.arrays
        weights = xp.asarray((1.0 / np.maximum(lens, 1)).astype(x.dtype))
        lens_d = xp.asarray(lens)
        ctx.K, ctx.lens, ctx.w, ctx.shape3, ctx.shape = K, lens_d, weights, shape3, tuple(x.shape)
        return xp.reshape(K.conv.mean_pool(xp.reshape(x, shape3), lens_d, weights), out_shape)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.K.arrays
        g2 = xp.reshape(g, (ctx.shape3[0], ctx.shape3[2]))
        return xp.reshape(ctx.K.conv.mean_pool_backward(g2, ctx.lens, ctx.w, ctx.shape3),
                          ctx.shape)


def max_pool_time(input, lengths=None, dim=-1):
    """Max over the time axis ``dim`` (-1: PyTorch's (N, C, L); 1: (N, L, C)) within each
    sequence's ``lengths`` (N,); the gradient goes to the first maximum."""
    x = _tensor(input)
    shape3, lens, t = _pool_view(x.shape, dim, lengths, "max_pool_time")
    return _MaxPoolTime.apply(x, shape3=shape3, lens=lens, out_shape=x.shape[:t] + x.shape[t + 1:])


def mean_pool_time(input, lengths=None, dim=-1):
    """Mean over the time axis ``dim`` (over each sequence's own length when given)."""
    x = _tensor(input)
    shape3, lens, t = _pool_view(x.shape, dim, lengths, "mean_pool_time")
    return _MeanPoolTime.apply(x, shape3=shape3, lens=lens,
                               out_shape=x.shape[:t] + x.shape[t + 1:])


# ------------------------------------------------------------------ attention
def additive_mask(mask, dtype, what="attn_mask"):
    """A boolean mask (True = may not attend) as 0 / -inf; a float mask as it is (host)."""
    mask = np.asarray(backend.to_host(_data(mask)))
    if mask.dtype == bool:
        out = np.zeros(mask.shape, dtype)
        out[mask] = -np.inf
        return out
    if not np.issubdtype(mask.dtype, np.floating):
        raise NlpkitError(f"{what} must be boolean or float, got dtype {mask.dtype}")
    return mask.astype(dtype, copy=False)


class _Attention(Function):
    """Attention over (N, H, L, d) arrays: one node per call."""

    @staticmethod
    def forward(ctx, q, k, v, scale, bias, causal, keep):
        K = _kernels(q, k, v)
        q, k, v = (K.arrays.contiguous(_on(K, a)) for a in (q, k, v))
        ctx.K, ctx.arrays, ctx.conf = K, (q, k, v), (scale, causal, keep)
        out, probs = K.attention.attention(q, k, v, scale, bias, causal, keep)
        ctx.probs = probs
        return out

    @staticmethod
    def backward(ctx, g):
        scale, causal, keep = ctx.conf
        grads = ctx.K.attention.attention_backward(ctx.K.arrays.contiguous(g), *ctx.arrays,
                                                   scale, ctx.probs, causal, keep)
        return tuple(gr if need else None for gr, need in zip(grads, ctx.needs_input_grad))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, generator=None):
    """``softmax(q kᵀ · scale + mask) v`` over (…, L, d) tensors, one fused node; a boolean
    ``attn_mask`` marks with True what may be attended (torch's convention here), a float
    one is added; ``is_causal`` (without a mask) lets query i see keys j <= i + S - L.
    A query row with every key masked gets zero weights (PyTorch gives NaN there)."""
    q, k, v = _tensor(query), _tensor(key), _tensor(value)
    if tuple(k.shape)[-1] != tuple(q.shape)[-1] or k.shape[:-1] != v.shape[:-1]:
        raise NlpkitError(f"scaled_dot_product_attention: query {q.shape}, key {k.shape} and "
                          f"value {v.shape} disagree")
    lead, n_q, n_k = q.shape[:-2], tuple(q.shape)[-2], tuple(k.shape)[-2]
    scale = 1.0 / math.sqrt(tuple(q.shape)[-1]) if scale is None else float(scale)
    bias = None
    if attn_mask is not None:
        m = np.asarray(backend.to_host(_data(attn_mask)))
        bias = additive_mask(~m if m.dtype == bool else m, q.dtype)
        bias = _as4(np.broadcast_to(bias, lead + (n_q, n_k)) if bias.ndim > 2 else bias)
    keep = None
    if dropout_p > 0.0:
        keep = _as4(dropout_mask(lead + (n_q, n_k), dropout_p, q.dtype, generator))
    q4, k4, v4 = (reshape(t, _shape4(t.shape)) for t in (q, k, v))
    out = _Attention.apply(q4, k4, v4, scale=scale, bias=bias,
                           causal=bool(is_causal and attn_mask is None), keep=keep)
    return reshape(out, lead + (n_q, tuple(v.shape)[-1]))


def _shape4(shape):
    lead = shape[:-2]
    if len(lead) >= 2:
        return (int(np.prod(lead[:-1], dtype=np.int64)), lead[-1]) + shape[-2:]
    return (1, lead[0] if lead else 1) + shape[-2:]


def _as4(a):
    if a.ndim <= 4:
        return a.reshape((1,) * (4 - a.ndim) + a.shape)
    return np.ascontiguousarray(a).reshape(_shape4(a.shape))


class _AttentionHeads(Function):
    @staticmethod
    def forward(ctx, q, k, v, num_heads, batch_first, scale, bias, causal, keep, slopes):
        K = _kernels(q, k, v)
        packed = k is None
        q = K.arrays.contiguous(_on(K, q))
        k = None if packed else K.arrays.contiguous(_on(K, k))
        v = None if packed else K.arrays.contiguous(_on(K, v))
        ctx_out, probs = K.attention.mha(q, k, v, num_heads, batch_first, packed, scale, bias,
                                         causal, keep, slopes)
        ctx.K, ctx.arrays, ctx.probs = K, (q, k, v), probs
        ctx.conf = num_heads, batch_first, packed, scale, causal, keep
        ctx.mark_non_differentiable(1)
        return ctx_out, probs

    @staticmethod
    def backward(ctx, g, _gp):
        num_heads, batch_first, packed, scale, causal, keep = ctx.conf
        return ctx.K.attention.mha_backward(ctx.K.arrays.contiguous(g), *ctx.arrays, num_heads,
                                            batch_first, packed, scale, ctx.probs, causal, keep)


def attention_heads(q, k, v, num_heads, batch_first=False, attn_bias=None, is_causal=False,
                    dropout_p=0.0, generator=None, alibi_slopes=None):
    """MultiheadAttention's attention over its projections, one fused node:
    ``q`` (L, N, E) or (N, L, E) with ``batch_first``, ``k``/``v`` (S, N, E) likewise (their
    heads are strided views: nothing is copied), or ``k = v = None`` with ``q`` the packed
    (…, 3E) projection of self-attention.  ``attn_bias`` is an additive host mask
    broadcastable to (N, heads, L, S).  ``alibi_slopes`` (heads,) adds ALiBi's bias
    ``-slope_h |j - (i + S - L)|`` inside the kernels (no (L, S) array is built).
    Returns (context (…, E), weights (N, heads, L, S)).

    Query i sits at position ``i + S - L`` among the keys (aligned at the end), for the
    causal limit and for ALiBi alike: in incremental decoding, k and v grown by cached
    steps, one new query sees every cached key and is the last position.  RoPE
    (:func:`rotary_embedding`) rotates q and k before this."""
    packed = k is None
    q = _tensor(q)
    e = q.shape[2] // 3 if packed else q.shape[2]
    n = q.shape[0] if batch_first else q.shape[1]
    n_q = q.shape[1] if batch_first else q.shape[0]
    kk = q if packed else _tensor(k)
    n_k = kk.shape[1] if batch_first else kk.shape[0]
    scale = 1.0 / math.sqrt(e // num_heads)
    keep = None
    if dropout_p > 0.0:
        keep = dropout_mask((n, num_heads, n_q, n_k), dropout_p, q.dtype, generator)
    slopes = None
    if alibi_slopes is not None:
        slopes = np.ascontiguousarray(backend.to_host(_data(alibi_slopes)), np.float64)
        if slopes.shape != (num_heads,):
            raise NlpkitError(f"attention_heads: alibi_slopes expected shape ({num_heads},), "
                              f"got {slopes.shape}")
    return _AttentionHeads.apply(q, None if packed else _tensor(k), None if packed else _tensor(v),
                                 num_heads=num_heads, batch_first=bool(batch_first), scale=scale,
                                 bias=attn_bias, causal=bool(is_causal), keep=keep,
                                 slopes=slopes)


@functools.lru_cache(maxsize=32)
def _rotary_tables(n_positions, head_dim, base, dtype_name):
    cos, sin = _cpu.position.angles(n_positions, head_dim, base)
    return cos.astype(dtype_name), sin.astype(dtype_name)


class _Rotary(Function):
    @staticmethod
    def forward(ctx, x, n_cols, head_dim, batch_first, offset, base):
        K = _kernels(x)
        x = K.arrays.contiguous(x)
        length = x.shape[1] if batch_first else x.shape[0]
        n_pos = 1 << builtins.max(6, int(offset + length - 1).bit_length())  # few tables
        cos, sin = _rotary_tables(n_pos, head_dim, float(base), np.dtype(x.dtype).name)
        ctx.K, ctx.tables = K, (_on(K, cos), _on(K, sin))
        ctx.conf = n_cols, head_dim, batch_first, offset
        return K.position.rotary(x, *ctx.tables, *ctx.conf)

    @staticmethod
    def backward(ctx, g):  # the inverse rotation
        K = ctx.K
        return K.position.rotary(K.arrays.contiguous(g), *ctx.tables, *ctx.conf, sign=-1)


def rotary_embedding(input, head_dim, n_cols=None, batch_first=False, offset=0, base=10000.0):
    """RoPE on the heads of a projection ``input`` ((L, N, C), or (N, L, C) with
    ``batch_first``), one fused node: each head of ``head_dim`` columns among the first
    ``n_cols`` (default: all) is rotated to its position ``offset + t`` in GPT-NeoX's and
    Hugging Face LLaMA's "rotate half" pairing (column c with c + head_dim/2, angle
    ``p * base^(-2c/head_dim)``); the remaining columns pass through (a packed q|k|v
    projection: ``n_cols = 2E``).  Scores between rotated queries and keys depend on
    their positions' difference only."""
    x = _tensor(input)
    n_cols = x.shape[-1] if n_cols is None else int(n_cols)
    if x.ndim != 3 or head_dim % 2 or n_cols % head_dim or n_cols > x.shape[2]:
        raise NlpkitError(f"rotary_embedding: input of shape {x.shape} cannot hold heads of "
                          f"{head_dim} (an even number) in its first {n_cols} columns")
    if offset < 0:
        raise NlpkitError(f"rotary_embedding: offset must be >= 0; got {offset}")
    return _Rotary.apply(x, n_cols=n_cols, head_dim=int(head_dim),
                         batch_first=bool(batch_first), offset=int(offset), base=float(base))


def attention_bias(n, num_heads, n_q, n_k, dtype, key_padding_mask=None, attn_mask=None,
                   what="MultiheadAttention"):
    """PyTorch's MultiheadAttention masks as one additive host bias broadcastable to
    (N, heads, L, S): ``attn_mask`` (L, S) or (N·heads, L, S), boolean (True = masked) or
    float; ``key_padding_mask`` (N, S) (True = ignore that key)."""
    bias = None
    if attn_mask is not None:
        m = additive_mask(attn_mask, dtype, "attn_mask")
        if m.shape == (n_q, n_k):
            bias = m
        elif m.shape == (n * num_heads, n_q, n_k):
            bias = m.reshape(n, num_heads, n_q, n_k)
        else:
            raise NlpkitError(f"{what}: attn_mask expected shape {(n_q, n_k)} or "
                              f"{(n * num_heads, n_q, n_k)}, got {m.shape}")
    if key_padding_mask is not None:
        m = additive_mask(key_padding_mask, dtype, "key_padding_mask")
        if m.shape != (n, n_k):
            raise NlpkitError(f"{what}: key_padding_mask expected shape {(n, n_k)}, "
                              f"got {m.shape}")
        m = m.reshape(n, 1, 1, n_k)
        bias = m if bias is None else bias + m
    return bias


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k=None, bias_v=None,
                                 add_zero_attn=False, dropout_p=0.0, out_proj_weight=None,
                                 out_proj_bias=None, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False,
                                 batch_first=False, generator=None, rotary_base=None,
                                 alibi_slopes=None, cache=None):
    """torch's multi_head_attention_forward (without bias_k/bias_v, add_zero_attn and
    static keys): in-projections (one product for self-attention), the fused heads
    (:func:`attention_heads`), the out-projection; the inputs stay in the caller's layout
    ((L, N, E), or (N, L, E) with ``batch_first``).  Returns (output, weights or None).

    nlpkit's additions (keys sit at positions 0 … S-1, query i at ``i + S - L``):
    ``rotary_base``: RoPE (:func:`rotary_embedding`) on the projected queries and keys;
    ``alibi_slopes`` (heads,): ALiBi inside the attention kernel; ``cache``: a dict for
    incremental decoding.  In self-attention (query is key is value) the cache keeps the
    projected (and rotated) keys and values of the steps so far under 'k' and 'v' and
    each call appends its own; in cross-attention it keeps the memory's projections
    after the first call, which are then reused (``key``/``value`` are not read again).
    ``key_padding_mask`` and ``attn_mask`` then cover every key, cached ones included."""
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None \
            or static_v is not None:
        raise NlpkitError("multi_head_attention_forward: bias_k, bias_v, add_zero_attn and "
                          "static_k/v are not supported")
    q_in = _tensor(query)
    e = embed_dim_to_check
    head_dim = e // num_heads
    self_attn = query is key and key is value and not use_separate_proj_weight
    axis = 1 if batch_first else 0
    n = q_in.shape[1 - axis]
    n_q = q_in.shape[axis]
    causal = is_causal and attn_mask is None  # an explicit attn_mask wins, as in PyTorch
    p = dropout_p if training else 0.0
    heads_kw = dict(num_heads=num_heads, batch_first=batch_first, is_causal=causal,
                    dropout_p=p, generator=generator, alibi_slopes=alibi_slopes)
    if self_attn and cache is None:  # one product for q, k and v; heads read in place
        qkv = linear(q_in, in_proj_weight, in_proj_bias)
        if rotary_base is not None:
            qkv = rotary_embedding(qkv, head_dim, 2 * e, batch_first, 0, rotary_base)
        bias = attention_bias(n, num_heads, n_q, n_q, q_in.dtype, key_padding_mask, attn_mask)
        ctx, probs = attention_heads(qkv, None, None, attn_bias=bias, **heads_kw)
    else:
        if use_separate_proj_weight:
            ws = (q_proj_weight, k_proj_weight, v_proj_weight)
        else:
            ws = tuple(getitem(in_proj_weight, slice(i * e, (i + 1) * e)) for i in range(3))
        bs = (None,) * 3 if in_proj_bias is None else \
            tuple(getitem(in_proj_bias, slice(i * e, (i + 1) * e)) for i in range(3))
        q = linear(q_in, ws[0], bs[0])
        if cache is not None and not self_attn and "k" in cache:  # the memory's, kept
            k, v = cache["k"], cache["v"]
        else:
            k_in, v_in = (q_in, q_in) if self_attn else (_tensor(key), _tensor(value))
            k, v = linear(k_in, ws[1], bs[1]), linear(v_in, ws[2], bs[2])
            past = cache["k"].shape[axis] if cache is not None and "k" in cache else 0
            if rotary_base is not None:
                k = rotary_embedding(k, head_dim, None, batch_first, past, rotary_base)
            if past:
                k, v = cat([cache["k"], k], axis), cat([cache["v"], v], axis)
            if cache is not None:
                cache["k"], cache["v"] = k, v
        n_k = k.shape[axis]
        if rotary_base is not None:
            q = rotary_embedding(q, head_dim, None, batch_first, n_k - n_q, rotary_base)
        bias = attention_bias(n, num_heads, n_q, n_k, q_in.dtype, key_padding_mask, attn_mask)
        ctx, probs = attention_heads(q, k, v, attn_bias=bias, **heads_kw)
    out = linear(ctx, out_proj_weight, out_proj_bias)
    weights = None
    if need_weights:
        w = Tensor(probs.data)
        weights = mean(w, 1) if average_attn_weights else w
    return out, weights


# ------------------------------------------------------------------ recurrent layers
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class _Recurrent(Function):
    """Every layer and direction of an RNN/LSTM/GRU call: one node.

    Arguments: x (T, B, I) (time first inside), h0, c0 (or None), then per layer and
    direction (w_ih, w_hh, b_ih, b_hh) (biases may be None)."""

    @staticmethod
    def forward(ctx, x, h0, c0, *weights, mode, num_layers, num_directions, lengths, masks):
        K = _kernels(x, *[w for w in weights if w is not None])
        xp = K.arrays
        x = xp.contiguous(_on(K, x))
        n_steps, batch = x.shape[:2]
        hidden = weights[1].shape[1]
        shape = (num_layers * num_directions, batch, hidden)
        lstm = mode == "LSTM"
        h0 = xp.zeros(shape, x.dtype) if h0 is None else _on(K, h0)
        c0 = (xp.zeros(shape, x.dtype) if c0 is None else _on(K, c0)) if lstm else None
        h_n = xp.empty(shape, x.dtype)
        c_n = xp.empty(shape, x.dtype) if lstm else None
        caches, inp = [], x
        for layer in range(num_layers):
            outs, dir_caches = [], []
            for d in range(num_directions):
                idx = layer * num_directions + d
                w_ih, w_hh, b_ih, b_hh = weights[4 * idx:4 * idx + 4]
                out, last, cache = K.recurrent.direction_forward(
                    mode, inp, w_ih, w_hh, b_ih, b_hh, h0[idx],
                    None if c0 is None else c0[idx], lengths, d == 1)
                _set_row(xp, h_n, idx, last[0])
                if lstm:
                    _set_row(xp, c_n, idx, last[1])
                outs.append(out)
                dir_caches.append(cache)
            out = outs[0] if len(outs) == 1 else xp.concat(outs, 2)
            mask = masks[layer] if layer < len(masks) else None
            if mask is not None:
                mask = _on(K, mask)
                out = xp.mul(out, mask)
            caches.append((inp, dir_caches, mask))
            inp = out
        ctx.K, ctx.caches, ctx.conf = K, caches, (mode, num_layers, num_directions, lengths)
        ctx.shape, ctx.n_weights = shape, len(weights)
        ctx.weights = weights
        return (inp, h_n, c_n) if lstm else (inp, h_n)

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        K = ctx.K
        xp = K.arrays
        mode, num_layers, num_directions, lengths = ctx.conf
        lstm = mode == "LSTM"
        shape = ctx.shape
        dtype = ctx.caches[0][0].dtype
        hidden = shape[2]
        if dy is None:
            x0 = ctx.caches[-1][0]
            dy = xp.zeros((x0.shape[0], x0.shape[1], hidden * num_directions), dtype)
        dh_n = xp.zeros(shape, dtype) if dh_n is None else dh_n
        dc_n = (xp.zeros(shape, dtype) if dc_n is None else dc_n) if lstm else None
        dh0 = xp.empty(shape, dtype)
        dc0 = xp.empty(shape, dtype) if lstm else None
        wgrads = [None] * ctx.n_weights
        for layer in range(num_layers - 1, -1, -1):
            inp, dir_caches, mask = ctx.caches[layer]
            if mask is not None:
                dy = xp.mul(dy, mask)
            dinp = None
            for d in range(num_directions):
                idx = layer * num_directions + d
                dout = dy if num_directions == 1 else \
                    xp.getitem(dy, (slice(None), slice(None), slice(d * hidden, (d + 1) * hidden)))
                w_ih, w_hh, b_ih, b_hh = ctx.weights[4 * idx:4 * idx + 4]
                first, di, grads = K.recurrent.direction_backward(
                    mode, dout, dh_n[idx], None if dc_n is None else dc_n[idx], inp, w_ih,
                    w_hh, b_ih is not None, lengths, dir_caches[d], d == 1)
                _set_row(xp, dh0, idx, first[0])
                if lstm:
                    _set_row(xp, dc0, idx, first[1])
                dinp = di if dinp is None else xp.add_(dinp, di)
                wgrads[4 * idx:4 * idx + 4] = grads
            dy = dinp
        return (dy, dh0, dc0, *wgrads)


def _set_row(xp, a, idx, value):
    if isinstance(a, np.ndarray):
        a[idx] = value
    else:
        a[idx].copy_to_device(value)


def recurrent(mode, input, hx, weights, num_layers=1, bidirectional=False, batch_first=False,
              dropout=0.0, training=True, lengths=None, generator=None):
    """RNN/LSTM/GRU over ``input`` (T, B, I) or (B, T, I) with ``batch_first``: one graph
    node for every layer and direction.  ``weights``: per layer and direction
    (w_ih, w_hh, b_ih, b_hh) (biases None without bias), PyTorch's gate order.
    ``hx``: h0 (layers·dirs, B, H), or (h0, c0) for LSTM, or None.  ``lengths`` (B,):
    padded steps keep the state, output zeros and get no gradient
    (``pack_padded_sequence`` semantics).  Returns (output, h_n) or (output, (h_n, c_n))."""
    x = _tensor(input)
    if batch_first:
        x = transpose(x, 0, 1)
    n_steps, batch = x.shape[:2]
    dirs = 2 if bidirectional else 1
    lstm = mode == "LSTM"
    h0 = c0 = None
    if hx is not None:
        h0, c0 = (hx[0], hx[1]) if lstm else (hx, None)
    if lengths is None:
        lengths = np.full(batch, n_steps, np.int64)
    lengths = np.ascontiguousarray(backend.to_host(_data(lengths)), dtype=np.int64)
    hidden = weights[1].shape[1]
    masks = []
    if training and dropout > 0:
        masks = [dropout_mask((n_steps, batch, hidden * dirs), dropout, x.dtype, generator)
                 for _ in range(num_layers - 1)]
    out = _Recurrent.apply(x, h0, c0, *weights, mode=mode, num_layers=num_layers,
                           num_directions=dirs, lengths=lengths, masks=masks)
    output = transpose(out[0], 0, 1) if batch_first else out[0]
    return (output, (out[1], out[2])) if lstm else (output, out[1])


def lstm(input, hx, weights, **kw):
    return recurrent("LSTM", input, hx, weights, **kw)


def gru(input, hx, weights, **kw):
    return recurrent("GRU", input, hx, weights, **kw)


def rnn_tanh(input, hx, weights, **kw):
    return recurrent("RNN_TANH", input, hx, weights, **kw)


def rnn_relu(input, hx, weights, **kw):
    return recurrent("RNN_RELU", input, hx, weights, **kw)


# ------------------------------------------------------------------ Tensor's operators
def _install_operators():
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: sub(a, b)
    T.__rsub__ = lambda a, b: sub(b, a)
    T.__mul__ = lambda a, b: mul(a, b)
    T.__rmul__ = lambda a, b: mul(b, a)
    T.__truediv__ = lambda a, b: div(a, b)
    T.__rtruediv__ = lambda a, b: div(b, a)
    T.__neg__ = lambda a: neg(a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__pow__ = lambda a, p: pow(a, p)
    T.__getitem__ = lambda a, key: getitem(a, key)
    T.__eq__ = lambda a, b: _compare(a, b, "eq")
    T.__ne__ = lambda a, b: _compare(a, b, "ne")
    T.__lt__ = lambda a, b: _compare(a, b, "lt")
    T.__le__ = lambda a, b: _compare(a, b, "le")
    T.__gt__ = lambda a, b: _compare(a, b, "gt")
    T.__ge__ = lambda a, b: _compare(a, b, "ge")
    T.__hash__ = object.__hash__
    T.sum = lambda a, dim=None, keepdim=False: sum(a, dim, keepdim)
    T.mean = lambda a, dim=None, keepdim=False: mean(a, dim, keepdim)
    T.max = lambda a, dim=None, keepdim=False: max(a, dim, keepdim)
    T.argmax = lambda a, dim=-1, keepdim=False: argmax(a, dim, keepdim)
    T.exp = lambda a: exp(a)
    T.log = lambda a: log(a)
    T.sqrt = lambda a: sqrt(a)
    T.tanh = lambda a: tanh(a)
    T.sigmoid = lambda a: sigmoid(a)
    T.relu = lambda a: relu(a)
    T.softmax = lambda a, dim=-1: softmax(a, dim)
    T.log_softmax = lambda a, dim=-1: log_softmax(a, dim)
    T.reshape = lambda a, *shape: reshape(a, shape[0] if len(shape) == 1 and
                                          isinstance(shape[0], (tuple, list)) else shape)
    T.view = T.reshape
    T.transpose = lambda a, d0, d1: transpose(a, d0, d1)
    T.permute = lambda a, *dims: permute(a, dims[0] if len(dims) == 1 and
                                         isinstance(dims[0], (tuple, list)) else dims)
    T.unsqueeze = lambda a, dim: unsqueeze(a, dim)
    T.squeeze = lambda a, dim=None: squeeze(a, dim)
    T.split = lambda a, size, dim=0: split(a, size, dim)
    T.chunk = lambda a, chunks, dim=0: chunk(a, chunks, dim)
    T.masked_fill = lambda a, mask, value: masked_fill(a, mask, value)
    T.T = property(lambda a: permute(a, tuple(range(a.ndim))[::-1]))


_install_operators()
Parameter.__hash__ = object.__hash__
