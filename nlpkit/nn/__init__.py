"""Neural layers with forward and backward passes (PyTorch layouts), losses, optimizers, Module.

Every layer keeps what its backward pass needs in ``forward`` and returns the
input gradients from ``backward(grad_output)``, adding parameter gradients into
``.grads`` (keyed like ``.state_dict()``, which matches PyTorch's names and
shapes, so converted PyTorch weights load directly).
"""
from . import init
from .attention import MultiheadAttention, ScaledDotProductAttention, causal_mask
from .conv import Conv1d, MaxPoolTime, MeanPoolTime
from .layers import GELU, Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, check_finite, cross_entropy
from .module import Module, Sequential
from .norm import LayerNorm
from .optim import SGD, Adam, AdamW, WarmupDecay, clip_grad_norm
from .position import (LearnedPositionalEncoding, RotaryEmbedding, SinusoidalPositionalEncoding,
                       alibi_mask, alibi_slopes, sinusoidal_table)
from .recurrent import GRU, LSTM, RNN
from .transformer import TransformerDecoderLayer, TransformerEncoderLayer

__all__ = [
    "Module", "Sequential", "Linear", "Embedding", "Dropout", "Tanh", "Sigmoid", "ReLU", "GELU",
    "LayerNorm", "CrossEntropyLoss", "BCEWithLogitsLoss", "cross_entropy", "check_finite",
    "SGD", "Adam", "AdamW", "WarmupDecay", "clip_grad_norm", "RNN", "LSTM", "GRU", "init",
    "MultiheadAttention", "ScaledDotProductAttention", "causal_mask",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "Conv1d", "MaxPoolTime", "MeanPoolTime",
    "SinusoidalPositionalEncoding", "LearnedPositionalEncoding", "RotaryEmbedding", "alibi_mask",
    "alibi_slopes", "sinusoidal_table",
]
