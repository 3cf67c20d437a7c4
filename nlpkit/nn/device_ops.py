"""The nn layers on the GPU: ``module.to('cuda')`` (or ``device='cuda'`` when building a layer).

Moving a module to CUDA replaces its parameter and gradient arrays with device
arrays and gives every layer *instance* a ``forward``/``backward`` pair that
runs the CUDA twins (matmul_cuda, recurrent_kernels_cuda, attention_kernels_cuda,
elementwise_kernels_cuda, conv_kernels_cuda, position_kernels_cuda) on device
arrays, keeping the CPU layers' semantics, arguments and caches.  Training then
stays on the device: inputs given as host arrays are copied once, outputs and
gradients are device arrays, the optimizers update in place
(``optimizer_update``), and the only values that come back per step are the
loss and what the caller asks for (``need_weights``, ``.copy_to_host()``).
``module.to('cpu')`` brings everything back and restores the CPU methods.

This is the one place where layers dispatch on the device: the layer modules
themselves stay CPU code.  Layers without a CUDA path here raise a clear
error when moved.  Networks made of these layers (the models' nets) move too
when their class is marked :func:`composite`: their own forward/backward then
join, split and add arrays through :mod:`nlpkit.nn.array_ops`, which dispatches
on the array type.
"""
from __future__ import annotations

import math
import types

import numpy as np

from .. import backend
from ..errors import NlpkitError
from . import cuda_support as S
from . import elementwise_kernels_cuda as E

_OVERRIDDEN = ("forward", "backward", "zero_grad", "state_dict", "load_state_dict")
_COMPOSITES = set()


def composite(cls):
    """Class decorator: ``cls``'s forward/backward only call its children and
    :mod:`nlpkit.nn.array_ops`, so they run unchanged on any device.

    ``move`` then accepts the class without a CUDA table entry and keeps its own
    methods (as for Sequential).  Only the decorated class itself is accepted, not
    its subclasses, which may override the methods with host-only code."""
    _COMPOSITES.add(cls)
    return cls


# ------------------------------------------------------------------ moving modules
def move(module, device):
    """Move ``module`` and its children to ``device`` ('cpu', 'cuda' or 'auto'); returns it."""
    device = backend.resolve_device(device)
    mods = [m for _, m in module.named_modules()]
    table = _table() if device == "cuda" else {}
    if device == "cuda":
        table.update({cls: (None, None) for cls in _COMPOSITES})
        missing = sorted({type(m).__name__ for m in mods if type(m) not in table})
        if missing:
            raise NlpkitError(f"{', '.join(missing)}: no CUDA implementation yet; "
                              "keep this model on device='cpu'")
    for m in mods:
        convert = S.to_device if device == "cuda" else S.to_host
        for store in (m._params, m._grads):
            for name in list(store):
                store[name] = convert(store[name])
        for name in _OVERRIDDEN:
            m.__dict__.pop(name, None)
        if device == "cuda":
            fwd, bwd = table[type(m)]
            if fwd is not None:
                m.__dict__["forward"] = types.MethodType(fwd, m)
                m.__dict__["backward"] = types.MethodType(bwd, m)
            m.__dict__["zero_grad"] = types.MethodType(_zero_grad, m)
            m.__dict__["state_dict"] = types.MethodType(_state_dict, m)
            m.__dict__["load_state_dict"] = types.MethodType(_load_state_dict, m)
        m.__dict__["device"] = device
        m._cache = None
    return module


def _zero_grad(self):
    for g in self.gradients():
        S.fill(g, 0)


def _state_dict(self):
    return {name: S.to_host(value).copy() for name, value in self.named_parameters()}


def _load_state_dict(self, state, strict=True):
    """``Module.load_state_dict`` (its key and shape checks) into host copies of the
    parameters, then each copy to its device array (which keeps its identity: the
    optimizer holds it)."""
    from .module import Module
    stores = [(m._params, name) for _, m in self.named_modules() for name in m._params]
    device = [store[name] for store, name in stores]
    for store, name in stores:
        store[name] = store[name].copy_to_host()
    try:
        Module.load_state_dict(self, state, strict)
        for (store, name), d in zip(stores, device):
            d.copy_to_device(store[name])
    finally:
        for (store, name), d in zip(stores, device):
            store[name] = d
    return self


def move_optimizer(optimizer, module):
    """Point ``optimizer`` at ``module``'s parameters after ``module.to(...)`` replaced the
    arrays, its state (moments, momentum buffers) moved to the parameters' device."""
    from .optim import _pairs
    optimizer.pairs = _pairs(module)
    convert = S.to_device if module.device == "cuda" else S.to_host
    for state in optimizer.state:
        for key, value in state.items():
            if isinstance(value, np.ndarray) or S.is_device_array(value):
                state[key] = convert(value)
    return optimizer


# ------------------------------------------------------------------ checks shared by the layers
def _input(layer, x, what="input", last=None, ndim=None):
    """``x`` as a device array of the layer's dtype, checked like ``Module._check_input``."""
    name = type(layer).__name__
    if not (S.is_device_array(x) or isinstance(x, np.ndarray)):
        raise NlpkitError(f"{name}: {what} must be a numpy or CUDA device array, "
                          f"got {type(x).__name__}")
    if np.dtype(x.dtype) != np.dtype(layer.dtype):
        raise NlpkitError(f"{name}: {what} dtype must be {np.dtype(layer.dtype)} "
                          f"(the layer's dtype), got {x.dtype}")
    if ndim is not None and len(x.shape) != ndim:
        raise NlpkitError(f"{name}: {what} must have {ndim} dimensions, got shape {x.shape}")
    if last is not None and (len(x.shape) == 0 or tuple(x.shape)[-1] != last):
        raise NlpkitError(f"{name}: {what} expected shape (..., {last}), got {x.shape}")
    return S.to_device(x)


def _grad(layer, g, shape, what="grad_output"):
    if g is None or tuple(g.shape) != tuple(shape):
        got = getattr(g, "shape", type(g).__name__)
        raise NlpkitError(f"{type(layer).__name__}.backward: {what} expected shape "
                          f"{tuple(shape)}, got {got}")
    return S.to_device(g, layer.dtype)


