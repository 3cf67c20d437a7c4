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

# status codes of encode_chunk
OK = 0
NEED_ROOM = 1  # the word table or pool is too small: grow it and call again
BAD_COUNT = 2  # count-file mode: a line whose last token is not a count
SPECIAL = 3  # lmplz mode: a literal <s>, </s> or <unk> in the text


@numba.njit(cache=True, inline="always")
def _is_sep(b):
    return b == 32 or b == 9 or b == 13 or b == 10


@numba.njit(cache=True)
def hash_span(buf, s, e):
    h = _FNV_OFFSET
    for i in range(s, e):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@numba.njit(cache=True)
def _find_slot(buf, s, e, h, slots, hashes, pool, woff, wlen):
    """Slot of the word ``buf[s:e]``: its id if present, else ``-1 - slot`` of a free slot."""
    mask = slots.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    n = e - s
    while True:
        wid = slots[i]
        if wid < 0:
            return -1 - i
        if hashes[wid] == h and wlen[wid] == n:
            o = woff[wid]
            same = True
            for k in range(n):
                if pool[o + k] != buf[s + k]:
                    same = False
                    break
            if same:
                return np.int64(wid)
        i = (i + 1) & mask


@numba.njit(cache=True)
def intern_span(buf, s, e, slots, hashes, pool, woff, wlen, state):
    """Id of ``buf[s:e]``, adding it as a new word if absent.

    ``state`` = [number of words, bytes used in pool]; the caller guarantees room.
    """
    h = hash_span(buf, s, e)
    r = _find_slot(buf, s, e, h, slots, hashes, pool, woff, wlen)
    if r >= 0:
        return r
    wid = state[0]
    used = state[1]
    for k in range(e - s):
        pool[used + k] = buf[s + k]
    woff[wid] = used
    wlen[wid] = e - s
    hashes[wid] = h
    slots[-1 - r] = wid
    state[0] = wid + 1
    state[1] = used + (e - s)
    return wid


@numba.njit(cache=True)
def rehash(slots, hashes, n_words):
    """Fill a fresh (all -1) ``slots`` table with words ``0..n_words-1``."""
    mask = slots.shape[0] - 1
    for wid in range(n_words):
        i = np.int64(hashes[wid] & np.uint64(mask))
        while slots[i] >= 0:
            i = (i + 1) & mask
        slots[i] = wid


@numba.njit(cache=True)
def encode_chunk(buf, pos, out, n_out, offsets, n_sent, closed, unk_id, bos_id, eos_id,
                 slots, hashes, pool, woff, wlen, state, count_mode, counts):
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
            k, wid = _find_word(buf, i, j, h, slots, hashes, pool, woff, wlen)
            if wid < 0:
                if closed or count_mode and _is_last_token(buf, j, n):
                    wid = unk_id  # (in count mode the last token is the count, not a word)
                elif not _has_room(j - i, slots, pool, state):
                    stop = True
                    break
                else:
                    wid = _add_word(buf, i, j, h, k, slots, hashes, pool, woff, wlen, state)
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


@numba.njit(cache=True, inline="always")
def _find_word(buf, i, j, h, slots, hashes, pool, woff, wlen):
    """``(slot, id)`` of the word ``buf[i:j]`` (FNV-1a hash ``h``): id -1 and its free slot if absent."""
    mask = slots.shape[0] - 1
    k = np.int64(h & np.uint64(mask))
    while True:
        cand = slots[k]
        if cand < 0:
            return k, np.int64(-1)
        if hashes[cand] == h and wlen[cand] == j - i:
            o = woff[cand]
            same = True
            for q in range(j - i):
                if pool[o + q] != buf[i + q]:
                    same = False
                    break
            if same:
                return k, np.int64(cand)
        k = (k + 1) & mask


@numba.njit(cache=True, inline="always")
def _has_room(length, slots, pool, state):
    """Whether one more word of ``length`` bytes fits (the table stays at most half full)."""
    return state[0] + 1 <= slots.shape[0] // 2 and state[1] + length <= pool.shape[0]


@numba.njit(cache=True, inline="always")
def _add_word(buf, i, j, h, k, slots, hashes, pool, woff, wlen, state):
    """Add ``buf[i:j]`` at free slot ``k``; returns its id (ids are given in order of appearance)."""
    wid = state[0]
    used = state[1]
    for q in range(j - i):
        pool[used + q] = buf[i + q]
    woff[wid] = used
    wlen[wid] = j - i
    hashes[wid] = h
    slots[k] = wid
    state[0] = wid + 1
    state[1] = used + (j - i)
    return np.int64(wid)


@numba.njit(cache=True, inline="always")
def _lookup_or_add(buf, i, j, h, slots, hashes, pool, woff, wlen, state):
    """Id of the word ``buf[i:j]`` (FNV-1a hash ``h``), added if new; -1 if there is no room."""
    k, wid = _find_word(buf, i, j, h, slots, hashes, pool, woff, wlen)
    if wid >= 0:
        return wid
    if not _has_room(j - i, slots, pool, state):
        return np.int64(-1)
    return _add_word(buf, i, j, h, k, slots, hashes, pool, woff, wlen, state)


@numba.njit(cache=True)
def encode_lmplz_chunk(buf, pos, out, n_out, offsets, n_sent, skip_specials, n_specials,
                       bos_id, eos_id, slots, hashes, pool, woff, wlen, state):
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
            wid = _lookup_or_add(buf, i, j, h, slots, hashes, pool, woff, wlen, state)
            if wid < 0:
                return NEED_ROOM, line_start, start_out, n_sent
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
