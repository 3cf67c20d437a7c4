"""Optimizers (SGD, Adam, AdamW), gradient clipping and a warm-up/decay schedule.

An optimizer takes a :class:`~nlpkit.nn.Module` (or a list of
``(parameter, gradient)`` array pairs) and updates the parameters in place
from the gradients the layers' ``backward`` filled; the update rules follow
``torch.optim`` step by step.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError


def _pairs(params):
    if hasattr(params, "parameters") and hasattr(params, "gradients"):
        return list(zip(params.parameters(), params.gradients()))
    pairs = list(params)
    for p, g in pairs:
        if p.shape != g.shape:
            raise NlpkitError(f"optimizer: parameter shape {p.shape} and gradient shape "
                              f"{g.shape} differ")
    return pairs


class Optimizer:
    def __init__(self, params, lr):
        self.pairs = _pairs(params)
        if lr < 0:
            raise NlpkitError(f"{type(self).__name__}: lr must be >= 0; got {lr}")
        self.lr = float(lr)
        self.state = [dict() for _ in self.pairs]
        self.step_count = 0

    def zero_grad(self):
        for _, g in self.pairs:
            g[...] = 0

    def step(self):
        self.step_count += 1
        for (p, g), state in zip(self.pairs, self.state):
            if hasattr(p, "copy_to_host"):  # a CUDA device parameter (Module.to('cuda'))
                from .device_ops import optimizer_update
                optimizer_update(self, p, g, state)
            else:
                self._update(p, g, state)


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise NlpkitError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)

    def _update(self, p, g, state):
        d = g + self.weight_decay * p if self.weight_decay else g.copy()
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * d
            d = d + self.momentum * buf if self.nesterov else buf
        p -= p.dtype.type(self.lr) * d


class Adam(Optimizer):
    """Adam; ``weight_decay`` is L2 added to the gradient (:class:`AdamW` decouples it)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), float(eps), float(weight_decay)

    def _update(self, p, g, state):
        b1, b2 = self.betas
        if self.decoupled:
            p *= p.dtype.type(1 - self.lr * self.weight_decay)
        elif self.weight_decay:
            g = g + self.weight_decay * p
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        t = self.step_count
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        denom = np.sqrt(v) / math.sqrt(bc2) + self.eps
        p -= p.dtype.type(self.lr / bc1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay ``p -= lr * weight_decay * p`` (default 0.01)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


def clip_grad_norm(params, max_norm):
    """Scale all gradients so their global 2-norm is at most ``max_norm``; return the norm before.

    ``params`` is a Module, a list of gradient arrays or of (param, grad) pairs.
    """
    if hasattr(params, "gradients"):
        grads = params.gradients()
    else:
        grads = [g[1] if isinstance(g, tuple) else g for g in params]
    if grads and hasattr(grads[0], "copy_to_host"):  # CUDA device gradients
        from .device_ops import clip_grad_norm as clip_on_device
        return clip_on_device(grads, max_norm)
    total = math.sqrt(sum(float(np.dot(g.ravel().astype(np.float64), g.ravel())) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


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
