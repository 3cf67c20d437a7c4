"""Count-based word vectors as scikit-learn estimators: :class:`PPMI` (PPMI + SVD) and
:class:`GloVe`.

Both count co-occurrences first (:func:`~nlpkit.embed.cooccurrence.count_cooccurrences`:
streamed, in per-thread tables, memory bounded by ``memory`` GB with sorted runs on
disk beyond it), then turn the counts into vectors.  Like :class:`Word2Vec` they
take a corpus path or sentences in ``fit``, expose ``wv`` (:class:`KeyedVectors`),
and ``transform`` documents into (mean, TF-IDF or SIF weighted) vectors.
"""
from __future__ import annotations

import time

import numpy as np

from .. import backend
from ..errors import NlpkitError
from .cooccurrence import count_cooccurrences
from ..params import (
    BOOLEAN,
    POSITIVE,
    POSITIVE_INT,
    Interval,
    Options,
    Real,
    validate_params,
)
from .estimators import EMBEDDING_CONSTRAINTS, _Embedding
from .glove import glove_epoch_cpu, record_terms, shuffle_records_cpu
from .keyedvectors import KeyedVectors
from .ppmi import SOLVERS, ppmi_matrix, svd_embedding, truncated_svd
from ..text.vocab import Vocabulary


# PPMI's and GloVe's counting (see nlpkit.params)
COUNT_CONSTRAINTS = {**EMBEDDING_CONSTRAINTS, "max_vocab": [None, *POSITIVE_INT],
                     "memory": POSITIVE}


class _CountEmbedding(_Embedding):
    """What PPMI and GloVe share: counting, the vocabulary, ``wv``, pickling."""

    _weighting = "harmonic"

    def _count(self, X, callback, **kw):
        validate_params(self)
        t0 = time.perf_counter()
        co = count_cooccurrences(X, window=self.window, weighting=self._weighting,
                                 min_count=self.min_count, max_vocab=self.max_vocab,
                                 tokenizer=self.tokenizer, seed=self.seed, memory=self.memory,
                                 n_jobs=self.n_jobs, callback=callback, **kw)
        self.vocab_ = Vocabulary(co.words, co.counts, specials=())
        self.tokens_read_ = co.n_tokens
        self.doc_freq_, self.n_docs_ = co.doc_freq, co.n_docs
        self.count_stats_ = {"cells": co.nnz, "seconds": time.perf_counter() - t0}
        return co

    def _make_wv(self):
        self.wv = KeyedVectors(self.vocab_.itos, self.vectors_, self.vocab_.counts)

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "vectors_" in state:
            self._make_wv()


