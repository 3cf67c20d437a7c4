"""CPU training kernels: skip-gram and CBOW with negative sampling, and fastText's
subword skip-gram (twin: :mod:`nlpkit.embed.sgns_cuda`).

All follow word2vec.c: the threads take chunks of sentences (Hogwild:
the shared matrices are updated without locks, which SGD tolerates), drops
frequent words with the keep probability ``sqrt(t/f) + t/f``, shrinks the
window to a random ``1..window`` per centre word, draws negatives from a
unigram^power table (a negative equal to the positive is skipped, as word2vec.c
does; fastText draws it again) and uses a clipped sigmoid table.  The three
models share the scalar pieces below (``_grad``, ``_negative_sampling``, row means
and sums), inlined into the one kernel.  The learning rate decays linearly from
``alpha`` to ``min_alpha`` over all epochs.  As in word2vec.c and fastText, each of
``T`` threads works through its own slice of the corpus (the ``t``-th ``T``-th of the
tokens), all slices at once, the learning rate following each slice's progress: the
chunks come in an order that interleaves the slices (see
:func:`nlpkit.embed.trainer.thread_slices`).

Skip-gram also comes in a faster variant (kind 3) that draws one set of
negatives per centre word and shares it across the window's context words
(Ji et al. 2016): the window's updates become a small dense block that stays
in L1 cache, about 3x faster at the same quality on our benchmarks.

Each chunk carries its own random state (word2vec.c's LCG seeded with
splitmix64 of the seed, epoch and chunk index), so a seeded run with one thread
is reproducible, and with several threads differs only by Hogwild races.

Strings never enter: sentences are int32 ids plus int64 offsets, and a chunk is
a range of sentences (``chunks[c]:chunks[c + 1]``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..ngram.prefetch import prefetch

_LCG_A = np.uint64(25214903917)
_LCG_C = np.uint64(11)
_SH16 = np.uint64(16)


def sigmoid_tables(max_exp: float, size: int = 1000):
    """``(sigmoid, -log sigmoid)`` tabulated over ``[-max_exp, max_exp)`` as word2vec.c does."""
    x = (np.arange(size, dtype=np.float64) / size * 2.0 - 1.0) * max_exp
    sig = 1.0 / (1.0 + np.exp(-x))
    return sig.astype(np.float32), (-np.log(sig)).astype(np.float32)


@njit(cache=True)
def _splitmix(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def _chunk_state(seed, epoch, chunk):
    mixed = _splitmix(np.uint64(epoch) * np.uint64(7919) + np.uint64(chunk))
    return _splitmix(np.uint64(seed) * np.uint64(1000003) + mixed)


@njit(cache=True)
def _subsample(ids, start, end, keep, state, buf):
    """Copy the kept words of ``ids[start:end]`` into ``buf``; return ``(n, state)``."""
    n = 0
    for p in range(start, end):
        w = ids[p]
        k = keep[w]
        if k < 1.0:
            state = state * _LCG_A + _LCG_C
            r = np.float32((state >> _SH16) & np.uint64(0xFFFF)) / np.float32(65536.0)
            if k < r:
                continue
        buf[n] = w
        n += 1
    return n, state


@njit(parallel=True, cache=True)
def uniform_rows_cpu(out, low, high, seed):
    """Fill ``out`` (rows x dim, float32) uniformly in ``[low, high)``, each row from its own
    random state (seed, row): the same values whatever the thread count, and fast enough
    for fastText's 2M n-gram rows (NumPy's generator took seconds, in one thread)."""
    scale = (high - low) / 16777216.0
    for r in prange(out.shape[0]):
        state = _splitmix(np.uint64(seed) + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))
        row = out[r]
        for k in range(out.shape[1]):
            state = state * _LCG_A + _LCG_C
            row[k] = np.float32(low + np.float64((state >> np.uint64(24)) & np.uint64(0xFFFFFF))
                                * scale)


@njit(cache=True, fastmath=True, inline="always")
def _grad(f, label, alpha, sig, max_exp):
    """word2vec.c's clipped sigmoid: the gradient scale of score ``f`` for ``label`` and
    ``f``'s index in the tables (outside ``±max_exp`` σ counts as 0 or 1)."""
    size = sig.shape[0]
    if f >= max_exp:
        return (label - np.float32(1.0)) * alpha, size - 1
    if f <= -max_exp:
        return label * alpha, 0
    idx = int((f + max_exp) * (size / max_exp / 2.0))
    if idx >= size:
        idx = size - 1
    return (label - sig[idx]) * alpha, idx


