"""Decimal spelling of float32 numbers in Numba, exact, for the ARPA writers.

A float32 is ``m * 2**q`` with an integer mantissa ``m < 2**24``.  Rounding it
to ``p`` significant digits means rounding ``m * 5**k * 2**(q + k)`` to an
integer, where ``k = p - 1 - e`` and ``e`` is the decimal exponent.  While
``m * 5**k`` fits 64 bits and the shift is below 63 bits, that is exact integer
arithmetic, and so is the test whether a decimal reads back as the same float32
(it must lie inside the value's rounding interval).  Values outside that range
(very large or very small, none in a language model) are left to Python.

Two spellings are provided:

* :func:`shortest` - the shortest decimal that reads back as the same float32,
  the nearest such one when several have that length (what KenLM prints);
* :func:`rounded` - the decimal rounded to ``p`` significant digits (C's ``%.{p}g``,
  what SRILM prints with ``%.7g``).
"""
from __future__ import annotations

import numba
import numpy as np

_POW5 = np.array([5 ** i for i in range(28)], dtype=np.uint64)
_MAX_K = 16  # m * 5**k < 2**24 * 5**16 < 2**62
_FIRST_TRY = 7  # digits tried first by the shortest-spelling search (float32: mostly 7-8)


@numba.njit(cache=True)
def _split(v):
    """float32 -> (m, q) with v = m * 2**q, m < 2**24 (v finite, non-zero, positive)."""
    bits = np.float32(v).view(np.uint32)
    exp = np.int64((bits >> np.uint32(23)) & np.uint32(0xFF))
    frac = np.uint64(bits & np.uint32(0x7FFFFF))
    if exp == 0:  # subnormal
        return frac, np.int64(-149)
    return frac | np.uint64(1 << 23), exp - 150


@numba.njit(cache=True)
def _round_at(m, q, k, pow5):
    """Round m * 2**q * 10**k to an integer (ties to even).

    Returns (N, diff, below, ok): |N * 2**s - A| = diff with A = m * 5**k,
    below = N * 2**s < A; ok False when the exact arithmetic does not fit.
    """
    if k < 0 or k > _MAX_K:
        return np.uint64(0), np.uint64(0), False, False
    a = m * pow5[k]
    s = -(q + k)
    if s <= 0:
        if s < -38 or a >= (np.uint64(1) << np.uint64(63 + s)):
            return np.uint64(0), np.uint64(0), False, False
        return a << np.uint64(-s), np.uint64(0), False, True
    if s > 62:
        return np.uint64(0), np.uint64(0), False, False
    one = np.uint64(1)
    sh = np.uint64(s)
    n = a >> sh
    r = a & ((one << sh) - one)
    half = one << np.uint64(s - 1)
    if r > half or (r == half and (n & one) == one):
        return n + one, (one << sh) - r, False, True
    return n, r, r != np.uint64(0), True


@numba.njit(cache=True)
def _reads_back(diff, below, k, m, pow5):
    """Does a decimal at distance diff (in units of 2**-s) read back as m * 2**q?

    The rounding interval is half an ulp each side (a quarter below a power of
    two); in these units half an ulp is 5**k / 2.  Ties cannot occur (5**k is odd).
    """
    limit = pow5[k]
    if below and m == np.uint64(1 << 23):
        return np.uint64(4) * diff < limit
    return np.uint64(2) * diff < limit


@numba.njit(cache=True)
def _digits(n):
    count = 1
    while n >= np.uint64(10):
        n //= np.uint64(10)
        count += 1
    return count


@numba.njit(cache=True)
def _decimal_exponent(m, q):
    """floor(log10(m * 2**q)), computed in float64 and then made exact."""
    v = np.float64(m) * 2.0 ** q
    return np.int64(np.floor(np.log10(v)))


