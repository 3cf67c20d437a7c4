"""CPU kernels: word-word co-occurrence counts in a symmetric window.

A pair of words ``(a, b)`` at distance ``d`` inside a sentence adds
``weights[d]`` to the *canonical* cell ``(min(a, b), max(a, b))``: the matrix is
symmetric, so only its upper triangle is kept (half the memory and half the
hash look-ups of counting both directions).  A word next to itself adds twice
to the diagonal, as counting both directions would (Stanford's ``cooccur`` and
hyperwords do).  ``weights`` carries the weighting: ``1/d`` (GloVe), ``1``
(a plain window) or ``(window - d + 1) / window`` (the expected count of
word2vec's and hyperwords' dynamic windows).

No atomics: the cells are split into ``n_parts`` partitions by a hash of the
pair, and thread ``t`` owns partition ``t`` (an open-addressing table: int64
keys ``a * n_words + b``, float64 sums).  Every thread reads the same
sentences and keeps the pairs of its own partition, so the partitions never
need merging: reading is cheap, the random writes into the tables are what
costs.  The driver (:mod:`nlpkit.embed.cooccurrence`) grows a table, or drains
it to a sorted run on disk, before a block could fill it.

Words dropped from the vocabulary come in as ``-1`` and are removed before
windows are formed (Stanford's ``cooccur`` skips them the same way), as are
subsampled words (hyperwords' ``--sub`` with ``--del``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

EMPTY = -1


@njit(cache=True, inline="always")
def _mix(key):
    """splitmix64's finaliser: a well-spread 64-bit hash of ``key``."""
    x = np.uint64(key)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, inline="always")
def partition_of(h, n_parts):
    """The partition of hash ``h``: from its high bits (the slot uses the low ones)."""
    return int(((h >> np.uint64(32)) * np.uint64(n_parts)) >> np.uint64(32))


@njit(cache=True, inline="always")
def _sentence_state(seed, sentence):
    x = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(sentence)
    return _mix(x + np.uint64(0x632BE59BD9B4E019))


@njit(cache=True, inline="always")
def _kept(ids, start, end, keep, state, buf):
    """The in-vocabulary words of ``ids[start:end]`` that survive subsampling, into ``buf``."""
    n = 0
    for p in range(start, end):
        w = ids[p]
        if w < 0:
            continue
        k = keep[w]
        if k < 1.0:
            state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
            if np.float64(state >> np.uint64(11)) * (1.0 / 9007199254740992.0) >= k:
                continue
        buf[n] = w
        n += 1
    return n


@njit(cache=True, inline="always")
def _add(keys, vals, mask, h, key, w):
    """Add ``w`` to ``key``'s cell (linear probing); returns 1 if the cell is new."""
    slot = np.int64(h & np.uint64(mask))
    while True:
        k = keys[slot]
        if k == key:
            vals[slot] += w
            return 0
        if k == EMPTY:
            keys[slot] = key
            vals[slot] = w
            return 1
        slot = (slot + 1) & mask


@njit(parallel=True, cache=True)
def count_windows_cpu(ids, offsets, s0, s1, sentence_base, n_words, weights, keep, seed, max_len,
                      keys, vals, fill):
    """Count the pairs of sentences ``s0..s1`` into the tables ``keys``/``vals``
    (``n_parts`` rows of a power-of-two capacity), ``fill[t]`` counting each
    partition's cells.  ``weights[d]`` (``d`` = 1..window) weighs a pair at
    distance ``d``; ``keep[w] < 1`` subsamples word ``w`` with a random state per
    sentence (``seed``, ``sentence_base + s``), the same in every thread."""
    n_parts, cap = keys.shape
    mask = np.int64(cap - 1)
    window = weights.shape[0] - 1
    nw = np.int64(n_words)
    for t in prange(n_parts):
        buf = np.empty(max_len, np.int32)
        tk = keys[t]
        tv = vals[t]
        added = 0
        for s in range(s0, s1):
            state = _sentence_state(seed, sentence_base + s)
            n = _kept(ids, offsets[s], offsets[s + 1], keep, state, buf)
            for i in range(1, n):
                a = np.int64(buf[i])
                lo = i - window if i > window else 0
                for j in range(i - 1, lo - 1, -1):
                    b = np.int64(buf[j])
                    w = weights[i - j]
                    if a < b:
                        key = a * nw + b
                    elif b < a:
                        key = b * nw + a
                    else:
                        key = a * nw + a
                        w = 2.0 * w
                    h = _mix(key)
                    if n_parts > 1 and partition_of(h, n_parts) != t:
                        continue
                    added += _add(tk, tv, mask, h, key, w)
        fill[t] += added


