"""Kernels of SRILM's Good-Turing/Katz estimator (see ``katz.py`` and SRILM-KATZ.md §4-6).

All orders share flat arrays indexed by a global row id (unigrams first, then
bigrams, …): ``ctx`` (row of the prefix, -1 for unigrams), ``word``, ``suf``
(row of the suffix, the n-gram without its first word; -1 for unigrams or
when absent), ``lp``/``stored`` (the float32 log10 probability and whether
SRILM would store one), ``node``/``bow`` (whether a back-off context node
exists for the row, and its float32 weight).  One open-addressing table maps
``(ctx + 1) * W + word`` to the row.

The arithmetic is SRILM's: ``P(x) = exp(x * M_LN10)`` and ``L(p) = log10(p)``
as scalar libm calls (Numba calls glibc's ``exp``/``log10``; verified to give
the same doubles as Python's ``math``), float32 rounding at every store.
"""
import math

import numba
import numpy as np

M_LN10 = 2.30258509299404568402
EPS = 3e-6
EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
NEG_INF = np.float32(-np.inf)


@numba.njit(cache=True, inline="always")
def _P(x):
    return math.exp(np.float64(x) * M_LN10)


@numba.njit(cache=True, inline="always")
def _L(p):
    if p <= 0.0:
        return -np.inf
    return math.log10(p)


@numba.njit(cache=True, inline="always")
def _key(ctx, w, W):
    return np.uint64(ctx + 1) * np.uint64(W) + np.uint64(w)


@numba.njit(cache=True)
def build_table(ctx, word, W, keys, rows, shift):
    mask = keys.shape[0] - 1
    for r in range(ctx.shape[0]):
        key = _key(ctx[r], word[r], W)
        i = np.int64((key * _GOLDEN) >> np.uint64(shift))
        while keys[i] != EMPTY:
            i = (i + 1) & mask
        keys[i] = key
        rows[i] = r


@numba.njit(cache=True)
def lookup(c, w, W, keys, rows, shift):
    """Row of the n-gram (row ``c`` + word ``w``), or -1."""
    mask = keys.shape[0] - 1
    key = _key(c, w, W)
    i = np.int64((key * _GOLDEN) >> np.uint64(shift))
    while True:
        k = keys[i]
        if k == key:
            return np.int64(rows[i])
        if k == EMPTY:
            return np.int64(-1)
        i = (i + 1) & mask


@numba.njit(parallel=True, cache=True)
def suffixes(lo, hi, ctx, word, suf, W, keys, rows, shift):
    """``suf`` for rows ``lo..hi-1`` of one order (the orders below must be done)."""
    for r in numba.prange(lo, hi):
        c = ctx[r]
        if c < 0:
            suf[r] = -1
        elif ctx[c] < 0:  # a bigram: its suffix is the unigram of its last word
            suf[r] = lookup(-1, word[r], W, keys, rows, shift)
        elif suf[c] < 0:
            suf[r] = -1
        else:
            suf[r] = lookup(suf[c], word[r], W, keys, rows, shift)


@numba.njit(cache=True, inline="always")
def _discount(c, gtmin, K, disc):
    if c <= 0:
        return 1.0
    if c < gtmin:
        return 0.0
    if c > K:
        return 1.0
    return disc[c]


@numba.njit(parallel=True, cache=True)
def order_probs(perm, gstart, gskip, n, count, word, nonevent, unk_id, nodisc, gtmin, K, disc, V,
                lp, stored):
    """Discounted probabilities of the followers of each context (SRILM-KATZ.md §4.2-3).

    Group ``g`` is the followers ``perm[gstart[g]:gstart[g+1]]`` of one context,
    in first-occurrence order; ``gskip[g]`` marks contexts SRILM skips.
    """
    for g in numba.prange(gstart.shape[0] - 1):
        if gskip[g]:
            continue
        a = gstart[g]
        b = gstart[g + 1]
        total = 0.0
        obs = 0
        for q in range(a, b):
            r = perm[q]
            if not nonevent[word[r]] and count[r] > 0:
                total += count[r]
                obs += 1
        if total == 0.0:
            continue
        while True:
            tp = 0.0
            for q in range(a, b):
                r = perm[q]
                c = count[r]
                w = word[r]
                if c <= 0:
                    continue
                if nonevent[w]:
                    if n > 1 or w == unk_id:
                        continue
                    lp[r] = NEG_INF
                    stored[r] = True
                    continue
                d = 1.0 if nodisc else _discount(c, gtmin, K, disc)
                if d == 0.0:
                    continue
                p = (d * c) / total
                lp[r] = np.float32(_L(p))
                stored[r] = True
                tp += p
            if (not nodisc) and obs < V and tp > 1.0 - EPS:
                total += 1.0
            else:
                break


