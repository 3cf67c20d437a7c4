"""Kernels over raw bytes: text into word ids, SRILM's way and lmplz's way.

Text never enters these kernels as ``str``: they see ``uint8`` buffers plus
offsets, and an open-addressing table of word ids keyed by an FNV-1a hash of
the word's bytes.  The word bytes live in a pool (``pool``, ``woff``, ``wlen``)
so the vocabulary can be decoded once at the end.  (Output lines are assembled
in :mod:`nlpkit.ngram.formats.lines`.)

Tokenizing follows SRILM's ``File::getline`` and ``Vocab::parseWords``
(SRILM-KATZ.md §1-2): tokens are split on space, TAB, CR and LF only; lines
that are entirely whitespace or start with ``##`` are skipped; ``<s>`` is
prepended unless the line's first token is ``<s>`` and ``</s>`` appended
unless its last token is ``</s>``.

``encode_lmplz_chunk`` tokenizes as KenLM's ``lmplz`` instead (LMPLZ-KN.md §1):
tokens are split on space, TAB, CR, LF and NUL (``\v`` and ``\f`` belong to
tokens); every line is a sentence, empty ones included; a last line without
LF gets no ``</s>``; the literal specials are refused or dropped.
"""
import numba
import numpy as np

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_LOW32 = np.uint64(0xFFFFFFFF)

# status codes of encode_chunk
OK = 0
NEED_ROOM = 1  # the word table or pool is too small: grow it and call again
BAD_COUNT = 2  # count-file mode: a line whose last token is not a count
SPECIAL = 3  # lmplz mode: a literal <s>, </s> or <unk> in the text

# The word table: ``slots`` (a power of two, uint64) holds ``hash's low 32 bits << 32 |
# id + 1`` (0: empty), so a probe reads one word; the slot is chosen by other bits.  Word ``id``'s bytes are ``pool[woff[id]:woff[id + 1]]`` (words are appended in id
# order); ``state`` = [words, pool bytes used].  The table is kept at most 3/4 full.


@numba.njit(cache=True, inline="always")
def _is_sep(b):
    return b == 32 or b == 9 or b == 13 or b == 10