class PPMI(_CountEmbedding):
    """Word vectors from the SVD of the positive PMI matrix (Levy, Goldberg & Dagan 2015).

    Co-occurrences are counted within ``window`` words either side (each pair
    once per occurrence; with ``dynamic_window`` a context at distance ``d``
    counts ``(window - d + 1) / window``, the expected count of word2vec's and
    hyperwords' randomly shrunk windows).  ``sample`` drops frequent words
    before windows are formed (hyperwords' subsampling, keep probability
    ``sqrt(sample / f)``).  PMI uses context-distribution smoothing ``alpha``
    and is shifted by ``log(shift)`` (``shift`` = k of SGNS; 1 = no shift),
    negatives clipped to 0.  The vectors are ``U S^eig`` of the rank-``dim`` SVD
    (``solver`` ``'arpack'``: scipy's ``svds``; ``'randomized'``: Halko et al.),
    plus the normalised context vectors with ``add_context``.  The defaults follow
    Levy et al.'s recommendations (dynamic window, ``alpha`` 0.75, ``eig`` 0); on
    the linux-doc corpus they scored best of the settings tried.

    Attributes: ``wv``, ``vectors_``, ``singular_values_``, ``vocab_``,
    ``count_stats_`` (cells of the upper triangle, seconds).
    """

    _parameter_constraints = {
        **{k: v for k, v in COUNT_CONSTRAINTS.items() if k not in ("vector_size", "epochs")},
        "dim": POSITIVE_INT, "alpha": POSITIVE, "shift": [Interval(Real, 1, None)],
        "eig": [Interval(Real, None, None)], "dynamic_window": BOOLEAN,
        "sample": [Interval(Real, 0, 1, closed="left")], "add_context": BOOLEAN,
        "solver": [Options(*SOLVERS)],
    }

    def __init__(self, dim=100, *, window=5, min_count=5, alpha=0.75, shift=1.0, eig=0.0,
                 dynamic_window=True, sample=0.0, add_context=False, solver="arpack",
                 max_vocab=None, memory=2.0, seed=1, n_jobs=None, tokenizer=None,
                 weighting="mean", sif_a=1e-3):
        self.dim = dim
        self.window = window
        self.min_count = min_count
        self.alpha = alpha
        self.shift = shift
        self.eig = eig
        self.dynamic_window = dynamic_window
        self.sample = sample
        self.add_context = add_context
        self.solver = solver
        self.max_vocab = max_vocab
        self.memory = memory
        self.seed = seed
        self.n_jobs = n_jobs
        self.tokenizer = tokenizer
        self.weighting = weighting
        self.sif_a = sif_a

    @property
    def vector_size(self):
        return self.dim

    @property
    def _weighting(self):
        return "linear" if self.dynamic_window else "uniform"

    def fit(self, X, y=None, callback=None):
        """Count, PPMI, SVD.  ``callback(tokens_done, tokens_total, nan)`` follows counting."""
        def cb(done, total):
            callback(done, total, float("nan"))
        co = self._count(X, None if callback is None else cb, sample=self.sample)
        t0 = time.perf_counter()
        with backend.threads(self.n_jobs):
            m = ppmi_matrix(co.to_csr(), self.alpha, self.shift)
        del co
        # one BLAS thread: ARPACK's small dense steps ran 5-8x slower with two (NumPy's and
        # SciPy's OpenBLAS pools spin against each other; see backend.blas_threads)
        with backend.blas_threads(1):
            u, s, vt = truncated_svd(m, self.dim, solver=self.solver, seed=self.seed)
        self.singular_values_ = s.astype(np.float32)
        self.vectors_ = svd_embedding(u, s, vt, eig=self.eig, add_context=self.add_context)
        if self.vectors_.shape[1] < self.dim:   # a vocabulary smaller than dim
            pad = np.zeros((self.vectors_.shape[0], self.dim - self.vectors_.shape[1]), np.float32)
            self.vectors_ = np.ascontiguousarray(np.hstack([self.vectors_, pad]))
        self.train_stats_ = {"ppmi_cells": int(m.nnz), "seconds": time.perf_counter() - t0}
        self._make_wv()
        return self


