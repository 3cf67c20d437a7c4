"""Starting a classifier or a tagger from a pretrained language model's embeddings and encoder.

``TextClassifier(pretrained=PATH)`` and ``SequenceTagger(pretrained=PATH)`` take, from an
nlpkit model file holding a :class:`~nlpkit.models.MaskedLM` or a
:class:`~nlpkit.models.NeuralLM`, its vocabulary, its word embeddings and its encoder (the
MaskedLM's transformer encoder; the NeuralLM's recurrent layers or causal transformer), and
put a new head on top.  ``freeze_layers=k`` keeps the embeddings and the encoder's first k
layers as they were pretrained.

A ``pretrained`` path that is not an nlpkit model file is read as word vectors (word2vec or
fastText formats), as before: the two are told apart by the file's first bytes
(:func:`nlpkit.models.io.is_model_file`; a model file from before format 2, a pickle, counts
as a model file, so it is refused with its reason rather than read as vectors).  A saved
fine-tuned model keeps the encoder's architecture (``pretrained_encoder_``) and rebuilds it
(:class:`Rebuilt`) before its weights are loaded.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass

from ..errors import NlpkitError
from ..params import ParameterError, changed, refuse_overridden
from ..text import Tokenizer
from . import data
from .encoders import RecurrentEncoder, TransformerEncoder

KINDS = ("MaskedLM", "NeuralLM")


@dataclass
class Pretrained:
    """What a fine-tuned model takes from a language model: its vocabulary, its
    embeddings, its encoder's architecture (``config``, JSON values) and weights, its
    lowercasing.  :meth:`build` makes the encoder (the fine-tuning's dropout and random
    generator) with the pretrained weights."""

    kind: str
    vocab: object  # nlpkit.text.Vocabulary
    embedding: object  # nn.Embedding
    config: dict
    encoder_state: dict
    lowercase: bool
    split: object = None  # the model's splitter (whitespace Tokenizer or a SubwordSplit)
    encoder: object = None  # set by build

    @property
    def subword(self):
        return isinstance(self.split, data.SubwordSplit)

    def splitter(self, lowercase=False):
        """How the fine-tuned model splits text: as the language model did (its subword
        tokenizer, or whitespace words lowercased if it lowercased, or if asked)."""
        if self.subword:
            return self.split
        return Tokenizer(lower=self.lowercase or bool(lowercase))

    @property
    def dim(self):
        return self.embedding.embedding_dim

    @property
    def n_layers(self):
        return self.config["num_layers"]

    def build(self, dropout, rng):
        self.encoder = build_encoder(self.config, dropout, rng)
        target = self.encoder if self.config["kind"] == "transformer" else self.encoder.rnn
        target.load_state_dict(self.encoder_state)
        return self


def is_language_model_file(pretrained) -> bool:
    """True when ``pretrained`` is a path to an nlpkit model file (not word vectors)."""
    from .io import is_model_file

    return isinstance(pretrained, (str, os.PathLike)) and is_model_file(pretrained)


def encoder_config(model) -> dict:
    """The encoder of a fitted MaskedLM or word-level NeuralLM, as :func:`build_encoder`'s
    arguments."""
    if type(model).__name__ == "MaskedLM":
        enc = model.net_.encoder
        return {"kind": "transformer", "input_size": model.embedding_dim,
                "hidden_size": model.hidden_size, "num_layers": model.num_layers,
                "nhead": enc.layer0.self_attn.num_heads, "positions": model.positions,
                "norm_first": bool(model.norm_first), "max_len": int(model.max_length),
                "input_norm": True, "activation": "gelu", "causal": False}
    if model.cell == "transformer":
        enc = model.net_.body
        return {"kind": "transformer", "input_size": model.embedding_dim,
                "hidden_size": model.hidden_size, "num_layers": model.num_layers,
                "nhead": enc.layer0.self_attn.num_heads, "positions": model.positions,
                "norm_first": False, "max_len": 1024, "input_norm": False,
                "activation": "relu", "causal": True}  # causal, as it was trained
    return {"kind": model.cell, "input_size": model.embedding_dim,
            "hidden_size": model.hidden_size, "num_layers": model.num_layers}


_CONFIG_TYPES = {"kind": str, "input_size": int, "hidden_size": int, "num_layers": int,
                 "nhead": int, "positions": str, "norm_first": bool, "max_len": int,
                 "input_norm": bool, "activation": str, "causal": bool}
_RECURRENT_KEYS = ("kind", "input_size", "hidden_size", "num_layers")


def check_encoder_config(config) -> None:
    """NlpkitError unless ``config`` is what :func:`encoder_config` gives (read from a
    model file: every key and type checked before an encoder is built from it)."""
    def fail(problem):
        raise NlpkitError(f"pretrained_encoder_: {problem}")

    if not isinstance(config, dict):
        fail("must be an object")
    kind = config.get("kind")
    keys = set(_CONFIG_TYPES) if kind == "transformer" else set(_RECURRENT_KEYS)
    if kind not in ("transformer", "lstm", "gru", "rnn", "bilstm"):
        fail(f"kind must be transformer, lstm, gru, rnn or bilstm; got {kind!r}")
    if set(config) != keys:
        fail(f"must have exactly the keys {', '.join(sorted(keys))}")
    for key in keys:
        t, v = _CONFIG_TYPES[key], config[key]
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            fail(f"{key} must be a {t.__name__}; got {type(v).__name__}")
        if t is int and v < 1:
            fail(f"{key} must be >= 1; got {v}")
    if kind == "transformer" and config["nhead"] > config["input_size"]:
        fail(f"nhead {config['nhead']} is more than input_size {config['input_size']}")
    if kind == "transformer" and config["activation"] not in ("relu", "gelu"):
        fail(f"activation must be relu or gelu; got {config['activation']!r}")


def learned_positions(config):
    """How many positions a pretrained encoder ``config`` has vectors for (learned positions),
    or None (recurrent, sinusoidal, RoPE, ALiBi: any length)."""
    if config and config.get("kind") == "transformer" and config.get("positions") == "learned":
        return config["max_len"]
    return None


def config_sizes(config):
    """``(sizes, counts)`` of an encoder config, for :func:`nlpkit.models.io.check_sizes`."""
    where = "fitted.pretrained_encoder_."
    sizes = {where + k: config[k] for k in ("input_size", "hidden_size")}
    if config["kind"] == "transformer":
        # positions' tables: at most the 4096 rows a sinusoidal table always has, or stored
        if config["max_len"] > 4096:
            sizes[where + "max_len"] = config["max_len"]
    return sizes, {where + "num_layers": config["num_layers"]}


class Rebuilt:
    """The embedding and encoder of a saved fine-tuned model, to be filled by its weights
    (what :class:`Pretrained` gives a network when it is first built)."""

    def __init__(self, config, vocab_size, dim, dropout, rng):
        from ..nn import Embedding

        self.embedding = Embedding(vocab_size, dim, padding_idx=data.PAD_ID, rng=rng)
        self.encoder = build_encoder(config, dropout, rng)
        self.n_layers = config["num_layers"]


def build_encoder(config, dropout=0.0, rng=None):
    """An encoder of the architecture ``config`` describes (weights to be loaded)."""
    kw = dict(config)
    kind = kw.pop("kind")
    if kind == "transformer":
        return TransformerEncoder(dropout=dropout, rng=rng, **kw)
    return RecurrentEncoder(kind, kw["input_size"], kw["hidden_size"], kw["num_layers"],
                            dropout, rng)


def load_pretrained(path) -> Pretrained:
    """The vocabulary, embeddings and encoder weights of the MaskedLM or NeuralLM saved at
    ``path``."""
    from .io import load_model

    model = load_model(path, kind=KINDS)
    net = model.net_
    if type(model).__name__ == "NeuralLM" and getattr(model, "unit", "word") != "word":
        raise NlpkitError(f"{path}: a character-level NeuralLM cannot start a word-level model")
    body = net.encoder if type(model).__name__ == "MaskedLM" else net.body
    vocab = model.vocab_
    if vocab.itos[:2] != [data.PAD, data.UNK]:
        raise NlpkitError(f"{path}: the vocabulary does not start with {data.PAD}, {data.UNK}")
    if type(model).__name__ == "MaskedLM":
        split = model._tokenizer()
    else:
        split = data.resolve_tokenizer(getattr(model, "tokenizer", None))
    return Pretrained(type(model).__name__, vocab, copy.deepcopy(net.embedding),
                      encoder_config(model), body.state_dict(),
                      bool(getattr(model, "lowercase", False)), split)


def freeze(pretrained, freeze_layers):
    """Stop training the embeddings and the first ``freeze_layers`` layers of the (built)
    encoder (None: train everything)."""
    if freeze_layers is None:
        return
    if isinstance(freeze_layers, bool) or not isinstance(freeze_layers, int) or \
            not 0 <= freeze_layers <= pretrained.n_layers:
        raise NlpkitError(f"freeze_layers must be None or an integer in [0, "
                          f"{pretrained.n_layers}] (the pretrained encoder's layers); "
                          f"got {freeze_layers!r}")
    frozen = [pretrained.embedding]
    enc = pretrained.encoder
    if hasattr(enc, "layers"):  # transformer: positions, input norm, then layer by layer
        frozen += [m for name, m in enc._modules.items() if not name.startswith("layer")
                   and name != "norm"]
        frozen += enc.layers()[:freeze_layers]
        for p in frozen_params(frozen):
            p.requires_grad = False
        return
    # recurrent: PyTorch's per-layer names (weight_ih_l{k}, ...)
    for p in frozen_params(frozen):
        p.requires_grad = False
    for name, p in enc.rnn.named_parameters():
        layer = int(name.split("_l")[1].split("_")[0])
        if layer < freeze_layers:
            p.requires_grad = False


def frozen_params(modules):
    return [p for m in modules for p in m.parameters()]


# when freeze_layers has nothing to freeze (see nlpkit.params.refuse_ignored)
NO_LANGUAGE_MODEL = "without pretrained= a MaskedLM or NeuralLM model file"


# A classifier or a tagger starts from one of three word inputs: a pretrained language
# model's embedding and encoder (``_pretrained_parts``, set by fit), pretrained word vectors
# (``pretrained=``), or nothing.  These three steps are theirs, in the order of a fit.

def word_inputs(est, text):
    """Set ``embedding_dim_`` and ``vocab_`` of a fresh fit on ``text`` (an EncodedText);
    ``(parts, lookup)``: the language model's parts, or the word vectors' lookup."""
    from .base import resolve_pretrained

    parts = getattr(est, "_pretrained_parts", None)
    lookup, dim = (None, None) if parts is not None else resolve_pretrained(est.pretrained)
    # the sizes the pretrained model sets: a user's other value would be silently replaced
    if parts is not None:
        refuse_overridden(est, {"embedding_dim": parts.dim,
                                "hidden_size": parts.config["hidden_size"],
                                "num_layers": parts.config["num_layers"]},
                          f"the pretrained language model {os.fspath(est.pretrained)!r}")
        limit = learned_positions(parts.config)
        if limit and "max_length" in est.get_params() and changed(est, ["max_length"]) \
                and est.max_length > limit:
            raise ParameterError(
                f"{type(est).__name__}: max_length={est.max_length} is more than the "
                f"{limit} positions the pretrained language model {os.fspath(est.pretrained)!r} "
                f"learned; leave it at the default (documents are then cut to {limit}) or "
                f"set at most {limit}")
        est.embedding_dim_, est.vocab_ = parts.dim, parts.vocab
    else:
        if dim is not None:
            refuse_overridden(est, {"embedding_dim": dim}, "the pretrained word vectors")
        est.embedding_dim_ = dim or est.embedding_dim
        est.vocab_ = data.vocab_from_counts(text.count_dict(), min_count=est.min_count)
    return parts, lookup


def start_training(est, parts, lookup):
    """Build the network (with ``parts``, frozen as asked), start training it, and copy the
    word vectors of ``lookup`` into its embedding."""
    from .base import init_embedding

    est.pretrained_encoder_ = None
    if parts is not None:
        freeze(parts.build(est.dropout, est._rng), est.freeze_layers)
        est.pretrained_encoder_ = parts.config  # the architecture, to build it again
    est._start_training(est._make_net(est._rng, parts))
    est._pretrained_parts = None  # now the network's
    if lookup is not None:
        est.n_pretrained_ = init_embedding(est.net_.embedding, est.vocab_, lookup)


def rebuilt_parts(est, rng, parts):
    """``parts``, or for a loaded model the language model's parts rebuilt from
    ``pretrained_encoder_`` (frozen as when it was fitted), or None."""
    if parts is None and est.pretrained_encoder_ is not None:
        parts = Rebuilt(est.pretrained_encoder_, len(est.vocab_), est.embedding_dim_,
                        est.dropout, rng)
        freeze(parts, est.freeze_layers)
    return parts
