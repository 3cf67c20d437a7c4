"""Encoding kernels (CPU): UTF-8 bytes split on whitespace, each token interned to an int id.

The fast path of :class:`nlpkit.text.corpus.Encoder` for files read with the whitespace
tokenizer.  A token is a maximal run of bytes without whitespace, which is exactly what
``str.split()`` gives on the decoded text: the ASCII whitespace ``\\t \\n \\v \\f \\r``,
``\\x1c``-``\\x1f`` and space, and the multi-byte characters Python's ``str.isspace()``
accepts (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
U+3000), recognised by their UTF-8 bytes (the input is valid UTF-8: the reader has
replaced bad bytes).  ``\\n`` also ends a sentence.

The table is open addressing over 64-bit FNV-1a hashes of the token bytes; the types'
bytes are kept back to back in ``arena`` (type ``t`` is ``arena[starts[t]:starts[t + 1]]``),
so the words come back as strings only once, at the end.  A kernel that finds the table
full stops and says where; the caller grows it and calls again from there (arrays
reassigned inside the loop cost more than the hashing).  Strings never enter: bytes in, ids and sentence lengths out.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, inline="always")
def _space_len(buf, p, n):
    """Bytes of the whitespace character starting at ``buf[p]``, 0 if it is none
    (``\\n`` counts as whitespace here; the caller looks for it first)."""
    b = buf[p]
    if b < 0x80:
        return 1 if b == 0x20 or 0x09 <= b <= 0x0D or 0x1C <= b <= 0x1F else 0
    if b == 0xC2:
        return 2 if p + 1 < n and (buf[p + 1] == 0x85 or buf[p + 1] == 0xA0) else 0
    if p + 2 >= n or b < 0xE1 or b > 0xE3:
        return 0
    b1, b2 = buf[p + 1], buf[p + 2]
    if b == 0xE1:
        return 3 if b1 == 0x9A and b2 == 0x80 else 0
    if b == 0xE3:
        return 3 if b1 == 0x80 and b2 == 0x80 else 0
    if b1 == 0x80 and (0x80 <= b2 <= 0x8A or b2 == 0xA8 or b2 == 0xA9 or b2 == 0xAF):
        return 3
    return 3 if b1 == 0x81 and b2 == 0x9F else 0


@njit(cache=True)
def rehash(hashes, n_types, size):
    """A slot array of ``size`` (a power of two) holding types ``0..n_types - 1``."""
    slots = np.full(size, -1, np.int32)
    mask = size - 1
    for t in range(n_types):
        i = np.int64(hashes[t] & np.uint64(mask))
        while slots[i] >= 0:
            i = (i + 1) & mask
        slots[i] = t
    return slots


@njit(cache=True, inline="always")
def _find(buf, s, e, h, slots, hashes, starts, arena):
    """``(type id or -1, slot)`` of the token ``buf[s:e]`` with hash ``h``."""
    mask = slots.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    while True:
        t = slots[i]
        if t < 0:
            return -1, i
        if hashes[t] == h and starts[t + 1] - starts[t] == e - s:
            a = starts[t]
            same = True
            for k in range(e - s):
                if arena[a + k] != buf[s + k]:
                    same = False
                    break
            if same:
                return t, i
        i = (i + 1) & mask


@njit(cache=True, inline="always")
def _room(n_types, length, slots, hashes, starts, arena):
    """Whether the table can take one more type of ``length`` bytes (load at most 1/2)."""
    return (n_types < hashes.shape[0] and n_types + 1 < starts.shape[0]
            and starts[n_types] + length <= arena.shape[0]
            and 2 * (n_types + 1) <= slots.shape[0])


@njit(cache=True, inline="always")
def _add(buf, s, e, h, slot, slots, hashes, starts, arena, t):
    """Store token ``buf[s:e]`` as type ``t`` in ``slot`` (the caller checked ``_room``)."""
    used = starts[t]
    arena[used:used + e - s] = buf[s:e]
    starts[t + 1] = used + e - s
    hashes[t] = h
    slots[slot] = t


@njit(cache=True)
def intern_split(buf, pos, ids, nt, lengths, nl, cur, slots, hashes, starts, arena, n_types,
                 insert, missing):
    """Split ``buf[pos:]`` (UTF-8) into whitespace tokens and lines: each token's id goes to
    ``ids[nt]``, ``nt + 1``, ..., each line's token count to ``lengths[nl]``, ... (``cur``
    tokens of the current line are already out; a last line without ``\\n`` counts when
    it holds tokens).  An unseen token becomes a new type when ``insert``, else it gets
    the id ``missing``.

    ``ids`` needs room for ``len(buf) // 2 + 1`` tokens, ``lengths`` for one more than the
    number of ``\\n``.  Returns ``(pos, nt, nl, cur, n_types, need)``: ``need`` is -1 when
    done, else the length of the new token at ``pos`` that the table had no room for:
    grow it and call again from there."""
    n = buf.shape[0]
    p = pos
    while p < n:
        b = buf[p]
        if b == 0x0A:
            lengths[nl] = cur
            nl += 1
            cur = 0
            p += 1
            continue
        if b <= 0x20 or 0xC2 <= b <= 0xE3:  # (the only bytes that can start whitespace)
            k = _space_len(buf, p, n)
            if k:
                p += k
                continue
        s = p
        h = _FNV_OFFSET
        while p < n:
            b = buf[p]
            if b <= 0x20 or 0xC2 <= b <= 0xE3:
                if b == 0x0A or _space_len(buf, p, n):
                    break
            h = (h ^ np.uint64(b)) * _FNV_PRIME
            p += 1
        t, slot = _find(buf, s, p, h, slots, hashes, starts, arena)
        if t < 0:
            if not insert:
                t = missing
            elif not _room(n_types, p - s, slots, hashes, starts, arena):
                return s, nt, nl, cur, n_types, p - s
            else:
                t = n_types
                _add(buf, s, p, h, slot, slots, hashes, starts, arena, t)
                n_types += 1
        ids[nt] = t
        nt += 1
        cur += 1
    if cur > 0:
        lengths[nl] = cur
        nl += 1
        cur = 0
    return p, nt, nl, cur, n_types, -1


@njit(cache=True)
def intern_tokens(buf, ends, j0, ids, slots, hashes, starts, arena, n_types, insert, missing):
    """Intern the tokens ``buf[ends[j - 1]:ends[j]]`` (from 0 for the first) for ``j`` from
    ``j0`` on, ids into ``ids[j]``, as :func:`intern_split` does (without splitting).
    Returns ``(j, n_types, need)``, ``need`` as :func:`intern_split`'s."""
    for j in range(j0, ends.shape[0]):
        s = ends[j - 1] if j > 0 else 0
        e = ends[j]
        h = _FNV_OFFSET
        for p in range(s, e):
            h = (h ^ np.uint64(buf[p])) * _FNV_PRIME
        t, slot = _find(buf, s, e, h, slots, hashes, starts, arena)
        if t < 0:
            if not insert:
                t = missing
            elif not _room(n_types, e - s, slots, hashes, starts, arena):
                return j, n_types, e - s
            else:
                t = n_types
                _add(buf, s, e, h, slot, slots, hashes, starts, arena, t)
                n_types += 1
        ids[j] = t
    return ends.shape[0], n_types, -1


@njit(cache=True)
def remap_ids(ids, offsets, remap):
    """``(ids, offsets)`` of the sentences ``ids[offsets[s]:offsets[s + 1]]`` with each id
    ``i`` replaced by ``remap[i]`` and those that become negative dropped (a sentence
    left empty stays, empty)."""
    out = np.empty(ids.shape[0], np.int32)
    new_offsets = np.zeros(offsets.shape[0], np.int64)
    n = 0
    for s in range(offsets.shape[0] - 1):
        for p in range(offsets[s], offsets[s + 1]):
            r = remap[ids[p]]
            if r >= 0:
                out[n] = r
                n += 1
        new_offsets[s + 1] = n
    return out[:n], new_offsets
