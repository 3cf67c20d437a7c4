"""Kernel: in how many sentences each word occurs (document frequency, for TF-IDF)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def doc_freq_cpu(ids, offsets, n_words):
    """``df[w]`` = number of sentences ``ids[offsets[s]:offsets[s + 1]]`` holding ``w``
    (negative ids, words left out of a vocabulary, are skipped).

    One pass: ``last[w]`` remembers the last sentence that counted ``w`` (O(tokens),
    where the pairs' ``np.unique`` was a sort of the whole corpus)."""
    df = np.zeros(n_words, np.int64)
    last = np.full(n_words, -1, np.int64)
    for s in range(offsets.shape[0] - 1):
        for p in range(offsets[s], offsets[s + 1]):
            w = ids[p]
            if w >= 0 and last[w] != s:
                last[w] = s
                df[w] += 1
    return df
