"""Vocabulary filtering of a built model, as KenLM's ``filter`` (single mode).

An n-gram stays when every word in it is in the vocabulary (the sentence marks
and ``<unk>`` always are).  Probabilities and back-off weights are kept as they
are, so queries over the kept words give exactly the full model's scores: the
filtered model is for a decoder that will only ever see those words.
"""
from __future__ import annotations

import numpy as np

from ...errors import NlpkitError
from ..backoff import BackoffModel

ALWAYS = ("<s>", "</s>", "<unk>")


def filter_vocab(model: BackoffModel, words) -> BackoffModel:
    """The n-grams of ``model`` made only of ``words`` (and ``<s>``, ``</s>``, ``<unk>``)."""
    keep_words = set(words) | set(ALWAYS)
    allowed = np.array([w in keep_words for w in model.vocab] + [False], dtype=bool)
    if not allowed[:-1].any():
        raise NlpkitError("none of the vocabulary's words is in the model")
    ngrams, logprob, backoff, has_backoff = [], [], [], []
    for k in range(model.order):
        keep = allowed[model.ngrams[k]].all(axis=1)
        ngrams.append(model.ngrams[k][keep])
        logprob.append(model.logprob[k][keep])
        backoff.append(model.backoff[k][keep])
        has_backoff.append(model.has_backoff[k][keep])
    meta = dict(model.meta, filtered_to=int(allowed.sum()))
    return BackoffModel(list(model.vocab), ngrams, logprob, backoff, has_backoff, meta)