@numba.njit(cache=True, inline="always")
def _home(h, slots):
    """The slot a hash starts probing at (the product's bits 32 and up; the low 32 bits
    of the hash itself are the slot's tag)."""
    mask = np.uint64(slots.shape[0] - 1)
    return np.int64(((h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask)


@numba.njit(cache=True)
def hash_span(buf, s, e):
    h = _FNV_OFFSET
    for i in range(s, e):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@numba.njit(cache=True, inline="always")
def _find_word(buf, i, j, h, slots, pool, woff):
    """``(slot, id)`` of the word ``buf[i:j]`` (FNV-1a hash ``h``): id -1 and a free slot if absent."""
    mask = slots.shape[0] - 1
    k = _home(h, slots)
    tag = h & _LOW32
    n = j - i
    while True:
        e = slots[k]
        if e == 0:
            return k, np.int64(-1)
        if (e >> np.uint64(32)) == tag:
            wid = np.int64(e & _LOW32) - 1
            o = woff[wid]
            if woff[wid + 1] - o == n:
                same = True
                for q in range(n):
                    if pool[o + q] != buf[i + q]:
                        same = False
                        break
                if same:
                    return k, wid
        k = (k + 1) & mask


@numba.njit(cache=True, inline="always")
def _has_room(length, slots, pool, woff, state):
    """Whether one more word of ``length`` bytes fits (the table stays at most 3/4 full)."""
    return (4 * (state[0] + 1) <= 3 * slots.shape[0] and state[1] + length <= pool.shape[0]
            and state[0] + 2 <= woff.shape[0])


@numba.njit(cache=True, inline="always")
def _add_word(buf, i, j, h, k, slots, pool, woff, state):
    """Add ``buf[i:j]`` at free slot ``k``; returns its id (ids are given in order of appearance)."""
    wid = state[0]
    used = state[1]
    for q in range(j - i):
        pool[used + q] = buf[i + q]
    slots[k] = ((h & _LOW32) << np.uint64(32)) | np.uint64(wid + 1)
    state[0] = wid + 1
    state[1] = used + (j - i)
    woff[wid + 1] = used + (j - i)
    return np.int64(wid)


@numba.njit(cache=True)
def intern_span(buf, s, e, slots, pool, woff, state):
    """Id of ``buf[s:e]``, adding it as a new word if absent (the caller guarantees room)."""
    h = hash_span(buf, s, e)
    k, wid = _find_word(buf, s, e, h, slots, pool, woff)
    if wid >= 0:
        return wid
    return _add_word(buf, s, e, h, k, slots, pool, woff, state)


@numba.njit(cache=True)
def intern_words(src, soff, slots, pool, woff, state, out):
    """Ids of the words ``src[soff[i]:soff[i + 1]]`` into ``out``, adding those absent in
    their order (the caller guarantees room)."""
    for i in range(soff.shape[0] - 1):
        out[i] = intern_span(src, soff[i], soff[i + 1], slots, pool, woff, state)


@numba.njit(cache=True)
def rehash(slots, pool, woff, n_words):
    """Fill a fresh (all 0) ``slots`` table with words ``0..n_words-1``."""
    mask = slots.shape[0] - 1
    for wid in range(n_words):
        h = hash_span(pool, woff[wid], woff[wid + 1])
        k = _home(h, slots)
        while slots[k] != 0:
            k = (k + 1) & mask
        slots[k] = ((h & _LOW32) << np.uint64(32)) | np.uint64(wid + 1)


@numba.njit(cache=True)
def encode_chunk(buf, pos, out, n_out, offsets, n_sent, closed, unk_id, bos_id, eos_id,
                 slots, pool, woff, state, count_mode, counts):
    """Encode the lines of ``buf`` from byte ``pos`` on into ``out``/``offsets``.

    Returns ``(status, pos, n_out, n_sent)``: ``NEED_ROOM`` stops at the start
    of a line whose words do not fit into the table or pool; the caller grows
    them and calls again from the returned position (words of that line added
    so far stay, so first-appearance order is kept).  ``closed`` maps unknown
    words to ``unk_id`` instead of adding them.

    ``count_mode``: the lines are an SRILM count file (``w1 … wn<TAB>count``):
    the last token of each line is parsed into ``counts[line]`` and no
    ``<s>``/``</s>`` are added; a count that is not a non-negative integer
    returns ``BAD_COUNT`` with ``pos`` at the start of the line.
    ``out`` needs room for the tokens plus 2 per line.
    """
    n = buf.shape[0]
    while pos < n:
        if pos + 1 < n and buf[pos] == 35 and buf[pos + 1] == 35:  # '##' comment line
            while pos < n and buf[pos] != 10:
                pos += 1
            pos += 1
            continue
        line_start = pos
        start_out = n_out
        if not count_mode:
            n_out += 1  # room for <s>, dropped below if the line starts with <s>
        i = pos
        stop = False
        last_s = 0
        last_e = 0
        while True:
            # skip separators up to the next token or the end of the line
            while i < n and buf[i] != 10 and _is_sep(buf[i]):
                i += 1
            if i >= n or buf[i] == 10:
                break
            j = i
            h = _FNV_OFFSET
            while j < n and not _is_sep(buf[j]):
                h = (h ^ np.uint64(buf[j])) * _FNV_PRIME
                j += 1
            k, wid = _find_word(buf, i, j, h, slots, pool, woff)
            if wid < 0:
                if closed or count_mode and _is_last_token(buf, j, n):
                    wid = unk_id  # (in count mode the last token is the count, not a word)
                elif not _has_room(j - i, slots, pool, woff, state):
                    stop = True
                    break
                else:
                    wid = _add_word(buf, i, j, h, k, slots, pool, woff, state)
            out[n_out] = wid
            n_out += 1
            last_s = i
            last_e = j
            i = j
        if stop:
            return NEED_ROOM, line_start, start_out, n_sent
        pos = i + 1  # past the LF
        if count_mode:
            if n_out == start_out:  # blank line
                continue
            c = np.int64(0)
            for q in range(last_s, last_e):
                d = np.int64(buf[q]) - 48
                if d < 0 or d > 9:
                    return BAD_COUNT, line_start, start_out, n_sent
                c = c * 10 + d
            n_out -= 1  # the count is not a word
            if n_out == start_out:
                return BAD_COUNT, line_start, start_out, n_sent
            counts[n_sent] = c
            n_sent += 1
            offsets[n_sent] = n_out
            continue
        if n_out == start_out + 1:  # whitespace only
            n_out = start_out
            continue
        if out[start_out + 1] == bos_id:
            for q in range(start_out + 1, n_out):
                out[q - 1] = out[q]
            n_out -= 1
        else:
            out[start_out] = bos_id
        if out[n_out - 1] != eos_id:
            out[n_out] = eos_id
            n_out += 1
        n_sent += 1
        offsets[n_sent] = n_out
    return OK, pos, n_out, n_sent


@numba.njit(cache=True, inline="always")
def _is_lmplz_sep(b):
    return b == 32 or b == 9 or b == 13 or b == 10 or b == 0


@numba.njit(cache=True)
def encode_lmplz_chunk(buf, pos, out, n_out, offsets, n_sent, skip_specials, n_specials,
                       bos_id, eos_id, slots, pool, woff, state):
    """Encode the lines of ``buf`` from byte ``pos`` on as lmplz reads them.

    Every line becomes ``<s> w1 … wk </s>`` (an empty line ``<s> </s>``); the
    line after the last LF, if ``buf`` does not end in one, gets no ``</s>``.
    Words with an id below ``n_specials`` (the table's ``<unk> <s> </s>``) are
    dropped with ``skip_specials``; otherwise the kernel returns ``SPECIAL``
    with ``pos`` at that token.  ``NEED_ROOM`` and the returned state are as in
    :func:`encode_chunk`.  ``out`` needs room for the tokens plus 2 per line.
    """
    n = buf.shape[0]
    while pos < n:
        line_start = pos
        start_out = n_out
        out[n_out] = bos_id
        n_out += 1
        i = pos
        while True:
            while i < n and buf[i] != 10 and _is_lmplz_sep(buf[i]):
                i += 1
            if i >= n or buf[i] == 10:
                break
            j = i
            h = _FNV_OFFSET
            while j < n and not _is_lmplz_sep(buf[j]):
                h = (h ^ np.uint64(buf[j])) * _FNV_PRIME
                j += 1
            k, wid = _find_word(buf, i, j, h, slots, pool, woff)
            if wid < 0:
                if not _has_room(j - i, slots, pool, woff, state):
                    return NEED_ROOM, line_start, start_out, n_sent
                wid = _add_word(buf, i, j, h, k, slots, pool, woff, state)
            if wid < n_specials:
                if not skip_specials:
                    return SPECIAL, i, start_out, n_sent
            else:
                out[n_out] = wid
                n_out += 1
            i = j
        if i < n:  # the line ends in LF
            out[n_out] = eos_id
            n_out += 1
        pos = min(i + 1, n)
        n_sent += 1
        offsets[n_sent] = n_out
    return OK, pos, n_out, n_sent


@numba.njit(cache=True)
def _is_last_token(buf, j, n):
    """True when only separators follow position ``j`` up to the end of its line."""
    while j < n and buf[j] != 10:
        if not _is_sep(buf[j]):
            return False
        j += 1
    return True


@numba.njit(cache=True)
def prefix_keys(pool, woff, n_words):
    """The first 8 bytes of every word as a big-endian uint64 (zero-padded): comparing the
    keys compares the words' first 8 bytes."""
    out = np.zeros(n_words, np.uint64)
    for w in range(n_words):
        a = woff[w]
        m = min(8, woff[w + 1] - a)
        k = np.uint64(0)
        for q in range(8):
            k = k << np.uint64(8)
            if q < m:
                k |= np.uint64(pool[a + q])
        out[w] = k
    return out


@numba.njit(cache=True, inline="always")
def _bytes_less(pool, woff, a, b):
    """Word ``a`` before word ``b`` in byte-wise order (a prefix comes first)."""
    pa, ea = woff[a], woff[a + 1]
    pb, eb = woff[b], woff[b + 1]
    while pa < ea and pb < eb:
        x = pool[pa]
        y = pool[pb]
        if x != y:
            return x < y
        pa += 1
        pb += 1
    return (ea - woff[a]) < (eb - woff[b])


@numba.njit(cache=True)
def sort_ties(order, keys, pool, woff):
    """Put each run of words with equal 8-byte prefixes (in ``order``, sorted by ``keys``)
    in byte-wise order of their whole bytes: insertion sort for short runs, a merge sort
    for long ones (a suffix like ``_17`` on many words makes runs of thousands)."""
    n = order.shape[0]
    tmp = np.empty(0, order.dtype)
    i = 0
    while i < n:
        j = i + 1
        k = keys[order[i]]
        while j < n and keys[order[j]] == k:
            j += 1
        if j - i <= 24:
            for a in range(i + 1, j):
                v = order[a]
                b = a - 1
                while b >= i and _bytes_less(pool, woff, v, order[b]):
                    order[b + 1] = order[b]
                    b -= 1
                order[b + 1] = v
        else:
            if tmp.shape[0] < j - i:
                tmp = np.empty(j - i, order.dtype)
            _merge_sort(order, i, j, tmp, pool, woff)
        i = j


@numba.njit(cache=True)
def _merge_sort(order, lo, hi, tmp, pool, woff):
    """Bottom-up merge sort of ``order[lo:hi]`` by the words' bytes (stable)."""
    m = hi - lo
    width = 1
    src = order[lo:hi]
    dst = tmp[:m]
    while width < m:
        for a in range(0, m, 2 * width):
            mid = min(a + width, m)
            b = min(a + 2 * width, m)
            x, y, o = a, mid, a
            while x < mid and y < b:
                if _bytes_less(pool, woff, src[y], src[x]):
                    dst[o] = src[y]
                    y += 1
                else:
                    dst[o] = src[x]
                    x += 1
                o += 1
            while x < mid:
                dst[o] = src[x]
                x += 1
                o += 1
            while y < b:
                dst[o] = src[y]
                y += 1
                o += 1
        src, dst = dst, src
        width *= 2
    if src is not order[lo:hi]:
        for q in range(m):
            order[lo + q] = src[q]


@numba.njit(cache=True)
def gather_words(pool, woff, order, off):
    """The bytes of words ``order`` laid end to end (their offsets are ``off``)."""
    out = np.empty(off[-1], np.uint8)
    for k in range(order.shape[0]):
        a = woff[order[k]]
        o = off[k]
        for q in range(off[k + 1] - o):
            out[o + q] = pool[a + q]
    return out


@numba.njit(cache=True)
def members(pool, woff, n_words, slots, spool, swoff):
    """Per word of a vocabulary (``pool``/``woff``): is it in the small table ``slots``/
    ``spool``/``swoff`` (another vocabulary's lookup table)?"""
    out = np.zeros(n_words, np.bool_)
    for w in range(n_words):
        a, b = woff[w], woff[w + 1]
        h = hash_span(pool, a, b)
        _, wid = _find_word(pool, a, b, h, slots, spool, swoff)
        out[w] = wid >= 0
    return out
