"""RNN (tanh/ReLU), LSTM and GRU with PyTorch's arguments, parameter names and return values.

``forward(x, hx=None, lengths=None, padding_mask=None)``: ``x`` is (T, B, I), or
(B, T, I) with ``batch_first``; ``lengths`` (B,) gives each sequence's length for a
padded batch (padded steps neither change the state nor receive gradient, and their
outputs are zero, as ``pack_padded_sequence``/``pad_packed_sequence`` give).
``padding_mask`` (B, T), True at padded steps, may be given instead.  The whole call
(every layer and direction) is one graph node (:func:`nlpkit.nn.functional.recurrent`),
so a cell may be called any number of times in a step (a decoder loop).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import NlpkitError
from . import functional as F
from . import init
from .module import Module, as_rng

GATES = F.GATES


class _RecurrentBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, rng=None):
        super().__init__(dtype)
        if hidden_size <= 0 or input_size <= 0 or num_layers <= 0:
            raise NlpkitError(f"{type(self).__name__}: input_size, hidden_size and num_layers "
                              "must be positive")
        if not 0.0 <= dropout < 1.0:
            raise NlpkitError(f"{type(self).__name__}: dropout must be in [0, 1); got {dropout}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.rng = as_rng(rng)
        gh = GATES[self.mode] * self.hidden_size
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for sfx in self._suffixes(layer):
                shapes = [("weight_ih", (gh, n_in)), ("weight_hh", (gh, self.hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (gh,)), ("bias_hh", (gh,))]
                for name, shape in shapes:
                    a = init.default_uniform_(np.empty(shape), self.hidden_size, self.rng)
                    self.register_parameter(name + sfx, a)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, batch_first={self.batch_first}")

    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def flat_weights(self):
        """(w_ih, w_hh, b_ih, b_hh) per layer and direction, biases None without bias."""
        p = self._params
        out = []
        for layer in range(self.num_layers):
            for sfx in self._suffixes(layer):
                out += [p["weight_ih" + sfx], p["weight_hh" + sfx],
                        p.get("bias_ih" + sfx), p.get("bias_hh" + sfx)]
        return out

    # ------------------------------------------------------------ input checks
    def _lengths(self, n_steps, batch, lengths, padding_mask):
        name = type(self).__name__
        if padding_mask is not None:
            if lengths is not None:
                raise NlpkitError(f"{name}: give lengths or padding_mask, not both")
            padding_mask = np.asarray(backend.to_host(F._data(padding_mask)), dtype=bool)
            if padding_mask.shape != (batch, n_steps):
                raise NlpkitError(f"{name}: padding_mask expected shape {(batch, n_steps)}, "
                                  f"got {padding_mask.shape}")
            lengths = (~padding_mask).sum(axis=1)
        if lengths is None:
            return None
        lengths = np.ascontiguousarray(backend.to_host(F._data(lengths)), dtype=np.int64)
        if lengths.shape != (batch,):
            raise NlpkitError(f"{name}: lengths expected shape ({batch},), got {lengths.shape}")
        if lengths.size and (lengths.min() < 0 or lengths.max() > n_steps):
            raise NlpkitError(f"{name}: lengths must lie in [0, {n_steps}]")
        return lengths

    def _state(self, value, shape, what):
        if value is None:
            return None
        value = self._check_input(value, what=what)
        if value.shape != shape:
            raise NlpkitError(f"{type(self).__name__}: {what} expected shape {shape}, "
                              f"got {value.shape}")
        return value

    def _hx(self, hx, shape):
        return self._state(hx, shape, "h0")

    def forward(self, x, hx=None, lengths=None, padding_mask=None):
        x = self._check_input(x, last=self.input_size, ndim=3)
        n_steps, batch = (x.shape[1], x.shape[0]) if self.batch_first else x.shape[:2]
        lengths = self._lengths(n_steps, batch, lengths, padding_mask)
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        return F.recurrent(self.mode, x, self._hx(hx, shape), self.flat_weights(),
                           num_layers=self.num_layers, bidirectional=self.bidirectional,
                           batch_first=self.batch_first, dropout=self.dropout,
                           training=self.training, lengths=lengths, generator=self.rng)


class RNN(_RecurrentBase):
    """Elman RNN: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU).

    Returns ``(output, h_n)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32, rng=None):
        if nonlinearity not in ("tanh", "relu"):
            raise NlpkitError(f"RNN: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
        self.__dict__["mode"] = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, rng)


class LSTM(_RecurrentBase):
    """LSTM with gates (i, f, g, o) stacked as PyTorch's. Returns ``(output, (h_n, c_n))``."""

    mode = "LSTM"

    def _hx(self, hx, shape):
        if hx is None:
            return None
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise NlpkitError("LSTM: hx must be a tuple (h0, c0)")
        return self._state(hx[0], shape, "h0"), self._state(hx[1], shape, "c0")


class GRU(_RecurrentBase):
    """GRU with gates (r, z, n) as PyTorch's (r scales the hidden projection with its bias).
    Returns ``(output, h_n)``."""

    mode = "GRU"
