"""Losses as modules over :mod:`nlpkit.nn.functional`: softmax cross-entropy and binary
cross-entropy with logits (PyTorch's arguments; the loss is a Tensor to call
``backward()`` on)."""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from . import functional as F
from .tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


class _Loss:
    def __init__(self, reduction):
        if reduction not in REDUCTIONS:
            raise NlpkitError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}; "
                              f"got {reduction!r}")
        self.reduction = reduction

    def __call__(self, *args):
        return self.forward(*args)


class CrossEntropyLoss(_Loss):
    """Like ``torch.nn.CrossEntropyLoss``: logits (N, C), (C,) or (N, C, d1, …) (classes on
    dim 1), integer targets.  Targets equal to ``ignore_index`` add nothing; ``'mean'``
    divides by the non-ignored count, or with class weights ``weight`` (C,) by the sum of
    the non-ignored targets' weights (PyTorch's weighted mean; label smoothing spreads over
    the classes weighted by ``weight`` too)."""

    def __init__(self, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        super().__init__(reduction)
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64)
            if weight.ndim != 1:
                raise NlpkitError(f"CrossEntropyLoss: weight expected shape (C,), "
                                  f"got {weight.shape}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise NlpkitError("CrossEntropyLoss: label_smoothing must be in [0, 1]; "
                              f"got {label_smoothing}")
        self.weight = weight
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        try:
            return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                   reduction=self.reduction, label_smoothing=self.label_smoothing)
        except NlpkitError as exc:
            raise NlpkitError(f"CrossEntropyLoss: {str(exc).partition(': ')[2]}") from None


class BCEWithLogitsLoss(_Loss):
    """``-(y log σ(x) + (1-y) log(1-σ(x)))`` computed stably from the logits."""

    def __init__(self, weight=None, reduction="mean"):
        if isinstance(weight, str):  # BCEWithLogitsLoss('sum'): the old positional form
            weight, reduction = None, weight
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        try:
            return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                      reduction=self.reduction)
        except NlpkitError as exc:
            raise NlpkitError(f"BCEWithLogitsLoss: {str(exc).partition(': ')[2]}") from None


def check_finite(loss, where="training"):
    """Stop a training loop with a clear message when the loss is NaN or infinite."""
    value = loss.numpy() if isinstance(loss, Tensor) else loss
    if not np.all(np.isfinite(value)):
        shown = value.item() if isinstance(loss, Tensor) and loss.size == 1 else value
        raise NlpkitError(f"{where}: the loss became {shown} (NaN or inf); lower the learning "
                          "rate or clip gradients")
    return loss
