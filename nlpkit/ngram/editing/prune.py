"""Relative-entropy pruning of back-off models (Stolcke 1998), as SRILM's ``ngram -prune``.

For each n-gram hw of the highest order first, then the next, down to bigrams:
removing it makes p(w | h) the backed-off bow'(h) p(w | h') and changes the
back-off weight of h to bow'(h).  The change in the model's entropy is

    dH = -P(h) [ p(w|h) (log p'(w|h) - log p(w|h)) + num(h) (log bow'(h) - log bow(h)) ]

with num(h) the left-over mass of h, bow(h) the back-off weight the model
holds, and P(h) the probability of the history by the chain rule under the
model, where a history's first word ``<s>`` counts with the probability of
``</s>`` (SRILM's ``LM::contextProb``: a sentence starts where one ends).  An
n-gram goes when the threshold is positive, 10**dH - 1 (the relative perplexity
change it causes) is below it, and no longer n-gram extends it.  Each n-gram is
judged against the unpruned state of its context, as SRILM's
``Ngram::pruneProbs`` does; contexts whose back-off mass cannot be computed
(SRILM's ``computeBOW`` failing) are left alone.  Judging an order reads no
number that pruning the orders above changed, so SRILM's in-place pass is
reproduced order by order.  At the end the back-off weights are recomputed,
lowest order first, and n-grams left without extensions lose theirs (SRILM's
``recomputeBOWs`` and ``removeBOW``), so every context's distribution sums to
one again.

Threshold and corpus size: an n-gram seen c times out of N tokens carries about
c/N of the training mass, so removing one changes the perplexity by roughly
(c/N) times its log-probability ratio to the back-off estimate.  On a corpus of
N tokens, thresholds well below 1/N prune only n-grams that the back-off
already predicts well (on the 800k-token KJV split, 1e-8 removes a few
percent); SRILM's customary 1e-8 is meant for corpora of 10^8 tokens.
"""
from __future__ import annotations

import numpy as np

from ...params import NONNEGATIVE, check_param
from ..backoff import BackoffModel
from .index import ModelIndex, recompute_backoffs

BOS, EOS = "<s>", "</s>"
_PROB_EPSILON = 3e-6  # SRILM's Prob_Epsilon


def prune_entropy(model: BackoffModel, threshold: float, *, min_order: int = 2) -> BackoffModel:
    """A copy of ``model`` without the n-grams whose removal changes perplexity by less than
    ``threshold`` (relative, e.g. 1e-8).  ``model.meta['pruning']`` records, per order,
    how many n-grams went and the sum of their predicted entropy changes (log10)."""
    check_param("prune_entropy", "threshold", threshold, NONNEGATIVE)
    m = _copy(model)
    report = {}
    for k in range(m.order - 1, min_order - 2, -1):  # k: index of the order being pruned
        if m.ngrams[k].shape[0] == 0:
            continue
        index = ModelIndex(m)
        dH, judged = entropy_changes(m, k, index)
        change = 10.0 ** np.nan_to_num(dH, nan=np.inf, posinf=np.inf) - 1.0
        drop = (threshold > 0) & (change < threshold) & judged & ~index.children(k)
        report[k + 1] = {"pruned": int(drop.sum()), "kept": int((~drop).sum()),
                         "predicted_delta_log10": float(dH[drop].sum())}
        _remove_rows(m, k, ~drop)
    # Back-off weights last, lowest order first, as SRILM's recomputeBOWs: pruning
    # bigrams changes the back-off estimates that the trigram contexts' weights divide by.
    for k in range(m.order - 1):
        recompute_backoffs(m, k)
    for k in report:
        _drop_empty_contexts(m, k - 2)
    m.meta = dict(model.meta, pruning={"threshold": threshold, "orders": report})
    return m


