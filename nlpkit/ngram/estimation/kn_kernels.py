"""Numba kernels of the lmplz-exact Kneser-Ney estimator (:mod:`nlpkit.ngram.estimation.kn`).

They work on the encoded corpus (int32 ids, int64 sentence offsets) and on the
per-position n-gram rows that the counting kernels return.
"""
import math

import numba
import numpy as np


@numba.njit(cache=True)
def largest_padded(ids, offsets, order, bos, out):
    """The left-padded ``order``-gram that comes last in suffix order, into ``out``.

    A window ends at every token after its sentence's ``<s>``; positions before
    the sentence's start are padding ``<s>``.  Suffix order compares the last
    word's id, then the one before, and so on.  ``out`` stays all ``bos`` when
    no window exists.
    """
    for j in range(order):
        out[j] = bos
    found = False
    for s in range(offsets.shape[0] - 1):
        st = offsets[s]
        for p in range(st + 1, offsets[s + 1]):
            if found and ids[p] < out[order - 1]:
                continue  # the common case: decided by the last word
            greater = not found
            if found:
                for back in range(order):
                    q = p - back
                    v = ids[q] if q >= st else bos
                    b = out[order - 1 - back]
                    if v != b:
                        greater = v > b
                        break
            if greater:
                for back in range(order):
                    q = p - back
                    out[order - 1 - back] = ids[q] if q >= st else bos
                found = True


@numba.njit(cache=True)
def suffix_rows(offsets, n, cur_idx, prev_idx, n_rows):
    """For each order-``n`` row, the order-(n-1) row of the n-gram without its first word.

    ``cur_idx[p]`` is the row of the n-gram starting at position ``p`` and
    ``prev_idx[p]`` that of the (n-1)-gram starting there, so the suffix of the
    n-gram at ``p`` is the (n-1)-gram at ``p + 1``.
    """
    out = np.full(n_rows, -1, dtype=np.int64)
    for s in range(offsets.shape[0] - 1):
        for p in range(offsets[s], offsets[s + 1] - n + 1):
            out[cur_idx[p]] = prev_idx[p + 1]
    return out


@numba.njit(parallel=True, cache=True)
def log10f_into(x, out):
    """glibc's ``log10f`` (Numba's float32 ``math.log10`` calls libm); -inf for x <= 0.
    (Parallel: it runs on every printed line of a KN model, on the writer's critical path.)"""
    for i in numba.prange(x.shape[0]):
        out[i] = math.log10(x[i]) if x[i] > 0 else np.float32(-np.inf)


@numba.njit(parallel=True, cache=True)
def order_probs(a, count, ends, threshold, D, p_low, p, gamma):
    """Interpolated probabilities of the groups of one order that end at ``ends`` (LMPLZ-KN.md
    §4-5), in parallel over groups, every operation in float32 as lmplz rounds it:

    ``gamma(h) = (((D1·N1 + D2·N2) + D3·N3) [+ pruned a]) / sum a`` over the context's
    followers (N counts the unpruned ones: raw count above ``threshold``; -1: none pruned),
    and ``p(hw) = (a - D(a)) / sum a + gamma(h) · p_low`` (``p_low``: p of the suffix).
    ``D`` is float32 ``[0, D1, D2, D3]``.
    """
    G = ends.shape[0]
    n_chunks = min(G, 256)
    for ch in numba.prange(n_chunks):
        for g in range(ch * G // n_chunks, (ch + 1) * G // n_chunks):
            i = 0 if g == 0 else ends[g - 1]
            j = ends[g]
            total = np.int64(0)
            n1 = np.int64(0)
            n2 = np.int64(0)
            n3 = np.int64(0)
            pruned = np.int64(0)
            for r in range(i, j):
                v = np.int64(a[r])
                total += v
                if threshold >= 0 and np.int64(count[r]) <= threshold:
                    pruned += v
                elif v == 1:
                    n1 += 1
                elif v == 2:
                    n2 += 1
                elif v >= 3:
                    n3 += 1
            den = np.float32(total)
            mass = np.float32(D[1] * np.float32(n1))
            mass = np.float32(mass + np.float32(D[2] * np.float32(n2)))
            mass = np.float32(mass + np.float32(D[3] * np.float32(n3)))
            if pruned > 0:
                mass = np.float32(mass + np.float32(pruned))
            gam = np.float32(mass / den)
            gamma[g] = gam
            for r in range(i, j):
                v = np.int64(a[r])
                u = np.float32(np.float32(np.float32(v) - D[min(v, 3)]) / den)
                p[r] = np.float32(u + np.float32(gam * p_low[r]))


@numba.njit(parallel=True, cache=True)
def gather_suffix_rows(words, perm, a, b, p, out_words, out_p):
    """Rows ``perm[a:b]`` of the counting layout ``(w[k-1], …, w1, wk)`` in suffix layout
    ``(wk, w[k-1], …, w1)``, with their ``p``: one pass, where NumPy's row gather and
    then column gather copied the block twice (the second through its slow path)."""
    k = words.shape[1]
    for i in numba.prange(b - a):
        r = perm[a + i]
        out_words[i, 0] = words[r, k - 1]
        for c in range(k - 1):
            out_words[i, c + 1] = words[r, c]
        out_p[i] = p[r]
