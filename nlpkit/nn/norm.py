"""LayerNorm over the trailing dimensions (biased variance, eps inside the square root)."""
from __future__ import annotations

import numpy as np

from . import elementwise_kernels as K
from .module import Module


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float32):
        super().__init__(dtype)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.size = int(np.prod(self.normalized_shape))
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.register_parameter("weight", np.ones(self.normalized_shape))
            self.register_parameter("bias", np.zeros(self.normalized_shape))

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"

    def _affine(self):
        if self.elementwise_affine:
            return self.weight.reshape(-1), self.bias.reshape(-1)
        return np.ones(self.size, self.dtype), np.zeros(self.size, self.dtype)

    def forward(self, x):
        x = self._check_input(x)
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            from ..errors import NlpkitError
            dims = ", ".join(map(str, self.normalized_shape))
            raise NlpkitError(f"LayerNorm: input expected shape (..., {dims}), "
                              f"got {x.shape}")
        x2 = x.reshape(-1, self.size)
        y, xhat = np.empty_like(x2), np.empty_like(x2)
        rstd = np.empty(x2.shape[0], self.dtype)
        w, b = self._affine()
        K.layer_norm_forward(x2, w, b, self.dtype(self.eps), y, xhat, rstd)
        self._cache = xhat, rstd, x.shape
        return y.reshape(x.shape)

    def backward(self, grad_output):
        xhat, rstd, shape = self._need_cache()
        dy = self._check_grad(grad_output, shape).reshape(-1, self.size)
        w, _ = self._affine()
        dx = np.empty_like(dy)
        K.layer_norm_backward(dy, xhat, rstd, w, dx)
        if self.elementwise_affine:
            self._grads["weight"] += (dy * xhat).sum(axis=0).reshape(self.normalized_shape)
            self._grads["bias"] += dy.sum(axis=0).reshape(self.normalized_shape)
        return dx.reshape(shape)