@njit(cache=True, inline="always")
def _loss(logsig, idx, positive):
    """``-log σ(f)`` for the positive target, ``-log σ(-f)`` for a negative one."""
    return logsig[idx] if positive else logsig[logsig.shape[0] - 1 - idx]


@njit(cache=True, fastmath=True, inline="always")
def _neg_update(h, s1, label, alpha, neu1e, sig, logsig, max_exp):
    """One target of negative sampling for hidden vector ``h`` and output row ``s1``:
    updates ``s1``, accumulates the input gradient in ``neu1e``; returns the loss term."""
    dim = h.shape[0]
    f = np.float32(0.0)
    for k in range(dim):
        f += h[k] * s1[k]
    g, idx = _grad(f, label, alpha, sig, max_exp)
    for k in range(dim):
        t = s1[k]
        neu1e[k] += g * t
        s1[k] = t + g * h[k]
    return _loss(logsig, idx, label > 0.5)


@njit(cache=True, inline="always")
def _draw(state, tsize):
    """Next LCG state and a uniform index below ``tsize`` (multiply-shift, no division)."""
    state = state * _LCG_A + _LCG_C
    return state, int((((state >> _SH16) & np.uint64(0xFFFFFFFF)) * tsize) >> np.uint64(32))


@njit(cache=True, fastmath=True, inline="always")
def _negative_sampling(h, syn1, target, negative, table, tsize, state, redraw, alpha, neu1e,
                       sig, logsig, max_exp):
    """Hidden vector ``h`` against ``target`` and ``negative`` noise words: their output
    rows updated, ``h``'s gradient added to ``neu1e``.  A noise word equal to the target is
    skipped (word2vec.c) or, with ``redraw``, drawn again (fastText).  Returns ``(loss, state)``."""
    loss = _neg_update(h, syn1[target], np.float32(1.0), alpha, neu1e, sig, logsig, max_exp)
    for d in range(negative):
        state, r = _draw(state, tsize)
        t = table[r]
        if redraw:
            tries = 0
            while t == target and tries < 16:  # bounded: a one-word table never ends
                state, r = _draw(state, tsize)
                t = table[r]
                tries += 1
        if t == target:
            continue
        loss += _neg_update(h, syn1[t], np.float32(0.0), alpha, neu1e, sig, logsig, max_exp)
    return loss, state


@njit(cache=True, fastmath=True, inline="always")
def _mean_rows(syn0, rows, r0, r1, out):
    """``out`` = mean of ``syn0[rows[r0:r1]]`` (``r1 > r0``)."""
    out[:] = 0.0
    for r in range(r0, r1):
        row = syn0[rows[r]]
        for k in range(out.shape[0]):
            out[k] += row[k]
    inv = np.float32(1.0) / np.float32(r1 - r0)
    for k in range(out.shape[0]):
        out[k] *= inv


@njit(cache=True, fastmath=True, inline="always")
def _add_to_rows(syn0, rows, r0, r1, v):
    """``syn0[rows[r]] += v`` for ``r`` in ``r0..r1``: every input row gets the full
    gradient (word2vec.c's CBOW, gensim's ``cbow_mean=1``, fastText's subwords)."""
    for r in range(r0, r1):
        row = syn0[rows[r]]
        for k in range(v.shape[0]):
            row[k] += v[k]