@numba.njit(cache=True, inline="always")
def _try_digits(m, q, e, p, pow5):
    """The nearest ``p``-digit decimal of ``m * 2**q``, if one reads back as the same
    float32: ``(found, digits, k, exact, e)`` (``e`` corrected when it was off by one)."""
    n = np.uint64(0)
    k = 0
    exact = True
    for _attempt in range(3):  # e may be off by one near powers of ten
        k = p - 1 - e
        n, diff, below, exact = _round_at(m, q, k, pow5)
        if not exact:
            return False, n, k, False, e
        if n >= _POW10[p] and n != _POW10[p]:
            e += 1
            continue
        if n < _POW10[p - 1] and p > 1 or n == 0:
            e -= 1
            continue
        if _reads_back(diff, below, k, m, pow5):
            return True, n, k, True, e
        if below and m == np.uint64(1 << 23) and q + k < 0:
            # At a power of two the interval below is half as wide: when the
            # nearest decimal is below and too far, the one above may do.
            s = np.uint64(-(q + k))
            n2 = n + np.uint64(1)
            if _reads_back((n2 << s) - m * pow5[k], False, k, m, pow5):
                return True, n2, k, True, e
        return False, n, k, True, e
    return False, n, k, True, e


@numba.njit(parallel=True, cache=True, nogil=True)
def _shortest_kernel(values, digits_out, exp_out, ok_out, pow5):
    for i in numba.prange(values.shape[0]):
        v = values[i]
        ok_out[i] = False
        if not (v != 0 and np.isfinite(v)):
            continue
        m, q = _split(abs(v))
        e = _decimal_exponent(m, q)
        # the fewest digits that read back: more digits never read back worse, so search
        # from _FIRST_TRY down while they read back, or up until they do (9 always do for
        # a float32); most values need 7 or 8, so this takes two tries where a binary
        # search over 1..9 took four and a fifth to redo the winner
        p = _FIRST_TRY
        found, n, k, exact, e = _try_digits(m, q, e, p, pow5)
        if not exact:
            continue
        if found:
            while p > 1:
                found2, n2, k2, exact, e2 = _try_digits(m, q, e, p - 1, pow5)
                if not (exact and found2):
                    break
                p, n, k, e = p - 1, n2, k2, e2
            if not exact:
                continue
        else:
            while not found and p < 9:
                p += 1
                found, n, k, exact, e = _try_digits(m, q, e, p, pow5)
                if not exact:
                    break
            if not (found and exact):
                continue
        # strip trailing zeros: the shortest spelling of the same digits
        while n % np.uint64(10) == 0 and n != 0:
            n //= np.uint64(10)
            k -= 1
        digits_out[i] = n
        exp_out[i] = _digits(n) - 1 - k
        ok_out[i] = True


@numba.njit(parallel=True, cache=True, nogil=True)
def _rounded_kernel(values, p, digits_out, exp_out, ok_out, pow5):
    for i in numba.prange(values.shape[0]):
        v = values[i]
        ok_out[i] = False
        if not (v != 0 and np.isfinite(v)):
            continue
        m, q = _split(abs(v))
        e = _decimal_exponent(m, q)
        for _attempt in range(3):
            k = p - 1 - e
            n, diff, below, exact = _round_at(m, q, k, pow5)
            if not exact:
                break
            if n > _POW10[p]:
                e += 1
                continue
            if n < _POW10[p - 1]:
                e -= 1
                continue
            while n % np.uint64(10) == 0 and n != 0:
                n //= np.uint64(10)
                k -= 1
            digits_out[i] = n
            exp_out[i] = _digits(n) - 1 - k
            ok_out[i] = True
            break


_POW10 = np.array([10 ** i for i in range(20)], dtype=np.uint64)


