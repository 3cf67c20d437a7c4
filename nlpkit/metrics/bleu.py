"""Corpus BLEU (Papineni et al. 2002) exactly as sacrebleu 2 computes it.

The same steps in the same order as ``sacrebleu.corpus_bleu`` (so the floats agree to the
last digit): each segment is right-stripped and tokenised (mteval-v13a, 'none', or
lowercased first); per segment the clipped n-gram matches against the maximum count over
its references, and the reference length closest to the hypothesis length (the shorter on
ties); the statistics summed over the corpus; precisions ``100 * matches / total``;
smoothing 'exp' (NIST's: the k-th order without a match gets ``100 / (2^k * total)``),
'floor', 'add-k' or 'none'; ``BP = exp(1 - ref_len / sys_len)`` when the system is shorter;
``score = BP * exp(mean log precision)``, ``log 0`` taken as -9999999999.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from ..errors import NlpkitError
from .references import check_streams

SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}

# mteval-v13a's language-dependent part (Western languages), as sacrebleu's TokenizerRegexp
_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),   # period and comma unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),   # ... unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),        # a dash after a digit
]


def tokenize_13a(line: str) -> str:
    """mteval-v13a's tokenisation (WMT's; sacrebleu's default): tokens joined by spaces."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                .replace("&gt;", ">"))
    line = f" {line} "
    for rule, repl in _13A_RULES:
        line = rule.sub(repl, line)
    return " ".join(line.split())


TOKENIZERS = {"13a": tokenize_13a, "none": lambda s: s}


@dataclass
class BLEUScore:
    """sacrebleu's BLEUScore: ``score`` (0-100), per-order ``counts`` (clipped matches),
    ``totals``, ``precisions`` (%), brevity penalty ``bp``, ``sys_len``, ``ref_len``;
    ``str()`` prints as sacrebleu does, ``format(width)`` with more digits."""

    score: float
    counts: list = field(default_factory=list)
    totals: list = field(default_factory=list)
    precisions: list = field(default_factory=list)
    bp: float = 1.0
    sys_len: int = 0
    ref_len: int = 0
    name: str = "BLEU"

    @property
    def ratio(self):
        return self.sys_len / self.ref_len if self.ref_len else 0

    def format(self, width=2):
        prec = "/".join(f"{p:.1f}" for p in self.precisions)
        return (f"{self.name} = {self.score:.{width}f} {prec} (BP = {self.bp:.3f} ratio = "
                f"{self.ratio:.3f} hyp_len = {self.sys_len:d} ref_len = {self.ref_len:d})")

    def __str__(self):
        return self.format()


def _ngrams(tokens, max_order):
    grams = []
    for n in range(1, max_order + 1):
        for i in range(len(tokens) - n + 1):
            grams.append(tuple(tokens[i:i + n]))
    return Counter(grams)


def _closest_ref_len(hyp_len, ref_lens):
    closest_diff, closest_len = -1, -1
    for ref_len in ref_lens:
        diff = abs(hyp_len - ref_len)
        if closest_diff == -1 or diff < closest_diff:
            closest_diff, closest_len = diff, ref_len
        elif diff == closest_diff and ref_len < closest_len:
            closest_len = ref_len
    return closest_len


def corpus_bleu(hypotheses, references, lowercase=False, tokenize="13a", smooth_method="exp",
                smooth_value=None, max_ngram_order=4, use_effective_order=False) -> BLEUScore:
    """BLEU of ``hypotheses`` (strings) against ``references``: sacrebleu's layout, a list of
    reference streams (each one string per hypothesis; None where a segment has fewer), or
    a single stream.  ``tokenize`` '13a' (default) or 'none'; ``smooth_method`` 'exp'
    (default), 'floor', 'add-k' or 'none'; as ``sacrebleu.corpus_bleu``."""
    bleu = BLEUStats(lowercase, tokenize, smooth_method, smooth_value, max_ngram_order,
                     use_effective_order)
    return bleu.update(hypotheses, references).score()


