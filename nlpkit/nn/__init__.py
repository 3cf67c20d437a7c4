"""Neural layers with forward and backward passes (PyTorch layouts), losses, optimizers, Module.

Every layer keeps what its backward pass needs in ``forward`` and returns the
input gradients from ``backward(grad_output)``, adding parameter gradients into
``.grads`` (keyed like ``.state_dict()``, which matches PyTorch's names and
shapes, so converted PyTorch weights load directly).
"""
from . import init
from .layers import GELU, Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, check_finite, cross_entropy
from .module import Module, Sequential
from .norm import LayerNorm
from .optim import SGD, Adam, AdamW, WarmupDecay, clip_grad_norm
from .recurrent import GRU, LSTM, RNN

__all__ = [
    "Module", "Sequential", "Linear", "Embedding", "Dropout", "Tanh", "Sigmoid", "ReLU", "GELU",
    "LayerNorm", "CrossEntropyLoss", "BCEWithLogitsLoss", "cross_entropy", "check_finite",
    "SGD", "Adam", "AdamW", "WarmupDecay", "clip_grad_norm", "RNN", "LSTM", "GRU", "init",
]
