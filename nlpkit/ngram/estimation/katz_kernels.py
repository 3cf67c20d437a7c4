"""Kernels of SRILM's Good-Turing/Katz estimator (see ``katz.py`` and SRILM-KATZ.md §4-6).

They walk one order's rows in the counting layout (:mod:`.joins`): the followers
of each context are one contiguous group, visited in the order of their first
occurrence in the corpus, the order SRILM's sums run in (SRILM-KATZ.md §9.3).

SRILM's ``wordProbBO`` (the back-off probability of ``w`` after ``h``) is carried
from order to order instead of being looked up: every row ``x = h w`` gets

* ``lpeff``: the probability stored for the longest suffix of ``x`` that has one,
* ``acc``: the float32 sum of the back-off weights of the contexts between it
  and ``h`` (in increasing length, as SRILM adds them),

so that ``bo(w | h) = lpeff + acc`` (-inf when ``lpeff`` is), and a row of the
next order whose suffix is ``x`` finds its back-off term by one join
(:func:`.joins.suffix_join`).  A row with a probability of its own has
``(lpeff, acc) = (lp, 0)``; one without takes its suffix's ``lpeff`` and adds
``bow(h)`` to its suffix's ``acc``.

The arithmetic is SRILM's: ``P(x) = exp(x * M_LN10)`` and ``L(p) = log10(p)``
as scalar libm calls (Numba calls glibc's ``exp``/``log10``; verified to give
the same doubles as Python's ``math``), float32 rounding at every store.
"""
import math

import numba
import numpy as np


M_LN10 = 2.30258509299404568402
EPS = 3e-6
NEG_INF = np.float32(-np.inf)
NOT_STORED = np.float32(np.nan)  # lp of a row SRILM stores no probability for


@numba.njit(cache=True, inline="always")
def _P(x):
    return math.exp(np.float64(x) * M_LN10)


@numba.njit(cache=True, inline="always")
def _L(p):
    if p <= 0.0:
        return -np.inf
    return math.log10(p)


@numba.njit(cache=True, inline="always")
def _discount(c, gtmin, K, disc):
    if c <= 0:
        return 1.0
    if c < gtmin:
        return 0.0
    if c > K:
        return 1.0
    return disc[c]


@numba.njit(cache=True, inline="always")
def group_probs(idx, m, count, word, n, nonevent, unk_id, nodisc, gtmin, K, disc, V, lp):
    """Discounted probabilities of one context's followers ``idx[:m]`` (rows, in
    first-occurrence order), SRILM-KATZ.md §4.2-3, into ``lp`` (NaN stays where
    nothing is stored)."""
    total = 0.0
    obs = 0
    for q in range(m):
        r = idx[q]
        if not nonevent[word[r]] and count[r] > 0:
            total += count[r]
            obs += 1
    if total == 0.0:
        return
    while True:
        tp = 0.0
        for q in range(m):
            r = idx[q]
            c = count[r]
            w = word[r]
            if c <= 0:
                continue
            if nonevent[w]:
                if n > 1 or w == unk_id:
                    continue
                lp[r] = NEG_INF
                continue
            d = 1.0 if nodisc else _discount(c, gtmin, K, disc)
            if d == 0.0:
                continue
            p = (d * c) / total
            lp[r] = np.float32(_L(p))
            tp += p
        if (not nodisc) and obs < V and tp > 1.0 - EPS:
            total += 1.0
        else:
            break


@numba.njit(cache=True, inline="always")
def group_bow(idx, m, lp, lower):
    """SRILM's computeBOW for one context whose stored followers are among ``idx[:m]``
    (first-occurrence order); ``lower[r]`` = bo(w | suffix of the context) of row r.
    May scale the followers' ``lp`` (when the lower order leaves no mass).  Returns
    the float32 back-off weight."""
    num = 1.0
    den = 1.0
    for q in range(m):
        r = idx[q]
        if lp[r] == lp[r]:  # stored
            num -= _P(lp[r])
            den -= _P(lower[r])
    if abs(num) < EPS:
        num = 0.0
    if abs(den) < EPS:
        den = 0.0
    if den < EPS and num > EPS:
        s = np.float32(-_L(1.0 - num))
        for q in range(m):
            r = idx[q]
            if lp[r] == lp[r]:
                lp[r] = np.float32(lp[r] + s)
        return np.float32(0.0)
    if num < 0.0:
        return NEG_INF
    if den <= 0.0:
        return NEG_INF if num > EPS else np.float32(0.0)
    if num < EPS and den < EPS:
        return np.float32(0.0)
    return np.float32(_L(num) - _L(den))


