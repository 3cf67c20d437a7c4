"""ARPA parsing kernel: one pass over the bytes of an n-gram section.

The reader (arpa_reader.py) finds the section boundaries in Python and hands
each section's byte range to :func:`parse_section`, which splits lines and
fields, parses the numbers and maps words to ids through an open-addressing
table of word hashes (words are compared byte for byte, so a hash collision
cannot merge two words).  Strings never leave the buffer: a word is its
``(start, end)`` byte range; Python decodes only the vocabulary.

Numbers are parsed exactly when the decimal mantissa has at most 19 digits,
is below 2**53 and the power of ten is at most 22 (one IEEE multiply or
divide is then the correctly rounded double, as strtod gives); the rare other
numbers are flagged and re-parsed in Python with ``float()``.
"""
import numba
import numpy as np

# status codes returned by parse_section (0 = fine)
OK, BAD_NUMBER, FEW_FIELDS, MANY_FIELDS, TABLE_FULL = 0, 1, 2, 3, 4

_FNV0 = np.uint64(0xCBF29CE484222325)
_FNVP = np.uint64(0x100000001B3)
_POW10 = np.array([10.0 ** i for i in range(23)], dtype=np.float64)


@numba.njit(cache=True, inline="always")
def _is_space(c):
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


@numba.njit(cache=True)
def parse_number(buf, s, e, pow10):
    """``(value, status)`` for ``buf[s:e]``; status 0 exact, 1 needs float(), -1 invalid."""
    i = s
    neg = False
    if i < e and (buf[i] == 45 or buf[i] == 43):  # '-' '+'
        neg = buf[i] == 45
        i += 1
    if i < e and (buf[i] == 105 or buf[i] == 73):  # 'inf' / 'Inf' / 'infinity'
        return (-np.inf if neg else np.inf), 1
    mant = np.uint64(0)
    digits = 0
    exp10 = 0
    seen = False
    while i < e and 48 <= buf[i] <= 57:
        seen = True
        if mant == 0 and buf[i] == 48:
            i += 1
            continue
        if digits < 19:
            mant = mant * np.uint64(10) + np.uint64(buf[i] - 48)
            digits += 1
        else:
            exp10 += 1
            digits += 1
        i += 1
    if i < e and buf[i] == 46:  # '.'
        i += 1
        while i < e and 48 <= buf[i] <= 57:
            seen = True
            if not (mant == 0 and buf[i] == 48):
                if digits < 19:
                    mant = mant * np.uint64(10) + np.uint64(buf[i] - 48)
                    digits += 1
                else:
                    digits = 99  # too long: only float() rounds it right
            exp10 -= 1
            i += 1
    if not seen:
        return 0.0, -1
    if i < e and (buf[i] == 101 or buf[i] == 69):  # 'e' 'E'
        i += 1
        eneg = False
        if i < e and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if i >= e:
            return 0.0, -1
        ev = 0
        while i < e and 48 <= buf[i] <= 57:
            if ev < 100000:
                ev = ev * 10 + (buf[i] - 48)
            i += 1
        exp10 += -ev if eneg else ev
    if i != e:
        return 0.0, -1
    if digits > 19 or mant > np.uint64(9007199254740992) or exp10 > 22 or exp10 < -22:
        return 0.0, 1
    v = np.float64(mant)
    if exp10 >= 0:
        v = v * pow10[exp10]
    else:
        v = v / pow10[-exp10]
    return (-v if neg else v), 0


@numba.njit(cache=True, inline="always")
def _hash_bytes(buf, s, e):
    h = _FNV0
    for i in range(s, e):
        h = (h ^ np.uint64(buf[i])) * _FNVP
    h ^= h >> np.uint64(29)
    return h


@numba.njit(cache=True)
def word_id(buf, s, e, wkeys, wvals, wstart, wend, nwords):
    """Id of the word ``buf[s:e]``, inserting it when new (``nwords[0]`` grows)."""
    h = _hash_bytes(buf, s, e)
    mask = wkeys.shape[0] - 1
    slot = np.int64(h & np.uint64(mask))
    n = e - s
    while True:
        v = wvals[slot]
        if v < 0:
            v = nwords[0]
            wvals[slot] = v
            wkeys[slot] = h
            wstart[v] = s
            wend[v] = e
            nwords[0] = v + 1
            return v
        if wkeys[slot] == h and wend[v] - wstart[v] == n:
            a = wstart[v]
            same = True
            for t in range(n):
                if buf[a + t] != buf[s + t]:
                    same = False
                    break
            if same:
                return v
        slot = (slot + 1) & mask


@numba.njit(cache=True)
def parse_section(buf, start, end, n, ids, lp, bo, has_bo, slow, wkeys, wvals, wstart, wend,
                  nwords, pow10):
    """Parse the n-gram lines of ``buf[start:end]`` (order ``n``).

    Blank lines and lines starting with ``#`` are skipped; fields are split on
    any whitespace.  Writes rows into the preallocated outputs and returns
    ``(rows, n_slow, status, error_pos)``: ``slow`` receives the byte ranges of
    numbers to re-parse in Python as ``(row, field, start, end)`` quadruples
    (field 0 = prob, 1 = back-off).  Stops at the first bad line.
    """
    rows = 0
    n_slow = 0
    pos = start
    cap_words = wkeys.shape[0] // 2
    while pos < end:
        le = pos
        while le < end and buf[le] != 10:
            le += 1
        p = pos
        line_start = pos
        pos = le + 1
        while p < le and _is_space(buf[p]):
            p += 1
        if p >= le or buf[p] == 35:  # blank or '#'
            continue
        field = 0
        while True:
            while p < le and _is_space(buf[p]):
                p += 1
            if p >= le:
                break
            q = p
            while q < le and not _is_space(buf[q]):
                q += 1
            if field == 0 or field == n + 1:
                v, st = parse_number(buf, p, q, pow10)
                if st < 0:
                    return rows, n_slow, BAD_NUMBER, p
                if st > 0:
                    slow[4 * n_slow] = rows
                    slow[4 * n_slow + 1] = 0 if field == 0 else 1
                    slow[4 * n_slow + 2] = p
                    slow[4 * n_slow + 3] = q
                    n_slow += 1
                if field == 0:
                    lp[rows] = np.float32(v)
                else:
                    bo[rows] = np.float32(v)
            elif field <= n:
                if nwords[0] >= cap_words:
                    return rows, n_slow, TABLE_FULL, line_start
                ids[rows * n + field - 1] = word_id(buf, p, q, wkeys, wvals, wstart, wend, nwords)
            else:
                return rows, n_slow, MANY_FIELDS, p
            field += 1
            p = q
        if field <= n:
            return rows, n_slow, FEW_FIELDS, line_start
        has_bo[rows] = field == n + 2
        if field == n + 1:
            bo[rows] = np.float32(0.0)
        rows += 1
    return rows, n_slow, OK, end


@numba.njit(cache=True)
def rehash_words(buf, wstart, wend, nwords, cap):
    """A fresh word table of ``cap`` slots holding words ``0..nwords-1``."""
    wkeys = np.zeros(cap, dtype=np.uint64)
    wvals = np.full(cap, -1, dtype=np.int32)
    mask = cap - 1
    for v in range(nwords):
        h = _hash_bytes(buf, wstart[v], wend[v])
        slot = np.int64(h & np.uint64(mask))
        while wvals[slot] >= 0:
            slot = (slot + 1) & mask
        wvals[slot] = v
        wkeys[slot] = h
    return wkeys, wvals
