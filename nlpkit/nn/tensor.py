"""Tensor and reverse-mode automatic differentiation over a graph of ops.

A :class:`Tensor` wraps a NumPy array or a CUDA device array (``.data``).  Every
op is a :class:`Function` with a ``forward(ctx, *arrays)`` and a
``backward(ctx, *grads)`` (as ``torch.autograd.Function``): ``apply`` runs the
forward on the raw arrays and, when an input requires a gradient, keeps the
call's ``ctx`` (the graph node: its inputs and whatever the forward saved on it)
on the outputs.  What a backward needs therefore lives on the node of that one
call, never on a layer, so a layer may be called any number of times in a step
(a decoder loop, tied embeddings, a shared encoder).  ``Tensor.backward()``
walks the nodes in reverse topological order, sums the gradients reaching each
tensor, and adds those of the leaves into their ``.grad`` (micrograd's idea,
with kernels instead of scalars).

Contract for a backward: it must not modify the gradients it receives nor what
its forward saved; it returns one gradient (or None) per forward argument.
Arrays it returns may be kept as a leaf's ``.grad`` (optimizers and
:func:`~nlpkit.nn.clip_grad_norm` change those in place), so the engine copies
any gradient it cannot prove to be a fresh, unshared array.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import backend
from ..errors import NlpkitError
from .kernels import for_arrays

_state = threading.local()
backend.keep_freed_memory()  # a step's graph is freed at once: keep the memory for the next


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Run the block without recording the graph (inference, parameter updates)."""
    old = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = old


def is_array(a) -> bool:
    return isinstance(a, np.ndarray) or backend.is_device_array(a)


class Tensor:
    """An array (NumPy or CUDA) with an optional gradient and the node that made it.

    ``data`` the array; ``grad`` the accumulated gradient of a leaf (same device and
    shape) or None; ``requires_grad``; ``shape``, ``dtype``, ``ndim``, ``device``
    ('cpu' or 'cuda'); ``numpy()`` a host array; ``detach()``; ``backward(grad=None)``.
    Operators (``+ - * / @``, comparisons, ``[...]``) call :mod:`nlpkit.nn.functional`.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_index", "_retain", "__weakref__")
    __array_ufunc__ = None  # numpy_array + tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        elif not is_array(data):
            data = np.asarray(data)
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._index = 0
        self._retain = False

    # -- array facts
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return np.dtype(self.data.dtype)

    @property
    def ndim(self):
        return len(self.data.shape)

    @property
    def size(self):
        return int(self.data.size)

    @property
    def device(self):
        return "cuda" if backend.is_device_array(self.data) else "cpu"

    @property
    def is_leaf(self):
        return self._ctx is None

    def __len__(self):
        return self.shape[0]

    def numpy(self):
        """The data as a NumPy array (the array itself on the CPU, a copy from the GPU)."""
        return self.data.copy_to_host() if backend.is_device_array(self.data) else self.data

    def item(self):
        return self.numpy().reshape(-1)[0].item() if self.size == 1 else _not_scalar(self)

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep this (non-leaf) tensor's gradient in ``.grad`` after ``backward``."""
        self._retain = True
        return self

    def requires_grad_(self, flag=True):
        self.requires_grad = bool(flag)
        return self

    def to(self, device):
        """This tensor on ``device`` ('cpu', 'cuda', 'auto'); differentiable."""
        return _ToDevice.apply(self, device=backend.resolve_device(device))

    def cpu(self):
        return self.to("cpu")

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}{dev}{grad})"

    # -- in-place writes (not recorded: as under torch.no_grad())
    def __setitem__(self, key, value):
        if self._ctx is not None and is_grad_enabled():
            raise NlpkitError("in-place assignment into a tensor that is part of a graph is not "
                              "supported; assign into a leaf (a parameter) or use "
                              "masked_fill/where")
        if isinstance(value, Tensor):
            value = value.data
        if backend.is_device_array(self.data):
            host = self.data.copy_to_host()
            host[key] = backend.to_host(value) if backend.is_device_array(value) else value
            self.data.copy_to_device(host)
        else:
            self.data[key] = value

    # -- differentiation
    def backward(self, grad=None, retain_graph=False):
        """Gradients of this tensor (a scalar, or weighted by ``grad``) with respect to
        every leaf that requires one, added into their ``.grad``."""
        if not self.requires_grad:
            raise NlpkitError("backward: this tensor does not require a gradient (no input of "
                              "the ops that made it requires one)")
        if grad is None:
            if self.size != 1:
                raise NlpkitError(f"backward: grad can be implied only for a scalar; this "
                                  f"tensor has shape {self.shape}")
            grad = for_arrays(self.data).arrays.full(self.shape, 1, self.dtype)
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            if tuple(grad.shape) != self.shape:
                raise NlpkitError(f"backward: grad expected shape {self.shape}, "
                                  f"got {tuple(grad.shape)}")
        run_backward(self, grad, retain_graph)

    # operators are attached by functional.py (they call its ops)


