"""LayerNorm over the trailing dimensions (biased variance, eps inside the square root)."""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from . import functional as F
from .module import Module


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float32):
        super().__init__(dtype)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.register_parameter("weight", np.ones(self.normalized_shape))
            self.register_parameter("bias", np.zeros(self.normalized_shape))
        else:
            self.weight = self.bias = None

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"

    def forward(self, x):
        x = self._check_input(x)
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            dims = ", ".join(map(str, self.normalized_shape))
            raise NlpkitError(f"LayerNorm: input expected shape (..., {dims}), got {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
