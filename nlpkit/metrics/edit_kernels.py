"""Levenshtein distance kernels (CPU).  Twin: :mod:`nlpkit.metrics.edit_kernels_cuda`.

Sequences are int ids in flat arrays with offsets (``seq[i] = flat[off[i]:off[i + 1]]``);
pair i compares hypothesis i with reference i (unit costs: substitution, insertion,
deletion), one pair per parallel iteration, one row of the table at a time.
"""
import numba
import numpy as np


@numba.njit(cache=True)
def distance(a, b, row):
    """Edit distance between int arrays ``a`` and ``b``; ``row`` has len(b) + 1 entries."""
    m = b.shape[0]
    for j in range(m + 1):
        row[j] = j
    for i in range(a.shape[0]):
        diag = row[0]
        row[0] = i + 1
        for j in range(m):
            up = row[j + 1]
            best = diag + (a[i] != b[j])
            if up + 1 < best:
                best = up + 1
            if row[j] + 1 < best:
                best = row[j] + 1
            row[j + 1] = best
            diag = up
    return row[m]


@numba.njit(parallel=True, cache=True)
def distances(hyp, hyp_off, ref, ref_off, out):
    for i in numba.prange(out.shape[0]):
        b = ref[ref_off[i]:ref_off[i + 1]]
        row = np.empty(b.shape[0] + 1, np.int64)
        out[i] = distance(hyp[hyp_off[i]:hyp_off[i + 1]], b, row)
