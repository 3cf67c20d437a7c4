"""Mixing back-off models: dynamic interpolation, static mixing, and best-mix weights.

* :func:`mix_perplexity` - SRILM's ``ngram -lm A -mix-lm B -lambda 0.6 -ppl``: each
  word's probability is the weighted sum of the components' probabilities.
* :func:`mix_static` - SRILM's ``-mix-lm … -write-lm``: one back-off model over the
  union of the components' n-grams, each given the interpolated probability, with
  back-off weights recomputed so every context sums to one.  It only approximates
  the dynamic mixture (the back-off paths differ).
* :func:`best_mix` - SRILM's ``compute-best-mix``: the weights that minimise the
  perplexity of held-out text, by expectation-maximisation.

Scoring follows SRILM's ``-ppl`` conventions (SRILM-KATZ.md §8): ``<s>`` and
``</s>`` around each line, ``</s>`` scored, a word unknown to every component is
an OOV, a word with probability 0 a zeroprob.  A word unknown to one component
only (and that component has no ``<unk>``) gets probability 0 from it.
"""
from __future__ import annotations

import numpy as np

from ...errors import NlpkitError
from ..backoff import BackoffModel
from .index import ModelIndex, recompute_backoffs

SPECIALS = ("<unk>", "<s>", "</s>", "-pau-")


def check_weights(models, weights):
    """The weights as an array: one per model, each in [0, 1], summing to 1."""
    if len(models) < 2:
        raise NlpkitError("mixing needs at least two models")
    if weights is None:
        return np.full(len(models), 1.0 / len(models))
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape[0] == len(models) - 1:  # SRILM style: the last weight is what is left
        w = np.append(w, 1.0 - w.sum())
    if w.shape[0] != len(models):
        raise NlpkitError(f"{len(models)} models need {len(models)} weights (or one fewer); "
                          f"got {w.shape[0]}")
    if np.any(w < 0) or np.any(w > 1) or abs(w.sum() - 1) > 1e-6:
        raise NlpkitError(f"mixture weights must lie in [0, 1] and sum to 1; got "
                          f"{' '.join(f'{x:g}' for x in w)}")
    return w


def token_logprobs(model: BackoffModel, sentences, index: ModelIndex | None = None):
    """log10 p of every scored token (each word and ``</s>``) of ``sentences`` (token lists),
    plus a mask of the tokens the model cannot score: not in its vocabulary, and it has no
    ``<unk>`` to read them as."""
    index = index or ModelIndex(model)
    vid = {w: i for i, w in enumerate(model.vocab)}
    unk = vid.get("<unk>", -1)
    if unk >= 0 and not np.isfinite(index.logprob(np.zeros((1, 0), np.int64), np.array([unk]))[0]):
        unk = -1  # a closed model: <unk> has no probability, unknown words are OOVs
    bos, eos = vid.get("<s>", -1), vid.get("</s>", -1)
    hists, words, unknown = [], [], []
    width = max(model.order - 1, 0)
    for toks in sentences:
        ids = [bos] + [vid.get(t, -1) for t in toks] + [eos]
        unknown.extend(i < 0 and unk < 0 for i in ids[1:])
        ids = [unk if i < 0 else i for i in ids]
        for i in range(1, len(ids)):
            h = ids[max(0, i - width):i]
            hists.append([-1] * (width - len(h)) + h)
            words.append(ids[i])
    hists = np.array(hists, dtype=np.int64).reshape(-1, width)
    words = np.array(words, dtype=np.int64)
    out = np.empty(words.shape[0], np.float64)
    # a history is as long as the sentence allows: score each length separately
    lengths = (hists >= 0).sum(axis=1) if width else np.zeros(words.shape[0], int)
    for length in np.unique(lengths):
        sel = lengths == length
        out[sel] = index.logprob(hists[sel][:, width - length:], words[sel])
    return out, np.array(unknown, dtype=bool)


def _sentences(lines):
    return [line.split() for line in lines if line.split()]


def _component_probs(models, sentences):
    probs, unknown_all = [], None
    for m in models:
        lp, unknown = token_logprobs(m, sentences)
        probs.append(10.0 ** lp)
        unknown_all = unknown if unknown_all is None else unknown_all & unknown
    return np.vstack(probs), unknown_all


def mix_perplexity(models, weights, lines) -> dict:
    """SRILM ``-ppl`` of the dynamic mixture on text ``lines``: sentences, words, oovs,
    zeroprobs, logprob, ppl, ppl1."""
    w = check_weights(models, weights)
    sentences = _sentences(lines)
    probs, oov = _component_probs(models, sentences)
    mixed = w @ probs
    return _ppl_summary(mixed, oov, sentences)


