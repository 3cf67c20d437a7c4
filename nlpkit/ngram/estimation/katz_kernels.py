"""Kernels of SRILM's Good-Turing/Katz estimator (see ``katz.py`` and SRILM-KATZ.md §4-6).

All orders share flat arrays indexed by a global row id (unigrams first, then
bigrams, …): ``ctx`` (row of the prefix, -1 for unigrams), ``word``, ``suf``
(row of the suffix, the n-gram without its first word; -1 for unigrams or
when absent), ``lp``/``stored`` (the float32 log10 probability and whether
SRILM would store one), ``node``/``bow`` (whether a back-off context node
exists for the row, and its float32 weight).  Suffix rows are found once
through an open-addressing table over ``(ctx + 1) * W + word``.

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
def link_suffixes(ctx, word, W):
    """``suf[r]``: row of n-gram ``r`` without its first word (-1 for unigrams or
    when absent).  Rows must be ordered by length.  One open-addressing table
    maps ``(ctx + 1) * W + word`` to its row."""
    R = ctx.shape[0]
    n_slots = 16
    shift = 60
    while n_slots < 2 * R + 2:
        n_slots *= 2
        shift -= 1
    mask = n_slots - 1
    keys = np.full(n_slots, EMPTY, dtype=np.uint64)
    rows = np.empty(n_slots, dtype=np.int64)
    for r in range(R):
        key = _key(ctx[r], word[r], W)
        i = np.int64((key * _GOLDEN) >> np.uint64(shift))
        while keys[i] != EMPTY:
            i = (i + 1) & mask
        keys[i] = key
        rows[i] = r
    suf = np.full(R, -1, dtype=np.int32)
    for r in range(R):
        c = ctx[r]
        if c < 0:
            continue
        s = -1 if ctx[c] < 0 else suf[c]  # the suffix's prefix: root for bigrams
        if ctx[c] >= 0 and s < 0:
            continue
        key = _key(s, word[r], W)
        i = np.int64((key * _GOLDEN) >> np.uint64(shift))
        while True:
            k = keys[i]
            if k == key:
                suf[r] = rows[i]
                break
            if k == EMPTY:
                break
            i = (i + 1) & mask
    return suf


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
def backoff_prob(r, k, ctx, suf, lp, stored, node, bow, chain):
    """SRILM's wordProbBO for the n-gram row ``r`` = (h, w): log10 p(w | last ``k`` words of h).

    Walks the suffix chain of ``r``: ``g_j`` = (last ``j`` words of h, w) is
    ``suf`` applied ``len(r) - 1 - j`` times, and the context node of
    suffix_j(h) is ``ctx[g_j]``; no hash lookups are needed.  ``chain`` is
    scratch space of at least the model's order.
    """
    L = 0
    g = r
    while ctx[g] >= 0:
        L += 1
        g = ctx[g]
    chain[L] = r  # chain[j] = g_j
    for j in range(L, 0, -1):
        chain[j - 1] = suf[chain[j]] if chain[j] >= 0 else -1
    u = chain[0]
    logp = lp[u] if (u >= 0 and stored[u]) else NEG_INF
    acc = np.float32(0.0)
    for j in range(1, k + 1):
        gj = chain[j]
        if gj < 0:
            break
        nr = ctx[gj]
        if not node[nr]:
            break
        acc = np.float32(acc + bow[nr])
        if stored[gj]:
            logp = lp[gj]
            acc = np.float32(0.0)
    if logp == NEG_INF:
        return NEG_INF
    return np.float32(logp + acc)


@numba.njit(parallel=True, cache=True)
def order_bows(perm, gstart, gctx, m, lo, hi, ctx, suf, lp, stored, node, bow):
    """Context nodes for the order-``m`` contexts of the stored rows ``lo..hi-1``
    (and their suffixes), then their back-off weights (SRILM computeBOW).

    The sums are sequential subtractions in first-occurrence order, as SRILM's.
    """
    _mark_nodes(lo, hi, ctx, suf, stored, node)
    for g in numba.prange(gstart.shape[0] - 1):
        h = gctx[g]
        if not node[h]:
            continue
        num = 1.0
        den = 1.0
        a = gstart[g]
        b = gstart[g + 1]
        chain = np.empty(m + 2, dtype=np.int64)
        for q in range(a, b):
            r = perm[q]
            if not stored[r]:
                continue
            num -= _P(lp[r])
            den -= _P(backoff_prob(r, m - 1, ctx, suf, lp, stored, node, bow, chain))
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
def _mark_nodes(lo, hi, ctx, suf, stored, node):
    """Context nodes for the contexts of the stored rows ``lo..hi-1``, then for
    the suffixes of every node (rows are ordered by length, so walk down)."""
    for r in range(lo, hi):
        if stored[r] and ctx[r] >= 0:
            node[ctx[r]] = True
    for h in range(lo - 1, -1, -1):
        if node[h] and suf[h] >= 0:
            node[suf[h]] = True


@numba.njit(cache=True)
def group_by(keys, n_keys):
    """Stable counting sort: ``perm`` groups positions by key, ``start[k]`` where key k begins."""
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        start[keys[i] + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    perm = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        perm[fill[k]] = i
        fill[k] += 1
    return perm, start


@numba.njit(cache=True)
def fixup(ctx, suf, rorder, max_order, lp, stored, node, bow):
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
    chain = np.empty(max_order + 1, dtype=np.int64)
    for r in range(R):  # rows are ordered by length: shorter n-grams are fixed first
        if not missing[r]:
            continue
        k = rorder[r] - 1
        lp[r] = backoff_prob(r, k, ctx, suf, lp, stored, node, bow, chain)
        stored[r] = True
        added += 1
        h = ctx[r]  # the prefix becomes a context node (bow 0), and its suffixes
        while h >= 0:
            node[h] = True
            h = suf[h]
    return added