def shortest(values):
    """``(digits uint64, exponent int64, ok bool)`` per float32 value: the shortest
    round-trip decimal is ``digits`` with its first digit at ``10**exponent``."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    digits = np.zeros(values.shape[0], np.uint64)
    exps = np.zeros(values.shape[0], np.int64)
    ok = np.zeros(values.shape[0], np.bool_)
    _shortest_kernel(values, digits, exps, ok, _POW5)
    return digits, exps, ok


def rounded(values, p=7):
    """The same for the decimal rounded to ``p`` significant digits (as ``%.{p}g``)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    digits = np.zeros(values.shape[0], np.uint64)
    exps = np.zeros(values.shape[0], np.int64)
    ok = np.zeros(values.shape[0], np.bool_)
    _rounded_kernel(values, np.int64(p), digits, exps, ok, _POW5)
    return digits, exps, ok


# ----------------------------------------------------------------------------- spelling
LMPLZ, PRINTF_G = 0, 1


@numba.njit(cache=True)
def _layout(neg, n, e, style, p, out, o, buf, xd):
    """Write one number into out[o:] (or only measure it when out is empty); return its length.

    style LMPLZ: plain when -6 <= e < 21, else d.ddde-7 (no '+', no padding).
    style PRINTF_G: C's %.{p}g: scientific when e < -4 or e >= p, exponent sign and
    at least two digits (e-05).  ``buf`` (20 bytes) and ``xd`` (4) are scratch space.
    """
    nd = _digits(n)
    t = n
    for j in range(nd - 1, -1, -1):
        buf[j] = np.uint8(48 + t % np.uint64(10))
        t //= np.uint64(10)
    length = 0
    write = out.shape[0] > 0
    if neg:
        if write:
            out[o] = 45  # '-'
        length += 1
    plain = (-6 <= e < 21) if style == LMPLZ else (-4 <= e < p)
    if plain:
        if e < 0:
            for c in (48, 46):  # "0."
                if write:
                    out[o + length] = c
                length += 1
            for _ in range(-e - 1):
                if write:
                    out[o + length] = 48
                length += 1
            for j in range(nd):
                if write:
                    out[o + length] = buf[j]
                length += 1
        else:
            for j in range(max(nd, e + 1)):
                if j == e + 1:
                    if write:
                        out[o + length] = 46
                    length += 1
                if write:
                    out[o + length] = buf[j] if j < nd else 48
                length += 1
    else:
        if write:
            out[o + length] = buf[0]
        length += 1
        if nd > 1:
            if write:
                out[o + length] = 46
            length += 1
            for j in range(1, nd):
                if write:
                    out[o + length] = buf[j]
                length += 1
        if write:
            out[o + length] = 101  # 'e'
        length += 1
        x = e
        if x < 0:
            if write:
                out[o + length] = 45
            length += 1
            x = -x
        elif style == PRINTF_G:
            if write:
                out[o + length] = 43  # '+'
            length += 1
        nx = 0
        while True:
            xd[nx] = 48 + x % 10
            nx += 1
            x //= 10
            if x == 0:
                break
        if style == PRINTF_G and nx < 2:
            xd[nx] = 48
            nx += 1
        for j in range(nx - 1, -1, -1):
            if write:
                out[o + length] = xd[j]
            length += 1
    return length


@numba.njit(cache=True, inline="always")
def _length(neg, n, e, style, p):
    """The length :func:`_layout` gives the number (without writing it)."""
    nd = _digits(n)
    length = 1 if neg else 0
    plain = (-6 <= e < 21) if style == LMPLZ else (-4 <= e < p)
    if plain:
        if e < 0:
            return length + 2 + (-e - 1) + nd
        return length + max(nd, e + 1) + (1 if nd > e + 1 else 0)
    length += 1 + (nd if nd > 1 else 0) + 1  # d[.ddd] e
    x = e
    if x < 0:
        length += 1
        x = -x
    elif style == PRINTF_G:
        length += 1
    nx = 1
    while x >= 10:
        x //= 10
        nx += 1
    if style == PRINTF_G and nx < 2:
        nx = 2
    return length + nx