def _ppl_summary(mixed, oov, sentences):
    zero = (mixed <= 0) & ~oov
    scored = ~oov & ~zero
    logprob = float(np.log10(mixed[scored]).sum())
    n_sent = len(sentences)
    n_words = sum(len(s) for s in sentences)
    n_oov, n_zero = int(oov.sum()), int(zero.sum())
    denom = n_words - n_oov - n_zero + n_sent
    ppl = 10 ** (-logprob / denom) if denom > 0 else float("nan")
    ppl1 = 10 ** (-logprob / (denom - n_sent)) if denom - n_sent > 0 else float("nan")
    return {"sentences": n_sent, "words": n_words, "oovs": n_oov, "zeroprobs": n_zero,
            "logprob": logprob, "ppl": ppl, "ppl1": ppl1}


def best_mix(models, lines, *, init=None, tol=1e-6, max_iter=200):
    """Weights minimising the perplexity of ``lines`` under the dynamic mixture (EM).

    Returns ``(weights, summary)`` where summary is the :func:`mix_perplexity` result.
    """
    w = check_weights(models, init)
    sentences = _sentences(lines)
    probs, oov = _component_probs(models, sentences)
    usable = ~oov & (probs.sum(axis=0) > 0)
    p = probs[:, usable]
    if p.shape[1] == 0:
        raise NlpkitError("the held-out text has no word that any model can score")
    for _ in range(max_iter):
        post = w[:, None] * p
        post /= post.sum(axis=0, keepdims=True)
        new = post.mean(axis=1)
        done = np.abs(new - w).max() < tol
        w = new
        if done:
            break
    return w, _ppl_summary(w @ probs, oov, sentences)


def mix_static(models, weights) -> BackoffModel:
    """One back-off model approximating the interpolation of ``models`` (same order; the same
    vocabulary apart from SRILM's special tokens)."""
    w = check_weights(models, weights)
    order = models[0].order
    if any(m.order != order for m in models):
        raise NlpkitError("models to mix must have the same order; got "
                          + ", ".join(str(m.order) for m in models))
    words = [set(m.vocab) - set(SPECIALS) for m in models]
    for i, ws in enumerate(words[1:], 1):
        if ws != words[0]:
            extra = sorted(ws ^ words[0])[:3]
            raise NlpkitError(f"model {i + 1} has a different vocabulary from model 1 "
                              f"({len(ws ^ words[0])} words differ, e.g. {', '.join(extra)})")
    vocab = list(models[0].vocab) + sorted({w for m in models for w in m.vocab} - set(models[0].vocab))
    vid = {x: i for i, x in enumerate(vocab)}
    maps = [np.array([vid[x] for x in m.vocab], np.int64) for m in models]
    back = []  # unified id -> the component's id (or -1)
    for m in models:
        own = {x: i for i, x in enumerate(m.vocab)}
        back.append(np.array([own.get(x, -1) for x in vocab], np.int64))
    indexes = [ModelIndex(m) for m in models]
    ngrams, logprob = [], []
    for k in range(order):
        rows = np.unique(np.vstack([mp[m.ngrams[k]] for mp, m in zip(maps, models)]), axis=0)
        p = np.zeros(rows.shape[0])
        for wi, b, idx in zip(w, back, indexes):
            p += wi * 10.0 ** idx.logprob(b[rows[:, :k]], b[rows[:, k]])
        with np.errstate(divide="ignore"):
            logprob.append(np.log10(p).astype(np.float32))
        ngrams.append(rows.astype(np.int32))
    has_backoff = [np.zeros(r.shape[0], bool) for r in ngrams]
    mixed = BackoffModel(vocab, ngrams, logprob, [np.zeros(r.shape[0], np.float32) for r in ngrams],
                         has_backoff, meta={"smoothing": "mix", "weights": w.tolist()})
    index = ModelIndex(mixed)
    for k in range(order - 1):
        has_backoff[k][index.prefix_rows[k + 1][index.prefix_rows[k + 1] >= 0]] = True
        recompute_backoffs(mixed, k)
    return mixed


def perplexity(model: BackoffModel, lines) -> dict:
    """SRILM ``-ppl`` summary of one model via :func:`token_logprobs` (used to compare a
    static mix with the dynamic one)."""
    sentences = _sentences(lines)
    lp, oov = token_logprobs(model, sentences)
    return _ppl_summary(np.where(np.isfinite(lp), 10.0 ** lp, 0.0), oov, sentences)


__all__ = ["mix_perplexity", "mix_static", "best_mix", "check_weights", "token_logprobs",
           "perplexity"]
