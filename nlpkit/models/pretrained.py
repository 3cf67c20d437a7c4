"""Starting a classifier or a tagger from a pretrained language model's embeddings and encoder.

``TextClassifier(pretrained=PATH)`` and ``SequenceTagger(pretrained=PATH)`` take, from an
nlpkit model file holding a :class:`~nlpkit.models.MaskedLM` or a
:class:`~nlpkit.models.NeuralLM`, its vocabulary, its word embeddings and its encoder (the
MaskedLM's transformer encoder; the NeuralLM's recurrent layers or causal transformer), and
put a new head on top.  ``freeze_layers=k`` keeps the embeddings and the encoder's first k
layers as they were pretrained.

A ``pretrained`` path that is not an nlpkit model file is read as word vectors (word2vec or
fastText formats), as before: the two are told apart by the file's first bytes
(:func:`nlpkit.models.io.is_model_file`).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass

from ..errors import NlpkitError
from . import data
from .encoders import RecurrentEncoder

KINDS = ("MaskedLM", "NeuralLM")


@dataclass
class Pretrained:
    """What a fine-tuned model takes from a language model."""

    kind: str
    vocab: object  # nlpkit.text.Vocabulary
    embedding: object  # nn.Embedding (a copy)
    encoder: object  # a models.encoders encoder (a copy): forward(x, lengths) -> (B, T, D)
    lowercase: bool
    n_layers: int

    @property
    def dim(self):
        return self.embedding.embedding_dim


def is_language_model_file(pretrained) -> bool:
    """True when ``pretrained`` is a path to an nlpkit model file (not word vectors)."""
    from .io import is_model_file

    return isinstance(pretrained, (str, os.PathLike)) and is_model_file(pretrained)


def load_pretrained(path) -> Pretrained:
    """The embeddings and encoder of the MaskedLM or NeuralLM saved at ``path`` (copies)."""
    from .io import load_model

    model = load_model(path, kind=KINDS)
    net = model.net_
    if model.__class__.__name__ == "MaskedLM":
        encoder = copy.deepcopy(net.encoder)
        n_layers = encoder.n_layers
        lower = bool(model.lowercase)
    else:
        if getattr(model, "unit", "word") != "word":
            raise NlpkitError(f"{path}: a character-level NeuralLM cannot start a word-level "
                              "model")
        if model.cell == "transformer":
            encoder = copy.deepcopy(net.body)  # causal, as it was trained
        else:  # the LM's recurrent layers inside the encoders' wrapper
            encoder = RecurrentEncoder(model.cell, model.embedding_dim, model.hidden_size,
                                       model.num_layers, model.dropout)
            encoder.rnn.load_state_dict(net.body.state_dict())
        n_layers = model.num_layers
        lower = False
    embedding = copy.deepcopy(net.embedding)
    vocab = model.vocab_
    if vocab.itos[:2] != [data.PAD, data.UNK]:
        raise NlpkitError(f"{path}: the vocabulary does not start with {data.PAD}, {data.UNK}")
    return Pretrained(type(model).__name__, vocab, embedding, encoder, lower, n_layers)


def freeze(pretrained, freeze_layers):
    """Stop training the embeddings and the first ``freeze_layers`` encoder layers
    (None: train everything)."""
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


def check_freeze(freeze_layers, pretrained):
    if freeze_layers is not None and pretrained is None:
        raise NlpkitError("freeze_layers needs pretrained= (a MaskedLM or NeuralLM model file)")