@numba.njit(cache=True)
def distribute_leftover(rows, word, nonevent, lp, stored, V):
    """Spread the unigram mass left over by discounting (SRILM-KATZ.md §5, distributeProb)."""
    num = 1.0
    for r in rows:
        if stored[r]:
            num -= _P(lp[r])
    if abs(num) < EPS:
        num = 0.0
    if num < 0.0:
        return
    nz = 0
    for r in rows:
        if not nonevent[word[r]] and (not stored[r] or lp[r] == NEG_INF):
            nz += 1
    if nz > 0:
        val = np.float32(_L(num / nz))
        for r in rows:
            if not nonevent[word[r]] and (not stored[r] or lp[r] == NEG_INF):
                lp[r] = val
                stored[r] = True
    else:
        for r in rows:
            if not nonevent[word[r]]:
                lp[r] = np.float32(_L(_P(lp[r]) + num / V))


@numba.njit(cache=True)
def _chain(h, m, suf, ch):
    """``ch[j]`` = row of the last ``j`` words of row ``h`` (of length ``m``), -1 if absent."""
    ch[m] = h
    for j in range(m - 1, 0, -1):
        ch[j] = suf[ch[j + 1]] if ch[j + 1] >= 0 else -1


@numba.njit(cache=True)
def backoff_prob(w, ch, k, lp, stored, node, bow, W, keys, rows, shift):
    """SRILM's wordProbBO: log10 p(w | the last ``k`` words of the context ``ch``)."""
    u = lookup(-1, w, W, keys, rows, shift)
    logp = lp[u] if (u >= 0 and stored[u]) else NEG_INF
    acc = np.float32(0.0)
    for j in range(1, k + 1):
        nr = ch[j]
        if nr < 0 or not node[nr]:
            break
        acc = np.float32(acc + bow[nr])
        r = lookup(nr, w, W, keys, rows, shift)
        if r >= 0 and stored[r]:
            logp = lp[r]
            acc = np.float32(0.0)
    if logp == NEG_INF:
        return NEG_INF
    return np.float32(logp + acc)


@numba.njit(parallel=True, cache=True)
def order_bows(perm, gstart, gctx, m, word, suf, lp, stored, node, bow, W, keys, rows, shift):
    """Back-off weights of the order-``m`` context nodes (SRILM computeBOW).

    The sums are sequential subtractions in first-occurrence order, as SRILM's.
    """
    for g in numba.prange(gstart.shape[0] - 1):
        h = gctx[g]
        if not node[h]:
            continue
        ch = np.empty(m + 1, dtype=np.int64)
        _chain(h, m, suf, ch)
        num = 1.0
        den = 1.0
        a = gstart[g]
        b = gstart[g + 1]
        for q in range(a, b):
            r = perm[q]
            if not stored[r]:
                continue
            num -= _P(lp[r])
            den -= _P(backoff_prob(word[r], ch, m - 1, lp, stored, node, bow, W, keys, rows, shift))
        if abs(num) < EPS:
            num = 0.0
        if abs(den) < EPS:
            den = 0.0
        if den < EPS and num > EPS:
            s = np.float32(-_L(1.0 - num))
            for q in range(a, b):
                r = perm[q]
                if stored[r]:
                    lp[r] = np.float32(lp[r] + s)
            bow[h] = 0.0
        elif num < 0.0:
            bow[h] = NEG_INF
        elif den <= 0.0:
            bow[h] = NEG_INF if num > EPS else np.float32(0.0)
        elif num < EPS and den < EPS:
            bow[h] = 0.0
        else:
            bow[h] = np.float32(_L(num) - _L(den))


@numba.njit(cache=True)
def fixup(ctx, word, suf, rorder, max_order, lp, stored, node, bow, W, keys, rows, shift):
    """SRILM fixupProbs: store the missing prefixes of context nodes (SRILM-KATZ.md §6).

    Returns the number of probabilities added.
    """
    R = ctx.shape[0]
    missing = np.zeros(R, dtype=np.bool_)
    for h in range(R):
        if node[h] and rorder[h] < max_order:
            g = h
            while g >= 0 and not stored[g]:
                missing[g] = True
                g = ctx[g]
    added = 0
    ch = np.empty(max_order + 1, dtype=np.int64)
    for r in range(R):  # rows are ordered by length: shorter n-grams are fixed first
        if not missing[r]:
            continue
        k = rorder[r] - 1
        if k > 0:
            _chain(ctx[r], k, suf, ch)
        lp[r] = backoff_prob(word[r], ch, k, lp, stored, node, bow, W, keys, rows, shift)
        stored[r] = True
        added += 1
        for j in range(1, k + 1):  # the prefix becomes a context node (bow 0), and its suffixes
            if ch[j] >= 0:
                node[ch[j]] = True
    return added
