"""Vectorized queries on a :class:`BackoffModel`, for model surgery (pruning, mixing, filtering).

Scoring text goes through :class:`nlpkit.ngram.scoring.scorer.NGramScorer` and its Numba
hash tables.  Operations on whole models ask other questions: "which row holds
each of these 400,000 n-grams", "what is p(w | h) for all of them at once".
:class:`ModelIndex` answers them with NumPy: each order's n-grams are keyed by
(row of the prefix in the order below, last word), one uint64 per n-gram,
sorted once and searched with ``np.searchsorted``.
"""
from __future__ import annotations

import numpy as np

from ..backoff import BackoffModel

LN10 = np.log(10.0)


class ModelIndex:
    """Row lookup and back-off probabilities over a BackoffModel's arrays."""

    def __init__(self, model: BackoffModel):
        self.model = model
        self.V = len(model.vocab)
        uni = model.ngrams[0][:, 0] if model.order else np.zeros(0, np.int32)
        # one spare slot: ids outside the vocabulary (an OOV word, -1) find nothing
        self.unigram_row = np.full(self.V + 1, -1, np.int64)
        self.unigram_row[uni] = np.arange(uni.shape[0])
        self.prefix_rows = [np.full(uni.shape[0], -1, np.int64)]
        self._keys, self._rows = [None], [None]
        for k in range(1, model.order):
            grams = model.ngrams[k]
            prefix = self.find(grams[:, :k])
            self.prefix_rows.append(prefix)
            keys = self._pack(prefix, grams[:, k])
            order = np.argsort(keys, kind="stable")
            self._keys.append(keys[order])
            self._rows.append(order)

    def _pack(self, prefix, words):
        return prefix.astype(np.uint64) * np.uint64(self.V + 1) + words.astype(np.uint64)

    def find(self, grams: np.ndarray) -> np.ndarray:
        """Row of each n-gram (rows of ``grams``, all of one length n) in order n; -1 if absent."""
        grams = self._known(grams)
        n = grams.shape[1]
        if n == 0:
            return np.zeros(grams.shape[0], np.int64)
        rows = self.unigram_row[grams[:, 0]]
        for k in range(1, n):
            rows = self._child(k, rows, grams[:, k])
        return rows

    def _known(self, ids):
        ids = np.asarray(ids)
        return np.where((ids < 0) | (ids >= self.V), self.V, ids)

    def _child(self, k, prefix_rows, words):
        """Rows in order k+1 of (prefix row in order k, word) pairs."""
        out = np.full(prefix_rows.shape[0], -1, np.int64)
        ok = prefix_rows >= 0
        if k >= len(self._keys) or self._keys[k].shape[0] == 0 or not ok.any():
            return out
        keys, rows = self._keys[k], self._rows[k]
        q = self._pack(prefix_rows[ok], words[ok])
        pos = np.minimum(np.searchsorted(keys, q), keys.shape[0] - 1)
        out[ok] = np.where(keys[pos] == q, rows[pos], -1)
        return out

    def logprob(self, hist: np.ndarray, words: np.ndarray, dtype=np.float64) -> np.ndarray:
        """log10 p(w | h) under back-off, for rows of ``hist`` (m, L) and ``words`` (m,).

        The highest order that holds (suffix of h, w) gives the probability; the
        back-off weights of the longer suffixes of h are added, stopping at the
        first suffix that is not in the model (as SRILM's wordProbBO).  Only the
        last ``order - 1`` words of the history matter.  ``dtype`` is the arithmetic's:
        float32 adds the weights as SRILM's ``LogP`` (a C float) does, rounding each sum.
        """
        model = self.model
        hist = self._known(hist)[:, max(0, np.asarray(hist).shape[1] - (model.order - 1)):]
        words = self._known(words)
        L = hist.shape[1]
        urow = self.unigram_row[words]
        logp = np.where(urow >= 0, model.logprob[0][np.maximum(urow, 0)], -np.inf).astype(dtype)
        bow = np.zeros(words.shape[0], dtype)
        alive = np.ones(words.shape[0], bool)
        for j in range(1, L + 1):
            node = self.find(hist[:, L - j:])
            alive &= node >= 0
            safe = np.maximum(node, 0)
            bow = np.where(alive, bow + model.backoff[j - 1][safe].astype(dtype), bow)
            row = self._child(j, np.where(alive, node, -1), words)
            hit = row >= 0
            logp = np.where(hit, model.logprob[j][np.maximum(row, 0)].astype(dtype), logp)
            bow = np.where(hit, dtype(0), bow)
        return logp + bow

    def children(self, k: int) -> np.ndarray:
        """For each row of order k+1 (k = 0 for unigrams): does some n-gram of order k+2 extend it?"""
        has = np.zeros(self.model.ngrams[k].shape[0], bool)
        if k + 1 < self.model.order:
            prefix = self.prefix_rows[k + 1]
            has[prefix[prefix >= 0]] = True
        return has


def recompute_backoffs(model: BackoffModel, k: int) -> None:
    """Set the back-off weights of order k+1 (k = 0: unigrams) from the n-grams above them,
    so that every context's distribution sums to one:
    bow(h) = (1 - sum p(w|h)) / (1 - sum p(w|h')) over the explicit followers w of h.
    A context with nothing above it keeps its weight; one whose mass is used up gets -inf."""
    if k + 1 >= model.order:
        return
    index = ModelIndex(model)
    above = model.ngrams[k + 1]
    n_ctx = model.ngrams[k].shape[0]
    ctx_rows = np.maximum(index.find(above[:, :k + 1]), 0)
    p = 10.0 ** model.logprob[k + 1].astype(np.float64)
    # the lower order's log probabilities summed as SRILM's wordProbBO does, in a C float
    lower = 10.0 ** index.logprob(above[:, 1:k + 1], above[:, k + 1], dtype=np.float32).astype(
        np.float64)
    num = 1.0 - np.bincount(ctx_rows, weights=p, minlength=n_ctx)
    den = 1.0 - np.bincount(ctx_rows, weights=lower, minlength=n_ctx)
    has_followers = np.bincount(ctx_rows, minlength=n_ctx) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        bow = np.log10(np.maximum(num, 0.0)) - np.log10(np.maximum(den, 0.0))
    fine = np.isfinite(bow) & (den > 1e-12)
    bow = np.where(fine, bow, np.where(num > 1e-12, 0.0, -np.inf))
    model.backoff[k] = np.where(has_followers, bow, model.backoff[k]).astype(np.float32)
