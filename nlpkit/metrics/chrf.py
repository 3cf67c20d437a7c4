"""Corpus chrF (Popović 2015) exactly as sacrebleu 2 computes it (``sacrebleu.corpus_chrf``).

Character n-grams of orders 1 … ``char_order`` (6) of each segment with its whitespace
removed (``whitespace=False``), optionally word n-grams of orders 1 … ``word_order``
(chrF++: 2) after splitting punctuation off the words' ends; per segment the reference
whose own chrF is best (the first on ties) gives the [hypothesis, reference, matched]
counts, summed over the corpus; then, by default, the F-beta (beta 2) of the precision and
recall averaged over the orders that have both hypothesis and reference n-grams
(sacrebleu >= 2's "effective order"); ``eps_smoothing=True`` gives chrF++.py's averaging of
per-order F-scores instead.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .references import check_streams

_PUNCTS = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@dataclass
class CHRFScore:
    """``score`` (0-100); ``name`` chrF2, chrF2++ …; ``str()`` as sacrebleu prints it."""

    score: float
    char_order: int = 6
    word_order: int = 0
    beta: int = 2

    @property
    def name(self):
        return f"chrF{self.beta}" + "+" * self.word_order

    def format(self, width=2):
        return f"{self.name} = {self.score:.{width}f}"

    def __str__(self):
        return self.format()


def _char_ngrams(line, max_order, whitespace):
    if not whitespace:
        line = "".join(line.split())
    return [Counter([line[i:i + n] for i in range(len(line) - n + 1)])
            for n in range(1, max_order + 1)]


def _word_ngrams(tokens, n):
    return Counter([" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)])


def _split_punctuation(sent):
    out = []
    for w in sent.split():
        if len(w) == 1:
            out.append(w)
        elif w[-1] in _PUNCTS:
            out += [w[:-1], w[-1]]
        elif w[0] in _PUNCTS:
            out += [w[0], w[1:]]
        else:
            out.append(w)
    return out


def _all_ngrams(sent, char_order, word_order, whitespace):
    grams = _char_ngrams(sent, char_order, whitespace)
    if word_order > 0:
        words = _split_punctuation(sent)
        grams.extend(_word_ngrams(words, n) for n in range(1, word_order + 1))
    return grams


def _match(hyp, ref):
    matched = hyp_count = 0
    for g, c in hyp.items():
        hyp_count += c
        if g in ref:
            matched += min(c, ref[g])
    return [hyp_count if ref else 0, sum(ref.values()), matched]


def f_score(stats, order, beta=2, eps_smoothing=False):
    """chrF from the flattened [hyp, ref, matched] counts per order (sacrebleu's)."""
    eps = 1e-16
    score = 0.0
    effective_order = 0
    factor = beta ** 2
    avg_prec, avg_rec = 0.0, 0.0
    for i in range(order):
        n_hyp, n_ref, n_match = stats[3 * i: 3 * i + 3]
        prec = n_match / n_hyp if n_hyp > 0 else eps
        rec = n_match / n_ref if n_ref > 0 else eps
        denom = factor * prec + rec
        score += ((1 + factor) * prec * rec / denom) if denom > 0 else eps
        if n_hyp > 0 and n_ref > 0:
            avg_prec += prec
            avg_rec += rec
            effective_order += 1
    if eps_smoothing:
        return 100 * score / order
    if effective_order == 0:
        avg_prec = avg_rec = 0.0
    else:
        avg_prec /= effective_order
        avg_rec /= effective_order
    if avg_prec + avg_rec:
        score = (1 + factor) * avg_prec * avg_rec
        score /= (factor * avg_prec) + avg_rec
        return 100 * score
    return 0.0


def corpus_chrf(hypotheses, references, char_order=6, word_order=0, beta=2,
                remove_whitespace=True, eps_smoothing=False, lowercase=False) -> CHRFScore:
    """chrF of ``hypotheses`` against ``references`` (sacrebleu's layout, see
    :func:`~nlpkit.metrics.corpus_bleu`); the arguments of ``sacrebleu.corpus_chrf``
    (``word_order=2`` is chrF++)."""
    chrf = CHRFStats(char_order, word_order, beta, remove_whitespace, eps_smoothing, lowercase)
    return chrf.update(hypotheses, references).score()


class CHRFStats:
    """Corpus chrF's sufficient statistics (hypothesis, reference and matched n-gram counts
    per order), summed as ``update(hypotheses, references)`` is given each block of a
    corpus; ``score()`` is :func:`corpus_chrf` of all of them (the same arguments)."""

    def __init__(self, char_order=6, word_order=0, beta=2, remove_whitespace=True,
                 eps_smoothing=False, lowercase=False):
        self.char_order, self.word_order, self.beta = char_order, word_order, beta
        self.whitespace, self.eps_smoothing = not remove_whitespace, eps_smoothing
        self.lowercase, self.order = lowercase, char_order + word_order
        self.totals = [0] * (3 * self.order)

    def update(self, hypotheses, references):
        """Add the segments of ``hypotheses`` against ``references`` (corpus_chrf's layout)."""
        hyps, refs = check_streams(hypotheses, references, "corpus_chrf")
        char_order, word_order, whitespace = self.char_order, self.word_order, self.whitespace
        for hyp, seg_refs in zip(hyps, refs):
            if self.lowercase:
                hyp, seg_refs = hyp.lower(), [r.lower() for r in seg_refs]
            hyp_grams = _all_ngrams(hyp, char_order, word_order, whitespace)
            best, best_f = [], -1.0
            for r in seg_refs:
                stats = []
                for h, g in zip(hyp_grams, _all_ngrams(r, char_order, word_order, whitespace)):
                    stats.extend(_match(h, g))
                f = f_score(stats, self.order, self.beta, self.eps_smoothing)
                if f > best_f:
                    best, best_f = stats, f
            for i, v in enumerate(best):
                self.totals[i] += v
        return self

    def score(self) -> CHRFScore:
        return CHRFScore(f_score(self.totals, self.order, self.beta, self.eps_smoothing),
                         self.char_order, self.word_order, self.beta)
