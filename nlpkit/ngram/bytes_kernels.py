"""Kernels over raw bytes: SRILM-style tokenizing of text into word ids, and
assembling output lines from byte pools.

Text never enters these kernels as ``str``: they see ``uint8`` buffers plus
offsets, and an open-addressing table of word ids keyed by an FNV-1a hash of
the word's bytes.  The word bytes live in a pool (``pool``, ``woff``, ``wlen``)
so the vocabulary can be decoded once at the end.

Tokenizing follows SRILM's ``File::getline`` and ``Vocab::parseWords``
(SRILM-KATZ.md §1-2): tokens are split on space, TAB, CR and LF only; lines
that are entirely whitespace or start with ``##`` are skipped; ``<s>`` is
prepended unless the line's first token is ``<s>`` and ``</s>`` appended
unless its last token is ``</s>``.
"""
import numba
import numpy as np

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)

# status codes of encode_chunk
OK = 0
NEED_ROOM = 1  # the word table or pool is too small: grow it and call again


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
def count_chunk(buf):
    """``(tokens, sentences)`` that ``encode_chunk`` will produce for ``buf``
    (tokens include the added ``<s>``/``</s>``; an upper bound by at most 2 per line)."""
    n = buf.shape[0]
    tokens = 0
    lines = 0
    pos = 0
    while pos < n:
        end = pos
        while end < n and buf[end] != 10:
            end += 1
        skip = end - pos >= 2 and buf[pos] == 35 and buf[pos + 1] == 35
        if not skip:
            t = 0
            inside = False
            for i in range(pos, end):
                if _is_sep(buf[i]):
                    inside = False
                elif not inside:
                    inside = True
                    t += 1
            if t > 0:
                tokens += t + 2
                lines += 1
        pos = end + 1
    return tokens, lines


@numba.njit(cache=True)
def encode_chunk(buf, pos, out, n_out, offsets, n_sent, closed, unk_id, bos_id, eos_id,
                 slots, hashes, pool, woff, wlen, state):
    """Encode the lines of ``buf`` from byte ``pos`` on into ``out``/``offsets``.

    Returns ``(status, pos, n_out, n_sent)``: ``NEED_ROOM`` stops at the start
    of a line whose words may not fit into the table or pool; the caller grows
    them and calls again from the returned position.  ``closed`` maps unknown
    words to ``unk_id`` instead of adding them.
    """
    n = buf.shape[0]
    cap_words = slots.shape[0] // 2
    while pos < n:
        end = pos
        while end < n and buf[end] != 10:
            end += 1
        if end - pos >= 2 and buf[pos] == 35 and buf[pos + 1] == 35:
            pos = end + 1
            continue
        if not closed and (state[0] + (end - pos + 1) // 2 + 1 > cap_words
                           or state[1] + (end - pos) > pool.shape[0]):
            return NEED_ROOM, pos, n_out, n_sent
        start_out = n_out
        n_out += 1  # room for <s>, dropped below if the line starts with <s>
        i = pos
        while i < end:
            while i < end and _is_sep(buf[i]):
                i += 1
            if i >= end:
                break
            j = i
            while j < end and not _is_sep(buf[j]):
                j += 1
            if closed:
                h = hash_span(buf, i, j)
                wid = _find_slot(buf, i, j, h, slots, hashes, pool, woff, wlen)
                if wid < 0:
                    wid = unk_id
            else:
                wid = intern_span(buf, i, j, slots, hashes, pool, woff, wlen, state)
            out[n_out] = wid
            n_out += 1
            i = j
        if n_out == start_out + 1:  # whitespace only
            n_out = start_out
            pos = end + 1
            continue
        if out[start_out + 1] == bos_id:
            for k in range(start_out + 1, n_out):
                out[k - 1] = out[k]
            n_out -= 1
        else:
            out[start_out] = bos_id
        if out[n_out - 1] != eos_id:
            out[n_out] = eos_id
            n_out += 1
        n_sent += 1
        offsets[n_sent] = n_out
        pos = end + 1
    return OK, pos, n_out, n_sent


@numba.njit(cache=True)
def _line_length(r, n, numoff, prob_idx, bow_idx, words, woff):
    ln = numoff[prob_idx[r] + 1] - numoff[prob_idx[r]] + 1 + n  # number TAB words-with-separators
    for k in range(n):
        w = words[r, k]
        ln += woff[w + 1] - woff[w]
    if bow_idx[r] >= 0:
        ln += 1 + numoff[bow_idx[r] + 1] - numoff[bow_idx[r]]
    return ln


@numba.njit(parallel=True, cache=True)
def assemble_lines(words, prob_idx, bow_idx, wpool, woff, numpool, numoff):
    """Bytes of the lines ``prob TAB w1 w2 … wn [TAB bow] LF``, one per row of ``words``.

    ``prob_idx``/``bow_idx`` index formatted numbers in ``numpool``/``numoff``
    (``bow_idx`` -1: no back-off field); words index ``wpool``/``woff``.
    """
    rows, n = words.shape
    ends = np.empty(rows + 1, dtype=np.int64)
    ends[0] = 0
    lens = np.empty(rows, dtype=np.int64)
    for r in numba.prange(rows):
        lens[r] = _line_length(r, n, numoff, prob_idx, bow_idx, words, woff)
    for r in range(rows):
        ends[r + 1] = ends[r] + lens[r]
    out = np.empty(ends[rows], dtype=np.uint8)
    for r in numba.prange(rows):
        o = ends[r]
        a, b = numoff[prob_idx[r]], numoff[prob_idx[r] + 1]
        for k in range(a, b):
            out[o] = numpool[k]
            o += 1
        out[o] = 9
        o += 1
        for k in range(n):
            w = words[r, k]
            if k > 0:
                out[o] = 32
                o += 1
            for q in range(woff[w], woff[w + 1]):
                out[o] = wpool[q]
                o += 1
        if bow_idx[r] >= 0:
            out[o] = 9
            o += 1
            a, b = numoff[bow_idx[r]], numoff[bow_idx[r] + 1]
            for k in range(a, b):
                out[o] = numpool[k]
                o += 1
        out[o] = 10
    return out
