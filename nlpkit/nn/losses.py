"""Losses: softmax cross-entropy (fused log-softmax) and binary cross-entropy with logits.

``loss(logits, targets)`` returns the loss (a float for ``'mean'``/``'sum'``);
``loss.backward(grad=1.0)`` returns the gradient with respect to the logits.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError
from . import elementwise_kernels as K

REDUCTIONS = ("mean", "sum", "none")


class _Loss:
    def __init__(self, reduction):
        if reduction not in REDUCTIONS:
            raise NlpkitError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}; "
                              f"got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    def __call__(self, *args):
        return self.forward(*args)

    def _need_cache(self):
        if self._cache is None:
            raise NlpkitError(f"{type(self).__name__}.backward called before forward")
        return self._cache


class CrossEntropyLoss(_Loss):
    """Like ``torch.nn.CrossEntropyLoss`` with classes on the last axis.

    logits (..., C) float; targets (...) integer class ids.  Targets equal to
    ``ignore_index`` add nothing; ``'mean'`` divides by the non-ignored count, or with
    class weights ``weight`` (C,) by the sum of the non-ignored targets' weights (PyTorch's
    weighted mean; label smoothing spreads over the classes weighted by ``weight`` too).
    """

    def __init__(self, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        super().__init__(reduction)
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64)
            if weight.ndim != 1:
                raise NlpkitError(f"CrossEntropyLoss: weight expected shape (C,), "
                                  f"got {weight.shape}")
        self.weight = weight
        if not 0.0 <= label_smoothing <= 1.0:
            raise NlpkitError("CrossEntropyLoss: label_smoothing must be in [0, 1]; "
                              f"got {label_smoothing}")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, targets):
        if hasattr(logits, "copy_to_host"):  # CUDA device logits: the GPU twin (device_ops.py)
            from .device_ops import cross_entropy_forward
            return cross_entropy_forward(self, logits, targets)
        logits = np.asarray(logits)
        targets = np.asarray(targets)
        if logits.dtype not in (np.float32, np.float64):
            raise NlpkitError("CrossEntropyLoss: logits must be float32 or float64, "
                              f"got {logits.dtype}")
        if logits.shape[:-1] != targets.shape:
            raise NlpkitError(f"CrossEntropyLoss: targets expected shape {logits.shape[:-1]} "
                              f"(logits {logits.shape} without the class axis), "
                              f"got {targets.shape}")
        c = logits.shape[-1]
        t = np.ascontiguousarray(targets, dtype=np.int64).reshape(-1)
        used = t != self.ignore_index
        if np.any((t[used] < 0) | (t[used] >= c)):
            raise NlpkitError(f"CrossEntropyLoss: targets must lie in [0, {c}) "
                              "or equal ignore_index")
        x = K.rows(logits)
        dlogits = np.empty_like(x)
        losses = np.empty(x.shape[0], dtype=x.dtype)
        smoothing = x.dtype.type(self.label_smoothing)
        if self.weight is None:
            K.cross_entropy_rows(x, t, np.int64(self.ignore_index), smoothing, dlogits, losses)
            count = int(used.sum())
        else:
            if self.weight.shape != (c,):
                raise NlpkitError(f"CrossEntropyLoss: weight expected shape ({c},) (one per "
                                  f"class of logits {logits.shape}), got {self.weight.shape}")
            w = self.weight.astype(x.dtype)
            K.cross_entropy_rows_weighted(x, t, np.int64(self.ignore_index), smoothing, w,
                                          dlogits, losses)
            count = float(self.weight[t[used]].sum())  # the weighted mean's denominator
        self._cache = dlogits, logits.shape, count
        if self.reduction == "none":
            return losses.reshape(targets.shape)
        total = float(losses.sum(dtype=np.float64))
        if self.reduction == "sum":
            return total
        return total / count if count else math.nan

    def backward(self, grad=1.0):
        if hasattr(self._cache, "backward"):  # set by the GPU twin
            return self._cache.backward(grad)
        dlogits, shape, count = self._need_cache()
        if self.reduction == "none":
            g = np.asarray(grad, dtype=dlogits.dtype).reshape(-1, 1)
            return (dlogits * g).reshape(shape)
        scale = grad / count if self.reduction == "mean" else grad
        return (dlogits * dlogits.dtype.type(scale if count else 0.0)).reshape(shape)


class BCEWithLogitsLoss(_Loss):
    """``-(y log σ(x) + (1-y) log(1-σ(x)))`` computed stably from the logits."""

    def __init__(self, reduction="mean"):
        super().__init__(reduction)

    def forward(self, logits, targets):
        if hasattr(logits, "copy_to_host"):  # CUDA device logits: the GPU twin (device_ops.py)
            from .device_ops import bce_with_logits_forward
            return bce_with_logits_forward(self, logits, targets)
        x = np.asarray(logits)
        y = np.asarray(targets, dtype=x.dtype)
        if x.shape != y.shape:
            raise NlpkitError(f"BCEWithLogitsLoss: targets expected shape {x.shape}, got {y.shape}")
        losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
        from .layers import sigmoid
        self._cache = sigmoid(np.ascontiguousarray(x)) - y, x.shape
        if self.reduction == "none":
            return losses
        total = float(losses.sum(dtype=np.float64))
        return total if self.reduction == "sum" else total / max(x.size, 1)

    def backward(self, grad=1.0):
        if hasattr(self._cache, "backward"):  # set by the GPU twin
            return self._cache.backward(grad)
        d, shape = self._need_cache()
        if self.reduction == "none":
            return d * np.asarray(grad, dtype=d.dtype)
        scale = grad / max(d.size, 1) if self.reduction == "mean" else grad
        return d * d.dtype.type(scale)


def cross_entropy(logits, targets, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean"):
    """Functional form of :class:`CrossEntropyLoss` (forward only)."""
    return CrossEntropyLoss(weight, ignore_index, label_smoothing, reduction)(logits, targets)


def check_finite(loss, where="training"):
    """Stop a training loop with a clear message when the loss is NaN or infinite."""
    if not np.all(np.isfinite(loss)):
        raise NlpkitError(f"{where}: the loss became {loss} (NaN or inf); lower the learning rate "
                          "or clip gradients")
    return loss