@njit(cache=True, inline="always")
def _prefetch_rows(flat, dim, rows, r0, r1):
    """Start loading rows ``rows[r0:r1]`` of a ``dim``-wide matrix (``flat`` view) into
    cache.  A large vocabulary's rows, and fastText's 2M n-gram rows above all, are
    not in cache: fetching the next centre word's rows while the current one trains
    hides most of the wait."""
    for r in range(r0, r1):
        base = np.int64(rows[r]) * dim
        for off in range(0, dim, 16):
            prefetch(flat, base + off)


@njit(cache=True, inline="always")
def _context(buf, lo, hi, i, ctxs):
    """The words of ``buf[lo:hi]`` but the centre ``i`` into ``ctxs``; returns how many."""
    m = 0
    for j in range(lo, hi):
        if j != i:
            ctxs[m] = buf[j]
            m += 1
    return m


@njit(cache=True, inline="always")
def _plan(kind, buf, n, i, window, negative, table, tsize, win, state, tg, groups):
    """Draw centre ``i``'s window and its targets, in the order the updates use them, into
    ``tg`` (and, for fastText, each context's share of them into ``groups``): the
    positive first, then the negatives (a negative equal to the positive is skipped, or
    for fastText drawn again).  Returns ``(lo, hi, n_targets, state)``; no targets are
    drawn when the window holds no other word."""
    state = state * _LCG_A + _LCG_C
    b = np.int64((state >> _SH16) % win)
    lo = max(i - window + b, 0)
    hi = min(i + window + 1 - b, n)
    if hi - lo <= 1:
        return lo, hi, 0, state
    nt = 0
    if kind == 2:
        g = 0
        for j in range(lo, hi):
            if j == i:
                continue
            target = buf[j]
            first = nt
            tg[nt] = target
            nt += 1
            for d in range(negative):
                state, r = _draw(state, tsize)
                t = table[r]
                tries = 0
                while t == target and tries < 16:  # bounded: a one-word table never ends
                    state, r = _draw(state, tsize)
                    t = table[r]
                    tries += 1
                if t != target:
                    tg[nt] = t
                    nt += 1
            groups[g] = nt - first
            g += 1
        return lo, hi, nt, state
    centre = buf[i]
    tg[0] = centre
    nt = 1
    for d in range(negative):
        state, r = _draw(state, tsize)
        t = table[r]
        if t != centre:
            tg[nt] = t
            nt += 1
    return lo, hi, nt, state


@njit(cache=True, fastmath=True, inline="always")
def _targets_update(h, syn1, tg, t0, t1, alpha, neu1e, sig, logsig, max_exp):
    """``h`` against the positive ``tg[t0]`` and the negatives ``tg[t0 + 1:t1]``."""
    loss = _neg_update(h, syn1[tg[t0]], np.float32(1.0), alpha, neu1e, sig, logsig, max_exp)
    for k in range(t0 + 1, t1):
        loss += _neg_update(h, syn1[tg[k]], np.float32(0.0), alpha, neu1e, sig, logsig, max_exp)
    return loss


@njit(cache=True, fastmath=True, inline="always")
def _block_update(syn0, syn1, ctxs, m, tgts, nt, alpha, grad, err, sig, logsig, max_exp):
    """Negative sampling for ``m`` context rows against the same ``nt`` targets (the
    first is the positive): gradients from the old rows, then both sides updated."""
    dim = syn0.shape[1]
    loss = 0.0
    for a in range(m):
        h = syn0[ctxs[a]]
        for b in range(nt):
            o = syn1[tgts[b]]
            f = np.float32(0.0)
            for k in range(dim):
                f += h[k] * o[k]
            label = np.float32(1.0) if b == 0 else np.float32(0.0)
            g, idx = _grad(f, label, alpha, sig, max_exp)
            loss += _loss(logsig, idx, b == 0)
            grad[a, b] = g
    for a in range(m):
        e = err[a]
        e[:] = 0.0
        for b in range(nt):
            g = grad[a, b]
            o = syn1[tgts[b]]
            for k in range(dim):
                e[k] += g * o[k]
    for b in range(nt):
        o = syn1[tgts[b]]
        for a in range(m):
            g = grad[a, b]
            h = syn0[ctxs[a]]
            for k in range(dim):
                o[k] += g * h[k]
    for a in range(m):
        h = syn0[ctxs[a]]
        e = err[a]
        for k in range(dim):
            h[k] += e[k]
    return loss