@numba.njit(cache=True, inline="always")
def _by_first(first, lo, hi, idx):
    """``idx[:hi-lo]`` = rows ``lo..hi-1`` in order of first occurrence."""
    m = hi - lo
    if m > 48:
        order = np.argsort(first[lo:hi])
        for q in range(m):
            idx[q] = lo + order[q]
        return
    for q in range(m):
        v = lo + q
        key = first[v]
        b = q - 1
        while b >= 0 and first[idx[b]] > key:
            idx[b + 1] = idx[b]
            b -= 1
        idx[b + 1] = v


@numba.njit(parallel=True, cache=True)
def order_groups(words, count, first, ends, n, lower_lq, lower_lpeff, lower_acc, nonevent,
                 unk_id, eos_id, skip_unk, nodisc, gtmin, K, disc, V, lp, y_lq, y_lpeff, y_acc,
                 need_y, g_bow, g_node):
    """Estimate the groups of order-``n`` rows that end at ``ends`` (rctx columns; the first
    starts at row 0), in parallel over groups.

    ``lower_*[r]`` describe the row's suffix ``w2 … wn`` (its ``bo`` value, ``lpeff``
    and ``acc``).  Writes each row's ``lp`` (NaN: not stored) and, with ``need_y``,
    the row's own ``y_lq``/``y_lpeff``/``y_acc`` for the next order; per group ``g``,
    ``g_node[g]``: the context has a stored follower (it is a context node, SRILM-KATZ.md
    §5), and ``g_bow[g]`` its back-off weight.
    """
    ctx_cols = n - 1
    word = words[:, n - 1]
    G = ends.shape[0]
    n_chunks = min(G, 256)
    for ch in numba.prange(n_chunks):
        g0 = ch * G // n_chunks
        g1 = (ch + 1) * G // n_chunks
        biggest = 1
        for g in range(g0, g1):
            a = 0 if g == 0 else ends[g - 1]
            biggest = max(biggest, ends[g] - a)
        idx = np.empty(biggest, np.int64)
        for g in range(g0, g1):
            i = 0 if g == 0 else ends[g - 1]
            j = ends[g]
            m = j - i
            for r in range(i, j):
                lp[r] = NOT_STORED
            skip = words[i, 0] == eos_id  # the context ends in </s>
            if skip_unk:
                for c in range(ctx_cols):
                    if words[i, c] == unk_id:
                        skip = True
            _by_first(first, i, j, idx)
            if not skip:
                group_probs(idx, m, count, word, n, nonevent, unk_id, nodisc, gtmin, K, disc, V,
                            lp)
            stored_any = False
            for r in range(i, j):
                if lp[r] == lp[r]:
                    stored_any = True
                    break
            bow = np.float32(0.0)
            if stored_any:
                bow = group_bow(idx, m, lp, lower_lq)
            g_node[g] = stored_any
            g_bow[g] = bow
            if need_y:
                for r in range(i, j):
                    v = lp[r]
                    if v == v:
                        y_lpeff[r] = v
                        y_acc[r] = np.float32(0.0)
                        y_lq[r] = v
                    else:
                        e = lower_lpeff[r]
                        a = np.float32(lower_acc[r] + bow)
                        y_lpeff[r] = e
                        y_acc[r] = a
                        y_lq[r] = NEG_INF if e == NEG_INF else np.float32(e + a)


@numba.njit(cache=True)
def unigram_probs(idx, count, word, nonevent, unk_id, nodisc, gtmin, K, disc, V, lp):
    """The unigram group (rows ``idx`` in SRILM's order) with the leftover mass spread
    (SRILM-KATZ.md §4, §5 distributeProb)."""
    group_probs(idx, idx.shape[0], count, word, 1, nonevent, unk_id, nodisc, gtmin, K, disc, V,
                lp)


@numba.njit(cache=True)
def distribute_leftover(rows, word, nonevent, lp, V):
    """Spread the unigram mass left over by discounting (SRILM-KATZ.md §5, distributeProb)."""
    num = 1.0
    for r in rows:
        if lp[r] == lp[r]:
            num -= _P(lp[r])
    if abs(num) < EPS:
        num = 0.0
    if num < 0.0:
        return
    nz = 0
    for r in rows:
        if not nonevent[word[r]] and (lp[r] != lp[r] or lp[r] == NEG_INF):
            nz += 1
    if nz > 0:
        val = np.float32(_L(num / nz))
        for r in rows:
            if not nonevent[word[r]] and (lp[r] != lp[r] or lp[r] == NEG_INF):
                lp[r] = val
    else:
        for r in rows:
            if not nonevent[word[r]]:
                lp[r] = np.float32(_L(_P(lp[r]) + num / V))


@numba.njit(cache=True)
def log10_of(x):
    """float32 log10 of a float64 as SRILM rounds it (for tests)."""
    return np.float32(_L(x))
