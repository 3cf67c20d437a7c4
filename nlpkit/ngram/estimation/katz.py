"""Good-Turing discounting with Katz back-off, exactly as SRILM 1.7.3 ``ngram-count`` by default.

The spec followed step by step is SRILM-KATZ.md (tests/data/ngram): §3 the
discount coefficients (:func:`good_turing`), §4 the probabilities order by
order with the "sums to about 1" retry, §5 back-off weights and the unigram
leftover, §6 fixups.  The per-context loops are Numba kernels in
``katz_kernels.py``; this module arranges the arrays and the order of steps.

Parameters per order ``n`` follow SRILM: ``gtNmin`` (the count cut-off: an
n-gram seen fewer times gets no probability of its own) defaults to
1, 1, 2, 2, …; ``gtNmax`` (counts above it are not discounted) to 1, 7, 7, …
(and 5 above order 9).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import backend
from ...errors import NlpkitError
from . import katz_kernels as kk
from ..backoff import BackoffModel
from ..reading.encode import BOS_ID, EOS_ID, PAU_ID, UNK_ID
from ..counting.trie import NgramCounts

EPS = kk.EPS


def default_gt_min(n: int) -> int:
    return 1 if n <= 2 else (2 if n <= 9 else 1)


def default_gt_max(n: int) -> int:
    return 1 if n == 1 else (7 if n <= 9 else 5)


@dataclass
class GoodTuring:
    """Good-Turing discount coefficients of one order (SRILM's GoodTuring class)."""
    gtmin: int
    gtmax: int          # K after SRILM's adjustment
    discounts: np.ndarray  # float64, index r = 0..K (index 0 unused)

    @property
    def no_discount(self) -> bool:
        return self.gtmin <= 1 and self.gtmax <= 0

    def discount(self, c: int) -> float:
        if c <= 0:
            return 1.0
        if c < self.gtmin:
            return 0.0
        if c > self.gtmax:
            return 1.0
        return float(self.discounts[c])

    def to_srilm(self) -> str:
        """The text ``ngram-count -gtN FILE`` writes."""
        lines = [f"mincount {self.gtmin}", f"maxcount {self.gtmax}"]
        lines += [f"discount {r} {self.discounts[r]:.16g}" for r in range(1, self.gtmax + 1)]
        return "\n".join(lines) + "\n"


def good_turing(count_of_counts, gtmin: int, gtmax: int) -> GoodTuring:
    """SRILM's ``GoodTuring::estimate`` (Discount.cc:174-257).

    ``count_of_counts[r]`` is the number of n-grams seen ``r`` times (index 0 unused),
    at least up to ``gtmax + 1``.
    """
    n = np.zeros(gtmax + 2, dtype=np.float64)
    cc = np.asarray(count_of_counts, dtype=np.float64)[: gtmax + 2]
    n[: cc.shape[0]] = cc
    K = gtmax
    if n[1] == 0:
        K = 0
    while K > 0 and n[K + 1] == 0:
        K -= 1
    disc = np.ones(K + 1, dtype=np.float64)
    if K > 0:
        common = ((K + 1) * n[K + 1]) / n[1]
        for r in range(1, K + 1):
            if n[r] == 0:
                disc[r] = 1.0
                continue
            d0 = ((r + 1) * n[r + 1]) / (r * n[r])
            with np.errstate(divide="ignore", invalid="ignore"):
                d = (d0 - common) / (1.0 - common) if common != 1.0 else np.inf
            if not np.isfinite(d) or d <= EPS or d0 > 1.0:
                d = 1.0
            disc[r] = d
    return GoodTuring(gtmin, K, disc)


def per_order(value, order: int, default, name: str) -> list[int]:
    """Normalize a per-order setting: None, an int (all orders), a sequence or ``{n: value}``."""
    if value is None:
        return [default(n) for n in range(1, order + 1)]
    if isinstance(value, bool):
        raise NlpkitError(f"{name} must be an int, a list per order or a dict {{order: value}}")
    if isinstance(value, (int, np.integer)):
        out = [int(value)] * order
    elif isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, (int, np.integer)) or not 1 <= k <= order]
        if bad:
            raise NlpkitError(f"{name}: order {bad[0]!r} is not between 1 and {order}")
        out = [int(value[n]) if value.get(n) is not None else default(n)
               for n in range(1, order + 1)]
    else:
        value = list(value)
        if len(value) > order:
            raise NlpkitError(f"{name} has {len(value)} values but the model has order {order}")
        out = [default(n) if i >= len(value) or value[i] is None else int(value[i])
               for i, n in enumerate(range(1, order + 1))]
    return out


