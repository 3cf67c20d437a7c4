"""Word embeddings: word2vec (SGNS/CBOW), fastText subwords, PPMI/SVD and GloVe; KeyedVectors,
formats.

>>> from nlpkit.embed import Word2Vec
>>> model = Word2Vec(vector_size=100, model="sgns").fit("corpus.txt")
>>> model.wv.most_similar("king", topn=5)

Names load on first use, so a command that trains word2vec does not import what only the
count-based models need (scipy.sparse and the co-occurrence kernels), and the reverse.
"""
import importlib

_LAZY = {
    "Word2Vec": "estimators", "FastText": "estimators",
    "PPMI": "count_estimators", "GloVe": "count_estimators",
    "count_cooccurrences": "cooccurrence", "Cooccurrences": "cooccurrence",
    "KeyedVectors": "keyedvectors", "UnknownWordError": "keyedvectors",
    "FORMATS": "formats", "load": "formats", "save": "formats", "read_word2vec": "formats",
    "write_word2vec": "formats", "read_fasttext_bin": "formats", "write_fasttext_bin": "formats",
    "fnv1a": "subwords", "ngram_hashes": "subwords",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
