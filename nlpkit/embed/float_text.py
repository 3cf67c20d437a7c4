"""Kernel: rows of word vectors as word2vec text lines, each float32 written as printf's ``%.9g``.

``write_word2vec`` wrote ``"%.9g" % value`` in Python, a third of a second for 91k words x
100 (more than a one-epoch run spends on some models).  This kernel writes the same bytes:
nine significant digits, correctly rounded (half to even), fixed notation for decimal
exponents -4..8 and ``d.dddde±XX`` otherwise, trailing zeros and a bare point dropped,
``0``/``-0``, ``inf``/``-inf`` and ``nan``.  Nine digits give every float32 back exactly.

The digits come from ``|x| * 10**k`` in float64 (``10**k`` correctly rounded from a
table), which is within 2.3e-7 of the exact product for every float32 ``x`` (two
roundings of relative size 2**-53, the product below 1e9).  That decides the rounding unless the exact product lies within
1e-6 of a half: such rows are flagged, and the caller formats them with Python's ``%``
(a row of 100 values has about one chance in 5,000 of holding a value that close).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_LOW = -60                 # the powers of ten tabulated: 10**_LOW .. 10**60
_POW10 = np.array([float(f"1e{k}") for k in range(_LOW, 61)])  # each correctly rounded
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).copy()
_NEAR_HALF = 1e-6          # closer than this to .5: let Python decide the rounding
VALUE_BYTES = 16           # the longest %.9g of a float32: -1.23456789e-45 (15), and a space


@njit(cache=True, inline="always")
def _put9(u, out, p, pairs):
    """The nine decimal digits of ``u`` (< 10**9) into ``out[p:p + 9]``, two at a time
    (unsigned 32-bit division by a constant is a multiply)."""
    for j in range(4):
        q = u // np.uint32(100)
        r = np.int64(u - q * np.uint32(100)) * 2
        out[p + 7 - 2 * j] = pairs[r]
        out[p + 8 - 2 * j] = pairs[r + 1]
        u = q
    out[p] = np.uint8(48 + u)


@njit(cache=True, inline="always")
def _trim(out, o, first):
    """Drop trailing zeros of the fraction ending at ``out[o - 1]`` (not before ``first``),
    and its point if nothing is left after it; return the new end."""
    while o > first and out[o - 1] == 48:
        o -= 1
    if out[o - 1] == 46:
        o -= 1
    return o


@njit(cache=True)
def _format(x, bits, out, o, pow10, pairs):
    """Write ``"%.9g" % x`` into ``out[o:]`` (``bits``: the float32's bits); return ``(new o,
    certain)``."""
    if x != x:
        out[o] = 110  # nan
        out[o + 1] = 97
        out[o + 2] = 110
        return o + 3, True
    # random signs, roundings and exponents mispredict branches: the common path has few
    out[o] = 45  # -, kept when the sign bit is set
    o += np.int64(bits >> np.uint32(31))
    x = abs(x)
    if x == 0:
        out[o] = 48
        return o + 1, True
    if x == np.inf:
        out[o] = 105  # inf
        out[o + 1] = 110
        out[o + 2] = 102
        return o + 3, True
    # the decimal exponent is floor(e2 * log10(2)) or one more, for x in [2**e2, 2**(e2 + 1)):
    # e2 from the float32's exponent bits, the choice by a comparison (a libm log10 per
    # value cost more than all the rest)
    e = np.int64((bits >> np.uint32(23)) & np.uint32(0xFF))
    e10 = ((e - 127) * 78913) >> 18 if e > 0 else int(np.floor(np.log10(x)))
    e10 += np.int64(x >= pow10[e10 + 1 - _LOW])
    scaled = x * pow10[8 - e10 - _LOW]
    if scaled >= 1e9 or scaled < 1e8:  # (x at a power of ten, within the tables' rounding)
        e10 += 1 if scaled >= 1e9 else -1
        scaled = x * pow10[8 - e10 - _LOW]
    d = np.int64(scaled)
    frac = scaled - d
    certain = abs(frac - 0.5) >= _NEAR_HALF
    d += np.int64(frac > 0.5) | (np.int64(frac == 0.5) & (d & 1))  # half to even
    if d >= 1000000000:
        d = 100000000
        e10 += 1
    u = np.uint32(d)
    if -4 <= e10 < 0:  # 0.000ddddddddd: "0.000", the digits over as many zeros as needed
        out[o] = 48
        out[o + 1] = 46
        out[o + 2] = 48
        out[o + 3] = 48
        out[o + 4] = 48
        o += 1 - e10
        _put9(u, out, o, pairs)
        return _trim(out, o + 9, o), certain
    if 0 <= e10 < 9:  # ddd.dddddd: the digits, then the integer part moved left by one
        _put9(u, out, o + 1, pairs)
        for i in range(e10 + 1):
            out[o + i] = out[o + 1 + i]
        out[o + e10 + 1] = 46
        return _trim(out, o + 10, o + e10 + 1), certain
    _put9(u, out, o + 1, pairs)  # d.ddddddddde+XX
    out[o] = out[o + 1]
    out[o + 1] = 46
    o = _trim(out, o + 10, o + 1)
    out[o] = 101  # e
    out[o + 1] = 45 if e10 < 0 else 43
    o += 2
    a = abs(e10)
    if a >= 100:
        out[o] = 48 + a // 100
        o += 1
    out[o] = 48 + (a // 10) % 10
    out[o + 1] = 48 + a % 10
    return o + 2, certain


@njit(parallel=True, cache=True)
def format_rows_cpu(vecs, r0, r1, words, word_offsets, scratch, lengths, certain):
    """Lines ``word v1 ... vD\\n`` for rows ``r0..r1`` of ``vecs`` (``words`` holds the
    UTF-8 words back to back, word ``r`` at ``word_offsets[r]:word_offsets[r + 1]``):
    row ``r`` goes to ``scratch[r - r0]``, its length to ``lengths[r - r0]``, and whether
    all its values were certain (see the module's docstring) to ``certain[r - r0]``."""
    pow10, pairs = _POW10, _PAIRS
    bits = vecs.view(np.uint32)
    for r in prange(r0, r1):
        out = scratch[r - r0]
        o = 0
        for p in range(word_offsets[r], word_offsets[r + 1]):
            out[o] = words[p]
            o += 1
        ok = True
        for k in range(vecs.shape[1]):
            out[o] = 32
            o, sure = _format(np.float64(vecs[r, k]), bits[r, k], out, o + 1, pow10, pairs)
            ok = ok and sure
        out[o] = 10
        lengths[r - r0] = o + 1
        certain[r - r0] = ok


@njit(cache=True)
def join_rows(scratch, lengths, out):
    """The rows' bytes back to back in ``out``; returns how many."""
    o = 0
    for r in range(lengths.shape[0]):
        n = lengths[r]
        out[o:o + n] = scratch[r, :n]
        o += n
    return o