def _nonevent_mask(n_words: int, unk: bool) -> np.ndarray:
    ne = np.zeros(n_words, dtype=np.bool_)
    ne[BOS_ID] = ne[PAU_ID] = True
    ne[UNK_ID] = not unk
    return ne


class _Rows:
    """The counts as flat global rows (unigrams, then bigrams, …), each with its suffix row."""

    def __init__(self, counts: NgramCounts, unk: bool):
        W = len(counts.vocab)
        uni = counts.word[0]
        present = np.zeros(W, dtype=np.bool_)
        present[uni] = True
        # Every word that is not a non-event gets a unigram row (vocabulary words
        # never seen get the leftover mass), and <s> one for its -inf.
        want = ~_nonevent_mask(W, unk)
        want[BOS_ID] = True
        extra = np.flatnonzero(want & ~present).astype(np.int32)
        words = [np.concatenate([uni, extra])]
        cnts = [np.concatenate([counts.count[0], np.zeros(extra.shape[0], np.int64)])]
        ctxs = [np.full(words[0].shape[0], -1, dtype=np.int32)]
        roff = [0, words[0].shape[0]]
        for k in range(1, counts.order):
            ctxs.append((counts.ctx[k].astype(np.int64) + roff[k - 1]).astype(np.int32))
            words.append(counts.word[k])
            cnts.append(counts.count[k])
            roff.append(roff[-1] + counts.word[k].shape[0])
        self.W = W
        self.order = counts.order
        self.roff = np.array(roff, dtype=np.int64)
        self.ctx = np.concatenate(ctxs)
        self.word = np.ascontiguousarray(np.concatenate(words), dtype=np.int32)
        self.count = np.concatenate(cnts).astype(np.int64)
        self.rorder = np.repeat(np.arange(1, self.order + 1, dtype=np.int32), np.diff(self.roff))
        self.suf = kk.link_suffixes(self.ctx, self.word, np.int64(W))

    def span(self, n: int) -> tuple[int, int]:
        return int(self.roff[n - 1]), int(self.roff[n])

    def groups(self, n: int):
        """Rows of order ``n`` grouped by context (first-occurrence order inside a group).

        Returns ``(perm, gstart, gctx)``; for unigrams one group with context -1.
        """
        lo, hi = self.span(n)
        if n == 1:
            return (np.arange(lo, hi, dtype=np.int64), np.array([0, hi - lo], dtype=np.int64),
                    np.array([-1], dtype=np.int64))
        plo, phi = self.span(n - 1)
        perm, start = kk.group_by(self.ctx[lo:hi] - plo, phi - plo)
        nonempty = np.flatnonzero(start[1:] > start[:-1])
        gstart = np.append(start[nonempty], hi - lo)
        return perm + lo, gstart, nonempty + plo


def estimate(counts: NgramCounts, *, gt_min=None, gt_max=None, unk: bool = False,
             discounts_out: list | None = None) -> BackoffModel:
    """SRILM's default Good-Turing/Katz back-off model of ``counts``.

    ``unk=True`` is SRILM's ``-unk`` (``<unk>`` is a regular word).
    ``discounts_out``, if a list, receives the :class:`GoodTuring` of each order.
    """
    N = counts.order
    gmin = per_order(gt_min, N, default_gt_min, "gt_min")
    gmax = per_order(gt_max, N, default_gt_max, "gt_max")
    for n, (a, b) in enumerate(zip(gmin, gmax), 1):
        if a < 0 or b < 0:
            raise NlpkitError(f"Good-Turing range of order {n} must not be negative "
                              f"(gtmin {a}, gtmax {b})")
    rows = _Rows(counts, unk)
    W = rows.W
    nonevent = _nonevent_mask(W, unk)
    V = int(W - nonevent.sum())
    R = rows.ctx.shape[0]
    lp = np.zeros(R, dtype=np.float32)
    stored = np.zeros(R, dtype=np.bool_)
    node = np.zeros(R, dtype=np.bool_)
    bow = np.zeros(R, dtype=np.float32)
    ctx_skip = _skipped_contexts(rows, nonevent)

    for n in range(1, N + 1):
        gt = _good_turing_of_order(rows, n, gmin[n - 1], gmax[n - 1], nonevent)
        if discounts_out is not None:
            discounts_out.append(gt)
        lo, hi = rows.span(n)
        perm, gstart, gctx = rows.groups(n)
        gskip = np.zeros(gctx.shape[0], dtype=np.bool_) if n == 1 else ctx_skip[gctx]
        kk.order_probs(perm, gstart, gskip, np.int64(n), rows.count, rows.word, nonevent,
                       np.int64(UNK_ID), gt.no_discount, np.int64(gt.gtmin), np.int64(gt.gtmax),
                       gt.discounts, np.int64(V), lp, stored)
        if n == 1:  # SRILM stores <s> = -inf first, whether or not it was counted
            bos = lo + int(np.flatnonzero(rows.word[lo:hi] == BOS_ID)[0])
            lp[bos], stored[bos] = -np.inf, True
            kk.distribute_leftover(perm, rows.word, nonevent, lp, stored, np.int64(V))
            continue
        kk.order_bows(perm, gstart, gctx, np.int64(n - 1), np.int64(lo), np.int64(hi), rows.ctx,
                      rows.suf, lp, stored, node, bow)
    n_fixed = kk.fixup(rows.ctx, rows.suf, rows.rorder, np.int64(N), lp, stored, node, bow)
    return _to_model(counts, rows, lp, stored, node, bow,
                     meta={"smoothing": "katz", "gt_min": gmin, "gt_max": gmax, "unk": unk,
                           "fixups": int(n_fixed)})


