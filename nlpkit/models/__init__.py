"""Neural NLP models as scikit-learn estimators, built on :mod:`nlpkit.nn`.

``TextClassifier`` (documents -> labels), ``SequenceTagger`` (tokens -> tags),
``NeuralLM`` (word- or character-level language model), ``MaskedLM`` (BERT-style
pretraining of a transformer encoder) and ``Seq2Seq`` (sequence -> sequence).
Names are imported lazily so ``import nlpkit.models`` stays cheap.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "TextClassifier": "nlpkit.models.classifier",
    "SequenceTagger": "nlpkit.models.tagger",
    "NeuralLM": "nlpkit.models.neural_lm",
    "Seq2Seq": "nlpkit.models.seq2seq",
    "MaskedLM": "nlpkit.models.masked_lm",
}

__all__ = list(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'nlpkit.models' has no attribute {name!r}")
