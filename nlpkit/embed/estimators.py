"""scikit-learn estimators: :class:`Word2Vec` (SGNS / CBOW) and :class:`FastText`.

``fit(X)`` trains on ``X``: a corpus path, or an iterable of sentences (strings
split on whitespace, or token lists).  ``transform(X)`` turns each document into
one vector (the mean of its word vectors, or a TF-IDF or SIF weighted mean), so
the estimators sit in a Pipeline before a classifier.  ``.wv`` holds the
:class:`KeyedVectors`.

Continued training: with ``warm_start=True`` a second ``fit`` keeps the trained
weights, adds the new text's words that reach ``min_count`` to the vocabulary
(existing ids do not change) and trains on the new text; with
``warm_start=False`` (the default, as in scikit-learn) ``fit`` starts over.

Threads: as in word2vec.c and the fastText tool, ``n_jobs=T`` threads each train their
own ``T``-th of the corpus, all at once (on text sorted by topic, documentation or
Wikipedia, they do not train one topic after another).

Reproducibility: the same ``seed`` with ``n_jobs=1`` gives identical vectors.
"""
from __future__ import annotations

import os

import numpy as np
from .._imports import sklearn_base
from ..errors import NlpkitError
from ..params import (
    BOOLEAN,
    DEVICE,
    N_JOBS,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    Interval,
    Options,
    ParameterError,
    Real,
    refuse_ignored,
    validate_params,
)
from ..text.spill import spill_dir
from ..text.vocab import Vocabulary
from . import trainer
from .docfreq import doc_freq_cpu
from .sgns import uniform_rows_cpu
from .keyedvectors import KeyedVectors
from .subwords import subword_rows

# sklearn.base without the SciPy modules it imports but does not use (see nlpkit._imports)
_sklearn = sklearn_base()


# what every word-vector estimator has (see nlpkit.params); each adds its own
EMBEDDING_CONSTRAINTS = {
    "vector_size": POSITIVE_INT, "window": POSITIVE_INT, "min_count": POSITIVE_INT,
    "epochs": POSITIVE_INT, "seed": NONNEGATIVE_INT, "n_jobs": N_JOBS,
    # a callable str -> tokens (the documents of fit and transform)
    "tokenizer": [None, "callable"],
    "weighting": [Options("mean", "tfidf", "sif")], "sif_a": POSITIVE,
}
# word2vec's and fastText's SGD
SGD_CONSTRAINTS = {
    **EMBEDDING_CONSTRAINTS, "negative": POSITIVE_INT, "sample": NONNEGATIVE,
    "min_alpha": NONNEGATIVE, "ns_exponent": [Interval(Real, None, None)],
    "device": DEVICE, "warm_start": BOOLEAN,
}