def _not_scalar(t):
    raise NlpkitError(f"item: only a one-element tensor has one value; shape is {t.shape}")


class Parameter(Tensor):
    """A module's learned tensor: ``requires_grad`` by default, gradients accumulate in
    ``.grad`` (cleared by ``Module.zero_grad()``/``Optimizer.zero_grad()``)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A leaf tensor from an array (NumPy or CUDA), a Tensor's data or anything
    ``np.asarray`` takes; ``device`` ('cpu'/'cuda') moves it."""
    if isinstance(data, Tensor):
        data = data.data
    if not is_array(data):
        data = np.asarray(data, dtype=dtype)
    elif dtype is not None and np.dtype(data.dtype) != np.dtype(dtype):
        data = backend.to_host(data).astype(dtype)
    t = Tensor(data, requires_grad)
    if device is not None:
        t.data = move_array(t.data, backend.resolve_device(device))
    return t


# ------------------------------------------------------------------ the graph
class Context:
    """One call of a Function: its inputs, and whatever its forward saved (attributes)."""

    def __init__(self, fn):
        self.fn = fn
        self.inputs = ()
        self.needs_input_grad = ()
        self.n_outputs = 1

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def mark_non_differentiable(self, *indices):
        self.non_differentiable = set(indices)


class Function:
    """An op with ``forward(ctx, *args, **kwargs)`` on raw arrays (Tensor arguments are
    unwrapped) returning an array or a tuple of arrays, and ``backward(ctx, *grads)``
    returning one gradient array (or None) per positional argument of ``forward``.
    ``grads`` hold None for outputs that received no gradient."""

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        tracked = False
        if is_grad_enabled():
            for a in args:
                if type(a) in _TENSOR_TYPES and a.requires_grad:
                    tracked = True
                    break
        ctx = Context(cls)
        if tracked:
            ctx.needs_input_grad = tuple(type(a) in _TENSOR_TYPES and a.requires_grad
                                         for a in args)
        raw = [a.data if type(a) in _TENSOR_TYPES else a for a in args]
        out = cls.forward(ctx, *raw, **kwargs)
        if type(out) is not tuple:
            t = Tensor(out, tracked)
            if tracked:
                t._ctx = ctx
                ctx.inputs = tuple(a if n else None for a, n in zip(args, ctx.needs_input_grad))
            return t
        ctx.n_outputs = len(out)
        skip = getattr(ctx, "non_differentiable", ())
        result = []
        for i, o in enumerate(out):
            if o is None:
                result.append(None)
                continue
            t = Tensor(o, tracked and i not in skip)
            if t.requires_grad:
                t._ctx = ctx
                t._index = i
            result.append(t)
        if tracked:
            ctx.inputs = tuple(a if n else None for a, n in zip(args, ctx.needs_input_grad))
        return tuple(result)


_TENSOR_TYPES = (Tensor, Parameter)


class _ToDevice(Function):
    @staticmethod
    def forward(ctx, x, device):
        ctx.src = "cuda" if backend.is_device_array(x) else "cpu"
        return move_array(x, device)

    @staticmethod
    def backward(ctx, g):
        return move_array(g, ctx.src)


