"""Linear, Embedding, Dropout and the element-wise activations."""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from . import elementwise_kernels as K
from . import init
from .module import Module, as_rng


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last axis; weight is (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = as_rng(rng)
        w = np.empty((self.out_features, self.in_features))
        self.register_parameter("weight", init.default_uniform_(w, self.in_features, rng))
        if bias:
            b = np.empty(self.out_features)
            self.register_parameter("bias", init.default_uniform_(b, self.in_features, rng))
        self.has_bias = bool(bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.has_bias}"

    def forward(self, x):
        x = self._check_input(x, last=self.in_features)
        x2 = x.reshape(-1, self.in_features)
        y = x2 @ self.weight.T
        if self.has_bias:
            y += self.bias
        self._cache = x2, x.shape
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, grad_output):
        x2, shape = self._need_cache()
        dy = self._check_grad(grad_output, shape[:-1] + (self.out_features,))
        dy = dy.reshape(-1, self.out_features)
        self._grads["weight"] += dy.T @ x2
        if self.has_bias:
            self._grads["bias"] += dy.sum(axis=0)
        return (dy @ self.weight).reshape(shape)


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) looked up by integer ids.

    ``backward`` adds into the gradient only the rows that were looked up
    (``last_rows`` holds them, for sparse updates); ``padding_idx`` gets none.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None and padding_idx < 0:
            padding_idx += self.num_embeddings
        self.padding_idx = padding_idx
        w = init.normal_(np.empty((self.num_embeddings, self.embedding_dim)), rng=as_rng(rng))
        if padding_idx is not None:
            w[padding_idx] = 0
        self.register_parameter("weight", w)
        self.last_rows = None

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"

    def forward(self, ids):
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise NlpkitError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise NlpkitError(f"Embedding: ids must lie in [0, {self.num_embeddings}); "
                              f"got range [{ids.min()}, {ids.max()}]")
        flat = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        self._cache = flat, ids.shape
        return self.weight[flat].reshape(ids.shape + (self.embedding_dim,))

    def backward(self, grad_output):
        flat, shape = self._need_cache()
        dy = self._check_grad(grad_output, shape + (self.embedding_dim,))
        dy = dy.reshape(-1, self.embedding_dim)
        pad = -1 if self.padding_idx is None else self.padding_idx
        K.embedding_scatter_add(flat, dy, self._grads["weight"], np.int64(pad))
        self.last_rows = np.unique(flat)
        return None


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training and scales the rest by 1/(1-p)."""

    def __init__(self, p=0.5, dtype=np.float32, rng=None):
        super().__init__(dtype)
        if not 0.0 <= p < 1.0:
            raise NlpkitError(f"Dropout: p must be in [0, 1); got {p}")
        self.p = float(p)
        self.rng = as_rng(rng)

    def extra_repr(self):
        return f"p={self.p}"

    def forward(self, x):
        x = self._check_input(x)
        if not self.training or self.p == 0.0:
            self._cache = None, x.shape
            return x
        keep = self.rng.random(x.shape, dtype=self.dtype) >= self.p  # no float64 temporary
        mask = keep.astype(self.dtype) / self.dtype(1.0 - self.p)
        self._cache = mask, x.shape
        return x * mask

    def backward(self, grad_output):
        mask, shape = self._need_cache()
        dy = self._check_grad(grad_output, shape)
        return dy if mask is None else dy * mask


class _Activation(Module):
    def forward(self, x):
        x = self._check_input(x)
        y = self._f(x)
        self._cache = x, y
        return y

    def backward(self, grad_output):
        x, y = self._need_cache()
        dy = self._check_grad(grad_output, x.shape)
        return self._df(x, y, dy)


class Tanh(_Activation):
    def _f(self, x):
        return np.tanh(x)

    def _df(self, x, y, dy):
        return dy * (1 - y * y)


class Sigmoid(_Activation):
    def _f(self, x):
        return sigmoid(x)

    def _df(self, x, y, dy):
        return dy * y * (1 - y)


class ReLU(_Activation):
    def _f(self, x):
        return np.maximum(x, 0)

    def _df(self, x, y, dy):
        return dy * (x > 0)


class GELU(_Activation):
    """``approximate='none'`` (exact erf form, PyTorch's default) or ``'tanh'``."""

    def __init__(self, approximate="none", dtype=np.float32):
        super().__init__(dtype)
        if approximate not in ("none", "tanh"):
            raise NlpkitError(f"GELU: approximate must be 'none' or 'tanh'; got {approximate!r}")
        self.approximate = approximate

    def _f(self, x):
        return gelu(x, self.approximate)

    def _df(self, x, y, dy):
        return gelu_grad(x, dy, self.approximate)


def sigmoid(x):
    # split by sign so exp never overflows
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out


def gelu(x, approximate="none"):
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    K.gelu_forward(x.reshape(-1), y.reshape(-1), approximate == "tanh")
    return y


def gelu_grad(x, dy, approximate="none"):
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    dx = np.empty_like(x)
    K.gelu_backward(x.reshape(-1), dy.reshape(-1), dx.reshape(-1), approximate == "tanh")
    return dx


ACTIVATIONS = {"tanh": Tanh, "sigmoid": Sigmoid, "relu": ReLU, "gelu": GELU}
