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

import tempfile

import numpy as np

from ...errors import NlpkitError
from ...text.readers import batched
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
    return _Component(model, index)(sentences)


class _Component:
    """One model of a mixture, ready to score block after block (its index and word ids
    built once)."""

    def __init__(self, model: BackoffModel, index: ModelIndex | None = None):
        self.index = index = index or ModelIndex(model)
        self.vid = vid = {w: i for i, w in enumerate(model.vocab)}
        unk = vid.get("<unk>", -1)
        if unk >= 0 and not np.isfinite(index.logprob(np.zeros((1, 0), np.int64),
                                                      np.array([unk]))[0]):
            unk = -1  # a closed model: <unk> has no probability, unknown words are OOVs
        self.unk, self.bos, self.eos = unk, vid.get("<s>", -1), vid.get("</s>", -1)
        self.width = max(model.order - 1, 0)

    def __call__(self, sentences):
        """``(log10 p, unknown)`` of the tokens of ``sentences``: see :func:`token_logprobs`."""
        get, unk, width = self.vid.get, self.unk, self.width
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences)) + 2
        starts = np.zeros(len(sentences) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        # each sentence as <s> w1 .. wn </s>, back to back
        seq = np.empty(int(starts[-1]), np.int64)
        seq[starts[:-1]] = self.bos
        seq[starts[1:] - 1] = self.eos
        inner = np.ones(seq.shape[0], bool)
        inner[starts[:-1]] = inner[starts[1:] - 1] = False
        seq[inner] = np.fromiter((get(t, -1) for toks in sentences for t in toks), np.int64,
                                 int(inner.sum()))
        scored = np.ones(seq.shape[0], bool)
        scored[starts[:-1]] = False  # every token but <s> is predicted
        unknown = (seq[scored] < 0) & (unk < 0)
        seq[seq < 0] = unk
        pos = np.flatnonzero(scored)
        first = np.repeat(starts[:-1], lengths)[pos]  # each token's sentence start
        # its history: the ``width`` tokens before it within its sentence, -1 before the start
        hists = np.full((pos.shape[0], width), -1, np.int64)
        for j in range(1, width + 1):
            ok = pos - j >= first
            hists[ok, width - j] = seq[pos[ok] - j]
        words = seq[pos]
        out = np.empty(words.shape[0], np.float64)
        # a history is as long as the sentence allows: score each length separately
        hist_len = (hists >= 0).sum(axis=1) if width else np.zeros(words.shape[0], int)
        for length in np.unique(hist_len):
            sel = hist_len == length
            out[sel] = self.index.logprob(hists[sel][:, width - length:], words[sel])
        return out, unknown


def _sentences(lines):
    return [line.split() for line in lines if line.split()]


# Text is scored a block of sentences at a time and only sums are kept, so memory does not
# grow with the text; best-mix's EM needs every token's probabilities on every iteration,
# so it spills them to a temporary file and streams that.
_BLOCK = 1 << 10  # sentences per block


def _blocks(lines):
    """The sentences (token lists) of ``lines``, a block at a time."""
    return batched((toks for toks in (line.split() for line in lines) if toks), _BLOCK)


def _component_probs(models, sentences, components=None):
    probs, unknown_all = [], None
    for c in components or [_Component(m) for m in models]:
        lp, unknown = c(sentences)
        probs.append(10.0 ** lp)
        unknown_all = unknown if unknown_all is None else unknown_all & unknown
    return np.vstack(probs), unknown_all


def _scored_blocks(models, lines):
    """``(sentences, probs (K, n), oov (n,))`` a block of ``lines`` at a time."""
    components = [_Component(m) for m in models]
    for sentences in _blocks(lines):
        yield (sentences, *_component_probs(models, sentences, components))


class _Tally:
    """SRILM's ``-ppl`` counts, summed block by block."""

    def __init__(self):
        self.sentences = self.words = self.oovs = self.zeroprobs = 0
        self.logprob = 0.0

    def add_text(self, sentences):
        self.sentences += len(sentences)
        self.words += sum(len(s) for s in sentences)

    def add_tokens(self, mixed, oov):
        """``mixed``: each token's probability; ``oov``: the tokens no model can score."""
        zero = (mixed <= 0) & ~oov
        self.oovs += int(oov.sum())
        self.zeroprobs += int(zero.sum())
        self.logprob += float(np.log10(mixed[~oov & ~zero]).sum())

    def summary(self) -> dict:
        denom = self.words - self.oovs - self.zeroprobs + self.sentences
        ppl = 10 ** (-self.logprob / denom) if denom > 0 else float("nan")
        ppl1 = (10 ** (-self.logprob / (denom - self.sentences)) if denom - self.sentences > 0
                else float("nan"))
        return {"sentences": self.sentences, "words": self.words, "oovs": self.oovs,
                "zeroprobs": self.zeroprobs, "logprob": self.logprob, "ppl": ppl, "ppl1": ppl1}


def mix_perplexity(models, weights, lines) -> dict:
    """SRILM ``-ppl`` of the dynamic mixture on text ``lines`` (an iterable, read once, a
    block at a time): sentences, words, oovs, zeroprobs, logprob, ppl, ppl1."""
    w = check_weights(models, weights)
    tally = _Tally()
    for sentences, probs, oov in _scored_blocks(models, lines):
        tally.add_text(sentences)
        tally.add_tokens(w @ probs, oov)
    return tally.summary()


def _ppl_summary(mixed, oov, sentences):
    tally = _Tally()
    tally.add_text(sentences)
    tally.add_tokens(mixed, oov)
    return tally.summary()


def best_mix(models, lines, *, init=None, tol=1e-6, max_iter=200):
    """Weights minimising the perplexity of ``lines`` under the dynamic mixture (EM).

    ``lines`` is read once; the probabilities of the tokens some model can score go to a
    temporary file (``K`` float64 a token) that each EM iteration streams through.
    Returns ``(weights, summary)`` where summary is the :func:`mix_perplexity` result.
    """
    w = check_weights(models, init)
    k = len(models)
    tally = _Tally()
    n_usable = 0
    with tempfile.TemporaryFile(prefix="nlpkit-best-mix-") as spill:
        for sentences, probs, oov in _scored_blocks(models, lines):
            tally.add_text(sentences)
            usable = ~oov & (probs.sum(axis=0) > 0)
            # tokens no weighting can score: OOVs, and zeroprobs under every model
            tally.add_tokens(np.zeros(int((~usable).sum())), oov[~usable])
            np.ascontiguousarray(probs[:, usable].T).tofile(spill)
            n_usable += int(usable.sum())
        if n_usable == 0:
            raise NlpkitError("the held-out text has no word that any model can score")

        def blocks():
            spill.seek(0)
            left = n_usable
            while left:
                n = min(left, _EM_BLOCK)
                yield np.fromfile(spill, np.float64, n * k).reshape(n, k).T
                left -= n

        for _ in range(max_iter):
            post_sum = np.zeros(k)
            for p in blocks():
                post = w[:, None] * p
                post /= post.sum(axis=0, keepdims=True)
                post_sum += post.sum(axis=1)
            new = post_sum / n_usable
            done = np.abs(new - w).max() < tol
            w = new
            if done:
                break
        for p in blocks():
            tally.add_tokens(w @ p, np.zeros(p.shape[1], bool))
    return w, tally.summary()


_EM_BLOCK = 1 << 16  # tokens per block of the EM's passes


def mix_static(models, weights) -> BackoffModel:
    """One back-off model approximating the interpolation of ``models`` (same order; the same
    vocabulary apart from SRILM's special tokens), as SRILM's ``ngram -lm A -mix-lm B
    -mix-lm2 C … -write-lm`` builds it: two models are merged, then the merged one (a back-off
    model with its weights recomputed) with the third, and so on, each step weighting the
    newcomer by its share of the weights so far.  With two models this is the interpolation
    of their probabilities; with more it is SRILM's approximation, not the joint mixture."""
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
    mixed, total = models[0], float(w[0])
    for i in range(1, len(models)):
        # SRILM's makeStaticMixLM: lambda = w_i / (w_0 + ... + w_i), the old model keeps
        # 1 - lambda, and mixProbs gives the newcomer 1 - (1 - lambda): the same doubles
        total += float(w[i])
        keep = 1.0 - (0.0 if w[i] == 0 else float(w[i]) / total)
        mixed = _mix_two(mixed, models[i], keep, 1.0 - keep)
    mixed.meta = {"smoothing": "mix", "weights": w.tolist()}
    return mixed


def _mix_two(a, b, wa, wb) -> BackoffModel:
    """SRILM's ``Ngram::mixProbs``: every n-gram of either model, with probability
    ``wa p_a + wb p_b`` (each p by back-off where the model lacks it), then the back-off
    weights recomputed."""
    models, w = (a, b), (wa, wb)
    vocab = list(a.vocab) + sorted(set(b.vocab) - set(a.vocab))
    vid = {x: i for i, x in enumerate(vocab)}
    maps = [np.array([vid[x] for x in m.vocab], np.int64) for m in models]
    back = []  # unified id -> the component's id (or -1)
    for m in models:
        own = {x: i for i, x in enumerate(m.vocab)}
        back.append(np.array([own.get(x, -1) for x in vocab], np.int64))
    indexes = [ModelIndex(m) for m in models]
    ngrams, logprob = [], []
    for k in range(a.order):
        rows = np.unique(np.vstack([mp[m.ngrams[k]] for mp, m in zip(maps, models)]), axis=0)
        p = np.zeros(rows.shape[0])
        for wi, bk, idx in zip(w, back, indexes):  # (each p_BO a float sum, as SRILM's)
            p += wi * 10.0 ** idx.logprob(bk[rows[:, :k]], bk[rows[:, k]], dtype=np.float32
                                          ).astype(np.float64)
        with np.errstate(divide="ignore"):
            logprob.append(np.log10(p).astype(np.float32))
        ngrams.append(rows.astype(np.int32))
    has_backoff = [np.zeros(r.shape[0], bool) for r in ngrams]
    mixed = BackoffModel(vocab, ngrams, logprob, [np.zeros(r.shape[0], np.float32) for r in ngrams],
                         has_backoff, meta={})
    index = ModelIndex(mixed)
    for k in range(a.order - 1):
        has_backoff[k][index.prefix_rows[k + 1][index.prefix_rows[k + 1] >= 0]] = True
        recompute_backoffs(mixed, k)
    return mixed


def perplexity(model: BackoffModel, lines) -> dict:
    """SRILM ``-ppl`` summary of one model via :func:`token_logprobs` (used to compare a
    static mix with the dynamic one)."""
    tally = _Tally()
    component = _Component(model)
    for sentences in _blocks(lines):
        lp, oov = component(sentences)
        tally.add_text(sentences)
        tally.add_tokens(np.where(np.isfinite(lp), 10.0 ** lp, 0.0), oov)
    return tally.summary()


__all__ = ["mix_perplexity", "mix_static", "best_mix", "check_weights", "token_logprobs",
           "perplexity"]
