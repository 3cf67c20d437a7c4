"""nlpkit: Numba-accelerated NLP on the CPU and (simulator-verified) CUDA.

Public names are imported lazily so that ``import nlpkit`` stays fast and
compiles nothing.
"""
from ._version import __version__
from .errors import NlpkitError

_LAZY = {
    "Corpus": ("nlpkit.text", "Corpus"),
    "Vocabulary": ("nlpkit.text", "Vocabulary"),
    "Tokenizer": ("nlpkit.text", "Tokenizer"),
    "BPE": ("nlpkit.text.subword", "BPE"),
    "WordPiece": ("nlpkit.text.subword", "WordPiece"),
    "NGramLM": ("nlpkit.ngram.lm", "NGramLM"),
    "Word2Vec": ("nlpkit.embed.estimators", "Word2Vec"),
    "FastText": ("nlpkit.embed.estimators", "FastText"),
    "PPMI": ("nlpkit.embed.count_estimators", "PPMI"),
    "GloVe": ("nlpkit.embed.count_estimators", "GloVe"),
    "KeyedVectors": ("nlpkit.embed.keyedvectors", "KeyedVectors"),
    "TextClassifier": ("nlpkit.models.classifier", "TextClassifier"),
    "SequenceTagger": ("nlpkit.models.tagger", "SequenceTagger"),
    "NeuralLM": ("nlpkit.models.neural_lm", "NeuralLM"),
    "Seq2Seq": ("nlpkit.models.seq2seq", "Seq2Seq"),
}

_SUBMODULES = ("backend", "corpora", "text", "ngram", "embed", "nn", "models")

__all__ = ["__version__", "NlpkitError", *_LAZY]


def __getattr__(name):
    import importlib
    if name in _SUBMODULES:
        return importlib.import_module(f"nlpkit.{name}")
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nlpkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
