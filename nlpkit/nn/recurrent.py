"""RNN (tanh/ReLU), LSTM and GRU with PyTorch's arguments, parameter names and return values.

``forward(x, hx=None, lengths=None)``: ``x`` is (T, B, I), or (B, T, I) with
``batch_first``; ``lengths`` (B,) gives each sequence's length for a padded
batch (padded steps neither change the state nor receive gradient, and their
outputs are zero, as ``pack_padded_sequence``/``pad_packed_sequence`` give).
``padding_mask`` (B, T), True at padded steps, may be given instead.

``backward(grad_output, grad_hx=None)`` takes the gradient of ``output`` and
optionally of the final state (``h_n``, or ``(h_n, c_n)`` for LSTM) and returns
``(grad_x, grad_hx)`` in the shapes of ``x`` and ``hx``.
"""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from . import init
from . import recurrent_kernels as K
from .module import Module, as_rng

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


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

    def _weights(self, sfx):
        gh = GATES[self.mode] * self.hidden_size
        w_ih, w_hh = self._params["weight_ih" + sfx], self._params["weight_hh" + sfx]
        if self.bias:
            return w_ih, w_hh, self._params["bias_ih" + sfx], self._params["bias_hh" + sfx]
        zero = np.zeros(gh, self.dtype)
        return w_ih, w_hh, zero, zero

    # ------------------------------------------------------------ input checks
    def _prepare(self, x, hx, lengths, padding_mask):
        x = self._check_input(x, last=self.input_size, ndim=3)
        if self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        n_steps, batch = x.shape[:2]
        if padding_mask is not None:
            if lengths is not None:
                raise NlpkitError(f"{type(self).__name__}: give lengths or padding_mask, not both")
            padding_mask = np.asarray(padding_mask, dtype=bool)
            if padding_mask.shape != (batch, n_steps):
                raise NlpkitError(f"{type(self).__name__}: padding_mask expected shape "
                                  f"{(batch, n_steps)}, "
                                  f"got {padding_mask.shape}")
            lengths = (~padding_mask).sum(axis=1)
        if lengths is None:
            lengths = np.full(batch, n_steps, dtype=np.int64)
        else:
            lengths = np.ascontiguousarray(lengths, dtype=np.int64)
            if lengths.shape != (batch,):
                raise NlpkitError(f"{type(self).__name__}: lengths expected shape ({batch},), "
                                  f"got {lengths.shape}")
            if lengths.size and (lengths.min() < 0 or lengths.max() > n_steps):
                raise NlpkitError(f"{type(self).__name__}: lengths must lie in [0, {n_steps}]")
        state_shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        states = self._split_hx(hx, state_shape)
        return x, lengths, states

    def _state(self, value, shape, what):
        if value is None:
            return np.zeros(shape, self.dtype)
        value = self._check_input(value, what=what)
        if value.shape != shape:
            raise NlpkitError(f"{type(self).__name__}: {what} expected shape {shape}, "
                              f"got {value.shape}")
        return value

    def _split_hx(self, hx, shape):
        return [self._state(hx, shape, "h0")]

    def _join_states(self, states):
        return states[0]

    # ------------------------------------------------------------ forward / backward
    def forward(self, x, hx=None, lengths=None, padding_mask=None):
        x, lengths, states = self._prepare(x, hx, lengths, padding_mask)
        n_steps, batch = x.shape[:2]
        final = [np.empty_like(s) for s in states]
        caches, inp = [], x
        for layer in range(self.num_layers):
            outs, dir_caches = [], []
            for d, sfx in enumerate(self._suffixes(layer)):
                idx = layer * self.num_directions + d
                init_states = [s[idx] for s in states]
                out, last, cache = self._run_direction(inp, init_states, sfx, lengths,
                                                       reverse=d == 1)
                for f, v in zip(final, last):
                    f[idx] = v
                outs.append(out)
                dir_caches.append(cache)
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            mask = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                keep = self.rng.random(out.shape) >= self.dropout
                mask = keep.astype(self.dtype) / self.dtype(1 - self.dropout)
                out = out * mask
            caches.append((inp, dir_caches, mask))
            inp = out
        self._cache = caches, lengths, x.shape, [s.shape for s in states]
        output = inp.transpose(1, 0, 2).copy() if self.batch_first else inp
        return output, self._join_states(final)

    def backward(self, grad_output, grad_hx=None):
        caches, lengths, x_shape, state_shapes = self._need_cache()
        n_steps, batch = x_shape[:2]
        out_shape = (n_steps, batch, self.hidden_size * self.num_directions)
        if grad_output is None:
            dy = np.zeros(out_shape, self.dtype)
        else:
            user_shape = (batch, n_steps, out_shape[2]) if self.batch_first else out_shape
            dy = self._check_grad(grad_output, user_shape)
            if self.batch_first:
                dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        d_final = self._split_grad_hx(grad_hx, state_shapes)
        d_init = [np.zeros(s, self.dtype) for s in state_shapes]
        h = self.hidden_size
        for layer in range(self.num_layers - 1, -1, -1):
            inp, dir_caches, mask = caches[layer]
            if mask is not None:
                dy = dy * mask
            dinp = np.zeros(inp.shape, self.dtype)
            for d, sfx in enumerate(self._suffixes(layer)):
                idx = layer * self.num_directions + d
                dout = np.ascontiguousarray(dy[:, :, d * h:(d + 1) * h])
                d_last = [g[idx] for g in d_final]
                d_first = self._back_direction(dout, d_last, inp, dinp, sfx, lengths, dir_caches[d],
                                               reverse=d == 1)
                for g, v in zip(d_init, d_first):
                    g[idx] = v
            dy = dinp
        dx = dy.transpose(1, 0, 2).copy() if self.batch_first else dy
        return dx, self._join_states(d_init)

    def _split_grad_hx(self, grad_hx, shapes):
        if grad_hx is None:
            return [np.zeros(s, self.dtype) for s in shapes]
        return [self._check_grad(grad_hx, shapes[0], "grad_h_n")]

    # ------------------------------------------------------------ one direction of one layer
    def _project(self, inp, w_ih, bias):
        n_steps, batch, n_in = inp.shape
        xproj = K.dot(inp.reshape(-1, n_in), w_ih.T)
        xproj += bias
        return xproj.reshape(n_steps, batch, -1)

    def _weight_grads(self, sfx, inp, hprev, dgx, dgh, dinp, w_ih):
        gh = dgx.shape[2]
        dgx2, dgh2 = dgx.reshape(-1, gh), dgh.reshape(-1, gh)
        self._grads["weight_ih" + sfx] += K.dot(dgx2.T, inp.reshape(-1, inp.shape[2]))
        self._grads["weight_hh" + sfx] += K.dot(dgh2.T, hprev.reshape(-1, self.hidden_size))
        if self.bias:
            dbias = dgx2.sum(axis=0)
            self._grads["bias_ih" + sfx] += dbias
            # LSTM and RNN pass one gate gradient for both: sum it once
            self._grads["bias_hh" + sfx] += dbias if dgh is dgx else dgh2.sum(axis=0)
        dinp += K.dot(dgx2, w_ih).reshape(dinp.shape)


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

    def _run_direction(self, inp, states, sfx, lengths, reverse):
        w_ih, w_hh, b_ih, b_hh = self._weights(sfx)
        xproj = self._project(inp, w_ih, b_ih + b_hh)
        n_steps, batch = inp.shape[:2]
        out = np.empty((n_steps, batch, self.hidden_size), self.dtype)
        hprev = np.empty_like(out)
        relu = self.mode == "RNN_RELU"
        whh_t = np.ascontiguousarray(w_hh.T)
        h_n = K.rnn_forward(xproj, whh_t, states[0], lengths, reverse, relu, out, hprev)
        return out, [h_n], (out, hprev)

    def _back_direction(self, dout, d_last, inp, dinp, sfx, lengths, cache, reverse):
        out, hprev = cache
        w_ih, w_hh, _, _ = self._weights(sfx)
        dpre = np.empty((out.shape[0], out.shape[1], self.hidden_size), self.dtype)
        relu = self.mode == "RNN_RELU"
        dh0 = K.rnn_backward(dout, d_last[0], out, w_hh, lengths, reverse, relu, dpre)
        self._weight_grads(sfx, inp, hprev, dpre, dpre, dinp, w_ih)
        return [dh0]


