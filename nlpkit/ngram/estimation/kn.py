"""Interpolated modified Kneser-Ney exactly as KenLM's ``lmplz`` computes it.

The stages follow lmplz's builder (and ``LMPLZ-KN.md``, the step-by-step
specification this module was written from):

    text ─► encode (lmplz's tokens, ids <unk> <s> </s> then first appearance)
         ─► count windows (the shared n-gram count kernels)
         ─► adjusted counts (distinct left neighbours) and discount statistics
         ─► discounts D1 D2 D3 per order (or the fallback)
         ─► uninterpolated probabilities u and back-off mass gamma per context
         ─► interpolation with the lower order, in float32, order by order
         ─► BackoffModel (every line below the top order carries a back-off)

All estimation arithmetic is float32 with one rounding per operation, as in
lmplz: NumPy float32 array arithmetic does exactly that (no fused multiply-add),
and the logarithms are glibc's ``log10f`` through Numba.
"""
from __future__ import annotations

import numpy as np

from ... import backend
from ...errors import NlpkitError
from . import kn_kernels as kk
from ..backoff import BackoffModel
from ..counting.memory import count_order_cpu
from ..reading.encode import LMPLZ_SPECIALS, WordTable, encode_lmplz

UNK, BOS, EOS = 0, 1, 2
DEFAULT_FALLBACK = (0.5, 1.0, 1.5)
_F = np.float32


# ----------------------------------------------------------------------------- encoding
class LmplzText:
    """A corpus read as lmplz reads it.

    Every line is a sentence ``<s> w1 … wk </s>``, empty lines included; a last
    line without a newline gets no ``</s>``.  Tokens are runs of bytes other
    than space, TAB, CR, LF and NUL.  Ids: ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2,
    then words in order of first appearance.
    """

    def __init__(self, vocab, ids, offsets, n_words_read):
        self.vocab, self.ids, self.offsets, self.n_words_read = vocab, ids, offsets, n_words_read


def read_lmplz_text(source, *, skip_symbols=False, progress=None) -> LmplzText:
    """Read ``source`` (a path, ``-`` or an iterable of sentences) as lmplz does.

    A literal ``<s>``, ``</s>`` or ``<unk>`` is an error, as in lmplz, or is
    dropped with ``skip_symbols`` (lmplz ``--skip_symbols``).  The bytes are
    tokenized in Numba kernels (:func:`nlpkit.ngram.reading.encode.encode_lmplz`).
    """
    table = WordTable(LMPLZ_SPECIALS, capacity=1 << 16)
    ids, offsets, n_words = encode_lmplz(source, table, skip_specials=skip_symbols,
                                         progress=progress)
    return LmplzText(table.words(), ids, offsets, n_words)


# ----------------------------------------------------------------------------- the model
def estimate_kn(text: LmplzText, order: int, *, discount_fallback=None, interpolate_unigrams=True,
                prune=None, device=None, n_jobs=None) -> BackoffModel:
    """lmplz's interpolated modified Kneser-Ney model of ``text`` (see the module docstring).

    ``discount_fallback``: None (a bad discount estimate is an error, as lmplz
    refuses), True for lmplz's default ``0.5 1 1.5``, or up to three numbers
    (missing ones repeat the last).
    ``prune``: lmplz's ``--prune t1 t2 …``: an n-gram of order n >= 2 whose raw
    count is at most t_n is left out (its mass goes to the back-off); the list
    must start with 0 and never decrease, and its last value repeats.
    """
    if text.ids.size == 0:
        raise NlpkitError("the corpus is empty: lmplz needs at least one line")
    fallback = _fallback_values(discount_fallback)
    thresholds = _prune_thresholds(prune, order)
    W = len(text.vocab)
    with backend.threads(n_jobs):
        ctx, word, cnt, suffix = _count(text, order, W, device)
    ctx, word, cnt = _add_unk_unigram(ctx, word, cnt)
    grams = _ngrams(ctx, word)
    adjusted = _adjusted_counts(grams, cnt, suffix, order)
    stats = _statistics_counts(adjusted, cnt, grams, text, order)
    discounts = [_discounts(stats[n], n + 1, fallback) for n in range(order)]
    pruned = [np.zeros(c.shape[0], bool) if k == 0 or thresholds is None
              else cnt[k] <= thresholds[k] for k, c in enumerate(cnt)]
    p, gamma = _probabilities(ctx, word, adjusted, discounts, suffix, order,
                              interpolate_unigrams, pruned)
    return _to_model(text.vocab, grams, p, gamma, ctx, suffix, order, pruned, thresholds is not None,
                     meta={"smoothing": "kn", "discounts": [d.tolist() for d in discounts],
                           "prune": None if thresholds is None else thresholds,
                           "tokens": text.n_words_read,
                           "sentences": int(text.offsets.shape[0] - 1)})