@njit(cache=True)
def _alpha_at(alpha0, min_alpha, done, total):
    a = alpha0 - (alpha0 - min_alpha) * (done / total)
    return np.float32(a if a > min_alpha else min_alpha)


@njit(cache=True, fastmath=True)
def _train_chunk(kind, syn0, syn1, ids, offsets, chunks, c, chunk_pos, chunk_scale, keep, table,
                 window, negative, alpha0, min_alpha, base_words, total_words, seed, epoch, sig,
                 logsig, max_exp, sub_offsets, sub_ids, max_len):
    """Train chunk ``c`` once (see :func:`train_block_cpu`); returns ``(loss, pairs)``.

    Its own function, not the body of the ``prange`` loop: Numba's parallel passes then
    see a loop of one call, and the kernel compiles in a fraction of the time."""
    dim = syn0.shape[1]
    flat0 = syn0.reshape(-1)
    flat1 = syn1.reshape(-1)
    tsize = np.uint64(table.shape[0])
    win = np.uint64(window)
    state = _chunk_state(seed, epoch, c)
    buf = np.empty(max_len, np.int32)
    neu1 = np.empty(dim, np.float32)
    neu1e = np.empty(dim, np.float32)
    ctxs = np.empty(2 * window, np.int32)
    grad = np.empty((2 * window, negative + 1), np.float32)
    err = np.empty((2 * window, dim), np.float32)
    # two plans (see _plan): the current centre's and the next one's
    plan_t = np.empty((2, 2 * window * (negative + 1)), np.int32)
    plan_g = np.empty((2, 2 * window), np.int32)
    plan_lo = np.zeros(2, np.int64)
    plan_hi = np.zeros(2, np.int64)
    plan_n = np.zeros(2, np.int64)
    loss = 0.0
    pairs = 0
    done = base_words + chunk_pos[c]
    for s in range(chunks[c], chunks[c + 1]):
        start, end = offsets[s], offsets[s + 1]
        alpha = _alpha_at(alpha0, min_alpha, done, total_words)
        done += (end - start) * chunk_scale[c]
        n, state = _subsample(ids, start, end, keep, state, buf)
        if kind == 0:
            # word2vec.c: each context word's input row predicts the centre
            for i in range(n):
                state = state * _LCG_A + _LCG_C
                b = int((state >> _SH16) % win)
                lo = max(i - window + b, 0)
                hi = min(i + window + 1 - b, n)
                centre = buf[i]
                for j in range(lo, hi):
                    if j == i:
                        continue
                    ctx = buf[j]
                    neu1e[:] = 0.0
                    ls, state = _negative_sampling(syn0[ctx], syn1, centre, negative, table,
                                                   tsize, state, False, alpha, neu1e, sig,
                                                   logsig, max_exp)
                    loss += ls
                    row = syn0[ctx]
                    for k in range(dim):
                        row[k] += neu1e[k]
                    pairs += 1
            continue
        # The other models draw each centre's window and targets one centre ahead (the
        # same random numbers in the same order, so the same results) and prefetch the
        # rows the next centre will touch while this one trains: with a large vocabulary
        # those rows are not in cache, and waiting for them was most of the time.
        if n > 0:
            plan_lo[0], plan_hi[0], plan_n[0], state = _plan(
                kind, buf, n, 0, window, negative, table, tsize, win, state, plan_t[0],
                plan_g[0])
        for i in range(n):
            cur = i & 1
            if i + 1 < n:
                nx = 1 - cur
                plan_lo[nx], plan_hi[nx], plan_n[nx], state = _plan(
                    kind, buf, n, i + 1, window, negative, table, tsize, win, state,
                    plan_t[nx], plan_g[nx])
                _prefetch_rows(flat1, dim, plan_t[nx], 0, plan_n[nx])
                if kind == 2:
                    w = buf[i + 1]
                    _prefetch_rows(flat0, dim, sub_ids, sub_offsets[w], sub_offsets[w + 1])
                else:
                    _prefetch_rows(flat0, dim, buf, plan_lo[nx], plan_hi[nx])
            lo, hi, nt = plan_lo[cur], plan_hi[cur], plan_n[cur]
            if hi - lo <= 1:
                continue
            tg = plan_t[cur]
            centre = buf[i]
            if kind == 3:
                # skip-gram, the window's context words sharing one draw of negatives
                # (Ji et al. 2016): the (contexts x targets) block stays in L1 cache
                m = _context(buf, lo, hi, i, ctxs)
                loss += _block_update(syn0, syn1, ctxs, m, tg, nt, alpha, grad, err,
                                      sig, logsig, max_exp)
                pairs += m
            elif kind == 1:
                # CBOW: the mean of the context rows predicts the centre; each context
                # row then gets the whole gradient
                m = _context(buf, lo, hi, i, ctxs)
                _mean_rows(syn0, ctxs, 0, m, neu1)
                neu1e[:] = 0.0
                loss += _targets_update(neu1, syn1, tg, 0, nt, alpha, neu1e, sig, logsig,
                                        max_exp)
                _add_to_rows(syn0, ctxs, 0, m, neu1e)
                pairs += 1
            else:
                # fastText: the centre's subword mean predicts each context word.
                # fastText adds each context word's gradient to every row of the
                # centre and takes the mean again for the next: that moves the mean by
                # the gradient itself, so the mean is moved instead and the rows get
                # the window's sum once (the same arithmetic, a tenth of the traffic)
                r0, r1 = sub_offsets[centre], sub_offsets[centre + 1]
                _mean_rows(syn0, sub_ids, r0, r1, neu1)
                err[0, :] = 0.0
                t0 = 0
                for g in range(hi - lo - 1):
                    t1 = t0 + plan_g[cur, g]
                    neu1e[:] = 0.0
                    loss += _targets_update(neu1, syn1, tg, t0, t1, alpha, neu1e, sig,
                                            logsig, max_exp)
                    for k in range(dim):
                        neu1[k] += neu1e[k]
                        err[0, k] += neu1e[k]
                    t0 = t1
                    pairs += 1
                _add_to_rows(syn0, sub_ids, r0, r1, err[0])
    return loss, pairs


