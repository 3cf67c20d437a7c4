"""Module: named parameters and gradients laid out like PyTorch's state dicts.

A layer keeps its parameters in ``_params`` and the matching gradients in
``_grads`` (same local names); children are found by attribute assignment, so
``state_dict()`` keys read ``self_attn.in_proj_weight`` exactly as in PyTorch.

``forward`` keeps what ``backward`` needs; ``backward(grad_output)`` returns the
gradient of every input ``forward`` took and *adds* parameter gradients into
``.grads`` (as PyTorch accumulates ``.grad``), so call ``zero_grad()`` between
steps.  Parameters and gradients are updated in place, which lets optimizers
hold references to them.
"""
from __future__ import annotations

import functools

import numpy as np

from ..errors import NlpkitError

FLOAT_DTYPES = (np.float32, np.float64)


def check_dtype(dtype):
    """``np.float32`` or ``np.float64``, or NlpkitError."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise NlpkitError(f"dtype must be float32 or float64; got {dtype}")
    return dtype.type


class Module:
    """Base class of every layer: parameters, gradients, children, train/eval, state dicts."""

    def __init__(self, dtype=np.float32):
        self.__dict__["_params"] = {}
        self.__dict__["_grads"] = {}
        self.__dict__["_modules"] = {}
        self.dtype = check_dtype(dtype)
        self.training = True
        self._cache = None

    # -- attributes: children register themselves, parameters read as attributes
    def __setattr__(self, name, value):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            self._assign(name, value)
            return
        if isinstance(value, Module):
            self.__dict__["_modules"][name] = value
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def register_parameter(self, name, value):
        value = np.ascontiguousarray(value, dtype=self.dtype)
        self._params[name] = value
        self._grads[name] = np.zeros_like(value)

    def _assign(self, name, value):
        target = self._params[name]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise NlpkitError(f"{type(self).__name__}.{name}: expected shape {target.shape}, "
                              f"got {value.shape}")
        target[...] = value

    # -- traversal
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}{name}.")

    def children(self):
        return list(self._modules.values())

    def named_parameters(self, prefix=""):
        """``(name, array)`` pairs in PyTorch's state-dict order."""
        for name, value in self._params.items():
            yield prefix + name, value
        for cname, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}{cname}.")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_gradients(self, prefix=""):
        for name, value in self._grads.items():
            yield prefix + name, value
        for cname, child in self._modules.items():
            yield from child.named_gradients(f"{prefix}{cname}.")

    def gradients(self):
        """Gradient arrays in the same order as :meth:`parameters`."""
        return [g for _, g in self.named_gradients()]

    @property
    def grads(self) -> dict:
        """Gradients keyed like :meth:`state_dict` (live arrays, not copies)."""
        return dict(self.named_gradients())

    def zero_grad(self):
        for g in self.gradients():
            g[...] = 0

    def train(self, mode: bool = True):
        for _, m in self.named_modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # -- state dicts
    def state_dict(self) -> dict:
        return {name: value.copy() for name, value in self.named_parameters()}

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays (or anything ``np.asarray`` takes, e.g. torch tensors) into the
        parameters, in place."""
        own = dict(self.named_parameters())
        if strict:
            missing = [k for k in own if k not in state]
            unexpected = [k for k in state if k not in own]
            if missing or unexpected:
                raise NlpkitError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                                  f"unexpected keys {unexpected}")
        for name, value in state.items():
            if name not in own:
                continue
            value = _to_numpy(value)
            if value.shape != own[name].shape:
                raise NlpkitError(f"{type(self).__name__}.load_state_dict: {name} expected shape "
                                  f"{own[name].shape}, got {value.shape}")
            own[name][...] = value
        return self

    def save(self, path):
        """Write the state dict to ``path`` (``.npz``), atomically."""
        from ..text.readers import atomic_write
        with atomic_write(path, "wb", compress="") as fh:
            np.savez(fh, **self.state_dict())

    def load(self, path):
        with np.load(path) as data:
            return self.load_state_dict({k: data[k] for k in data.files})

    # -- devices: the CUDA dispatch lives in device_ops.py; the layers themselves stay CPU code
    device = "cpu"

    def to(self, device):
        """Move parameters and gradients to ``device`` ('cpu', 'cuda' or 'auto'), in place."""
        from .device_ops import move
        return move(self, device)

    def __init_subclass__(cls, **kwargs):
        # every layer takes ``device=`` (default: the CPU); the outermost constructor moves it
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _with_device(cls.__dict__["__init__"])

    # -- calling
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_output):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers for layers
    def _need_cache(self):
        if self._cache is None:
            raise NlpkitError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def _check_input(self, x, what="input", last=None, ndim=None):
        """Check a float input's dtype and trailing size; return it C-contiguous."""
        if not isinstance(x, np.ndarray):
            raise NlpkitError(f"{type(self).__name__}: {what} must be a numpy array, "
                              f"got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise NlpkitError(f"{type(self).__name__}: {what} dtype must be {np.dtype(self.dtype)} "
                              f"(the layer's dtype), got {x.dtype}")
        if ndim is not None and x.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
            raise NlpkitError(f"{type(self).__name__}: {what} must have {ndim} dimensions, "
                              f"got shape {x.shape}")
        if last is not None and (x.ndim == 0 or x.shape[-1] != last):
            raise NlpkitError(f"{type(self).__name__}: {what} expected shape (..., {last}), "
                              f"got {x.shape}")
        return np.ascontiguousarray(x)

    def _check_grad(self, grad, shape, what="grad_output"):
        if not isinstance(grad, np.ndarray) or grad.shape != tuple(shape):
            got = getattr(grad, "shape", type(grad).__name__)
            raise NlpkitError(f"{type(self).__name__}.backward: {what} expected shape "
                              f"{tuple(shape)}, "
                              f"got {got}")
        return np.ascontiguousarray(grad, dtype=self.dtype)

    def extra_repr(self):
        return ""

    def __repr__(self):
        inner = "".join(f"\n  ({n}): " + repr(m).replace("\n", "\n  ")
                        for n, m in self._modules.items())
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"


def _with_device(init):
    @functools.wraps(init)
    def __init__(self, *args, device=None, **kwargs):
        init(self, *args, **kwargs)
        if device is not None:
            self.to(device)
    return __init__


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class Sequential(Module):
    """Chain of single-input layers; ``backward`` runs them in reverse."""

    def __init__(self, *layers):
        dtype = layers[0].dtype if layers else np.float32
        super().__init__(dtype)
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def forward(self, x):
        for layer in self:
            x = layer(x)
        self._cache = True
        return x

    def backward(self, grad_output):
        self._need_cache()
        for layer in reversed(list(self)):
            grad_output = layer.backward(grad_output)
        return grad_output


def as_rng(rng):
    """A ``np.random.Generator`` from None, a seed or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