class BLEUStats:
    """Corpus BLEU's sufficient statistics (clipped matches and totals per order, system and
    reference lengths), summed as ``update(hypotheses, references)`` is given each block of
    a corpus; ``score()`` is :func:`corpus_bleu` of all of them (the same arguments)."""

    def __init__(self, lowercase=False, tokenize="13a", smooth_method="exp", smooth_value=None,
                 max_ngram_order=4, use_effective_order=False):
        if tokenize not in TOKENIZERS:
            raise NlpkitError(f"corpus_bleu: tokenize must be one of {', '.join(TOKENIZERS)}; "
                              f"got {tokenize!r}")
        if smooth_method not in SMOOTH_DEFAULTS:
            raise NlpkitError(f"corpus_bleu: smooth_method must be one of "
                              f"{', '.join(SMOOTH_DEFAULTS)}; got {smooth_method!r}")
        self.lowercase, self.tok = lowercase, TOKENIZERS[tokenize]
        self.smooth_method, self.smooth_value = smooth_method, smooth_value
        self.order, self.use_effective_order = max_ngram_order, use_effective_order
        self.sys_len = self.ref_len = 0
        self.correct, self.total = [0] * max_ngram_order, [0] * max_ngram_order

    def _prepare(self, s):
        return self.tok((s.lower() if self.lowercase else s).rstrip())

    def update(self, hypotheses, references):
        """Add the segments of ``hypotheses`` against ``references`` (corpus_bleu's layout)."""
        hyps, refs = check_streams(hypotheses, references, "corpus_bleu")
        order, correct, total = self.order, self.correct, self.total
        for hyp, seg_refs in zip(hyps, refs):
            ref_grams, ref_lens = None, []
            for r in seg_refs:
                words = self._prepare(r).split()
                grams = _ngrams(words, order)
                ref_lens.append(len(words))
                if ref_grams is None:
                    ref_grams = grams
                else:
                    for g, c in grams.items():
                        ref_grams[g] = max(ref_grams[g], c)
            words = self._prepare(hyp).split()
            self.sys_len += len(words)
            self.ref_len += _closest_ref_len(len(words), ref_lens)
            for g, c in _ngrams(words, order).items():
                n = len(g) - 1
                total[n] += c
                if ref_grams is not None and g in ref_grams:
                    correct[n] += min(c, ref_grams[g])
        return self

    def score(self) -> BLEUScore:
        return compute_bleu(self.correct, self.total, self.sys_len, self.ref_len,
                            self.smooth_method, self.smooth_value, self.use_effective_order,
                            self.order)


def compute_bleu(correct, total, sys_len, ref_len, smooth_method="exp", smooth_value=None,
                 effective_order=False, max_ngram_order=4) -> BLEUScore:
    """BLEU from its sufficient statistics (sacrebleu's ``BLEU.compute_bleu``)."""
    correct, total = list(correct), list(total)
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth_method]
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * max_ngram_order
    if not any(correct):
        return BLEUScore(0.0, correct, total, precisions, bp, sys_len, ref_len)
    smooth_mteval = 1.0
    eff_order = max_ngram_order
    for n in range(1, max_ngram_order + 1):
        if smooth_method == "add-k" and n > 1:
            correct[n - 1] += smooth_value
            total[n - 1] += smooth_value
        if total[n - 1] == 0:
            break
        if effective_order:
            eff_order = n
        if correct[n - 1] == 0:
            if smooth_method == "exp":
                smooth_mteval *= 2
                precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1])
            elif smooth_method == "floor":
                precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    score = bp * math.exp(sum([_log(p) for p in precisions[:eff_order]]) / eff_order)
    return BLEUScore(score, correct, total, precisions, bp, sys_len, ref_len)


def _log(x):
    return -9999999999 if x == 0.0 else math.log(x)