class GloVe(_CountEmbedding):
    """GloVe (Pennington, Socher & Manning 2014) trained as Stanford's ``glove`` does.

    Co-occurrences within ``window`` words either side, weighted ``1/distance``
    (Stanford's ``cooccur``: symmetric, out-of-vocabulary words removed first);
    the records are shuffled once, then ``epochs`` passes of AdaGrad
    (``learning_rate``, squared-gradient sums starting at 1, components clipped to
    ``±grad_clip``) on ``f(x) (w.c + b + b' - log x)^2 / 2`` with
    ``f(x) = min(1, (x / x_max)^alpha)``, threads updating shared rows without
    locks (Hogwild).  ``wv`` holds the sum of word and context vectors (glove.c's
    ``-model 2``).  Defaults are Stanford's tools' (window 15, x_max 100, alpha
    0.75, 25 iterations, eta 0.05) but ``vector_size`` (100) and ``min_count`` (5).

    The same ``seed`` and ``n_jobs=1`` give identical vectors.  Attributes: ``wv``,
    ``vectors_``, ``word_vectors_``, ``context_vectors_``, ``word_biases_``,
    ``context_biases_``, ``loss_history_`` (mean weighted cost per update, per epoch).
    """

    _parameter_constraints = {**COUNT_CONSTRAINTS, "x_max": POSITIVE, "alpha": POSITIVE,
                              "learning_rate": POSITIVE, "grad_clip": POSITIVE}

    def __init__(self, vector_size=100, *, window=15, min_count=5, x_max=100.0, alpha=0.75,
                 epochs=25, learning_rate=0.05, grad_clip=100.0, max_vocab=None, memory=2.0,
                 seed=1, n_jobs=None, tokenizer=None, weighting="mean", sif_a=1e-3):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.x_max = x_max
        self.alpha = alpha
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.grad_clip = grad_clip
        self.max_vocab = max_vocab
        self.memory = memory
        self.seed = seed
        self.n_jobs = n_jobs
        self.tokenizer = tokenizer
        self.weighting = weighting
        self.sif_a = sif_a

    def fit(self, X, y=None, callback=None):
        """Count, shuffle, train.  ``callback(epochs_done, epochs, mean_cost)`` after each epoch."""
        co = self._count(X, None)
        rows, cols, vals = co.rows, co.cols, co.vals.astype(np.float32)
        n = co.n_words
        del co
        if rows.shape[0] == 0:
            raise NlpkitError("no two words of the vocabulary occur within a window of each "
                              "other: nothing to train on")
        t0 = time.perf_counter()
        shuffle_records_cpu(rows, cols, vals, np.uint64(self.seed) * np.uint64(2654435761) + 1)
        log_x, fx = record_terms(vals, self.x_max, self.alpha)
        del vals
        params, half = init_params(n, self.vector_size, np.random.default_rng(self.seed))
        self.loss_history_ = []
        with backend.threads(self.n_jobs) as n_threads:
            cost = np.zeros(n_threads, np.float64)
            updates = np.zeros(n_threads, np.int64)
            for epoch in range(self.epochs):
                glove_epoch_cpu(rows, cols, log_x, fx, params, self.vector_size, half, n,
                                float(self.learning_rate), float(self.grad_clip), n_threads,
                                cost, updates)
                self.loss_history_.append(float(cost.sum() / max(updates.sum(), 1)))
                if callback is not None:
                    callback(epoch + 1, self.epochs, self.loss_history_[-1])
        d = self.vector_size
        self.word_vectors_ = np.ascontiguousarray(params[:n, :d])
        self.context_vectors_ = np.ascontiguousarray(params[n:, :d])
        self.word_biases_ = params[:n, d].copy()
        self.context_biases_ = params[n:, d].copy()
        self.vectors_ = self.word_vectors_ + self.context_vectors_
        self.train_stats_ = {"records": int(rows.shape[0]), "seconds": time.perf_counter() - t0,
                             "loss": self.loss_history_[-1]}
        self._make_wv()
        return self


def init_params(n_words, dim, rng):
    """GloVe's parameter rows (see :mod:`nlpkit.embed.glove`): vectors and biases
    uniform in ``[-0.5/dim, 0.5/dim)`` as glove.c draws them, squared-gradient sums 1."""
    half = (dim + 1 + 15) // 16 * 16     # a row's halves start on 64-byte lines
    params = _aligned_zeros((2 * n_words, 2 * half))
    step = 1 << 16
    for s in range(0, 2 * n_words, step):
        e = min(s + step, 2 * n_words)
        params[s:e, :dim + 1] = (rng.random((e - s, dim + 1), dtype=np.float32) - 0.5) / dim
    params[:, half:half + dim + 1] = 1.0
    return params, half


def _aligned_zeros(shape, align=64):
    """float32 zeros whose first element sits on an ``align``-byte boundary."""
    n = int(np.prod(shape))
    raw = np.zeros(n + align // 4, np.float32)
    skip = (-raw.ctypes.data % align) // 4
    return raw[skip:skip + n].reshape(shape)
