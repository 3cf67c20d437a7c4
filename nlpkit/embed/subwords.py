"""fastText's character n-grams and their FNV-1a hash.

A word is wrapped as ``<word>`` and cut into n-grams of ``minn..maxn`` UTF-8
*characters* (continuation bytes stay with their character); one-character
n-grams made of just ``<`` or ``>`` are left out, and the whole ``<word>`` is
included when it is short enough.  Each n-gram's bytes are hashed with 32-bit
FNV-1a, fastText-style: every byte is read as a *signed* char, so bytes >= 0x80
are sign-extended before the xor.  An n-gram's row is ``nwords + hash % bucket``.

The hashing runs in a kernel over UTF-8 bytes (no strings inside).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

EOS = "</s>"


def fnv1a(data: bytes | str) -> int:
    """fastText's hash of ``data`` (a str is UTF-8 encoded first)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = 2166136261
    for b in data:
        if b >= 0x80:
            b |= 0xFFFFFF00
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


@njit(cache=True)
def _fnv(buf, start, end):
    h = np.uint32(2166136261)
    for p in range(start, end):
        b = np.uint32(buf[p])
        if b >= np.uint32(0x80):
            b = b | np.uint32(0xFFFFFF00)
        h = (h ^ b) * np.uint32(16777619)
    return h


@njit(cache=True)
def ngram_hashes_cpu(buf, offsets, minn, maxn, out_offsets, out):
    """Hashes of the n-grams of each wrapped word ``buf[offsets[w]:offsets[w + 1]]``.

    Called twice: with ``out`` of size 0 it only fills ``out_offsets`` (counts);
    then with ``out`` sized ``out_offsets[-1]`` it writes the hashes.
    """
    fill = out.shape[0] > 0
    pos = 0
    for w in range(offsets.shape[0] - 1):
        s, e = offsets[w], offsets[w + 1]
        out_offsets[w] = pos
        for i in range(s, e):
            if (buf[i] & 0xC0) == 0x80:
                continue
            j = i
            n = 1
            while j < e and n <= maxn:
                j += 1
                while j < e and (buf[j] & 0xC0) == 0x80:
                    j += 1
                if n >= minn and not (n == 1 and (i == s or j == e)):
                    if fill:
                        out[pos] = _fnv(buf, i, j)
                    pos += 1
                n += 1
    out_offsets[offsets.shape[0] - 1] = pos


def ngram_hashes(words, minn: int, maxn: int):
    """``(offsets, hashes)``: CSR of the uint32 hashes of each word's n-grams
    (none for ``</s>`` or when ``maxn`` is 0)."""
    words = list(words)
    nw = len(words)
    if maxn < 1 or minn > maxn or nw == 0:
        return np.zeros(nw + 1, np.int64), np.zeros(0, np.uint32)
    wrapped = [b"" if w == EOS else ("<" + w + ">").encode("utf-8") for w in words]
    lengths = np.fromiter((len(b) for b in wrapped), np.int64, nw)
    offsets = np.zeros(nw + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = np.frombuffer(b"".join(wrapped), np.uint8)
    out_offsets = np.zeros(nw + 1, np.int64)
    ngram_hashes_cpu(buf, offsets, minn, maxn, out_offsets, np.zeros(0, np.uint32))
    out = np.zeros(max(int(out_offsets[-1]), 0), np.uint32)
    if out.shape[0]:
        ngram_hashes_cpu(buf, offsets, minn, maxn, out_offsets, out)
    return out_offsets, out


def subword_rows(words, minn: int, maxn: int, bucket: int, with_word: bool = True):
    """CSR ``(offsets, rows)``: each word's input rows, its own id first (if ``with_word``),
    then ``len(words) + hash % bucket`` for each n-gram (fastText's layout)."""
    nw = len(words)
    h_off, hashes = ngram_hashes(words, minn, maxn) if bucket > 0 else (np.zeros(nw + 1, np.int64),
                                                                          np.zeros(0, np.uint32))
    ng_rows = nw + (hashes.astype(np.int64) % bucket)
    counts = np.diff(h_off) + (1 if with_word else 0)
    offsets = np.zeros(nw + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    rows = np.empty(int(offsets[-1]), np.int32)
    if with_word:
        rows[offsets[:-1]] = np.arange(nw, dtype=np.int32)
        mask = np.ones(rows.shape[0], bool)
        mask[offsets[:-1]] = False
        rows[mask] = ng_rows
    else:
        rows[:] = ng_rows
    return offsets, rows


def oov_rows(word: str, minn: int, maxn: int, bucket: int, nwords: int) -> np.ndarray:
    """The n-gram rows of one (unseen) word, in input-matrix numbering."""
    _, hashes = ngram_hashes([word], minn, maxn)
    return (nwords + hashes.astype(np.int64) % bucket) if bucket > 0 else np.zeros(0, np.int64)


@njit(parallel=True, cache=True)
def mean_rows_cpu(words, ngrams, offsets, rows, out):
    """``out[w]`` = mean of input rows ``rows[offsets[w]:offsets[w + 1]]``, where row ``r``
    is ``words[r]`` below ``len(words)`` and ``ngrams[r - len(words)]`` above (fastText's
    word vectors, without joining the two matrices: the n-gram one is ~800 MB)."""
    nw, dim = words.shape
    for w in prange(offsets.shape[0] - 1):
        acc = np.zeros(dim, np.float64)
        for p in range(offsets[w], offsets[w + 1]):
            r = rows[p]
            src = words[r] if r < nw else ngrams[r - nw]
            for k in range(dim):
                acc[k] += src[k]
        cnt = offsets[w + 1] - offsets[w]
        for k in range(dim):
            out[w, k] = np.float32(acc[k] / cnt) if cnt > 0 else np.float32(0.0)