def move_array(a, device):
    """The array ``a`` on ``device`` ('cpu' or 'cuda'): itself when it is there already."""
    if device == "cuda":
        if backend.is_device_array(a):
            return a
        return backend.pick(None, "nlpkit.nn.cuda", "cuda").arrays.asarray(a)
    return backend.to_host(a)


def _topological(root_ctx):
    """Nodes reachable from ``root_ctx`` in post-order: each after every node it takes
    input from, so reversed, each comes after all its users.  (Iterative: a decoder loop
    makes graphs deeper than Python's recursion limit.)"""
    order, visited = [], set()
    stack = [(root_ctx, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._ctx is not None and id(t._ctx) not in visited:
                stack.append((t._ctx, False))
    return order


def _owned(g, incoming, given, retain_graph):
    """True when the array ``g`` a backward returned belongs to nobody else, so sums may
    go into it in place and a leaf may keep it: a fresh NumPy array that is not one of
    the gradients the backward received nor one it returned twice."""
    if retain_graph or not isinstance(g, np.ndarray) or g.base is not None \
            or not g.flags.writeable:
        return False
    for x in incoming:
        if x is g:
            return False
    return sum(1 for x in given if x is g) == 1


def _add(buf, g):
    """buf + g as a new array (shapes equal; device arrays through the CUDA twin)."""
    if isinstance(buf, np.ndarray):
        return buf + g
    return for_arrays(buf).arrays.add(buf, g)


def _add_into(buf, g):
    if isinstance(buf, np.ndarray):
        buf += g
    else:
        for_arrays(buf).arrays.add_(buf, g)


def _copy(g):
    if isinstance(g, np.ndarray):
        return g.copy()
    return for_arrays(g).arrays.copy(g)


def run_backward(root, grad, retain_graph=False):
    """Propagate ``grad`` (the gradient of ``root``) to every leaf ``root`` depends on."""
    if root._ctx is None:  # a leaf: its own gradient
        _accumulate_leaf(root, [grad, False])
        return
    order = _topological(root._ctx)
    pending = {id(root._ctx): [None] * root._ctx.n_outputs}
    pending[id(root._ctx)][root._index] = [grad, False]
    leaves = {}
    for node in reversed(order):
        slots = pending.pop(id(node), None)
        if slots is None or all(s is None for s in slots):
            continue
        incoming = [None if s is None else s[0] for s in slots]
        if getattr(node, "freed", False):
            raise NlpkitError("backward through a graph a previous backward freed; "
                              "pass retain_graph=True to the first backward")
        result = node.fn.backward(node, *incoming)
        if type(result) is not tuple:
            result = (result,)
        for t, g in zip(node.inputs, result):
            if t is None or g is None:
                continue
            owned = _owned(g, incoming, result, retain_graph)
            if t._ctx is None or t._retain:
                _sum_into(leaves, t, g, owned and t._ctx is None)
            if t._ctx is not None:
                slots_t = pending.setdefault(id(t._ctx), [None] * t._ctx.n_outputs)
                entry = slots_t[t._index]
                if entry is None:
                    slots_t[t._index] = [g, owned and not t._retain]
                elif entry[1]:
                    _add_into(entry[0], g)
                else:
                    slots_t[t._index] = [_add(entry[0], g), True]
        if not retain_graph:  # free what the forward saved
            fn, n = node.fn, node.n_outputs
            node.__dict__.clear()
            node.fn, node.n_outputs, node.inputs, node.freed = fn, n, (), True
    for entry in leaves.values():
        _accumulate_leaf(*entry)


def _sum_into(leaves, t, g, owned):
    entry = leaves.get(id(t))
    if entry is None:
        leaves[id(t)] = (t, [g, owned])
    elif entry[1][1]:
        _add_into(entry[1][0], g)
    else:
        entry[1][:] = [_add(entry[1][0], g), True]


def _accumulate_leaf(t, entry):
    g, owned = entry
    if t.grad is None:
        t.grad = g if owned else _copy(g)
    else:
        _add_into(t.grad, g)