class _Embedding(_sklearn.TransformerMixin, _sklearn.BaseEstimator):
    _kind = "sgns"

    def _alpha(self):
        return self.alpha if self.alpha is not None else 0.025

    # ------------------------------------------------------------ training
    def fit(self, X, y=None, callback=None):
        """Train on ``X`` (path or sentences).  ``callback(done, total, loss)`` follows progress."""
        validate_params(self)
        warm = self.warm_start and hasattr(self, "syn0_")
        if not warm:
            self.vocab_ = Vocabulary(specials=())
        old_n = len(self.vocab_)
        # the encoded text lives in files mapped into memory, removed when fit ends (or fails)
        with spill_dir("nlpkit-embed-") as directory:
            corpus, n_read = trainer.encode(X, self.vocab_, self.min_count, self.tokenizer,
                                            grow=True, directory=directory)
            self.tokens_read_ = n_read + (getattr(self, "tokens_read_", 0) if warm else 0)
            self.lines_read_ = corpus.n_sentences + (getattr(self, "lines_read_", 0) if warm else 0)
            n = len(self.vocab_)
            rng = np.random.default_rng(self.seed)
            dim = self.vector_size
            if not warm:
                self.syn0_, self.syn1_ = self._init_weights(rng, n, dim)
            elif n > old_n:
                self._grow(rng, old_n, n, dim)
            self._train(corpus.ids, corpus.offsets, callback, release=corpus.release)
            self._doc_freq(corpus, warm, old_n)
            del corpus
        self._make_wv()
        return self

    def _init_weights(self, rng, n, dim):
        syn0 = ((rng.random((n, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        return syn0, np.zeros((n, dim), np.float32)

    def _grow(self, rng, old_n, n, dim):
        add = ((rng.random((n - old_n, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        self.syn0_ = np.ascontiguousarray(np.concatenate([self.syn0_, add]))
        self.syn1_ = np.ascontiguousarray(np.concatenate([self.syn1_,
                                                          np.zeros((n - old_n, dim), np.float32)]))

    def _train(self, ids, offsets, callback, **kw):
        stats = trainer.train(self._kind, self.syn0_, self.syn1_, ids, offsets, self.vocab_.counts,
                              window=self.window, negative=self.negative, alpha=self._alpha(),
                              min_alpha=self.min_alpha, sample=self.sample, epochs=self.epochs,
                              seed=self.seed, ns_exponent=self.ns_exponent, n_jobs=self.n_jobs,
                              device=self.device, callback=callback, **kw)
        self.train_stats_ = stats

    def _doc_freq(self, corpus, warm, old_n):
        """Sentence frequency of each word (for TF-IDF) accumulated over fits."""
        n = len(self.vocab_)
        df = np.zeros(n, np.int64)
        for ids, offsets in corpus.blocks():
            df += doc_freq_cpu(ids, offsets, n)
        if warm and hasattr(self, "doc_freq_"):
            df[:old_n] += self.doc_freq_[:old_n]
            self.n_docs_ += corpus.n_sentences
        else:
            self.n_docs_ = corpus.n_sentences
        self.doc_freq_ = df

    def _make_wv(self):
        self.wv = KeyedVectors(self.vocab_.itos, self.syn0_, self.vocab_.counts)

    # ------------------------------------------------------------ features
    def _word_weights(self):
        counts = self.vocab_.counts.astype(np.float64)
        if self.weighting == "tfidf":
            return np.log((1.0 + self.n_docs_) / (1.0 + self.doc_freq_)) + 1.0
        if self.weighting == "sif":
            return self.sif_a / (self.sif_a + counts / counts.sum())
        return np.ones(counts.shape[0])

    def transform(self, X):
        """One vector per document: the (weighted) mean of its known words' vectors
        (zeros for a document with none)."""
        if not hasattr(self, "wv"):
            raise NlpkitError(f"this {type(self).__name__} is not fitted yet; call fit first")
        if isinstance(X, (str, os.PathLike)):
            raise NlpkitError("transform expects a list of documents (str or token lists), "
                              "not a path")
        weights = self._word_weights()
        index = self.wv.key_to_index
        out = np.zeros((len(X), self.vector_size), np.float32)
        for r, doc in enumerate(X):
            toks = doc.split() if isinstance(doc, str) else list(doc)
            if self.tokenizer is not None and isinstance(doc, str):
                toks = self.tokenizer(doc)
            ids = [index[t] for t in toks if t in index]
            if ids:
                w = weights[ids]
                out[r] = (w[:, None] * self.wv.vectors[ids]).sum(axis=0) / w.sum()
        return out

    def get_feature_names_out(self, input_features=None):
        return np.array([f"{type(self).__name__.lower()}{i}" for i in range(self.vector_size)],
                        dtype=object)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("wv", None)  # rebuilt from syn0_ on load: one copy of the vectors in the pickle
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "syn0_" in state:
            self._make_wv()

    def save(self, path, fmt="word2vec"):
        """Write the word vectors (see :func:`nlpkit.embed.formats.save`)."""
        from . import formats
        if not hasattr(self, "wv"):
            raise NlpkitError("nothing to save: the model is not fitted yet")
        formats.save(self.wv, path, fmt, **self._save_kw(fmt))

    def _save_kw(self, fmt):
        return {}


class Word2Vec(_Embedding):
    """word2vec with negative sampling: skip-gram (``model='sgns'``) or CBOW (``model='cbow'``).

    Defaults are word2vec.c's except ``alpha``: ``None`` means 0.025 for
    skip-gram and 0.05 for CBOW (word2vec.c's two defaults).

    ``shared_negatives=True`` (skip-gram only) draws one set of negatives per
    centre word and shares it across the centre's context words (Ji et al.,
    "Parallelizing Word2Vec in Shared and Distributed Memory", 2016): the
    updates of a window become small dense blocks that stay in cache, about 3x
    faster, at the same quality on our benchmarks.  ``False`` draws negatives
    per (context, centre) pair exactly as word2vec.c and gensim do.  ``ns_exponent``
    is the noise distribution's power (0.75).  ``weighting`` picks the document
    vectors of :meth:`transform`: ``'mean'``, ``'tfidf'`` or ``'sif'`` (weight
    ``sif_a / (sif_a + p(w))``, without removing the first principal component).
    """

    _parameter_constraints = {**SGD_CONSTRAINTS, "model": [Options("sgns", "cbow")],
                              "alpha": [None, *POSITIVE], "shared_negatives": BOOLEAN}

    def __init__(self, vector_size=100, *, model="sgns", window=5, negative=5, min_count=5,
                 sample=1e-3, epochs=5, alpha=None, min_alpha=1e-4, ns_exponent=0.75, seed=1,
                 n_jobs=None, device=None, tokenizer=None, weighting="mean", sif_a=1e-3,
                 warm_start=False, shared_negatives=True):
        self.shared_negatives = shared_negatives
        self.vector_size = vector_size
        self.model = model
        self.window = window
        self.negative = negative
        self.min_count = min_count
        self.sample = sample
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.ns_exponent = ns_exponent
        self.seed = seed
        self.n_jobs = n_jobs
        self.device = device
        self.tokenizer = tokenizer
        self.weighting = weighting
        self.sif_a = sif_a
        self.warm_start = warm_start

    @property
    def _kind(self):
        return "sgns-shared" if self.model == "sgns" and self.shared_negatives else self.model

    def _alpha(self):
        if self.alpha is not None:
            return self.alpha
        return 0.05 if self.model == "cbow" else 0.025

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if self.model != "sgns":
            refuse_ignored(self, ("shared_negatives",), f"with model={self.model!r}")


class FastText(_Embedding):
    """fastText's skip-gram with subword n-grams.

    Defaults are the fastText tool's (``lr`` 0.05, ``t`` 1e-4, noise power 0.5,
    ``minn`` 3, ``maxn`` 6, ``bucket`` 2,000,000).  The input vector of a word is
    the mean of its own row and its n-gram rows; ``wv`` answers for unseen words
    from their n-grams.  The tool adds each context word's gradient to every row
    of the centre word before the next context word; here the mean moves by that
    gradient (the same arithmetic) and the rows receive the window's sum once.
    """

    _parameter_constraints = {**SGD_CONSTRAINTS, "alpha": POSITIVE, "minn": NONNEGATIVE_INT,
                              "maxn": NONNEGATIVE_INT, "bucket": NONNEGATIVE_INT}

    def __init__(self, vector_size=100, *, window=5, negative=5, min_count=5, sample=1e-4,
                 epochs=5, alpha=0.05, min_alpha=0.0, ns_exponent=0.5, minn=3, maxn=6,
                 bucket=2_000_000, seed=1, n_jobs=None, device=None, tokenizer=None,
                 weighting="mean", sif_a=1e-3, warm_start=False):
        self.vector_size = vector_size
        self.window = window
        self.negative = negative
        self.min_count = min_count
        self.sample = sample
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.ns_exponent = ns_exponent
        self.minn = minn
        self.maxn = maxn
        self.bucket = bucket
        self.seed = seed
        self.n_jobs = n_jobs
        self.device = device
        self.tokenizer = tokenizer
        self.weighting = weighting
        self.sif_a = sif_a
        self.warm_start = warm_start

    _kind = "fasttext"

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if self.maxn and (self.minn < 1 or self.minn > self.maxn):
            raise ParameterError(f"FastText: need 1 <= minn <= maxn; got minn={self.minn}, "
                                 f"maxn={self.maxn}")

    # the input matrix holds the words first, then ``bucket`` n-gram rows, uniform in
    # [-1/dim, 1/dim) as fastText draws them (in a parallel kernel: there are millions)
    def _init_weights(self, rng, n, dim):
        syn0 = np.empty((n + self.bucket, dim), np.float32)
        uniform_rows_cpu(syn0, -1.0 / dim, 1.0 / dim, np.uint64(rng.integers(1 << 62)))
        return syn0, np.zeros((n, dim), np.float32)

    def _grow(self, rng, old_n, n, dim):
        words, ngrams = self.syn0_[:old_n], self.syn0_[old_n:]
        add = ((rng.random((n - old_n, dim), dtype=np.float32) * 2 - 1) / dim).astype(np.float32)
        self.syn0_ = np.ascontiguousarray(np.concatenate([words, add, ngrams]))
        self.syn1_ = np.ascontiguousarray(np.concatenate([self.syn1_,
                                                          np.zeros((n - old_n, dim), np.float32)]))

    def _train(self, ids, offsets, callback, **kw):
        sub_offsets, sub_ids = subword_rows(self.vocab_.itos, self.minn, self.maxn, self.bucket)
        # fastText's sigmoid table, and its subsampling frequencies: of every token read,
        # min_count-pruned ones included, and of the </s> the tool reads at each line's end
        # (its ntokens counts them: 6.7% more tokens on one-sentence lines of 15 words, so
        # frequent words are kept 3% more often than without)
        super()._train(ids, offsets, callback, sub_offsets=sub_offsets, sub_ids=sub_ids,
                       max_exp=8.0, sigmoid_size=512,
                       sample_total=self.tokens_read_ + self.lines_read_, **kw)

    def _make_wv(self):
        n = len(self.vocab_)
        ngrams = self.syn0_[n:] if self.bucket and self.maxn else None
        self.wv = KeyedVectors(self.vocab_.itos, self.syn0_[:n], self.vocab_.counts,
                               ngrams=ngrams, minn=self.minn, maxn=self.maxn)

    def transform(self, X):
        return super().transform(X)

    def _save_kw(self, fmt):
        if fmt != "fasttext-bin":
            return {}
        args = {"ws": self.window, "epoch": self.epochs, "min_count": self.min_count,
                "neg": self.negative, "t": self.sample, "minn": self.minn, "maxn": self.maxn}
        return {"output": self.syn1_, "args": args}
