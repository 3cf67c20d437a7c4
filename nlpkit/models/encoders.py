"""Sequence encoders: (B, T, E) embedded tokens + lengths -> (B, T, D) features.

Every encoder has ``forward(x, lengths)`` and ``output_size`` (D), so the
classifier and the tagger pick one by name.
Padded steps may hold anything in the output; the heads mask them.
"""

from __future__ import annotations

from ..errors import NlpkitError
from ..nn import (
    GRU,
    LSTM,
    RNN,
    Dropout,
    LayerNorm,
    LearnedPositionalEncoding,
    Module,
    ReLU,
    SinusoidalPositionalEncoding,
    TransformerEncoderLayer,
)
from ..nn import functional as F
from ..nn.module import as_rng
from .layers import TimeConv1d, valid_mask

ENCODERS = ("cnn", "rnn", "lstm", "gru", "bilstm", "transformer")
RECURRENT = ("rnn", "lstm", "gru", "bilstm")  # encoders with a hidden x hidden matrix
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

    def forward(self, x, lengths, return_state=False):
        """(B, T, D) outputs; with ``return_state`` also the last layer's final hidden
        state (B, D) at each sequence's own end (both directions side by side)."""
        out, state = self.rnn(x, lengths=lengths)
        if not return_state:
            return out
        h = state[0] if isinstance(state, tuple) else state
        last = F.cat([h[-2], h[-1]], dim=-1) if self.output_size != h.shape[-1] else h[-1]
        return out, last


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


POSITIONS = ("sinusoidal", "learned", "rope", "alibi")


def check_positions(positions):
    if positions not in POSITIONS:
        raise NlpkitError(f"positions must be one of {', '.join(POSITIONS)}; got {positions!r}")
    return positions


def default_heads(d_model):
    """The largest of 8, 4, 2, 1 dividing ``d_model`` with a head size of at least 16."""
    return next(h for h in (8, 4, 2, 1) if d_model % h == 0 and (d_model // h >= 16 or h == 1))


class TransformerEncoder(Module):
    """Positions + ``num_layers`` encoder layers with a key padding mask (and a final
    LayerNorm when ``norm_first``, as pre-LN stacks need).

    ``d_model`` is the embedding size; ``hidden_size`` is the feed-forward size; ``nhead``
    defaults to :func:`default_heads`.  ``positions``: 'sinusoidal' or 'learned' (added to
    the input; ``max_len`` positions), 'rope' or 'alibi' (inside every layer's attention,
    no length limit).  ``causal``: each position sees itself and the ones before.
    ``input_norm``: a LayerNorm and dropout on the inputs with their positions (BERT's).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.1, causal=False, rng=None,
                 positions="sinusoidal", nhead=None, norm_first=False, max_len=1024,
                 input_norm=False, activation="relu"):
        super().__init__()
        rng = as_rng(rng)
        self.input_norm = bool(input_norm)
        if input_norm:  # BERT's: LayerNorm of word + position embeddings, then dropout
            self.embed_norm = LayerNorm(input_size)
            self.embed_dropout = Dropout(dropout, rng=rng)
        nhead = default_heads(input_size) if nhead is None else int(nhead)
        if input_size % nhead:
            raise NlpkitError(f"the model size {input_size} (embedding_dim) is not divisible "
                              f"by nhead {nhead}")
        self.n_layers, self.causal = num_layers, causal
        self.position_kind = check_positions(positions)
        if positions == "sinusoidal":
            self.positions = SinusoidalPositionalEncoding(input_size, max(max_len, 4096),
                                                          batch_first=True)
        elif positions == "learned":
            self.positions = LearnedPositionalEncoding(max_len, input_size, batch_first=True,
                                                       rng=rng)
        inside = positions if positions in ("rope", "alibi") else None
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
                    norm_first=norm_first,
                    rng=rng,
                    positions=inside,
                    activation=activation,
                ),
            )
        self.norm_first = bool(norm_first)
        if norm_first:
            self.norm = LayerNorm(input_size)
        self.output_size = input_size

    def layers(self):
        return [getattr(self, f"layer{i}") for i in range(self.n_layers)]

    @property
    def max_positions(self):
        """The longest input it reads: its table of added positions' length, or None
        (RoPE and ALiBi, inside attention, have no limit)."""
        return self.positions.max_len if self.position_kind in ("sinusoidal", "learned") \
            else None

    def forward(self, x, lengths):
        t = x.shape[1]
        if self.position_kind in ("sinusoidal", "learned"):
            x = self.positions(x)
        if self.input_norm:
            x = self.embed_dropout(self.embed_norm(x))
        pad = ~valid_mask(lengths, t)
        for layer in self.layers():
            x = layer(x, src_key_padding_mask=pad, is_causal=self.causal)
        return self.norm(x) if self.norm_first else x


def make_encoder(name, input_size, hidden_size, num_layers=1, dropout=0.0, rng=None,
                 positions="sinusoidal"):
    # (name and sizes: the estimator's parameters, checked by its contract)
    if name == "cnn":
        return CNNEncoder(input_size, hidden_size, num_layers, rng=rng)
    if name == "transformer":
        return TransformerEncoder(input_size, hidden_size, num_layers, dropout=dropout, rng=rng,
                                  positions=positions)
    return RecurrentEncoder(name, input_size, hidden_size, num_layers, dropout=dropout, rng=rng)
