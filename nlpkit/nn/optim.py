"""Optimizers (SGD, Adam, AdamW), gradient clipping and a warm-up/decay schedule.

An optimizer takes a :class:`~nlpkit.nn.Module` or its ``parameters()`` and updates
each parameter in place from the ``.grad`` that ``loss.backward()`` accumulated; the
update rules follow ``torch.optim`` step by step (one fused kernel per parameter).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError
from .kernels import for_arrays
from .tensor import Tensor, move_array


def _params(params):
    """The parameters of a Module, or a list of Parameters (or of param groups' lists)."""
    if hasattr(params, "parameters"):
        params = params.parameters()
    out = []
    for p in params:
        if not isinstance(p, Tensor):
            raise NlpkitError(f"optimizer: parameters must be Tensors (nn.Parameter), "
                              f"got {type(p).__name__}")
        out.append(p)
    return out


class Optimizer:
    """Updates each parameter from its ``.grad`` (parameters without one are skipped), in
    place, with the kernel of the parameter's device (:mod:`nlpkit.nn.kernels.optim` or its
    CUDA twin).  The state (moments, momentum buffers) follows its parameter's device."""

    def __init__(self, params, lr):
        self.params = _params(params)
        if lr < 0:
            raise NlpkitError(f"{type(self).__name__}: lr must be >= 0; got {lr}")
        self.lr = float(lr)
        self.state = [dict() for _ in self.params]
        self.step_count = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def to(self, device):
        """Move the state (moments, momentum buffers) to ``device``; :meth:`step` also moves
        it to wherever its parameter is."""
        for state in self.state:
            for key, value in state.items():
                state[key] = move_array(value, device)
        return self

    def step(self):
        self.step_count += 1
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            K = for_arrays(p.data)
            for key, value in state.items():  # the parameter moved: its state follows
                if isinstance(value, np.ndarray) != isinstance(p.data, np.ndarray):
                    state[key] = move_array(value, "cpu" if isinstance(p.data, np.ndarray)
                                            else "cuda")
            self._update(K, p.data, K.arrays.asarray(p.grad, p.data.dtype), state)


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise NlpkitError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)

    def _update(self, K, p, g, state):
        first = "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = K.arrays.zeros(tuple(p.shape), p.dtype)
        K.optim.sgd_step(p, g, state["momentum_buffer"], self.lr, self.momentum,
                         self.dampening, self.weight_decay, self.nesterov, first)


class Adam(Optimizer):
    """Adam; ``weight_decay`` is L2 added to the gradient (:class:`AdamW` decouples it)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), float(eps), float(weight_decay)

    def _update(self, K, p, g, state):
        if "exp_avg" not in state:
            state["exp_avg"] = K.arrays.zeros(tuple(p.shape), p.dtype)
            state["exp_avg_sq"] = K.arrays.zeros(tuple(p.shape), p.dtype)
        K.optim.adam_step(p, g, state["exp_avg"], state["exp_avg_sq"], self.lr, self.betas,
                          self.eps, self.weight_decay, self.decoupled, self.step_count)


class AdamW(Adam):
    """Adam with decoupled weight decay ``p -= lr * weight_decay * p`` (default 0.01)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


def clip_grad_norm(params, max_norm):
    """Scale every ``.grad`` so their global 2-norm is at most ``max_norm``, in place (as
    ``torch.nn.utils.clip_grad_norm_``); returns the norm before.  ``params``: a Module or
    Parameters."""
    grads = [p.grad for p in _params(params) if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(for_arrays(g).optim.sum_squares(g) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            for_arrays(g).optim.scale_(g, coef)
    return total


clip_grad_norm_ = clip_grad_norm


class WarmupDecay:
    """Learning rate: linear warm-up over ``warmup_steps`` to ``optimizer.lr``, then decay
    to ``min_lr``.

    ``decay`` is ``'linear'``, ``'cosine'`` or ``'constant'`` over ``total_steps``.
    Call :meth:`step` after each optimizer step.
    """

    def __init__(self, optimizer, warmup_steps=0, total_steps=None, decay="linear", min_lr=0.0):
        if decay not in ("linear", "cosine", "constant"):
            raise NlpkitError("WarmupDecay: decay must be linear, cosine or constant; "
                              f"got {decay!r}")
        if decay != "constant" and not total_steps:
            raise NlpkitError("WarmupDecay: total_steps is needed for linear or cosine decay")
        self.optimizer, self.base_lr = optimizer, optimizer.lr
        self.warmup_steps, self.total_steps = int(warmup_steps), total_steps
        self.decay, self.min_lr = decay, float(min_lr)
        self.count = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, step):
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.decay == "constant":
            return self.base_lr
        span = max(1, self.total_steps - self.warmup_steps)
        frac = min(1.0, (step - self.warmup_steps) / span)
        if self.decay == "linear":
            scale = 1.0 - frac
        else:
            scale = 0.5 * (1.0 + math.cos(math.pi * frac))
        return self.min_lr + (self.base_lr - self.min_lr) * scale

    def step(self):
        self.count += 1
        self.optimizer.lr = self.lr_at(self.count)
        return self.optimizer.lr