@njit(parallel=True, cache=True, fastmath=True)
def train_block_cpu(kind, syn0, syn1, ids, offsets, chunks, order, chunk_pos, chunk_scale, j0, j1,
                    keep, table, window, negative, alpha0, min_alpha, base_words, total_words,
                    seed, epoch, sig, logsig, max_exp, sub_offsets, sub_ids, max_len, out_loss,
                    out_pairs):
    """Train chunks ``order[j0:j1]`` once.  ``kind``: 0 skip-gram, 1 CBOW, 2 fastText
    skip-gram, 3 skip-gram with negatives shared across each window.

    For ``kind`` 2, word ``w``'s input rows are ``sub_ids[sub_offsets[w]:sub_offsets[w + 1]]``
    (its own row first, then its n-gram rows) and the hidden vector is their mean.
    The learning rate of a sentence of chunk ``c`` is taken at ``base_words`` (the tokens
    of the epochs before) plus ``chunk_pos[c]`` plus ``chunk_scale[c]`` per token of the
    chunk before it, out of ``total_words`` (see :func:`nlpkit.embed.trainer.thread_slices`).
    Writes each chunk's loss sum and number of (centre, target) pairs to
    ``out_loss[j - j0]``, ``out_pairs[j - j0]``.
    """
    for step in prange(j0, j1):
        loss, pairs = _train_chunk(kind, syn0, syn1, ids, offsets, chunks, order[step],
                                   chunk_pos, chunk_scale, keep, table, window, negative,
                                   alpha0, min_alpha, base_words, total_words, seed, epoch,
                                   sig, logsig, max_exp, sub_offsets, sub_ids, max_len)
        out_loss[step - j0] = loss
        out_pairs[step - j0] = pairs