def _prune_thresholds(prune, order):
    if prune is None:
        return None
    t = [int(v) for v in (prune if np.iterable(prune) else [prune])]
    if not t or any(v < 0 for v in t):
        raise NlpkitError("prune thresholds must be counts >= 0")
    if t[0] != 0:
        raise NlpkitError("pruning unigrams is not supported: the first prune threshold must be 0")
    if any(b < a for a, b in zip(t, t[1:])):
        raise NlpkitError(f"prune thresholds must not decrease; got {' '.join(map(str, t))}")
    if len(t) > order:
        raise NlpkitError(f"{len(t)} prune thresholds given for an order-{order} model")
    return t + [t[-1]] * (order - len(t))


def _fallback_values(value):
    if value is None or value is False:
        return None
    if value is True:
        return np.array(DEFAULT_FALLBACK, _F)
    vals = [float(v) for v in (value if np.iterable(value) else [value])]
    if not 1 <= len(vals) <= 3:
        raise NlpkitError(f"discount fallback takes one to three values; got {len(vals)}")
    vals += [vals[-1]] * (3 - len(vals))
    for j, v in enumerate(vals, 1):
        if not 0 <= v <= j:
            raise NlpkitError(f"discount fallback D{j} must lie in [0, {j}]; got {v:g}")
    return np.array(vals, _F)


def _add_unk_unigram(ctx, word, cnt):
    """``<unk>`` is a unigram of every model even though the text never holds it."""
    if not np.any(word[0] == UNK):
        ctx[0] = np.append(ctx[0], np.int32(0))
        word[0] = np.append(word[0], np.int32(UNK))
        cnt[0] = np.append(cnt[0], cnt[0].dtype.type(0))
    return ctx, word, cnt


def _ngrams(ctx, word):
    """Word ids of every row, per order: ``(rows, n)``, oldest word first."""
    out = [word[0][:, None]]
    for k in range(1, len(word)):
        out.append(np.concatenate([out[-1][ctx[k]], word[k][:, None]], axis=1))
    return out


def _count(text, order, W, device):
    """The counts of every order (the shared counting kernels), and for order n >= 2
    the row (order n-1) of each n-gram without its first word."""
    kernel = backend.pick(count_order_cpu, "nlpkit.ngram.counting.memory_cuda:count_order_cuda", device)
    ctx, word, cnt, suffix = [], [], [], [None]
    prev_idx, n_prev = None, 1
    for n in range(1, order + 1):
        c, w, k, cur_idx = kernel(text.ids, text.offsets, prev_idx, n, W, n_prev, need_idx=True)
        if n > 1:
            suffix.append(kk.suffix_rows(text.offsets, np.int64(n), cur_idx, prev_idx,
                                         np.int64(c.shape[0])))
        ctx.append(c)
        word.append(w)
        cnt.append(k)
        prev_idx, n_prev = cur_idx, c.shape[0]
    return ctx, word, cnt, suffix


def _adjusted_counts(grams, cnt, suffix, order):
    """a(x): raw counts at the top order and for n-grams starting with <s>; else the
    number of distinct left neighbours; 0 for the unigrams <unk> and <s>."""
    adjusted = []
    for k in range(order):
        a = cnt[k].astype(np.int64).copy()
        if k < order - 1:
            left = np.bincount(suffix[k + 1], minlength=a.shape[0]).astype(np.int64)
            a = np.where(grams[k][:, 0] == BOS, a, left)
        if k == 0:
            a[(grams[0][:, 0] == UNK) | (grams[0][:, 0] == BOS)] = 0
        adjusted.append(a)
    return adjusted


