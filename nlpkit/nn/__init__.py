"""Neural layers over a graph of ops with automatic differentiation (PyTorch's layouts).

``nlpkit.nn.Tensor`` wraps a NumPy array or a CUDA device array; every op in
:mod:`nlpkit.nn.functional` has a forward and a backward over the Numba kernels
(:mod:`nlpkit.nn.kernels`, CUDA twins in :mod:`nlpkit.nn.cuda`) and records, per call,
what its backward needs; ``loss.backward()`` fills each parameter's ``.grad``.  Layers
and models are written as ``forward`` alone.  ``.state_dict()`` matches PyTorch's
names and shapes, so converted PyTorch weights load directly.
"""
from . import functional, init
from .attention import MultiheadAttention, ScaledDotProductAttention, causal_mask
from .conv import Conv1d, MaxPoolTime, MeanPoolTime
from .layers import GELU, Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, check_finite
from .module import Module, ModuleList, Sequential
from .norm import LayerNorm
from .optim import SGD, Adam, AdamW, WarmupDecay, clip_grad_norm, clip_grad_norm_
from .position import (LearnedPositionalEncoding, RotaryEmbedding, SinusoidalPositionalEncoding,
                       alibi_mask, alibi_slopes, sinusoidal_table)
from .recurrent import GRU, LSTM, RNN
from .tensor import Function, Parameter, Tensor, no_grad, tensor
from .transformer import TransformerDecoderLayer, TransformerEncoderLayer

__all__ = [
    "Tensor", "Parameter", "Function", "tensor", "no_grad", "functional",
    "Module", "Sequential", "ModuleList", "Linear", "Embedding", "Dropout", "Tanh", "Sigmoid",
    "ReLU", "GELU", "LayerNorm", "CrossEntropyLoss", "BCEWithLogitsLoss", "check_finite",
    "SGD", "Adam", "AdamW", "WarmupDecay", "clip_grad_norm", "clip_grad_norm_", "RNN", "LSTM",
    "GRU", "init", "MultiheadAttention", "ScaledDotProductAttention", "causal_mask",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "Conv1d", "MaxPoolTime", "MeanPoolTime",
    "SinusoidalPositionalEncoding", "LearnedPositionalEncoding", "RotaryEmbedding", "alibi_mask",
    "alibi_slopes", "sinusoidal_table",
]
