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


def allowed_mask(vocab, words) -> np.ndarray:
    """Per word of ``vocab`` (a list, or a :class:`~..reading.encode.WordTable`): is it one of
    ``words`` (or ``<s>``, ``</s>``, ``<unk>``)?  One more entry, False, stands for ids
    outside the vocabulary (-1)."""
    keep_words = set(words) | set(ALWAYS)
    if isinstance(vocab, list):
        allowed = np.array([w in keep_words for w in vocab] + [False], dtype=bool)
    else:
        allowed = np.append(vocab.members(sorted(keep_words)), False)
    if not allowed[:-1].any():
        raise NlpkitError("none of the vocabulary's words is in the model")
    return allowed


def filter_sections(sections, allowed):
    """Model lines (per order ``(n, blocks)`` of ``(words, layout, lp, bow)``) made of
    allowed words (``allowed``: a mask over the words' ids)."""
    for n, blocks in sections:
        yield n, (_kept(b, allowed) for b in blocks)


def _kept(block, allowed):
    words, layout, lp, bow = block
    keep = allowed[words].all(axis=1)
    return words[keep], layout, lp[keep], bow[keep]


def filter_vocab(model: BackoffModel, words) -> BackoffModel:
    """The n-grams of ``model`` made only of ``words`` (and ``<s>``, ``</s>``, ``<unk>``)."""
    allowed = allowed_mask(model.vocab, words)
    ngrams, logprob, backoff, has_backoff = [], [], [], []
    for k in range(model.order):
        keep = allowed[model.ngrams[k]].all(axis=1)
        ngrams.append(model.ngrams[k][keep])
        logprob.append(model.logprob[k][keep])
        backoff.append(model.backoff[k][keep])
        has_backoff.append(model.has_backoff[k][keep])
    meta = dict(model.meta, filtered_to=int(allowed.sum()))
    return BackoffModel(list(model.vocab), ngrams, logprob, backoff, has_backoff, meta)