@njit(parallel=True, cache=True)
def rehash_cpu(keys, vals, new_keys, new_vals):
    """Move every cell of ``keys``/``vals`` into the (larger, empty) ``new_*`` tables."""
    n_parts = keys.shape[0]
    mask = np.int64(new_keys.shape[1] - 1)
    for t in prange(n_parts):
        tk, tv = keys[t], vals[t]
        nk, nv = new_keys[t], new_vals[t]
        for slot in range(tk.shape[0]):
            k = tk[slot]
            if k != EMPTY:
                _add(nk, nv, mask, _mix(k), k, tv[slot])


@njit(cache=True)
def take_cells(keys, vals, out_keys, out_vals):
    """Copy the occupied cells of one table into ``out_*`` and empty the table; returns
    how many."""
    n = 0
    for slot in range(keys.shape[0]):
        k = keys[slot]
        if k != EMPTY:
            out_keys[n] = k
            out_vals[n] = vals[slot]
            keys[slot] = EMPTY
            n += 1
    return n


@njit(parallel=True, cache=True)
def split_cells(keys, vals, starts, n_words, rows, cols, out_vals):
    """Every partition's occupied cells as ``(row, col, value)`` at ``starts[t]`` onwards."""
    nw = np.int64(n_words)
    for t in prange(keys.shape[0]):
        tk, tv = keys[t], vals[t]
        p = starts[t]
        for slot in range(tk.shape[0]):
            k = tk[slot]
            if k != EMPTY:
                rows[p] = np.int32(k // nw)
                cols[p] = np.int32(k % nw)
                out_vals[p] = tv[slot]
                p += 1


@njit(cache=True, inline="always")
def _sift_down(heap, heads, keys, p, size):
    while True:
        c = 2 * p + 1
        if c >= size:
            return
        if c + 1 < size and keys[heads[heap[c + 1]]] < keys[heads[heap[c]]]:
            c += 1
        if keys[heads[heap[c]]] < keys[heads[heap[p]]]:
            heap[c], heap[p] = heap[p], heap[c]
            p = c
        else:
            return


@njit(cache=True)
def merge_runs_cpu(keys, vals, starts, ends, out_keys, out_vals):
    """Merge sorted runs ``keys[starts[r]:ends[r]]`` (with their ``vals``) into
    ``out_*``, summing the values of equal keys; returns the number of cells.

    A binary heap over the runs' heads, as Stanford's ``cooccur`` merges its
    temporary files; ``keys``/``vals`` may be memory-mapped files."""
    n_runs = starts.shape[0]
    heads = starts.copy()
    heap = np.empty(n_runs, np.int64)
    size = 0
    for r in range(n_runs):
        if heads[r] < ends[r]:
            heap[size] = r
            size += 1
    for p in range(size // 2 - 1, -1, -1):
        _sift_down(heap, heads, keys, p, size)
    n = -1
    last = np.int64(EMPTY)
    while size > 0:
        r = heap[0]
        k = keys[heads[r]]
        if k == last:
            out_vals[n] += vals[heads[r]]
        else:
            n += 1
            out_keys[n] = k
            out_vals[n] = vals[heads[r]]
            last = k
        heads[r] += 1
        if heads[r] == ends[r]:
            size -= 1
            heap[0] = heap[size]
        _sift_down(heap, heads, keys, 0, size)
    return n + 1
