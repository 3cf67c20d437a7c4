"""Linear, Embedding, Dropout and the element-wise activations: forward only."""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from . import functional as F
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
        else:
            self.bias = None
        self.has_bias = bool(bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.has_bias}"

    def forward(self, x):
        x = self._check_input(x, last=self.in_features)
        return F.linear(x, self.weight, self.bias)


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) looked up by integer ids;
    ``padding_idx`` gets no gradient."""

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

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"

    def forward(self, ids):
        try:
            return F.embedding(ids, self.weight, self.padding_idx)
        except NlpkitError as exc:
            raise NlpkitError(f"Embedding: {str(exc).partition(': ')[2]}") from None


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training and scales the rest by 1/(1-p)
    (the mask is drawn from the layer's own generator)."""

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
        return F.dropout(x, self.p, self.training, generator=self.rng)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(self._check_input(x))


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(self._check_input(x))


class ReLU(Module):
    def forward(self, x):
        return F.relu(self._check_input(x))


class GELU(Module):
    """``approximate='none'`` (exact erf form, PyTorch's default) or ``'tanh'``."""

    def __init__(self, approximate="none", dtype=np.float32):
        super().__init__(dtype)
        if approximate not in ("none", "tanh"):
            raise NlpkitError(f"GELU: approximate must be 'none' or 'tanh'; got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(self._check_input(x), self.approximate)


ACTIVATIONS = {"tanh": Tanh, "sigmoid": Sigmoid, "relu": ReLU, "gelu": GELU}