class LSTM(_RecurrentBase):
    """LSTM with gates (i, f, g, o) stacked as PyTorch's. Returns ``(output, (h_n, c_n))``."""

    mode = "LSTM"

    def _split_hx(self, hx, shape):
        if hx is None:
            return [self._state(None, shape, "h0"), self._state(None, shape, "c0")]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise NlpkitError("LSTM: hx must be a tuple (h0, c0)")
        return [self._state(hx[0], shape, "h0"), self._state(hx[1], shape, "c0")]

    def _join_states(self, states):
        return states[0], states[1]

    def _split_grad_hx(self, grad_hx, shapes):
        if grad_hx is None:
            return [np.zeros(s, self.dtype) for s in shapes]
        if not isinstance(grad_hx, (tuple, list)) or len(grad_hx) != 2:
            raise NlpkitError("LSTM.backward: grad_hx must be a tuple (grad_h_n, grad_c_n)")
        return [np.zeros(s, self.dtype) if g is None else self._check_grad(g, s, what)
                for g, s, what in zip(grad_hx, shapes, ("grad_h_n", "grad_c_n"))]

    def _run_direction(self, inp, states, sfx, lengths, reverse):
        w_ih, w_hh, b_ih, b_hh = self._weights(sfx)
        xproj = self._project(inp, w_ih, b_ih + b_hh)
        n_steps, batch = inp.shape[:2]
        h = self.hidden_size
        out = np.empty((n_steps, batch, h), self.dtype)
        hprev, cprev = np.empty_like(out), np.empty_like(out)
        gates = np.empty((n_steps, batch, 4 * h), self.dtype)
        tanh_c = np.empty_like(out)
        whh_t = np.ascontiguousarray(w_hh.T)
        h_n, c_n = K.lstm_forward(xproj, whh_t, states[0], states[1], lengths, reverse,
                                  out, hprev, cprev, gates, tanh_c)
        return out, [h_n, c_n], (hprev, cprev, gates, tanh_c)

    def _back_direction(self, dout, d_last, inp, dinp, sfx, lengths, cache, reverse):
        hprev, cprev, gates, tanh_c = cache
        w_ih, w_hh, _, _ = self._weights(sfx)
        dgates = np.empty_like(gates)
        dh0, dc0 = K.lstm_backward(dout, d_last[0], d_last[1], cprev, gates, tanh_c, w_hh, lengths,
                                   reverse, dgates)
        self._weight_grads(sfx, inp, hprev, dgates, dgates, dinp, w_ih)
        return [dh0, dc0]


