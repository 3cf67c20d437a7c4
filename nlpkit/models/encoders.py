"""Sequence encoders: (B, T, E) embedded tokens + lengths -> (B, T, D) features.

Every encoder has ``forward(x, lengths)`` and ``output_size`` (D), so the
classifier and the tagger pick one by name.
Padded steps may hold anything in the output; the heads mask them.
"""

from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from ..nn import (
    GRU,
    LSTM,
    RNN,
    Module,
    ReLU,
    SinusoidalPositionalEncoding,
    TransformerEncoderLayer,
    causal_mask,
)
from ..nn import functional as F
from ..nn.module import as_rng
from .layers import TimeConv1d, valid_mask

ENCODERS = ("cnn", "rnn", "lstm", "gru", "bilstm", "transformer")
_CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "bilstm": LSTM}


class RecurrentEncoder(Module):
    """RNN, LSTM, GRU or bidirectional LSTM over the valid steps of each sequence."""

    def __init__(self, cell, input_size, hidden_size, num_layers=1, dropout=0.0, rng=None):
        super().__init__()
        bidirectional = cell == "bilstm"
        self.rnn = _CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            rng=rng,
        )
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x, lengths):
        out, _ = self.rnn(x, lengths=lengths)
        return out


class CNNEncoder(Module):
    """Layers of parallel convolutions (widths 3, 4, 5; ``hidden_size`` filters each), ReLU."""

    widths = (3, 4, 5)

    def __init__(self, input_size, hidden_size, num_layers=1, rng=None):
        super().__init__()
        rng = as_rng(rng)
        self.n_layers = num_layers
        size = input_size
        for layer in range(num_layers):
            for w in self.widths:
                setattr(self, f"conv{layer}_{w}", TimeConv1d(size, hidden_size, w, rng=rng))
            setattr(self, f"act{layer}", ReLU())
            size = hidden_size * len(self.widths)
        self.output_size = size

    def forward(self, x, lengths):
        for layer in range(self.n_layers):
            outs = [getattr(self, f"conv{layer}_{w}")(x) for w in self.widths]
            x = getattr(self, f"act{layer}")(F.cat(outs, dim=-1))
        return x


class TransformerEncoder(Module):
    """Sinusoidal positions + ``num_layers`` post-LN encoder layers with a key padding mask.

    ``d_model`` is the embedding size; ``hidden_size`` is the feed-forward size;
    the number of heads is the largest of 8, 4, 2, 1 dividing ``d_model`` with head size >= 16.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.1, causal=False, rng=None):
        super().__init__()
        rng = as_rng(rng)
        nhead = next(
            h for h in (8, 4, 2, 1) if input_size % h == 0 and (input_size // h >= 16 or h == 1)
        )
        self.n_layers, self.causal = num_layers, causal
        self.positions = SinusoidalPositionalEncoding(input_size, batch_first=True)
        for i in range(num_layers):
            setattr(
                self,
                f"layer{i}",
                TransformerEncoderLayer(
                    input_size,
                    nhead,
                    dim_feedforward=hidden_size,
                    dropout=dropout,
                    batch_first=True,
                    rng=rng,
                ),
            )
        self.output_size = input_size

    def forward(self, x, lengths):
        b, t, d = x.shape
        x = self.positions(x)
        pad = ~valid_mask(lengths, t)
        # an explicit causal mask: the layers apply is_causal only without a padding mask
        mask = causal_mask(t, self.dtype) if self.causal else None
        for i in range(self.n_layers):
            x = getattr(self, f"layer{i}")(x, src_mask=mask, src_key_padding_mask=pad)
        return x


def make_encoder(name, input_size, hidden_size, num_layers=1, dropout=0.0, rng=None):
    if name not in ENCODERS:
        raise NlpkitError(f"encoder must be one of {', '.join(ENCODERS)}; got {name!r}")
    for what, v in (
        ("embedding_dim", input_size),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
    ):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise NlpkitError(f"{what} must be a positive integer; got {v!r}")
    if name == "cnn":
        return CNNEncoder(input_size, hidden_size, num_layers, rng=rng)
    if name == "transformer":
        return TransformerEncoder(input_size, hidden_size, num_layers, dropout=dropout, rng=rng)
    return RecurrentEncoder(name, input_size, hidden_size, num_layers, dropout=dropout, rng=rng)