def _statistics_counts(adjusted, cnt, grams, text, order):
    """Count-of-counts n_1..n_4 per order, from the statistics count s.

    s = a, except for the n-grams still pending when lmplz's suffix-ordered scan
    ends: the suffixes of the largest left-padded N-gram use their raw count.
    """
    stats = [a.copy() for a in adjusted]
    if order > 1:
        largest = _largest_padded(text, order)
        for j in range(1, order):
            x = largest[order - j:]
            row = _find_row(grams[j - 1], x)
            if row >= 0:
                stats[j - 1][row] = cnt[j - 1][row]
            if x[0] == BOS:
                break
    return [np.array([np.count_nonzero(s == k) for k in range(1, 5)], np.int64) for s in stats]


def _largest_padded(text, order):
    """The left-padded N-gram (N-1 <s> of padding) that comes last in suffix order."""
    out = np.empty(order, np.int64)
    kk.largest_padded(text.ids, text.offsets, np.int64(order), np.int64(BOS), out)
    return out


def _find_row(grams, x):
    hit = np.flatnonzero(np.all(grams == np.asarray(x)[None, :], axis=1))
    return int(hit[0]) if hit.size else -1


def _discounts(n_k, n, fallback):
    """D1, D2, D3 of one order from its count-of-counts (float32, as lmplz)."""
    n1, n2, n3, n4 = (int(v) for v in n_k)
    bad = None
    if n1 == 0 or n2 == 0 or n3 == 0:
        bad = f"n1={n1}, n2={n2}, n3={n3}"
    else:
        y = _F(_F(n1) / _F(n1 + 2.0 * n2))
        nk = [_F(n1), _F(n2), _F(n3), _F(n4)]
        d = np.array([_F(_F(j) - _F(_F(_F(_F(j + 1) * y) * nk[j]) / nk[j - 1])) for j in (1, 2, 3)], _F)
        out_of_range = [j for j in (1, 2, 3) if not 0 <= d[j - 1] <= j]
        if not out_of_range:
            return d
        bad = f"D{out_of_range[0]}={float(d[out_of_range[0] - 1]):.6g} is out of range"
    if fallback is None:
        raise NlpkitError(f"cannot estimate the Kneser-Ney discounts of order {n} ({bad}); "
                          "this happens on small or artificial corpora: pass a discount fallback "
                          "(--discount-fallback), as lmplz requires")
    return fallback.copy()


def _probabilities(ctx, word, adjusted, discounts, suffix, order, interpolate_unigrams, pruned):
    """Interpolated probabilities p (float32) per order, gamma per context row of order n-1.

    Pruned n-grams stay in the denominators and their adjusted counts join the
    back-off mass; only the unpruned ones count in N1, N2, N3+.
    """
    probs, gammas = [], []
    for k in range(order):
        a = adjusted[k]
        D = np.concatenate([np.zeros(1, _F), discounts[k]])
        groups = np.zeros(a.shape[0], np.int64) if k == 0 else ctx[k].astype(np.int64)
        n_groups = 1 if k == 0 else probs[k - 1].shape[0]
        den = np.bincount(groups, weights=a, minlength=n_groups)  # exact: integers far below 2^53
        den = den.astype(_F)
        kept = ~pruned[k]
        n_k = [np.bincount(groups[kept & (a == 1)], minlength=n_groups).astype(_F),
               np.bincount(groups[kept & (a == 2)], minlength=n_groups).astype(_F),
               np.bincount(groups[kept & (a >= 3)], minlength=n_groups).astype(_F)]
        with np.errstate(divide="ignore", invalid="ignore"):
            mass = D[1] * n_k[0]
            mass = mass + D[2] * n_k[1]
            mass = mass + D[3] * n_k[2]
            if pruned[k].any():
                mass = mass + np.bincount(groups[~kept], weights=a[~kept],
                                          minlength=n_groups).astype(_F)
            gamma = mass / den
            u = (a.astype(_F) - D[np.minimum(a, 3)]) / den[groups]
        if k == 0:
            first = word[0]
            weight = np.full(a.shape[0], gamma[0], _F)
            weight[first == BOS] = 0
            u[first == BOS] = 1
            u[first == UNK] = 0
            if not interpolate_unigrams:
                u[first == UNK] = gamma[0]
                weight[:] = 0
            V = max(0, a.shape[0] - 1)
            p0 = _F(1.0 / np.float64(_F(V)))
            p = u + weight * p0
        else:
            p = u + gamma[groups] * probs[k - 1][suffix[k]]
        probs.append(p.astype(_F))
        gammas.append(gamma.astype(_F))
    return probs, gammas