def _rows(x):
    last = tuple(x.shape)[-1]
    return x.reshape(x.size // last if last else 0, last)


def _transpose(w):
    """A 2-D device array transposed into a new contiguous one."""
    return E.swap01_cuda(w.reshape(w.shape[0], w.shape[1], 1)).reshape(w.shape[1], w.shape[0])


# ------------------------------------------------------------------ Linear, activations, ...
def _linear_forward(self, x):
    from .matmul_cuda import gemm
    x = _input(self, x, last=self.in_features)
    x2 = _rows(x)
    y = gemm(x2, self.weight, trans_b=True)
    if self.has_bias:
        E.add_bias_cuda(y, self.bias)
    self._cache = x2, tuple(x.shape)
    return y.reshape(*x.shape[:-1], self.out_features)


def _linear_backward(self, grad_output):
    from .matmul_cuda import gemm
    x2, shape = self._need_cache()
    dy = _rows(_grad(self, grad_output, shape[:-1] + (self.out_features,)))
    gemm(dy, x2, out=self._grads["weight"], trans_a=True, beta=1.0)
    if self.has_bias:
        E.col_sums_cuda(dy, self._grads["bias"])
    return gemm(dy, self.weight).reshape(*shape)


def _act_kind(layer):
    from .layers import GELU
    if isinstance(layer, GELU):
        return "gelu_tanh" if layer.approximate == "tanh" else "gelu"
    return type(layer).__name__.lower()


def _act_forward(self, x):
    x = _input(self, x)
    y = E.activation_cuda(_act_kind(self), x)
    self._cache = x, y
    return y


def _act_backward(self, grad_output):
    x, y = self._need_cache()
    return E.activation_grad_cuda(_act_kind(self), x, y, _grad(self, grad_output, x.shape))


def _dropout_forward(self, x):
    x = _input(self, x)
    if not self.training or self.p == 0.0:
        self._cache = None, tuple(x.shape)
        return x
    # the mask is drawn on the host from the layer's generator (as on the CPU) and sent once
    keep = self.rng.random(x.shape, dtype=self.dtype) >= self.p  # the same draws as the CPU layer
    mask = keep.astype(self.dtype) / self.dtype(1.0 - self.p)
    mask = S.to_device(mask)
    self._cache = mask, tuple(x.shape)
    return E.mul_cuda(x, mask)


def _dropout_backward(self, grad_output):
    mask, shape = self._need_cache()
    dy = _grad(self, grad_output, shape)
    return dy if mask is None else E.mul_cuda(dy, mask)


def _layer_norm_affine(self):
    if self.elementwise_affine:
        return self.weight.reshape(self.size), self.bias.reshape(self.size)
    return (S.to_device(np.ones(self.size, self.dtype)),
            S.to_device(np.zeros(self.size, self.dtype)))


def _layer_norm_forward(self, x):
    x = _input(self, x)
    k = len(self.normalized_shape)
    if tuple(x.shape[len(x.shape) - k:]) != self.normalized_shape:
        dims = ", ".join(map(str, self.normalized_shape))
        raise NlpkitError(f"LayerNorm: input expected shape (..., {dims}), got {x.shape}")
    x2 = x.reshape(x.size // self.size, self.size)
    y, xhat = S.empty(x2.shape, self.dtype), S.empty(x2.shape, self.dtype)
    rstd = S.empty(x2.shape[0], self.dtype)
    w, b = _layer_norm_affine(self)
    E.layer_norm_forward_cuda(x2, w, b, self.eps, y, xhat, rstd)
    self._cache = xhat, rstd, tuple(x.shape)
    return y.reshape(*x.shape)


def _layer_norm_backward(self, grad_output):
    xhat, rstd, shape = self._need_cache()
    dy = _grad(self, grad_output, shape)
    dy = dy.reshape(dy.size // self.size, self.size)
    w, _ = _layer_norm_affine(self)
    dx = S.empty(dy.shape, self.dtype)
    E.layer_norm_backward_cuda(dy, xhat, rstd, w, dx)
    if self.elementwise_affine:
        E.col_sums_cuda(dy, self._grads["weight"].reshape(self.size), weights=xhat)
        E.col_sums_cuda(dy, self._grads["bias"].reshape(self.size))
    return dx.reshape(*shape)


def _embedding_forward(self, ids):
    ids = S.to_host(ids)  # ids are checked on the host, as on the CPU
    if not np.issubdtype(ids.dtype, np.integer):
        raise NlpkitError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
        raise NlpkitError(f"Embedding: ids must lie in [0, {self.num_embeddings}); "
                          f"got range [{ids.min()}, {ids.max()}]")
    flat = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
    flat_d = S.to_device(flat)
    self._cache = flat, flat_d, ids.shape
    return E.gather_rows_cuda(self.weight, flat_d).reshape(*ids.shape, self.embedding_dim)


def _embedding_backward(self, grad_output):
    flat, flat_d, shape = self._need_cache()
    dy = _grad(self, grad_output, shape + (self.embedding_dim,))
    pad = -1 if self.padding_idx is None else self.padding_idx
    E.scatter_add_rows_cuda(flat_d, _rows(dy), self._grads["weight"], pad)
    self.last_rows = np.unique(flat)
    return None


# ------------------------------------------------------------------ Conv1d and pooling over time
def _conv_block(a2, offset, width):
    """Columns ``offset:offset + width`` of a 2-D device array (itself when that is all)."""
    if offset == 0 and width == a2.shape[1]:
        return a2
    out = S.empty((a2.shape[0], width), a2.dtype)
    E.copy_cols_cuda(out, a2, offset, to_dst=False)
    return out


def _conv_groups(self):
    """(group, rows of the (out, in / groups * K) weight, its column block in the windows)."""
    og = self.out_channels // self.groups
    wc = self.in_channels // self.groups * self.kernel_size
    return [(g, slice(g * og, (g + 1) * og), g * wc, wc) for g in range(self.groups)]


def _conv_forward(self, x):
    from . import conv_kernels_cuda as C
    from .matmul_cuda import gemm
    x = _input(self, x, ndim=3)
    n, c, length = x.shape
    if c != self.in_channels:
        raise NlpkitError(f"Conv1d: input expected shape (N, {self.in_channels}, L), "
                          f"got {x.shape}")
    span = self.dilation * (self.kernel_size - 1) + 1
    padded = length + self.pad[0] + self.pad[1]
    if padded < span:
        raise NlpkitError(f"Conv1d: input length {length} is shorter than the kernel span {span}")
    out_len = (padded - span) // self.stride + 1
    cols = C.im2col_cuda(x, self.pad[0], self.stride, self.dilation, self.kernel_size, out_len)
    w2 = self.weight.reshape(self.out_channels, cols.shape[1] // self.groups)
    if self.groups == 1:
        y2 = gemm(cols, w2, trans_b=True)
    else:  # one GEMM per group on its block of window columns, as the CPU's batched matmul
        y2 = S.empty((cols.shape[0], self.out_channels), self.dtype)
        for _, rows, off, wc in _conv_groups(self):
            E.copy_cols_cuda(gemm(_conv_block(cols, off, wc), w2[rows], trans_b=True), y2,
                             rows.start)
    if self.has_bias:
        E.add_bias_cuda(y2, self.bias)
    self._cache = cols, tuple(x.shape), out_len
    return C.swap12_cuda(y2.reshape(n, out_len, self.out_channels))


def _conv_backward(self, grad_output):
    from . import conv_kernels_cuda as C
    from .matmul_cuda import gemm
    cols, shape, out_len = self._need_cache()
    dy = _grad(self, grad_output, (shape[0], self.out_channels, out_len))
    dy2 = _rows(C.swap12_cuda(dy))
    if self.has_bias:
        E.col_sums_cuda(dy2, self._grads["bias"])
    w2 = self.weight.reshape(self.out_channels, cols.shape[1] // self.groups)
    gw2 = self._grads["weight"].reshape(w2.shape)
    if self.groups == 1:
        gemm(dy2, cols, out=gw2, trans_a=True, beta=1.0)
        dcols = gemm(dy2, w2)
    else:
        dcols = S.empty(cols.shape, self.dtype)
        for _, rows, off, wc in _conv_groups(self):
            dy_g = _conv_block(dy2, rows.start, rows.stop - rows.start)
            gemm(dy_g, _conv_block(cols, off, wc), out=gw2[rows], trans_a=True, beta=1.0)
            E.copy_cols_cuda(gemm(dy_g, w2[rows]), dcols, off)
    return C.col2im_cuda(dcols, shape, self.pad[0], self.stride, self.dilation,
                         self.kernel_size, out_len)


def _pool_view(self, x, lengths):
    """``x`` as (A, T, B) around the pooled axis, with each row's length (A,) on the host."""
    shape = tuple(x.shape)
    t_axis = self.dim % len(shape)
    a = int(np.prod(shape[:t_axis], dtype=np.int64))
    b = int(np.prod(shape[t_axis + 1:], dtype=np.int64))
    if lengths is None:
        lens = np.full(a, shape[t_axis], np.int64)
    else:
        if t_axis == 0:
            raise NlpkitError(f"{type(self).__name__}: lengths need a batch axis before the "
                              "pooled axis")
        lengths = np.asarray(S.to_host(lengths), dtype=np.int64)
        self._valid(np.broadcast_to(np.zeros((), self.dtype), shape), lengths)  # CPU checks
        lens = np.repeat(lengths, a // shape[0])
    return x.reshape(a, shape[t_axis], b), lens, shape, t_axis


def _max_pool_forward(self, x, lengths=None):
    from . import conv_kernels_cuda as C
    x3, lens, shape, t_axis = _pool_view(self, _input(self, x), lengths)
    out, idx = C.max_pool_cuda(x3, lens)
    self._cache = idx, shape, t_axis
    return out.reshape(*(shape[:t_axis] + shape[t_axis + 1:]))


def _max_pool_backward(self, grad_output):
    from . import conv_kernels_cuda as C
    idx, shape, t_axis = self._need_cache()
    g = _grad(self, grad_output, shape[:t_axis] + shape[t_axis + 1:])
    a, b = idx.shape
    return C.max_pool_backward_cuda(g.reshape(a, b), idx, (a, shape[t_axis], b)).reshape(*shape)


def _mean_pool_forward(self, x, lengths=None):
    from . import conv_kernels_cuda as C
    x3, lens, shape, t_axis = _pool_view(self, _input(self, x), lengths)
    weights = S.to_device((1.0 / np.maximum(lens, 1)).astype(self.dtype))  # as the CPU's
    lens = S.to_device(lens)
    self._cache = lens, weights, shape, t_axis, tuple(x3.shape)
    return C.mean_pool_cuda(x3, lens, weights).reshape(*(shape[:t_axis] + shape[t_axis + 1:]))


def _mean_pool_backward(self, grad_output):
    from . import conv_kernels_cuda as C
    lens, weights, shape, t_axis, shape3 = self._need_cache()
    g = _grad(self, grad_output, shape[:t_axis] + shape[t_axis + 1:])
    g2 = g.reshape(shape3[0], shape3[2])
    return C.mean_pool_backward_cuda(g2, lens, weights, shape3).reshape(*shape)


# ------------------------------------------------------------------ positional encodings
def _added_position_forward(self, x):
    from .position import LearnedPositionalEncoding
    from .position_kernels_cuda import add_table_cuda
    x = _input(self, x, last=self.d_model, ndim=3)
    length = x.shape[1] if self.batch_first else x.shape[0]
    if length > self.max_len:
        raise NlpkitError(f"{type(self).__name__}: sequence length {length} exceeds "
                          f"max_len {self.max_len}")
    if isinstance(self, LearnedPositionalEncoding):
        table = self.weight
    else:  # the fixed sinusoidal table goes to the device once, with the layer
        table = self.__dict__.get("_device_table")
        if table is None:
            table = self.__dict__["_device_table"] = S.to_device(self.table)
    self._cache = tuple(x.shape)
    return add_table_cuda(x, table, self.batch_first)


def _added_position_backward(self, grad_output):
    from .position_kernels_cuda import table_grad_cuda
    g = _grad(self, grad_output, self._need_cache())
    if "weight" in self._grads:
        table_grad_cuda(g, self._grads["weight"], self.batch_first)
    return g


def _rope_tables(self, length, offset):
    """The CPU layer's cos / sin tables on the device, kept for the last (length, offset)."""
    key = (length, offset)
    cached = self.__dict__.get("_device_cos_sin")
    if cached is None or cached[0] != key:
        cos, sin = self._cos_sin(length, offset)
        cached = self.__dict__["_device_cos_sin"] = key, S.to_device(cos), S.to_device(sin)
    return cached[1], cached[2]


def _rope_forward(self, x, offset=0):
    from .position_kernels_cuda import rope_cuda
    x = _input(self, x, last=self.head_dim)
    if len(x.shape) < 2:
        raise NlpkitError(f"RotaryEmbedding: input expected shape (..., L, {self.head_dim}), "
                          f"got {x.shape}")
    length = tuple(x.shape)[-2]
    cos, sin = _rope_tables(self, length, int(offset))
    self._cache = cos, sin, tuple(x.shape)
    return rope_cuda(_as_groups(x), cos, sin).reshape(*x.shape)


def _rope_backward(self, grad_output):
    from .position_kernels_cuda import rope_cuda
    cos, sin, shape = self._need_cache()
    g = _grad(self, grad_output, shape)
    return rope_cuda(_as_groups(g), cos, sin, inverse=True).reshape(*shape)


# ------------------------------------------------------------------ RNN / LSTM / GRU
def _rec_lengths(self, n_steps, batch, lengths, padding_mask):
    name = type(self).__name__
    if padding_mask is not None:
        if lengths is not None:
            raise NlpkitError(f"{name}: give lengths or padding_mask, not both")
        padding_mask = np.asarray(S.to_host(padding_mask), dtype=bool)
        if padding_mask.shape != (batch, n_steps):
            raise NlpkitError(f"{name}: padding_mask expected shape {(batch, n_steps)}, "
                              f"got {padding_mask.shape}")
        lengths = (~padding_mask).sum(axis=1)
    if lengths is None:
        return np.full(batch, n_steps, dtype=np.int64)
    lengths = np.ascontiguousarray(S.to_host(lengths), dtype=np.int64)
    if lengths.shape != (batch,):
        raise NlpkitError(f"{name}: lengths expected shape ({batch},), got {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > n_steps):
        raise NlpkitError(f"{name}: lengths must lie in [0, {n_steps}]")
    return lengths


def _rec_states(self, hx, shape, grad=False):
    """The initial states (or final-state gradients) as a list of device arrays."""
    n = 2 if self.mode == "LSTM" else 1
    what = ("grad_h_n", "grad_c_n") if grad else ("h0", "c0")
    if hx is None:
        return [S.zeros(shape, self.dtype) for _ in range(n)]
    if n == 2:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise NlpkitError("LSTM.backward: grad_hx must be a tuple (grad_h_n, grad_c_n)"
                              if grad else "LSTM: hx must be a tuple (h0, c0)")
    else:
        hx = [hx]
    out = []
    for v, w in zip(hx, what):
        if v is None:
            out.append(S.zeros(shape, self.dtype))
            continue
        v = _grad(self, v, shape, w) if grad else _input(self, v, what=w)
        if tuple(v.shape) != shape:
            raise NlpkitError(f"{type(self).__name__}: {w} expected shape {shape}, "
                              f"got {v.shape}")
        out.append(v)
    return out


def _rec_project(self, inp, sfx):
    from .matmul_cuda import gemm
    w_ih, w_hh = self._params["weight_ih" + sfx], self._params["weight_hh" + sfx]
    xproj = gemm(_rows(inp), w_ih, trans_b=True)
    if self.bias:
        E.add_bias_cuda(xproj, self._params["bias_ih" + sfx])
        if self.mode != "GRU":  # GRU keeps b_hh apart: r scales the hidden part with its bias
            E.add_bias_cuda(xproj, self._params["bias_hh" + sfx])
    return xproj.reshape(inp.shape[0], inp.shape[1], xproj.shape[1]), w_ih, w_hh


def _rec_run(self, inp, init, sfx, lengths, reverse):
    from . import recurrent_kernels_cuda as RC
    xproj, w_ih, w_hh = _rec_project(self, inp, sfx)
    n_steps, batch = inp.shape[:2]
    h = self.hidden_size
    out, hprev = S.empty((n_steps, batch, h), self.dtype), S.empty((n_steps, batch, h), self.dtype)
    whh_t = _transpose(w_hh)
    if self.mode == "LSTM":
        cprev, tanh_c = S.empty(out.shape, self.dtype), S.empty(out.shape, self.dtype)
        gates = S.empty((n_steps, batch, 4 * h), self.dtype)
        last = RC.lstm_forward(xproj, whh_t, init[0], init[1], lengths, reverse, out, hprev,
                               cprev, gates, tanh_c)
        return out, list(last), (hprev, cprev, gates, tanh_c)
    if self.mode == "GRU":
        hn_proj = S.empty(out.shape, self.dtype)
        gates = S.empty((n_steps, batch, 3 * h), self.dtype)
        bhh = (self._params["bias_hh" + sfx] if self.bias
               else S.zeros(3 * h, self.dtype))
        last = RC.gru_forward(xproj, whh_t, bhh, init[0], lengths, reverse, out, hprev, gates,
                              hn_proj)
        return out, [last], (hprev, gates, hn_proj)
    relu = self.mode == "RNN_RELU"
    last = RC.rnn_forward(xproj, whh_t, init[0], lengths, reverse, relu, out, hprev)
    return out, [last], (out, hprev)


def _rec_back(self, dout, d_last, inp, dinp, sfx, lengths, cache, reverse):
    from . import recurrent_kernels_cuda as RC
    from .matmul_cuda import gemm
    w_ih, w_hh = self._params["weight_ih" + sfx], self._params["weight_hh" + sfx]
    if self.mode == "LSTM":
        hprev, cprev, gates, tanh_c = cache
        dgx = dgh = S.empty(gates.shape, self.dtype)
        first = RC.lstm_backward(dout, d_last[0], d_last[1], cprev, gates, tanh_c, w_hh, lengths,
                                 reverse, dgx)
    elif self.mode == "GRU":
        hprev, gates, hn_proj = cache
        dgx, dgh = S.empty(gates.shape, self.dtype), S.empty(gates.shape, self.dtype)
        first = [RC.gru_backward(dout, d_last[0], hprev, gates, hn_proj, w_hh, lengths, reverse,
                                 dgx, dgh)]
    else:
        out, hprev = cache
        dgx = dgh = S.empty(out.shape, self.dtype)
        first = [RC.rnn_backward(dout, d_last[0], out, w_hh, lengths, reverse,
                                 self.mode == "RNN_RELU", dgx)]
    dgx2, dgh2 = _rows(dgx), _rows(dgh)
    gemm(dgx2, _rows(inp), out=self._grads["weight_ih" + sfx], trans_a=True, beta=1.0)
    gemm(dgh2, _rows(hprev), out=self._grads["weight_hh" + sfx], trans_a=True, beta=1.0)
    if self.bias:
        E.col_sums_cuda(dgx2, self._grads["bias_ih" + sfx])
        E.col_sums_cuda(dgh2, self._grads["bias_hh" + sfx])
    gemm(dgx2, w_ih, out=_rows(dinp), beta=1.0)
    return list(first)


def _rec_forward(self, x, hx=None, lengths=None, padding_mask=None):
    x = _input(self, x, last=self.input_size, ndim=3)
    if self.batch_first:
        x = E.swap01_cuda(x)
    n_steps, batch = x.shape[:2]
    lengths = _rec_lengths(self, n_steps, batch, lengths, padding_mask)
    shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
    states = _rec_states(self, hx, shape)
    final = [S.empty(shape, self.dtype) for _ in states]
    h = self.hidden_size
    caches, inp = [], x
    for layer in range(self.num_layers):
        outs, dir_caches = [], []
        for d, sfx in enumerate(self._suffixes(layer)):
            idx = layer * self.num_directions + d
            out, last, cache = _rec_run(self, inp, [s[idx] for s in states], sfx, lengths,
                                        reverse=d == 1)
            for f, v in zip(final, last):
                f[idx].copy_to_device(v)
            outs.append(out)
            dir_caches.append(cache)
        if len(outs) == 1:
            out = outs[0]
        else:
            out = S.empty((n_steps, batch, 2 * h), self.dtype)
            for d, o in enumerate(outs):
                E.copy_cols_cuda(_rows(o), _rows(out), d * h)
        mask = None
        if self.training and self.dropout > 0 and layer < self.num_layers - 1:
            keep = self.rng.random(out.shape) >= self.dropout  # host generator, as on the CPU
            mask = S.to_device(keep.astype(self.dtype) / self.dtype(1 - self.dropout))
            out = E.mul_cuda(out, mask)
        caches.append((inp, dir_caches, mask))
        inp = out
    self._cache = caches, lengths, tuple(x.shape), shape
    output = E.swap01_cuda(inp) if self.batch_first else inp
    return output, (final[0], final[1]) if self.mode == "LSTM" else final[0]


def _rec_backward(self, grad_output, grad_hx=None):
    caches, lengths, x_shape, shape = self._need_cache()
    n_steps, batch = x_shape[:2]
    h = self.hidden_size
    out_shape = (n_steps, batch, h * self.num_directions)
    if grad_output is None:
        dy = S.zeros(out_shape, self.dtype)
    else:
        user = (batch, n_steps, out_shape[2]) if self.batch_first else out_shape
        dy = _grad(self, grad_output, user)
        if self.batch_first:
            dy = E.swap01_cuda(dy)
    d_final = _rec_states(self, grad_hx, shape, grad=True)
    d_init = [S.zeros(shape, self.dtype) for _ in d_final]
    for layer in range(self.num_layers - 1, -1, -1):
        inp, dir_caches, mask = caches[layer]
        if mask is not None:
            dy = E.mul_cuda(dy, mask)
        dinp = S.zeros(inp.shape, self.dtype)
        for d, sfx in enumerate(self._suffixes(layer)):
            idx = layer * self.num_directions + d
            if self.num_directions == 1:
                dout = dy
            else:
                dout = S.empty((n_steps, batch, h), self.dtype)
                E.copy_cols_cuda(_rows(dout), _rows(dy), d * h, to_dst=False)
            first = _rec_back(self, dout, [g[idx] for g in d_final], inp, dinp, sfx, lengths,
                              dir_caches[d], reverse=d == 1)
            for g, v in zip(d_init, first):
                g[idx].copy_to_device(v)
        dy = dinp
    dx = E.swap01_cuda(dy) if self.batch_first else dy
    return dx, (d_init[0], d_init[1]) if self.mode == "LSTM" else d_init[0]


# ------------------------------------------------------------------ MultiheadAttention
def _mha_forward(self, query, key, value, key_padding_mask=None, need_weights=False,
                 attn_mask=None, average_attn_weights=True, is_causal=False):
    from .attention import _drop_mask
    from .attention_kernels_cuda import sdpa_forward_cuda
    from .matmul_cuda import gemm
    same_dim = getattr(self, "_qkv_same_embed_dim", True)
    fused = query is key and key is value and same_dim
    q_in = _input(self, query, "query", last=self.embed_dim, ndim=3)
    k_in = q_in if fused else _input(self, key, "key", last=getattr(self, "kdim", None)
                                     or self.embed_dim, ndim=3)
    v_in = q_in if fused else _input(self, value, "value", last=getattr(self, "vdim", None)
                                     or self.embed_dim, ndim=3)
    (n, n_q), (n_kb, n_k) = self._batch_len(q_in), self._batch_len(k_in)
    if tuple(k_in.shape[:2]) != tuple(v_in.shape[:2]) or n_kb != n:
        raise NlpkitError(f"MultiheadAttention: query {query.shape}, key {key.shape} and value "
                          f"{value.shape} disagree in batch or length")
    e, heads = self.embed_dim, self.num_heads
    proj = []
    for i, x in enumerate((q_in, k_in, v_in)):
        w, _ = _mha_in_weight(self, i)
        y = gemm(_rows(x), w, trans_b=True)
        if self.has_bias:
            E.add_bias_cuda(y, self.in_proj_bias[i * e:(i + 1) * e])
        proj.append(E.split_heads_cuda(y.reshape(*x.shape[:2], e), heads, self.batch_first))
    qh, kh, vh = proj
    bias, kp = _mha_masks(self, n, n_q, n_k, key_padding_mask, attn_mask)
    scale = 1.0 / math.sqrt(self.head_dim)
    drop = _drop_mask(self, (n, heads, n_q, n_k))
    if drop is not None:
        drop = S.to_device(drop.reshape(n * heads, n_q, n_k))
    causal = is_causal and attn_mask is None  # an explicit attn_mask wins, as in PyTorch
    ctx, probs, dropped = sdpa_forward_cuda(qh, kh, vh, scale, bias, kp, heads, causal, drop)
    out = self.out_proj(E.merge_heads_cuda(ctx, heads, self.batch_first))
    self._cache = fused, q_in, k_in, v_in, qh, kh, vh, scale, probs, dropped, drop
    weights = None
    if need_weights:  # asked for: the one copy back to the host
        p = probs.copy_to_host().reshape(n, heads, n_q, n_k)
        weights = p.mean(axis=1) if average_attn_weights else p
    return out, weights


def _mha_in_weight(self, i):
    """(weight, gradient) of projection i (q, k, v): rows of in_proj_weight, or PyTorch's
    separate q/k/v_proj_weight when kdim/vdim differ from embed_dim."""
    if getattr(self, "_qkv_same_embed_dim", True):
        rows = slice(i * self.embed_dim, (i + 1) * self.embed_dim)
        return self.in_proj_weight[rows], self._grads["in_proj_weight"][rows]
    name = ("q_proj_weight", "k_proj_weight", "v_proj_weight")[i]
    return self._params[name], self._grads[name]


def _mha_masks(self, n, n_q, n_k, key_padding_mask, attn_mask):
    """(additive bias (1 or G, L, S) or None, key padding (N, S) uint8 or None) on the device."""
    kpm = None if key_padding_mask is None else S.to_host(key_padding_mask)
    if attn_mask is None and kpm is not None and kpm.dtype == bool:
        if kpm.shape != (n, n_k):
            raise NlpkitError("MultiheadAttention: key_padding_mask expected shape "
                              f"{(n, n_k)}, got {kpm.shape}")
        return None, S.to_device(kpm.view(np.uint8))
    am = None if attn_mask is None else S.to_host(attn_mask)
    bias = self._bias(n, n_q, n_k, kpm, am)  # the CPU layer's checks and broadcasting
    if bias is None:
        return None, None
    if bias.ndim == 2:
        return S.to_device(bias.reshape(1, n_q, n_k), self.dtype), None
    full = np.broadcast_to(bias, (n, self.num_heads, n_q, n_k))
    return S.to_device(full.reshape(n * self.num_heads, n_q, n_k), self.dtype), None


def _mha_backward(self, grad_output):
    from .attention_kernels_cuda import sdpa_backward_cuda
    from .matmul_cuda import gemm
    fused, q_in, k_in, v_in, qh, kh, vh, scale, probs, dropped, drop = self._need_cache()
    dout = _grad(self, grad_output, q_in.shape)
    dctx = self.out_proj.backward(dout)
    heads, e = self.num_heads, self.embed_dim
    dqh, dkh, dvh = sdpa_backward_cuda(E.split_heads_cuda(dctx, heads, self.batch_first),
                                       qh, kh, vh, scale, probs, dropped, drop)
    grads = []
    for i, (dh, x) in enumerate(((dqh, q_in), (dkh, k_in), (dvh, v_in))):
        w, dw = _mha_in_weight(self, i)
        d2 = _rows(E.merge_heads_cuda(dh, heads, self.batch_first))
        gemm(d2, _rows(x), out=dw, trans_a=True, beta=1.0)
        if self.has_bias:
            E.col_sums_cuda(d2, self._grads["in_proj_bias"][i * e:(i + 1) * e])
        if fused and grads:  # self-attention: the whole input gradient goes to d_query
            gemm(d2, w, out=_rows(grads[0]), beta=1.0)
        else:
            grads.append(gemm(d2, w).reshape(*x.shape))
    if fused:  # one shared zero array for d_key and d_value, as on the CPU
        zero = S.zeros(q_in.shape, self.dtype)
        grads += [zero, zero]
    return tuple(grads)


def _as_groups(x):
    """(…, L, d) device array -> (G, L, d) view."""
    shape = tuple(x.shape)
    return x.reshape(int(np.prod(shape[:-2], dtype=np.int64)), shape[-2], shape[-1])


def _sdpa_forward(self, query, key, value, attn_mask=None, is_causal=False, scale=None):
    from .attention import _drop_mask, additive_mask
    from .attention_kernels_cuda import sdpa_forward_cuda
    q = _input(self, query, "query")
    k = _input(self, key, "key", last=tuple(q.shape)[-1])
    v = _input(self, value, "value")
    if tuple(k.shape)[:-1] != tuple(v.shape)[:-1]:
        raise NlpkitError(f"ScaledDotProductAttention: key {k.shape} and value {v.shape} "
                          "disagree")
    lead, n_q, n_k = tuple(q.shape)[:-2], tuple(q.shape)[-2], tuple(k.shape)[-2]
    scale = 1.0 / math.sqrt(tuple(q.shape)[-1]) if scale is None else float(scale)
    bias = None
    if attn_mask is not None:
        m = additive_mask(S.to_host(attn_mask), self.dtype, "attn_mask")
        m = m.reshape(1, n_q, n_k) if m.ndim == 2 else np.broadcast_to(m, lead + (n_q, n_k))
        bias = S.to_device(m.reshape(-1, n_q, n_k), self.dtype)
    drop = _drop_mask(self, lead + (n_q, n_k))
    if drop is not None:
        drop = S.to_device(drop.reshape(-1, n_q, n_k))
    qg, kg, vg = _as_groups(q), _as_groups(k), _as_groups(v)
    out, probs, dropped = sdpa_forward_cuda(qg, kg, vg, scale, bias,
                                            causal=is_causal and bias is None, drop_mask=drop)
    self._cache = q, k, v, qg, kg, vg, scale, probs, dropped, drop
    return out.reshape(*lead, n_q, tuple(v.shape)[-1])


def _sdpa_backward(self, grad_output):
    from .attention_kernels_cuda import sdpa_backward_cuda
    q, k, v, qg, kg, vg, scale, probs, dropped, drop = self._need_cache()
    dout = _grad(self, grad_output, tuple(q.shape)[:-1] + (tuple(v.shape)[-1],))
    dq, dk, dv = sdpa_backward_cuda(_as_groups(dout), qg, kg, vg, scale, probs, dropped, drop)
    return dq.reshape(*q.shape), dk.reshape(*k.shape), dv.reshape(*v.shape)


# ------------------------------------------------------------------ Transformer layers
# The same steps as transformer.py, with the residual sums done on the device; the children
# (attention, feed-forward, norms, dropouts) already run their CUDA paths.
def _add(a, b):
    out = S.empty(a.shape, a.dtype)
    out.copy_to_device(a)
    return E.axpy_cuda(b, out)


def _encoder_forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
    from .transformer import _FeedForward as FF
    x = _input(self, src, "src", last=self.self_attn.embed_dim, ndim=3)
    if self.norm_first:
        x = _add(x, self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal))
        x = _add(x, self.dropout2(FF.forward(self, self.norm2(x))))
    else:
        x = self.norm1(_add(x, self._sa(x, src_mask, src_key_padding_mask, is_causal)))
        x = self.norm2(_add(x, self.dropout2(FF.forward(self, x))))
    self._cache = tuple(x.shape)
    return x


def _encoder_backward(self, grad_output):
    from .transformer import _FeedForward as FF
    g = _grad(self, grad_output, self._need_cache())
    if self.norm_first:
        g = _add(g, self.norm2.backward(FF.backward(self, self.dropout2.backward(g))))
        return _add(g, self.norm1.backward(self._sa_backward(g)))
    g = self.norm2.backward(g)
    g = _add(g, FF.backward(self, self.dropout2.backward(g)))
    g = self.norm1.backward(g)
    return _add(g, self._sa_backward(g))


def _decoder_forward(self, tgt, memory, tgt_mask=None, memory_mask=None,
                     tgt_key_padding_mask=None, memory_key_padding_mask=None,
                     tgt_is_causal=False, memory_is_causal=False):
    from .transformer import _FeedForward as FF
    e = self.self_attn.embed_dim
    x = _input(self, tgt, "tgt", last=e, ndim=3)
    memory = _input(self, memory, "memory", last=e, ndim=3)
    if self.norm_first:
        x = _add(x, self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = _add(x, self._mha(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                              memory_is_causal))
        x = _add(x, self.dropout3(FF.forward(self, self.norm3(x))))
    else:
        x = self.norm1(_add(x, self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal)))
        x = self.norm2(_add(x, self._mha(x, memory, memory_mask, memory_key_padding_mask,
                                         memory_is_causal)))
        x = self.norm3(_add(x, self.dropout3(FF.forward(self, x))))
    self._cache = tuple(x.shape)
    return x


def _decoder_backward(self, grad_output):
    from .transformer import _FeedForward as FF

    def cross(g):
        dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(g))
        return dq, _add(dk, dv)

    g = _grad(self, grad_output, self._need_cache())
    if self.norm_first:
        g = _add(g, self.norm3.backward(FF.backward(self, self.dropout3.backward(g))))
        dq, dmem = cross(g)
        g = _add(g, self.norm2.backward(dq))
        return _add(g, self.norm1.backward(self._sa_backward(g))), dmem
    g = self.norm3.backward(g)
    g = _add(g, FF.backward(self, self.dropout3.backward(g)))
    g = self.norm2.backward(g)
    dq, dmem = cross(g)
    g = self.norm1.backward(_add(g, dq))
    return _add(g, self._sa_backward(g)), dmem


# ------------------------------------------------------------------ losses and optimizers
class _CrossEntropyCache:
    """What ``CrossEntropyLoss.backward`` needs for device logits (``backward`` does the work)."""

    def __init__(self, dlogits, shape, count, reduction):
        self.dlogits, self.shape, self.count, self.reduction = dlogits, shape, count, reduction

    def backward(self, grad=1.0):
        if self.reduction == "none":
            g = S.to_device(np.asarray(S.to_host(grad), dtype=self.dlogits.dtype).reshape(-1))
            return E.scale_rows_cuda(self.dlogits, 1.0, row_grad=g).reshape(*self.shape)
        scale = grad / self.count if self.reduction == "mean" else grad
        return E.scale_rows_cuda(self.dlogits, scale if self.count else 0.0).reshape(*self.shape)


def cross_entropy_forward(loss, logits, targets):
    """``CrossEntropyLoss.forward`` for device logits: the fused kernel, one scalar back."""
    if np.dtype(logits.dtype) not in (np.float32, np.float64):
        raise NlpkitError("CrossEntropyLoss: logits must be float32 or float64, "
                          f"got {logits.dtype}")
    t = np.ascontiguousarray(S.to_host(targets), dtype=np.int64)
    if tuple(logits.shape[:-1]) != t.shape:
        raise NlpkitError(f"CrossEntropyLoss: targets expected shape {tuple(logits.shape[:-1])} "
                          f"(logits {tuple(logits.shape)} without the class axis), "
                          f"got {t.shape}")
    c = tuple(logits.shape)[-1]
    t = t.reshape(-1)
    used = t != loss.ignore_index
    if np.any((t[used] < 0) | (t[used] >= c)):
        raise NlpkitError(f"CrossEntropyLoss: targets must lie in [0, {c}) or equal ignore_index")
    x = _rows(logits)
    dlogits = S.empty(x.shape, x.dtype)
    losses = S.empty(x.shape[0], x.dtype)
    weight = getattr(loss, "weight", None)
    if weight is None:
        E.cross_entropy_rows_cuda(x, S.to_device(t), loss.ignore_index, loss.label_smoothing,
                                  dlogits, losses)
        count = int(used.sum())
    else:
        if weight.shape != (c,):
            raise NlpkitError(f"CrossEntropyLoss: weight expected shape ({c},) (one per "
                              f"class of logits {tuple(logits.shape)}), got {weight.shape}")
        E.cross_entropy_rows_weighted_cuda(x, S.to_device(t), loss.ignore_index,
                                           loss.label_smoothing, weight, dlogits, losses)
        count = float(weight[t[used]].sum())  # the weighted mean's denominator
    loss._cache = _CrossEntropyCache(dlogits, tuple(logits.shape), count, loss.reduction)
    if loss.reduction == "none":
        return losses.reshape(*logits.shape[:-1]) if len(logits.shape) > 1 else losses
    total = S.zeros(1, x.dtype)
    E.col_sums_cuda(losses.reshape(losses.shape[0], 1), total)
    total = float(total.copy_to_host()[0])
    if loss.reduction == "sum":
        return total
    return total / count if count else math.nan


class _BCECache:
    """What ``BCEWithLogitsLoss.backward`` needs for device logits: σ(x) - y on the device."""

    def __init__(self, d, reduction):
        self.d, self.reduction = d, reduction

    def backward(self, grad=1.0):
        d = self.d
        if self.reduction == "none":
            g = np.broadcast_to(S.to_host(grad).astype(d.dtype), tuple(d.shape))
            return E.mul_cuda(d, S.to_device(np.ascontiguousarray(g)))
        scale = grad / max(d.size, 1) if self.reduction == "mean" else grad
        return E.scale_rows_cuda(_rows(d), scale).reshape(*d.shape)


def bce_with_logits_forward(loss, logits, targets):
    """``BCEWithLogitsLoss.forward`` for device logits: one kernel, one scalar back."""
    if np.dtype(logits.dtype) not in (np.float32, np.float64):
        raise NlpkitError(f"BCEWithLogitsLoss: logits must be float32 or float64, "
                          f"got {logits.dtype}")
    y = (targets if S.is_device_array(targets) and targets.dtype == logits.dtype
         else S.to_device(np.asarray(S.to_host(targets), dtype=logits.dtype)))
    if tuple(y.shape) != tuple(logits.shape):
        raise NlpkitError(f"BCEWithLogitsLoss: targets expected shape {tuple(logits.shape)}, "
                          f"got {tuple(y.shape)}")
    losses, d = E.bce_with_logits_cuda(logits, y)
    loss._cache = _BCECache(d, loss.reduction)
    if loss.reduction == "none":
        return losses
    total = S.zeros(1, logits.dtype)
    E.col_sums_cuda(losses.reshape(losses.size, 1), total)
    total = float(total.copy_to_host()[0])
    return total if loss.reduction == "sum" else total / max(logits.size, 1)


def optimizer_update(opt, p, g, state):
    """One optimizer step for a device parameter (``torch.optim`` rules, as the CPU ones)."""
    from .optim import SGD, Adam
    if isinstance(opt, SGD):
        first = "momentum_buffer" not in state
        if opt.momentum and first:
            state["momentum_buffer"] = S.empty(p.shape, p.dtype)
        buf = state.get("momentum_buffer", p)
        E.sgd_step_cuda(p, g, buf, opt.lr, opt.momentum, opt.dampening, opt.weight_decay,
                        opt.nesterov, first)
    elif isinstance(opt, Adam):
        if "exp_avg" not in state:
            state["exp_avg"] = S.zeros(p.shape, p.dtype)
            state["exp_avg_sq"] = S.zeros(p.shape, p.dtype)
        E.adam_step_cuda(p, g, state["exp_avg"], state["exp_avg_sq"], opt.lr, opt.betas, opt.eps,
                         opt.weight_decay, opt.decoupled, opt.step_count)
    else:
        raise NlpkitError(f"{type(opt).__name__}: no CUDA update yet; keep the model on the CPU")


def clip_grad_norm(grads, max_norm):
    """``optim.clip_grad_norm`` for device gradients: one scalar per array comes back."""
    total = math.sqrt(sum(E.sum_squares_cuda(g) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            E.axpy_cuda(g, g, coef - 1.0)  # g += (coef - 1) g
    return total


def _table():
    """Layer class -> (forward, backward) on the device; (None, None) for containers."""
    from .attention import MultiheadAttention, ScaledDotProductAttention
    from .conv import Conv1d, MaxPoolTime, MeanPoolTime
    from .layers import GELU, Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh
    from .module import Sequential
    from .norm import LayerNorm
    from .position import (LearnedPositionalEncoding, RotaryEmbedding,
                           SinusoidalPositionalEncoding)
    from .recurrent import GRU, LSTM, RNN
    from .transformer import TransformerDecoderLayer, TransformerEncoderLayer
    table = {Linear: (_linear_forward, _linear_backward),
             Dropout: (_dropout_forward, _dropout_backward),
             LayerNorm: (_layer_norm_forward, _layer_norm_backward),
             Embedding: (_embedding_forward, _embedding_backward),
             Conv1d: (_conv_forward, _conv_backward),
             MaxPoolTime: (_max_pool_forward, _max_pool_backward),
             MeanPoolTime: (_mean_pool_forward, _mean_pool_backward),
             SinusoidalPositionalEncoding: (_added_position_forward, _added_position_backward),
             LearnedPositionalEncoding: (_added_position_forward, _added_position_backward),
             RotaryEmbedding: (_rope_forward, _rope_backward),
             MultiheadAttention: (_mha_forward, _mha_backward),
             ScaledDotProductAttention: (_sdpa_forward, _sdpa_backward),
             TransformerEncoderLayer: (_encoder_forward, _encoder_backward),
             TransformerDecoderLayer: (_decoder_forward, _decoder_backward),
             Sequential: (None, None)}
    for cls in (Tanh, Sigmoid, ReLU, GELU):
        table[cls] = (_act_forward, _act_backward)
    for cls in (RNN, LSTM, GRU):
        table[cls] = (_rec_forward, _rec_backward)
    return table
