"""Transformer layers and stacks with PyTorch's names (post-LN or pre-LN): the encoder and
decoder layers, ``TransformerEncoder``/``TransformerDecoder`` (layers + an optional final
norm) and ``Transformer`` (torch.nn.Transformer's state dict: ``encoder.layers.0.…``,
``encoder.norm.…``, ``decoder.layers.0.…``, ``decoder.norm.…``).

nlpkit's additions: ``positions=None|'rope'|'alibi'`` on the layers' self-attention (see
:class:`~nlpkit.nn.MultiheadAttention`; cross-attention takes none), and incremental
decoding: the decoder's ``forward(..., cache=dict)`` keeps every layer's keys and values
(self-attention: grown by each step; cross-attention: the memory's, projected once), and
:func:`reorder_cache` follows the hypotheses a beam search keeps.
"""
from __future__ import annotations

import copy

import numpy as np

from ..errors import NlpkitError
from . import init
from .attention import MultiheadAttention
from .layers import GELU, Dropout, Linear, ReLU
from .module import Module, ModuleList, as_rng
from .norm import LayerNorm


def _activation(name, dtype):
    if name == "relu":
        return ReLU(dtype=dtype)
    if name == "gelu":
        return GELU(dtype=dtype)
    raise NlpkitError(f"activation must be 'relu' or 'gelu'; got {name!r}")


class TransformerEncoderLayer(Module):
    """``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``.

    Post-LN (default): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True``: ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 dtype=np.float32, rng=None, positions=None):
        super().__init__(dtype)
        rng = as_rng(rng)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype, rng=rng,
                                            positions=positions)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, dtype=dtype, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=rng)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.dropout1 = Dropout(dropout, dtype=dtype, rng=rng)
        self.dropout2 = Dropout(dropout, dtype=dtype, rng=rng)
        self.activation = _activation(activation, dtype)

    def _sa(self, x, mask, padding, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=padding, attn_mask=mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = self._check_input(src, "src", last=self.self_attn.embed_dim, ndim=3)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff(x))


class TransformerDecoderLayer(Module):
    """``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, cache=None)``.

    ``cache``: a dict for incremental decoding (``tgt`` then holds the new steps only;
    ``memory`` may be None after the first call); ``positions`` apply to the
    self-attention."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 dtype=np.float32, rng=None, positions=None):
        super().__init__(dtype)
        rng = as_rng(rng)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype, rng=rng,
                                            positions=positions)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype, rng=rng)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, dtype=dtype, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=rng)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.dropout1 = Dropout(dropout, dtype=dtype, rng=rng)
        self.dropout2 = Dropout(dropout, dtype=dtype, rng=rng)
        self.dropout3 = Dropout(dropout, dtype=dtype, rng=rng)
        self.activation = _activation(activation, dtype)

    def _sa(self, x, mask, padding, is_causal, cache):
        out, _ = self.self_attn(x, x, x, key_padding_mask=padding, attn_mask=mask,
                                need_weights=False, is_causal=is_causal,
                                cache=None if cache is None else cache.setdefault("self", {}))
        return self.dropout1(out)

    def _mha(self, x, memory, mask, padding, is_causal, cache):
        out, _ = self.multihead_attn(x, memory, memory, key_padding_mask=padding, attn_mask=mask,
                                     need_weights=False, is_causal=is_causal,
                                     cache=None if cache is None else cache.setdefault("cross", {}))
        return self.dropout2(out)

    def _ff(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False,
                cache=None):
        e = self.self_attn.embed_dim
        x = self._check_input(tgt, "tgt", last=e, ndim=3)
        if memory is not None or cache is None or "k" not in cache.get("cross", {}):
            memory = self._check_input(memory, "memory", last=e, ndim=3)
        args = (tgt_mask, tgt_key_padding_mask, tgt_is_causal, cache)
        cross = (memory, memory_mask, memory_key_padding_mask, memory_is_causal, cache)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), *args)
            x = x + self._mha(self.norm2(x), *cross)
            return x + self._ff(self.norm3(x))
        x = self.norm1(x + self._sa(x, *args))
        x = self.norm2(x + self._mha(x, *cross))
        return self.norm3(x + self._ff(x))


def _layers(layer, num_layers):
    """``num_layers`` copies of ``layer`` (as torch's _get_clones: equal weights to start,
    each its own parameters); each copy's dropout draws from its own generator, seeded
    from the layer's."""
    if not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
        raise NlpkitError(f"num_layers must be a positive integer; got {num_layers!r}")
    layers = [layer] + [copy.deepcopy(layer) for _ in range(num_layers - 1)]
    seeds = next((m.rng for m in layer.modules()
                  if isinstance(getattr(m, "rng", None), np.random.Generator)), None)
    for copied in layers[1:]:
        for m in copied.modules():
            if seeds is not None and isinstance(getattr(m, "rng", None), np.random.Generator):
                m.rng = np.random.default_rng(seeds.integers(2**63))
    return ModuleList(layers)


class TransformerEncoder(Module):
    """torch's TransformerEncoder: ``layers`` (copies of ``encoder_layer``) then ``norm``
    (a LayerNorm, or None).  ``forward(src, mask=None, src_key_padding_mask=None,
    is_causal=False)``."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__(encoder_layer.dtype)
        self.layers = _layers(encoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """torch's TransformerDecoder: ``layers`` (copies of ``decoder_layer``) then ``norm``.
    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False,
    cache=None)``; ``cache`` (a dict, one entry per layer) for incremental decoding."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__(decoder_layer.dtype)
        self.layers = _layers(decoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False,
                cache=None):
        x = tgt
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, tgt_is_causal, memory_is_causal,
                      cache=None if cache is None else cache.setdefault(i, {}))
        return x if self.norm is None else self.norm(x)


def reorder_cache(cache, index, batch_first=True):
    """Keep, in a decoder's ``cache``, the rows ``index`` (host ints) of every kept key and
    value along the batch axis: a beam search's surviving hypotheses, in place."""
    index = np.asarray(index, np.int64)
    for entry in cache.values():
        if isinstance(entry, dict) and "k" in entry:
            for key in ("k", "v"):
                t = entry[key]
                entry[key] = t[index] if batch_first else t[:, index]
        elif isinstance(entry, dict):
            reorder_cache(entry, index, batch_first)
    return cache


class Transformer(Module):
    """torch.nn.Transformer: an encoder and a decoder stack, each with a final LayerNorm,
    the same names and shapes; ``forward(src, tgt, src_mask=None, tgt_mask=None,
    memory_mask=None, src_key_padding_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, src_is_causal=False, tgt_is_causal=False,
    memory_is_causal=False)``.  Weights start Xavier-uniform as torch's do.
    ``positions`` goes to every layer's self-attention."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, dtype=np.float32, rng=None,
                 positions=None):
        super().__init__(dtype)
        rng = as_rng(rng)
        kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                  layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first,
                  bias=bias, dtype=dtype, rng=rng, positions=positions)
        self.encoder = TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **kw), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype))
        self.decoder = TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **kw), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype))
        self.d_model, self.nhead, self.batch_first = int(d_model), int(nhead), bool(batch_first)
        for p in self.parameters():  # torch's _reset_parameters
            if p.ndim > 1:
                init.xavier_uniform_(p.data, rng=rng)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=False, tgt_is_causal=False,
                memory_is_causal=False):
        memory = self.encoder(src, src_mask, src_key_padding_mask, src_is_causal)
        return self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                            memory_key_padding_mask, tgt_is_causal, memory_is_causal)