def _to_model(vocab, grams, probs, gammas, ctx, suffix, order, pruned, pruning, meta):
    logprob, backoff, has_backoff, ngrams = [], [], [], []
    in_suffix_order = _suffix_orders(grams, suffix, len(vocab))
    for k in range(order):
        lp = log10f(probs[k])
        lp = np.minimum(lp, _F(0))  # p >= 1 prints 0, as lmplz (the <s> unigram)
        everything = in_suffix_order[k]
        rows = everything[~pruned[k][everything]]
        bow = np.zeros(grams[k].shape[0], _F)
        if k < order - 1:
            is_context = np.zeros(grams[k].shape[0], bool)
            is_context[ctx[k + 1]] = True
            contexts = everything[is_context[everything]]
            last = grams[k][rows, -1]
            listed = rows[(last != EOS) & (last != UNK)]
            pair = _matched_backoffs if pruning else _paired_backoffs
            bow = pair(grams[k].shape[0], listed, contexts, gammas[k + 1])
        ngrams.append(grams[k][rows])
        logprob.append(lp[rows])
        backoff.append(bow[rows])
        has_backoff.append(np.full(rows.shape[0], k < order - 1))
    return BackoffModel(list(vocab), ngrams, logprob, backoff, has_backoff, meta=meta)


def _suffix_orders(grams, suffix, W):
    """The rows of each order in suffix order (last word's id first, then the one before, …).

    Comparing w_n, …, w_2 is comparing the suffix rows in their own suffix
    order, so order n sorts on one key: (rank of the suffix row, w_1).
    """
    orders, rank = [], None
    for k in range(len(grams)):
        first = grams[k][:, 0].astype(np.uint64)
        key = first if k == 0 else rank[suffix[k]].astype(np.uint64) * np.uint64(W) + first
        order = np.argsort(key)  # the keys are distinct, so any sort gives the same order
        rank = np.empty(order.shape[0], np.int64)
        rank[order] = np.arange(order.shape[0])
        orders.append(order)
    return orders


def _paired_backoffs(rows, listed, contexts, next_gamma):
    """log10 back-offs of one order, paired with the next order's contexts as lmplz pairs them:
    the n-grams that do not end in </s> or <unk> (``listed``) and the contexts, each in
    suffix order, matched one by one; n-grams left over get gamma 1 (back-off 0)."""
    bow = np.zeros(rows, _F)
    m = min(listed.shape[0], contexts.shape[0])
    bow[listed[:m]] = log10f(next_gamma[contexts[:m]])
    return bow


def _matched_backoffs(rows, listed, contexts, next_gamma):
    """With pruning lmplz matches by n-gram instead: for each listed n-gram (suffix
    order) it scans the contexts forward to its own; once the scan runs out, this
    and every later n-gram gets back-off 0."""
    bow = np.zeros(rows, _F)
    position = np.full(rows, -1, np.int64)
    position[contexts] = np.arange(contexts.shape[0])
    where = position[listed]
    # Both lists are in suffix order, so every hit lies ahead of the previous one;
    # the first n-gram that is not a context uses the stream up.
    matched = where >= 0
    first_miss = np.flatnonzero(~matched)
    if first_miss.size:
        matched[first_miss[0]:] = False
    bow[listed[matched]] = log10f(next_gamma[contexts[where[matched]]])
    return bow


def log10f(x) -> np.ndarray:
    """glibc's ``log10f`` elementwise (Numba's float32 ``log10`` calls libm).

    NumPy's own float32 log10 differs from libm in about half of the inputs,
    which would change the printed digits of lmplz-exact models.
    """
    x = np.ascontiguousarray(x, dtype=_F)
    out = np.empty_like(x)
    kk.log10f_into(x, out)
    return out