def estimate_from(counts, order: int, *, vocab=None, gt_min=None, gt_max=None, unk=False,
                  n_jobs=None) -> BackoffModel:
    """The Katz model of order ``order`` from ``counts``: an :class:`NgramCounts` (of that
    order or higher) or the path of an SRILM count file, read with the closed vocabulary
    ``vocab`` (a word list) if given (``ngram-count -read COUNTS [-vocab V]``)."""
    if not isinstance(counts, NgramCounts):
        from ..formats.countfile import read_counts
        counts = read_counts(counts, order=order, vocab_words=vocab)
    elif counts.order < order:
        raise NlpkitError(f"the counts go up to order {counts.order}; cannot build order {order}")
    if counts.order > order:
        counts = NgramCounts(counts.vocab, counts.ctx[:order], counts.word[:order],
                             counts.count[:order], counts.closed_vocab, dict(counts.meta))
    with backend.threads(n_jobs):
        model = estimate(counts, gt_min=gt_min, gt_max=gt_max, unk=unk)
    model.meta.update({k: v for k, v in counts.meta.items()
                       if k in ("source", "sentences", "tokens")})
    model.meta["order"] = order
    return model


def _skipped_contexts(rows: _Rows, nonevent) -> np.ndarray:
    """Per row: whether SRILM skips it as a context (SRILM-KATZ.md §4.1): it
    ends in ``</s>``, or holds ``<unk>`` while ``<unk>`` is a non-event."""
    has_unk = rows.word == UNK_ID
    for n in range(2, rows.order + 1):
        lo, hi = rows.span(n)
        has_unk[lo:hi] |= has_unk[rows.ctx[lo:hi]]
    return (rows.word == EOS_ID) | (has_unk & nonevent[UNK_ID])


def _good_turing_of_order(rows: _Rows, n: int, gtmin: int, gtmax: int, nonevent) -> GoodTuring:
    """Discounts from the count-of-counts of all order-``n`` n-grams whose last
    word is an event (even those later skipped as contexts, §9.6)."""
    lo, hi = rows.span(n)
    c = rows.count[lo:hi]
    ok = (c >= 1) & ~nonevent[rows.word[lo:hi]]
    coc = np.bincount(np.minimum(c[ok], gtmax + 2), minlength=gtmax + 3)
    return good_turing(coc, gtmin, gtmax)


def _to_model(counts, rows, lp, stored, node, bow, meta) -> BackoffModel:
    ngrams, logprob, backoff, has_bo = [], [], [], []
    prev = None
    for n in range(1, rows.order + 1):
        lo, hi = rows.span(n)
        tup = rows.word[lo:hi, None] if n == 1 else np.concatenate(
            [prev[rows.ctx[lo:hi] - rows.roff[n - 2]], rows.word[lo:hi, None]], axis=1)
        prev = tup
        keep = np.flatnonzero(stored[lo:hi])
        ngrams.append(tup[keep])
        logprob.append(lp[lo:hi][keep])
        hb = node[lo:hi][keep] if n < rows.order else np.zeros(keep.shape[0], np.bool_)
        has_bo.append(hb)
        backoff.append(np.where(hb, bow[lo:hi][keep], np.float32(0)))
    return BackoffModel(list(counts.vocab), ngrams, logprob, backoff, has_bo, meta=meta)
