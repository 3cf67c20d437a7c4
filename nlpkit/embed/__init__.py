"""Word embeddings: word2vec (SGNS/CBOW), fastText subwords, PPMI/SVD and GloVe; KeyedVectors,
formats.

>>> from nlpkit.embed import Word2Vec
>>> model = Word2Vec(vector_size=100, model="sgns").fit("corpus.txt")
>>> model.wv.most_similar("king", topn=5)
"""
from .cooccurrence import Cooccurrences, count_cooccurrences
from .count_estimators import PPMI, GloVe
from .estimators import FastText, Word2Vec
from .formats import FORMATS, load, read_fasttext_bin, read_word2vec, save, write_fasttext_bin, \
    write_word2vec
from .keyedvectors import KeyedVectors, UnknownWordError
from .subwords import fnv1a, ngram_hashes

__all__ = ["Word2Vec", "FastText", "PPMI", "GloVe", "count_cooccurrences", "Cooccurrences",
           "KeyedVectors", "UnknownWordError", "load", "save", "FORMATS",
           "read_word2vec", "write_word2vec", "read_fasttext_bin", "write_fasttext_bin",
           "fnv1a", "ngram_hashes"]
