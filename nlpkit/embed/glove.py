"""CPU kernels: GloVe training with AdaGrad, as Stanford's ``glove.c`` does it.

For a record ``(i, j, x)`` the cost is ``f(x) (w_i . c_j + b_i + b'_j - log x)^2 / 2``
with ``f(x) = min(1, (x / x_max)^alpha)``.  Stanford's update, reproduced here:
``fdiff = f(x) * diff``; each component of the gradient ``fdiff * c_j`` (and
``fdiff * w_i``) is clipped to ``±grad_clip``, scaled by ``eta``, divided by the
square root of the accumulated squares *before* this step (which start at 1)
and subtracted; the scaled component's square is then added to the
accumulator.  The biases step by ``fdiff / sqrt(acc)`` and accumulate
``fdiff^2`` (the current ``glove.c`` does not scale the bias step by ``eta``).

Layout: one float32 row per word (rows ``0..V``) and per context (rows
``V..2V``), ``[vector, bias, pad | squared-gradient sums (vector, bias), pad]``:
a record touches two rows, each one contiguous run of memory, where ``glove.c``
reads four ``double`` arrays.  Records come in the upper triangle of the
symmetric matrix; a record ``(i, j)`` with ``i != j`` trains both ``(i, j)`` and
``(j, i)``, which the full matrix holds as two records.

Hogwild: each thread takes a contiguous slice of the shuffled records and
updates the shared rows without locks, as ``glove.c``'s threads do.  The next
records' rows are prefetched: with a large vocabulary the rows are never in
cache, and waiting for them is most of the time.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..ngram.prefetch import prefetch

# fast-math without 'nnan'/'ninf': the finiteness checks of glove.c must stay
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
PREFETCH = 4   # records ahead


@njit(cache=True, inline="always")
def _prefetch_row(flat, row, width):
    """Prefetch every cache line (16 floats) of row ``row`` of a ``width``-wide matrix."""
    base = row * width
    for off in range(0, width, 16):
        prefetch(flat, base + off)


def record_terms(vals, x_max: float, alpha: float):
    """``(log x, f(x))`` of each record, float32: computed once, not in every epoch
    (the two libm calls were almost half of an update's time)."""
    x = np.asarray(vals, np.float64)
    return np.log(x).astype(np.float32), np.minimum((x / x_max) ** alpha, 1.0).astype(np.float32)


@njit(cache=True, fastmath=_FAST, error_model="numpy", inline="always")
def _step(w, gw, c, gc, log_x, fx, dim, eta, grad_clip):
    """One of Stanford's updates for word row ``w`` and context row ``c`` (squared
    gradient sums ``gw``, ``gc``); returns the weighted cost ``f(x) diff^2 / 2``
    (0 when ``diff`` is not finite and the update is skipped, as glove.c does)."""
    diff = np.float32(0.0)
    for b in range(dim):
        diff += w[b] * c[b]
    diff += w[dim] + c[dim] - log_x
    fdiff = fx * diff
    if not (np.isfinite(diff) and np.isfinite(fdiff)):
        return 0.0
    for b in range(dim):   # vectorised: no division checks (error_model), distinct row views
        wb = w[b]
        cb = c[b]
        t1 = min(max(fdiff * cb, -grad_clip), grad_clip) * eta
        t2 = min(max(fdiff * wb, -grad_clip), grad_clip) * eta
        g1 = gw[b]
        g2 = gc[b]
        w[b] = wb - t1 / np.sqrt(g1)
        c[b] = cb - t2 / np.sqrt(g2)
        gw[b] = g1 + t1 * t1
        gc[b] = g2 + t2 * t2
    w[dim] -= fdiff / np.sqrt(gw[dim])
    c[dim] -= fdiff / np.sqrt(gc[dim])
    f2 = fdiff * fdiff
    gw[dim] += f2
    gc[dim] += f2
    return 0.5 * np.float64(fdiff) * np.float64(diff)


@njit(parallel=True, cache=True, fastmath=_FAST, error_model="numpy")
def glove_epoch_cpu(rows, cols, log_x, fx, params, dim, half, n_words, eta, grad_clip,
                    n_threads, out_cost, out_updates):
    """One pass over the records ``(rows, cols)`` with their ``log x`` and ``f(x)``
    (:func:`record_terms`): thread ``t`` of ``n_threads`` takes the ``t``-th contiguous
    slice.  Writes each thread's cost sum and number of updates to ``out_cost[t]``,
    ``out_updates[t]``."""
    n = rows.shape[0]
    width = params.shape[1]
    flat = params.reshape(-1)
    eta = np.float32(eta)
    grad_clip = np.float32(grad_clip)
    for t in prange(n_threads):
        r0 = n * t // n_threads
        r1 = n * (t + 1) // n_threads
        cost = 0.0
        updates = 0
        for r in range(r0, r1):
            if r + PREFETCH < r1:
                pi, pj = rows[r + PREFETCH], cols[r + PREFETCH]
                _prefetch_row(flat, np.int64(pi), width)
                _prefetch_row(flat, np.int64(n_words) + pj, width)
                if pi != pj:
                    _prefetch_row(flat, np.int64(pj), width)
                    _prefetch_row(flat, np.int64(n_words) + pi, width)
            i = np.int64(rows[r])
            j = np.int64(cols[r])
            ci = n_words + i
            cj = n_words + j
            cost += _step(params[i, :half], params[i, half:], params[cj, :half],
                          params[cj, half:], log_x[r], fx[r], dim, eta, grad_clip)
            updates += 1
            if i != j:
                cost += _step(params[j, :half], params[j, half:], params[ci, :half],
                              params[ci, half:], log_x[r], fx[r], dim, eta, grad_clip)
                updates += 1
        out_cost[t] = cost
        out_updates[t] = updates


@njit(cache=True)
def shuffle_records_cpu(rows, cols, vals, state):
    """Fisher-Yates shuffle of the three record arrays together (one LCG ``state``)."""
    for i in range(rows.shape[0] - 1, 0, -1):
        state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
        j = np.int64((state >> np.uint64(33)) % np.uint64(i + 1))
        rows[i], rows[j] = rows[j], rows[i]
        cols[i], cols[j] = cols[j], cols[i]
        vals[i], vals[j] = vals[j], vals[i]
    return state
