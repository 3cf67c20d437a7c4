"""Relative-entropy pruning of back-off models (Stolcke 1998), as SRILM's ``ngram -prune``.

For each n-gram hw of the highest order first, then the next, down to bigrams:
removing it makes p(w | h) the backed-off bow'(h) p(w | h') and changes the
back-off weight of h to bow'(h).  The change in the model's entropy is

    dH = -P(h) [ p(w|h) (log p'(w|h) - log p(w|h)) + num(h) (log bow'(h) - log bow(h)) ]

with num(h) the left-over mass of h and P(h) the probability of the history
under the model.  An n-gram goes when 10**dH - 1 (the relative perplexity
change it causes) is below the threshold, and when no longer n-gram extends it.
Each n-gram is judged against the unpruned state of its context, as SRILM does;
the back-off weights of an order are recomputed after it is pruned, so every
context's distribution sums to one again.
"""
from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from .backoff import BackoffModel
from .lookup import ModelIndex, recompute_backoffs

BOS = "<s>"


def prune_entropy(model: BackoffModel, threshold: float, *, min_order: int = 2) -> BackoffModel:
    """A copy of ``model`` without the n-grams whose removal changes perplexity by less than
    ``threshold`` (relative, e.g. 1e-8).  ``model.meta['pruning']`` records, per order,
    how many n-grams went and the sum of their predicted entropy changes (log10)."""
    if not (isinstance(threshold, (int, float)) and threshold >= 0):
        raise NlpkitError(f"the pruning threshold must be a number >= 0; got {threshold!r}")
    m = _copy(model)
    bos = m.word_id(BOS)
    report = {}
    for k in range(m.order - 1, min_order - 2, -1):  # k: index of the order being pruned
        index = ModelIndex(m)
        grams = m.ngrams[k]
        if grams.shape[0] == 0:
            continue
        ctx_rows = index.find(grams[:, :k])
        p = 10.0 ** m.logprob[k].astype(np.float64)
        lower = 10.0 ** index.logprob(grams[:, 1:k], grams[:, k])
        n_ctx = m.ngrams[k - 1].shape[0]
        safe = np.maximum(ctx_rows, 0)
        num = 1.0 - np.bincount(safe, weights=p, minlength=n_ctx)
        den = 1.0 - np.bincount(safe, weights=lower, minlength=n_ctx)
        num, den = np.maximum(num, 0.0), np.maximum(den, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            old_bow = np.log10(num) - np.log10(den)
            new_num, new_den = num[safe] + p, den[safe] + lower
            new_bow = np.log10(new_num) - np.log10(new_den)
            p_ctx = 10.0 ** _history_logprob(index, grams[:, :k], bos)
            dH = -p_ctx * (p * (np.log10(lower) + new_bow - np.log10(p))
                           + num[safe] * (new_bow - old_bow[safe]))
        change = 10.0 ** np.nan_to_num(dH, nan=np.inf, posinf=np.inf) - 1.0
        drop = (change < threshold) & ~index.children(k) & (ctx_rows >= 0)
        report[k + 1] = {"pruned": int(drop.sum()), "kept": int((~drop).sum()),
                         "predicted_delta_log10": float(dH[drop].sum())}
        _remove_rows(m, k, ~drop)
        recompute_backoffs(m, k - 1)
    m.meta = dict(model.meta, pruning={"threshold": threshold, "orders": report})
    return m


def _history_logprob(index, hist, bos):
    """log10 P(h) by the chain rule under the model; a leading <s> has probability 1."""
    total = np.zeros(hist.shape[0], np.float64)
    for i in range(hist.shape[1]):
        lp = index.logprob(hist[:, :i], hist[:, i])
        if i == 0:
            lp = np.where(hist[:, 0] == bos, 0.0, lp)
        total += lp
    return total


def _copy(model):
    return BackoffModel(list(model.vocab), [a.copy() for a in model.ngrams],
                        [a.copy() for a in model.logprob], [a.copy() for a in model.backoff],
                        [a.copy() for a in model.has_backoff], dict(model.meta))


def _remove_rows(m, k, keep):
    m.ngrams[k], m.logprob[k] = m.ngrams[k][keep], m.logprob[k][keep]
    m.backoff[k], m.has_backoff[k] = m.backoff[k][keep], m.has_backoff[k][keep]