class GRU(_RecurrentBase):
    """GRU with gates (r, z, n) as PyTorch's (r scales the hidden projection with its bias).
    Returns ``(output, h_n)``."""

    mode = "GRU"

    def _run_direction(self, inp, states, sfx, lengths, reverse):
        w_ih, w_hh, b_ih, b_hh = self._weights(sfx)
        xproj = self._project(inp, w_ih, b_ih)
        n_steps, batch = inp.shape[:2]
        h = self.hidden_size
        out = np.empty((n_steps, batch, h), self.dtype)
        hprev, hn_proj = np.empty_like(out), np.empty_like(out)
        gates = np.empty((n_steps, batch, 3 * h), self.dtype)
        whh_t, bhh = np.ascontiguousarray(w_hh.T), np.ascontiguousarray(b_hh)
        h_n = K.gru_forward(xproj, whh_t, bhh, states[0], lengths, reverse, out, hprev, gates,
                            hn_proj)
        return out, [h_n], (hprev, gates, hn_proj)

    def _back_direction(self, dout, d_last, inp, dinp, sfx, lengths, cache, reverse):
        hprev, gates, hn_proj = cache
        w_ih, w_hh, _, _ = self._weights(sfx)
        dgx, dgh = np.empty_like(gates), np.empty_like(gates)
        dh0 = K.gru_backward(dout, d_last[0], hprev, gates, hn_proj, w_hh, lengths, reverse,
                             dgx, dgh)
        self._weight_grads(sfx, inp, hprev, dgx, dgh, dinp, w_ih)
        return [dh0]
