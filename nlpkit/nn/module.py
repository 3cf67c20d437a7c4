"""Module: parameters (Tensors with ``requires_grad``) and children, named as PyTorch's
state dicts, a ``forward`` and nothing else.

A layer registers its parameters (:class:`~nlpkit.nn.tensor.Parameter`) and children
by attribute assignment, so ``state_dict()`` keys read ``self_attn.in_proj_weight``
exactly as in PyTorch.  ``forward`` composes the ops of
:mod:`nlpkit.nn.functional`; gradients come from ``loss.backward()`` into each
parameter's ``.grad`` (added up until ``zero_grad()``), never from the layer.
``to(device)`` converts the parameter arrays and nothing else: the ops run where
their arrays are.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import backend
from ..errors import NlpkitError
from .kernels import for_arrays
from .tensor import Parameter, Tensor, is_array, move_array

FLOAT_DTYPES = (np.float32, np.float64)


def check_dtype(dtype):
    """``np.float32`` or ``np.float64``, or NlpkitError."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise NlpkitError(f"dtype must be float32 or float64; got {dtype}")
    return dtype.type


class Module:
    """Base class of every layer and network: parameters, children, train/eval, state dicts."""

    def __init__(self, dtype=np.float32):
        self.__dict__["_params"] = {}
        self.__dict__["_modules"] = {}
        self.dtype = check_dtype(dtype)
        self.training = True

    # -- attributes: parameters and children register themselves
    def __setattr__(self, name, value):
        params = self.__dict__.get("_params")
        if params is not None and name in params and not isinstance(value, Parameter):
            self._assign(name, value)
            return
        if isinstance(value, Parameter):
            params[name] = value
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
        """A new parameter from an array (cast to the module's dtype) or a Parameter (kept as
        it is, so two modules can share one: tied weights)."""
        if not isinstance(value, Parameter):
            value = Parameter(np.ascontiguousarray(value, dtype=self.dtype))
        self._params[name] = value
        return value

    def _assign(self, name, value):
        target = self._params[name]
        value = value.data if isinstance(value, Tensor) else value
        value = np.asarray(backend.to_host(value))
        if value.shape != target.shape:
            raise NlpkitError(f"{type(self).__name__}.{name}: expected shape {target.shape}, "
                              f"got {value.shape}")
        _write(target, value)

    # -- traversal
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}{name}.")

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self, prefix=""):
        """``(name, Parameter)`` pairs in PyTorch's state-dict order; a parameter shared
        by two modules (tied weights) is listed once, under its first name."""
        seen = set()
        for name, p in self._named_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _named_parameters(self, prefix):
        for name, value in self._params.items():
            yield prefix + name, value
        for cname, child in self._modules.items():
            yield from child._named_parameters(f"{prefix}{cname}.")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self, set_to_none=True):
        """Forget the accumulated gradients: ``.grad = None`` (PyTorch's default), or zeros
        written into the arrays, which keeps their memory for the next step."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                for_arrays(p.grad).arrays.fill_(p.grad, 0)

    def train(self, mode: bool = True):
        for _, m in self.named_modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # -- state dicts
    def state_dict(self) -> dict:
        """``{name: host array copy}``, PyTorch's names and shapes (a tied parameter appears
        under each of its names, as in PyTorch)."""
        return {name: np.array(backend.to_host(p.data), copy=True)
                for name, p in self._named_parameters("")}

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays (or anything ``np.asarray`` takes, e.g. torch tensors) into the
        parameters, in place (on their device)."""
        own = dict(self._named_parameters(""))
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
            _write(own[name], value)
        return self

    def save(self, path):
        """Write the state dict to ``path`` as an nlpkit model file (:mod:`nlpkit.modelfile`:
        ``weights.safetensors`` under PyTorch's names, beside ``model.json``), atomically."""
        from ..modelfile import write_model_file
        write_model_file(path, type(self).__name__, {"object": "nlpkit.nn.Module"},
                         self.state_dict())

    def load(self, path):
        """Load the weights :meth:`save` wrote (by a module of this class) into this module,
        in place; nothing in the file can run code."""
        from ..errors import InputFileError
        from ..modelfile import read_model_file
        _kind, _fields, arrays = read_model_file(path, kind=type(self).__name__)
        try:
            return self.load_state_dict(arrays)
        except NlpkitError as exc:
            raise InputFileError(path, str(exc)) from None

    # -- devices: only the parameter arrays move; the ops follow their data
    @property
    def device(self):
        return self.__dict__.get("_device", "cpu")

    def to(self, device):
        """Move the parameters (and their gradients) to ``device`` ('cpu', 'cuda' or 'auto'),
        in place; returns the module."""
        device = backend.resolve_device(device)
        for _, m in self.named_modules():
            m.__dict__["_device"] = device
        for p in self.parameters():
            p.data = move_array(p.data, device)
            if p.grad is not None:
                p.grad = move_array(p.grad, device)
        return self

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

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

    # -- helpers for layers
    def _check_input(self, x, what="input", last=None, ndim=None):
        """A float input (Tensor or array) of the layer's dtype, trailing size and rank,
        as a Tensor; NlpkitError naming the layer otherwise."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            if not is_array(x):
                raise NlpkitError(f"{name}: {what} must be a Tensor or an array, "
                                  f"got {type(x).__name__}")
            x = Tensor(x)
        if np.dtype(x.dtype) != np.dtype(self.dtype):
            raise NlpkitError(f"{name}: {what} dtype must be {np.dtype(self.dtype)} "
                              f"(the layer's dtype), got {x.dtype}")
        if ndim is not None and x.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
            raise NlpkitError(f"{name}: {what} must have {ndim} dimensions, got shape {x.shape}")
        if last is not None and (x.ndim == 0 or x.shape[-1] != last):
            raise NlpkitError(f"{name}: {what} expected shape (..., {last}), got {x.shape}")
        return x

    def extra_repr(self):
        return ""

    def __repr__(self):
        inner = "".join(f"\n  ({n}): " + repr(m).replace("\n", "\n  ")
                        for n, m in self._modules.items())
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"


def _write(p, value):
    """Copy the host array ``value`` into parameter ``p``'s data, on its device."""
    if backend.is_device_array(p.data):
        p.data.copy_to_device(np.ascontiguousarray(value, dtype=p.data.dtype))
    else:
        p.data[...] = value


def _with_device(init):
    @functools.wraps(init)
    def __init__(self, *args, device=None, **kwargs):
        init(self, *args, **kwargs)
        if device is not None:
            self.to(device)
    return __init__


def _to_numpy(value):
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif isinstance(value, Tensor):
        value = value.numpy()
    return np.asarray(backend.to_host(value))


class Sequential(Module):
    """Chain of single-input layers."""

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
        return x


class ModuleList(Module):
    """Children in a list, registered as ``0``, ``1``, … (PyTorch's names)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]


def as_rng(rng):
    """A ``np.random.Generator`` from None, a seed or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
