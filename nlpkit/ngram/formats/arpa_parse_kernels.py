"""ARPA parsing kernel: one pass over the bytes of an n-gram section.

The reader (arpa_reader.py) finds the section boundaries (:func:`backslash_lines`)
and hands each section's byte range to :func:`parse_section` (or, cut at line
ends and counted by :func:`count_newlines`, to :func:`parse_section_parallel`),
which splits lines and fields, parses the numbers and maps words to ids through an open-addressing
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
OK, BAD_NUMBER, FEW_FIELDS, MANY_FIELDS, TABLE_FULL, SLOW_FULL, ROWS_FULL, NEW_WORD = range(8)

_FNV0 = np.uint64(0xCBF29CE484222325)
_FNVP = np.uint64(0x100000001B3)
_POW10 = np.array([10.0 ** i for i in range(23)], dtype=np.float64)


@numba.njit(cache=True, inline="always")
def _is_space(c):
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def word_id(buf, s, e, wslots, wstart, nwords, insert):
    """Id of the word ``buf[s:e]``; a new word is inserted (``nwords[0]`` grows)
    when ``insert``, else -1 is returned (read-only, so threads may share it).

    A slot is two int64: the word's hash, then ``(id + 1) << 32 | length``, so
    a probe reads one cache line.  Inserting compares bytes on a full match;
    read-only lookups trust hash + length unless two vocabulary words were
    found to share a hash (``nwords[1]``): a word *missing* from the
    vocabulary could then in theory (odds about 2**-64) pass for a known one.
    """
    h = np.int64(_hash_bytes(buf, s, e))
    mask = wslots.shape[0] // 2 - 1
    slot = h & mask
    n = e - s
    while True:
        meta = wslots[2 * slot + 1]
        if meta == 0:
            if not insert:
                return -1
            v = nwords[0]
            wslots[2 * slot] = h
            wslots[2 * slot + 1] = ((v + 1) << 32) | n
            wstart[v] = s
            nwords[0] = v + 1
            return v
        if wslots[2 * slot] == h and (meta & 0xFFFFFFFF) == n:
            v = (meta >> 32) - 1
            if not insert and nwords[1] == 0:
                # no two words of the vocabulary share a 64-bit hash (checked as
                # they were inserted), so hash + length identify a known word
                return v
            a = wstart[v]
            same = True
            for t in range(n):
                if buf[a + t] != buf[s + t]:
                    same = False
                    break
            if same:
                return v
            nwords[1] = 1  # a true hash collision: compare bytes from now on
        slot = (slot + 1) & mask


@numba.njit(cache=True)
def _parse_range(buf, start, end, n, ids, lp, bo, has_bo, r0, cap_rows, slow, wslots, wstart,
                 nwords, pow10, insert):
    """Parse lines in ``buf[start:end]`` into rows ``r0 ..< r0+cap_rows`` of the outputs.

    Returns ``(rows, n_slow, status, error_pos)``; stops at the first problem.
    """
    rows = 0
    n_slow = 0
    pos = start
    cap_words = wslots.shape[0] // 4
    cap_slow = slow.shape[0] // 4
    while pos < end:
        line_start = pos
        p = pos
        while p < end and _is_space(buf[p]):
            p += 1
        if p >= end:
            break
        if buf[p] == 10 or buf[p] == 35:  # blank line, or a '#' comment
            while p < end and buf[p] != 10:
                p += 1
            pos = p + 1
            continue
        if rows >= cap_rows:
            return rows, n_slow, ROWS_FULL, line_start
        r = r0 + rows
        field = 0
        while p < end and buf[p] != 10:
            q = p
            while q < end and buf[q] != 10 and not _is_space(buf[q]):
                q += 1
            if field == 0 or field == n + 1:
                v, st = parse_number(buf, p, q, pow10)
                if st < 0:
                    return rows, n_slow, BAD_NUMBER, p
                if st > 0:
                    if n_slow >= cap_slow:
                        return rows, n_slow, SLOW_FULL, line_start
                    slow[4 * n_slow] = r
                    slow[4 * n_slow + 1] = 0 if field == 0 else 1
                    slow[4 * n_slow + 2] = p
                    slow[4 * n_slow + 3] = q
                    n_slow += 1
                if field == 0:
                    lp[r] = np.float32(v)
                else:
                    bo[r] = np.float32(v)
            elif field <= n:
                if insert and nwords[0] >= cap_words:
                    return rows, n_slow, TABLE_FULL, line_start
                wid = word_id(buf, p, q, wslots, wstart, nwords, insert)
                if wid < 0:
                    return rows, n_slow, NEW_WORD, line_start
                ids[r * n + field - 1] = wid
            else:
                return rows, n_slow, MANY_FIELDS, p
            field += 1
            p = q
            while p < end and buf[p] != 10 and _is_space(buf[p]):
                p += 1
        pos = p + 1
        if field <= n:
            return rows, n_slow, FEW_FIELDS, line_start
        has_bo[r] = field == n + 2
        if field == n + 1:
            bo[r] = np.float32(0.0)
        rows += 1
    return rows, n_slow, OK, end


@numba.njit(cache=True)
def parse_section(buf, start, end, n, ids, lp, bo, has_bo, slow, wslots, wstart, nwords, pow10):
    """Parse the n-gram lines of ``buf[start:end]`` (order ``n``), one thread.

    Blank lines and lines starting with ``#`` are skipped; fields are split on
    any whitespace.  Writes rows into the preallocated outputs and returns
    ``(rows, n_slow, status, error_pos)``: ``slow`` receives the byte ranges of
    numbers to re-parse in Python as ``(row, field, start, end)`` quadruples
    (field 0 = prob, 1 = back-off).  New words are added to the word table.
    """
    return _parse_range(buf, start, end, n, ids, lp, bo, has_bo, 0, lp.shape[0], slow, wslots,
                        wstart, nwords, pow10, True)


@numba.njit(parallel=True, cache=True)
def parse_section_parallel(buf, bounds, row_off, n, ids, lp, bo, has_bo, wslots, wstart, nwords,
                           pow10):
    """Parse chunks ``bounds[c]..bounds[c+1]`` (cut at line ends) in parallel.

    Chunk ``c`` writes rows from ``row_off[c]`` (room for its line count).
    Words are only looked up, never added, and no number may need the slow
    path: any chunk that is not plain returns a non-zero status and the caller
    falls back to :func:`parse_section`.  Returns rows per chunk and statuses.
    """
    n_chunks = bounds.shape[0] - 1
    rows = np.zeros(n_chunks, dtype=np.int64)
    status = np.zeros(n_chunks, dtype=np.int64)
    no_slow = np.empty(0, dtype=np.int64)
    for c in numba.prange(n_chunks):
        r, _ns, st, _pos = _parse_range(buf, bounds[c], bounds[c + 1], n, ids, lp, bo, has_bo,
                                        row_off[c], row_off[c + 1] - row_off[c], no_slow, wslots,
                                        wstart, nwords, pow10, False)
        rows[c] = r
        status[c] = st
    return rows, status


@numba.njit(cache=True)
def rehash_words(buf, wstart, wlen, nwords, cap):
    """A fresh word table of ``cap`` slots holding words ``0..nwords-1``."""
    wslots = np.zeros(2 * cap, dtype=np.int64)
    mask = cap - 1
    for v in range(nwords):
        h = np.int64(_hash_bytes(buf, wstart[v], wstart[v] + wlen[v]))
        slot = h & mask
        while wslots[2 * slot + 1] != 0:
            slot = (slot + 1) & mask
        wslots[2 * slot] = h
        wslots[2 * slot + 1] = ((v + 1) << 32) | wlen[v]
    return wslots


@numba.njit(cache=True)
def word_lengths(wslots, nwords):
    """Byte length of each word id, read back from the table."""
    out = np.zeros(nwords, dtype=np.int64)
    for slot in range(wslots.shape[0] // 2):
        meta = wslots[2 * slot + 1]
        if meta != 0:
            out[(meta >> 32) - 1] = meta & 0xFFFFFFFF
    return out


@numba.njit(parallel=True, cache=True)
def count_newlines(buf, bounds):
    """Newlines in each chunk ``buf[bounds[c]:bounds[c+1]]``, chunks on all threads."""
    k = bounds.shape[0] - 1
    out = np.zeros(k, dtype=np.int64)
    for c in numba.prange(k):
        s = 0
        for i in range(bounds[c], bounds[c + 1]):
            s += buf[i] == 10
        out[c] = s
    return out


@numba.njit(parallel=True, cache=True)
def backslash_lines(buf, start, end):
    """Sorted positions ``p`` in ``[start, end)`` of lines that start with a backslash
    (``buf[p - 1]`` is a newline), found on all threads; ``start`` must be >= 1."""
    n_chunks = 64
    counts = np.zeros(n_chunks, dtype=np.int64)
    size = end - start
    for c in numba.prange(n_chunks):  # backslashes are rare: count them (a vectorized loop)
        s = 0
        for i in range(start + size * c // n_chunks, start + size * (c + 1) // n_chunks):
            s += buf[i] == 92
        counts[c] = s
    k = 0
    for c in range(n_chunks):  # then rescan the few chunks that hold one
        if counts[c]:
            for i in range(start + size * c // n_chunks, start + size * (c + 1) // n_chunks):
                if buf[i] == 92 and buf[i - 1] == 10:
                    k += 1
    out = np.empty(k, dtype=np.int64)
    k = 0
    for c in range(n_chunks):
        if counts[c]:
            for i in range(start + size * c // n_chunks, start + size * (c + 1) // n_chunks):
                if buf[i] == 92 and buf[i - 1] == 10:
                    out[k] = i
                    k += 1
    return out
