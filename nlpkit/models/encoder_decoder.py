"""The networks behind :class:`~nlpkit.models.Seq2Seq`: a recurrent decoder (with Luong-style
attention, or none: the "thought vector" model) and the Transformer encoder-decoder.

Both are forward code on :mod:`nlpkit.nn`: ``forward(src, src_lengths, tgt_in,
tgt_lengths) -> logits (B, T, V)`` for teacher-forced training, and ``start`` / ``step`` /
``reorder`` for :func:`nlpkit.models.decoding.beam_search`.  Ids are (B, T) int arrays
padded with 0, lengths beside them.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError
from ..nn import (
    LSTM,
    Dropout,
    Embedding,
    LearnedPositionalEncoding,
    Linear,
    MeanPoolTime,
    Module,
    MultiheadAttention,
    SinusoidalPositionalEncoding,
    Tanh,
    Transformer,
    init,
    reorder_cache,
)
from ..nn import functional as F
from ..nn.module import as_rng
from . import data
from .encoders import POSITIONS, RecurrentEncoder, TransformerEncoder, check_positions
from .layers import valid_mask


class AdditiveAttention(Module):
    """``score(q, k) = v · tanh(W q + U k)``; padded keys get no weight.

    ``forward(query (B, T, D), keys (B, S, D), key_padding_mask (B, S)) -> context (B, T, D)``
    (the keys are also the values), written as tensor ops: it runs on either device.
    """

    def __init__(self, dim, attn_dim, dtype=np.float32, rng=None):
        super().__init__(dtype)
        rng = as_rng(rng)
        self.w_query = Linear(dim, attn_dim, bias=False, dtype=dtype, rng=rng)
        self.w_key = Linear(dim, attn_dim, dtype=dtype, rng=rng)
        self.register_parameter("v", rng.uniform(-1, 1, attn_dim) / np.sqrt(attn_dim))

    def forward(self, query, keys, key_padding_mask):
        pq, pk = self.w_query(query), self.w_key(keys)  # (B,T,A), (B,S,A)
        e = F.tanh(pq.unsqueeze(2) + pk.unsqueeze(1))  # (B,T,S,A)
        scores = (e @ self.v).masked_fill(np.asarray(key_padding_mask)[:, None, :], -np.inf)
        return F.softmax(scores, dim=-1) @ keys


class RecurrentSeq2SeqNet(Module):
    """Encoder (BiLSTM or transformer) -> LSTM decoder.

    With ``attention`` ('dot': scaled dot-product with projections, one head; 'additive':
    Bahdanau's): the encoder states are projected to the decoder size (``memory``), the
    decoder starts from ``tanh(W mean(memory))``, and at each step
    ``tanh(W_c [context; output])`` predicts the next token (Luong et al. 2015).
    ``attention=None``: Sutskever et al.'s encoder-decoder, the decoder starting from
    ``tanh(W h)`` of the encoder's last state h (for a BiLSTM both directions' final states
    side by side; for a transformer encoder, the mean of its outputs), no attention after.
    """

    def __init__(self, src_vocab, tgt_vocab, encoder, attention, embedding_dim, hidden_size,
                 num_layers, dropout, rng, positions="sinusoidal"):
        super().__init__()
        self.src_embedding = Embedding(src_vocab, embedding_dim, padding_idx=data.PAD_ID, rng=rng)
        self.tgt_embedding = Embedding(tgt_vocab, embedding_dim, padding_idx=data.PAD_ID, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        if encoder == "bilstm":
            if hidden_size % 2:
                raise NlpkitError(
                    f"hidden_size must be even for the bilstm encoder; got {hidden_size}"
                )
            self.encoder = RecurrentEncoder(
                "bilstm", embedding_dim, hidden_size // 2, num_layers, dropout, rng
            )
        elif encoder == "transformer":
            self.encoder = TransformerEncoder(
                embedding_dim, hidden_size * 2, num_layers, dropout, rng=rng, positions=positions
            )
        else:
            raise NlpkitError(f"encoder must be 'bilstm' or 'transformer'; got {encoder!r}")
        self.attention_kind = attention
        self.recurrent_encoder = encoder == "bilstm"
        if attention is None:
            self.bridge = Linear(self.encoder.output_size, hidden_size, rng=rng)
            self.bridge_act = Tanh()
            if not self.recurrent_encoder:
                self.pool = MeanPoolTime(dim=1)
        else:
            self.memory = Linear(self.encoder.output_size, hidden_size, rng=rng)
            self.pool = MeanPoolTime(dim=1)  # the decoder starts from the mean encoder state
            self.bridge = Linear(hidden_size, hidden_size, rng=rng)
            self.bridge_act = Tanh()
        self.decoder = LSTM(embedding_dim, hidden_size, batch_first=True, rng=rng)
        if attention == "dot":
            self.attention = MultiheadAttention(hidden_size, 1, batch_first=True, rng=rng)
        elif attention == "additive":
            self.attention = AdditiveAttention(hidden_size, hidden_size, rng=rng)
        elif attention is not None:
            raise NlpkitError(f"attention must be 'dot', 'additive' or None; got {attention!r}")
        if attention is not None:
            self.combine = Linear(2 * hidden_size, hidden_size, rng=rng)
            self.combine_act = Tanh()
        self.out_dropout = Dropout(dropout, rng=rng)
        self.output = Linear(hidden_size, tgt_vocab, rng=rng)

    # -- encoder side
    def encode(self, src, src_lengths):
        """(memory (B, S, H) or None without attention, h0 (1, B, H))."""
        x = self.dropout(self.src_embedding(src))
        if self.attention_kind is None:
            if self.recurrent_encoder:
                _, last = self.encoder(x, src_lengths, return_state=True)
            else:
                last = self.pool(self.encoder(x, src_lengths), src_lengths)
            return None, self.bridge_act(self.bridge(last)).unsqueeze(0)
        mem = self.memory(self.encoder(x, src_lengths))
        h0 = self.bridge_act(self.bridge(self.pool(mem, src_lengths)))
        return mem, h0.unsqueeze(0)

    # -- decoder side
    def attend(self, q, mem, pad):
        if self.attention_kind == "dot":
            ctx, _ = self.attention(q, mem, mem, key_padding_mask=pad, need_weights=False)
            return ctx
        return self.attention(q, mem, pad)

    def decode_step(self, tgt_in, tgt_lengths, state, mem, pad):
        """Logits for ``tgt_in`` (B, T) from decoder ``state``; returns (logits, new state)."""
        dec, state = self.decoder(self.tgt_embedding(tgt_in), hx=state, lengths=tgt_lengths)
        if self.attention_kind is None:
            return self.output(self.out_dropout(dec)), state
        ctx = self.attend(dec, mem, pad)
        comb = self.combine_act(self.combine(F.cat([ctx, dec], dim=-1)))
        return self.output(self.out_dropout(comb)), state

    def forward(self, src, src_lengths, tgt_in, tgt_lengths):
        mem, h0 = self.encode(src, src_lengths)
        pad = ~valid_mask(src_lengths, src.shape[1])
        logits, _ = self.decode_step(tgt_in, tgt_lengths, (h0, F.zeros_like(h0)), mem, pad)
        return logits

    # -- decoding (nlpkit.models.decoding)
    def start(self, src, src_lengths):
        mem, h0 = self.encode(src, src_lengths)
        return {"mem": mem, "pad": ~valid_mask(src_lengths, src.shape[1]),
                "hc": (h0, F.zeros_like(h0))}

    def step(self, state, prev):
        logits, state["hc"] = self.decode_step(prev[:, None], np.ones(len(prev), np.int64),
                                               state["hc"], state["mem"], state["pad"])
        return logits.numpy()[:, -1], state

    def reorder(self, state, rows):
        h, c = state["hc"]
        state["hc"] = (h[:, rows], c[:, rows])
        state["pad"] = state["pad"][rows]
        if state["mem"] is not None:
            state["mem"] = state["mem"][rows]
        return state


class TransformerSeq2SeqNet(Module):
    """Vaswani et al.'s encoder-decoder: embeddings scaled by sqrt(d_model) (drawn from
    N(0, d_model^-1/2), fairseq's), positions, ``torch.nn.Transformer``'s layers and names
    (``transformer.encoder.layers.0…``, final norms), a linear output layer.

    ``positions``: 'sinusoidal' or 'learned' (added to source and target embeddings; a
    table each when learned) or 'rope' / 'alibi' (inside every self-attention).
    ``share_embeddings``: one table for source and target (the vocabularies must be one);
    ``tie_output``: the output layer's weight is the target embedding (Press & Wolf 2017).
    Decoding keeps each decoder layer's keys and values (:class:`nlpkit.nn.TransformerDecoder`'s
    cache), so a step costs one position.
    """

    def __init__(self, src_vocab, tgt_vocab, d_model, nhead, num_layers, dim_feedforward,
                 dropout, rng, norm_first=False, positions="sinusoidal", share_embeddings=False,
                 tie_output=False, max_len=1024, dtype=np.float32):
        super().__init__(dtype)
        rng = as_rng(rng)
        check_positions(positions)
        if d_model % nhead:
            raise NlpkitError(f"the model size {d_model} (embedding_dim) is not divisible by "
                              f"nhead {nhead}")
        self.d_model, self.position_kind = int(d_model), positions
        self.scale = math.sqrt(d_model)
        self.src_embedding = self._embedding(src_vocab, rng)
        if share_embeddings:
            if src_vocab != tgt_vocab:
                raise NlpkitError("share_embeddings needs one vocabulary for source and target")
            self.tgt_embedding = self.src_embedding
        else:
            self.tgt_embedding = self._embedding(tgt_vocab, rng)
        if positions == "sinusoidal":
            self.positions = SinusoidalPositionalEncoding(d_model, max(max_len, 4096),
                                                          batch_first=True, dtype=dtype)
        elif positions == "learned":
            self.src_positions = LearnedPositionalEncoding(max_len, d_model, batch_first=True,
                                                           dtype=dtype, rng=rng)
            self.tgt_positions = LearnedPositionalEncoding(max_len, d_model, batch_first=True,
                                                           dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, dtype=dtype, rng=rng)
        self.transformer = Transformer(
            d_model, nhead, num_layers, num_layers, dim_feedforward, dropout,
            batch_first=True, norm_first=norm_first, dtype=dtype, rng=rng,
            positions=positions if positions in ("rope", "alibi") else None)
        self.output = Linear(d_model, tgt_vocab, dtype=dtype, rng=rng)
        if tie_output:
            self.output.weight = self.tgt_embedding.weight

    def _embedding(self, n, rng):
        e = Embedding(n, self.d_model, padding_idx=data.PAD_ID, dtype=self.dtype, rng=rng)
        init.normal_(e.weight.data, 0.0, self.d_model ** -0.5, rng=rng)
        e.weight.data[data.PAD_ID] = 0
        return e

    def _embed(self, ids, side, offset=0):
        emb = self.src_embedding if side == "src" else self.tgt_embedding
        x = emb(ids) * self.scale
        if self.position_kind == "sinusoidal":
            x = self.positions(x, offset)
        elif self.position_kind == "learned":
            x = getattr(self, f"{side}_positions")(x, offset)
        return self.dropout(x)

    def encode(self, src, src_lengths):
        pad = ~valid_mask(src_lengths, src.shape[1])
        return self.transformer.encoder(self._embed(src, "src"), src_key_padding_mask=pad), pad

    def forward(self, src, src_lengths, tgt_in, tgt_lengths):
        memory, pad = self.encode(src, src_lengths)
        tgt_pad = ~valid_mask(tgt_lengths, tgt_in.shape[1])
        h = self.transformer.decoder(self._embed(tgt_in, "tgt"), memory, tgt_is_causal=True,
                                     tgt_key_padding_mask=tgt_pad,
                                     memory_key_padding_mask=pad)
        return self.output(h)

    # -- decoding (nlpkit.models.decoding)
    def start(self, src, src_lengths):
        memory, pad = self.encode(src, src_lengths)
        return {"memory": memory, "pad": pad, "cache": {}, "t": 0}

    def step(self, state, prev):
        x = self._embed(prev[:, None], "tgt", state["t"])
        h = self.transformer.decoder(x, state["memory"], tgt_is_causal=True,
                                     memory_key_padding_mask=state["pad"], cache=state["cache"])
        state["t"] += 1
        state["memory"] = None  # kept projected in every layer's cross-attention cache
        return self.output(h).numpy()[:, 0], state

    def reorder(self, state, rows):
        state["pad"] = state["pad"][rows]
        reorder_cache(state["cache"], rows)
        return state


__all__ = ["AdditiveAttention", "RecurrentSeq2SeqNet", "TransformerSeq2SeqNet", "POSITIONS"]