@numba.njit(parallel=True, cache=True, nogil=True)
def _spell_all(neg, digits, exps, style, p, offsets, pool):
    """Lengths into ``offsets`` (cumulative) when ``pool`` is empty, else the spellings."""
    N = digits.shape[0]
    if pool.shape[0] == 0:
        lens = np.empty(N, np.int64)
        for i in numba.prange(N):
            lens[i] = _length(neg[i], digits[i], exps[i], style, p)
        offsets[0] = 0
        for i in range(N):
            offsets[i + 1] = offsets[i] + lens[i]
        return
    n_chunks = min(N, 64)
    for c in numba.prange(n_chunks):
        buf = np.empty(20, np.uint8)
        xd = np.empty(4, np.uint8)
        for i in range(c * N // n_chunks, (c + 1) * N // n_chunks):
            _layout(neg[i], digits[i], exps[i], style, p, pool, offsets[i], buf, xd)


def spell(values, style=LMPLZ, p=7, special=None):
    """Byte spellings of float32 ``values``: ``(pool uint8, offsets int64)``;
    number i is ``pool[offsets[i]:offsets[i+1]]``.

    ``style`` LMPLZ spells the shortest round-trip decimal as lmplz prints it;
    PRINTF_G rounds to ``p`` digits as C's ``%.{p}g``.  ``special(v) -> str``
    spells what the kernels leave (zero, infinities, extreme magnitudes).
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    digits, exps, ok = shortest(values) if style == LMPLZ else rounded(values, p)
    neg = np.signbit(values)
    offsets = np.zeros(values.shape[0] + 1, np.int64)
    _spell_all(neg, digits, exps, style, np.int64(p), offsets, np.empty(0, np.uint8))
    pool = np.empty(offsets[-1], np.uint8)
    _spell_all(neg, digits, exps, style, np.int64(p), offsets, pool)
    left = np.flatnonzero(~ok)
    if left.size == 0:
        return pool, offsets
    # splice in the Python spellings of what the kernels left
    fallback = special or (lambda v: _python_spelling(v, style, p))
    pieces = [pool[offsets[i]:offsets[i + 1]].tobytes() for i in range(values.shape[0])]
    for i in left.tolist():
        pieces[i] = fallback(float(values[i])).encode()
    lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
    offsets = np.zeros(len(pieces) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(b"".join(pieces), np.uint8), offsets


def spell_distinct(values, style=LMPLZ, p=7, special=None):
    """Spell each distinct float32 value once: ``(pool, offsets, index of each value's
    spelling)``.  Zero and infinities go through :func:`spell` on their own: mixed in
    with the rest they would send every number through its slower Python splicing path."""
    from .lines import dedupe_u32
    uniq, inv = dedupe_u32(np.ascontiguousarray(values, dtype=np.float32).view(np.uint32))
    uniq = uniq.view(np.float32)
    plain = (uniq != 0) & np.isfinite(uniq)
    first, rest = np.flatnonzero(plain), np.flatnonzero(~plain)
    pool, off = spell(uniq[first], style, p, special)
    if rest.size:
        pool2, off2 = spell(uniq[rest], style, p, special)
        pool, off = np.concatenate([pool, pool2]), np.concatenate([off, off2[1:] + off[-1]])
    where = np.empty(uniq.shape[0], np.int64)
    where[first] = np.arange(first.shape[0])
    where[rest] = first.shape[0] + np.arange(rest.shape[0])
    return pool, off, where[inv]


def _python_spelling(v, style, p):
    if style == PRINTF_G:
        return f"%.{p}g" % v
    if v == 0:
        return "-0" if np.signbit(v) else "0"
    if np.isinf(v):
        return "-inf" if v < 0 else "inf"
    sci = np.format_float_scientific(np.float32(v), unique=True, trim="-")
    mantissa, _, exp = sci.partition("e")
    if -6 <= int(exp) < 21:
        return np.format_float_positional(np.float32(v), unique=True, trim="-")
    return f"{mantissa}e{int(exp)}"


def spell_strings(values, style=LMPLZ, p=7) -> list[str]:
    """The spellings as Python strings (for tests and small outputs)."""
    pool, offsets = spell(values, style, p)
    raw = pool.tobytes()
    return [raw[a:b].decode() for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