def entropy_changes(m: BackoffModel, k: int, index: ModelIndex | None = None):
    """Stolcke's dH (log10) of removing each n-gram of order ``k + 1`` on its own, and
    whether SRILM would judge it at all (its context is listed and its back-off mass sane)."""
    index = index or ModelIndex(m)
    grams = m.ngrams[k]
    ctx_rows = index.find(grams[:, :k])
    # SRILM's pruneProbs holds the log probabilities (the n-gram's, the lower order's, the
    # context's, the new weight, their differences) as LogP, a C float: computed the same
    # way, a dH that lands within float rounding of the threshold falls on the same side
    f32 = np.float32
    lp = m.logprob[k].astype(f32)
    p = 10.0 ** lp.astype(np.float64)
    lower_lp = index.logprob(grams[:, 1:k], grams[:, k], dtype=f32)
    lower = 10.0 ** lower_lp.astype(np.float64)
    n_ctx = m.ngrams[k - 1].shape[0]
    safe = np.maximum(ctx_rows, 0)
    num = 1.0 - np.bincount(safe, weights=p, minlength=n_ctx)
    den = 1.0 - np.bincount(safe, weights=lower, minlength=n_ctx)
    # SRILM's computeBOW: sums within rounding noise of zero are zero; a context
    # whose own mass is over-spent, or whose back-off has no mass left while its
    # own has some, is not judged (SRILM rescales the latter's probabilities)
    num[np.abs(num) < _PROB_EPSILON] = 0.0
    den[np.abs(den) < _PROB_EPSILON] = 0.0
    judged = (num >= 0) & ~((den < _PROB_EPSILON) & (num > _PROB_EPSILON))
    num[den <= 0] = 0.0
    den[den <= 0] = 0.0
    old_bow = m.backoff[k - 1].astype(f32)  # as the model holds it
    with np.errstate(divide="ignore", invalid="ignore"):
        new_bow = (np.log10(num[safe] + p) - np.log10(den[safe] + lower)).astype(f32)
        delta = (lower_lp + new_bow) - lp  # float arithmetic, as SRILM's deltaProb
        c_lp = _history_logprob(index, grams[:, :k], m.word_id(BOS), m.word_id(EOS))
        dH = -(10.0 ** c_lp.astype(np.float64)) * (
            p * delta.astype(np.float64)
            + num[safe] * (new_bow - old_bow[safe]).astype(np.float64))
    return dH, judged[safe] & (ctx_rows >= 0)


def _history_logprob(index, hist, bos, eos):
    """log10 P(h) by the chain rule under the model, as SRILM's ``LM::contextProb``:
    a first word <s> (whose own probability is 0) is scored as </s> instead."""
    total = np.zeros(hist.shape[0], np.float32)  # a LogP sum, as SRILM's jointProb
    for i in range(hist.shape[1]):
        words = hist[:, i]
        if i == 0 and eos >= 0:
            words = np.where(words == bos, eos, words)
        lp = index.logprob(hist[:, :i], words, dtype=np.float32)
        if i == 0 and eos < 0:  # (no </s> in the model: leave the <s> out)
            lp = np.where(hist[:, 0] == bos, np.float32(0), lp)
        total += lp
    return total


def _drop_empty_contexts(m, k):
    """N-grams of order k+1 that no longer extend to anything back off with weight 1 and
    print none (SRILM's removeBOW); a weight left from before would break the sums."""
    orphan = ~ModelIndex(m).children(k)
    m.backoff[k][orphan] = 0
    m.has_backoff[k][orphan] = False


def _copy(model):
    return BackoffModel(list(model.vocab), [a.copy() for a in model.ngrams],
                        [a.copy() for a in model.logprob], [a.copy() for a in model.backoff],
                        [a.copy() for a in model.has_backoff], dict(model.meta))


def _remove_rows(m, k, keep):
    m.ngrams[k], m.logprob[k] = m.ngrams[k][keep], m.logprob[k][keep]
    m.backoff[k], m.has_backoff[k] = m.backoff[k][keep], m.has_backoff[k][keep]
