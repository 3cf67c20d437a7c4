"""Encoding kernels (CPU): words as code points in, subword ids out.

Words arrive as int32 Unicode code points, flat plus int64 offsets; strings
never enter.  Vocabulary look-ups go through a *string table*: every token's
code points back to back, and an open-addressing table of token ids keyed by
an FNV-1a hash of those code points (a hit is confirmed by comparing them).
BPE merges are a second table keyed by the pair ``(left << 32) | right``.

Each kernel works word by word in place inside the output array (a word never
has more tokens than code points), parallel over blocks of words; the caller
compacts the result with :func:`compact`.
"""
import numba
import numpy as np

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@numba.njit(cache=True, inline="always")
def hash_codes(buf, start, stop):
    h = _FNV_OFFSET
    for i in range(start, stop):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@numba.njit(cache=True)
def build_string_table(codes, offsets):
    """Slots of an open-addressing table holding token ``i`` = ``codes[offsets[i]:offsets[i+1]]``.

    A string listed twice keeps its first id.  Returns int32 slots (-1 empty),
    a power of two at least twice the number of tokens."""
    n = offsets.shape[0] - 1
    cap = 16
    while cap < 2 * n + 2:
        cap *= 2
    slots = np.full(cap, -1, np.int32)
    mask = np.uint64(cap - 1)
    for t in range(n):
        s = np.int64(hash_codes(codes, offsets[t], offsets[t + 1]) & mask)
        while True:
            o = slots[s]
            if o < 0:
                slots[s] = t
                break
            if _same(codes, offsets[o], offsets[o + 1], codes, offsets[t], offsets[t + 1]):
                break
            s = (s + 1) & (cap - 1)
    return slots


@numba.njit(cache=True, inline="always")
def _same(a, a0, a1, b, b0, b1):
    if a1 - a0 != b1 - b0:
        return False
    for k in range(a1 - a0):
        if a[a0 + k] != b[b0 + k]:
            return False
    return True


@numba.njit(cache=True)
def lookup_string(slots, codes, offsets, buf, start, stop):
    """Id of the token spelled ``buf[start:stop]``, or -1."""
    mask = slots.shape[0] - 1
    s = np.int64(hash_codes(buf, start, stop) & np.uint64(mask))
    while True:
        t = slots[s]
        if t < 0:
            return -1
        if _same(codes, offsets[t], offsets[t + 1], buf, start, stop):
            return t
        s = (s + 1) & mask


@numba.njit(cache=True)
def build_pair_table(left, right, rank_new):
    """Open-addressing table ``(left, right) -> index`` (first listed wins); keys int64, -1 empty."""
    n = left.shape[0]
    cap = 16
    while cap < 2 * n + 2:
        cap *= 2
    keys = np.full(cap, -1, np.int64)
    vals = np.zeros(cap, np.int32)
    for i in range(n):
        key = (np.int64(left[i]) << 32) | np.int64(right[i])
        s = _slot_of(key, cap)
        while keys[s] != -1 and keys[s] != key:
            s = (s + 1) & (cap - 1)
        if keys[s] == -1:
            keys[s] = key
            vals[s] = rank_new[i]
    return keys, vals


@numba.njit(cache=True, inline="always")
def _slot_of(key, cap):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(cap - 1))


@numba.njit(cache=True, inline="always")
def pair_find(keys, key):
    cap = keys.shape[0]
    s = _slot_of(key, cap)
    while True:
        k = keys[s]
        if k == key:
            return s
        if k == -1:
            return -1
        s = (s + 1) & (cap - 1)


def _blocks(n):
    n_blocks = max(1, min(numba.get_num_threads() * 8, n // 64 or 1))
    return np.linspace(0, n, n_blocks + 1).astype(np.int64)


@numba.njit(parallel=True, cache=True)
def _bpe_encode(codes, offsets, blocks, slots, tok_codes, tok_offs, prefix, suffix,
                pair_keys, pair_rank, merge_new, unk, fuse_unk, out, out_len):
    """BPE-encode each word: characters to initial ids (with ``prefix`` on all but the
    first and ``suffix`` on the last), then apply the lowest-ranked adjacent merge,
    leftmost first, until none applies (as ``tokenizers``' BPE.merge_word)."""
    n_pre, n_suf = prefix.shape[0], suffix.shape[0]
    for b in numba.prange(blocks.shape[0] - 1):
        buf = np.empty(n_pre + n_suf + 1, np.int32)
        for w in range(blocks[b], blocks[b + 1]):
            s0, s1 = offsets[w], offsets[w + 1]
            n = 0
            prev_unk = False
            for i in range(s0, s1):
                k = 0
                if i > s0:
                    for p in range(n_pre):
                        buf[k] = prefix[p]
                        k += 1
                buf[k] = codes[i]
                k += 1
                if i == s1 - 1:
                    for p in range(n_suf):
                        buf[k] = suffix[p]
                        k += 1
                t = lookup_string(slots, tok_codes, tok_offs, buf, 0, k)
                if t < 0:
                    if unk < 0:
                        continue  # no unknown token: the character is dropped
                    if fuse_unk and prev_unk:
                        continue
                    t = unk
                    prev_unk = True
                else:
                    prev_unk = False
                out[s0 + n] = t
                n += 1
            while n > 1:
                best_rank, best_i, best_new = 2147483647, -1, -1
                for i in range(n - 1):
                    key = (np.int64(out[s0 + i]) << 32) | np.int64(out[s0 + i + 1])
                    s = pair_find(pair_keys, key)
                    if s >= 0 and pair_rank[s] < best_rank:
                        best_rank, best_i = pair_rank[s], i
                        best_new = merge_new[pair_rank[s]]
                if best_i < 0:
                    break
                out[s0 + best_i] = best_new
                for i in range(best_i + 1, n - 1):
                    out[s0 + i] = out[s0 + i + 1]
                n -= 1
            out_len[w] = n


@numba.njit(parallel=True, cache=True)
def _wordpiece_encode(codes, offsets, blocks, slots, tok_codes, tok_offs, prefix, unk,
                      max_chars, out, out_len):
    """WordPiece: greedy longest-match-first, continuations spelled with ``prefix``;
    a word with a piece that matches nothing, or longer than ``max_chars``, is ``unk``."""
    n_pre = prefix.shape[0]
    for b in numba.prange(blocks.shape[0] - 1):
        longest = 1
        for w in range(blocks[b], blocks[b + 1]):
            longest = max(longest, offsets[w + 1] - offsets[w])
        buf = np.empty(n_pre + longest, np.int32)
        for p in range(n_pre):
            buf[p] = prefix[p]
        for w in range(blocks[b], blocks[b + 1]):
            s0, s1 = offsets[w], offsets[w + 1]
            if s1 - s0 > max_chars:
                out[s0] = unk
                out_len[w] = 1
                continue
            n = 0
            i = s0
            bad = False
            while i < s1:
                for k in range(s1 - i):
                    buf[n_pre + k] = codes[i + k]
                lead = 0 if i == s0 else n_pre  # continuations are looked up with the prefix
                found, stop = -1, s1
                while stop > i:
                    found = lookup_string(slots, tok_codes, tok_offs, buf, n_pre - lead,
                                          n_pre + stop - i)
                    if found >= 0:
                        break
                    stop -= 1
                if found < 0:
                    bad = True
                    break
                out[s0 + n] = found
                n += 1
                i = stop
            if bad:
                out[s0] = unk
                n = 1
            out_len[w] = n


@numba.njit(parallel=True, cache=True)
def compact(out, offsets, out_len, dest_offsets):
    """Gather word ``w``'s ``out_len[w]`` tokens from ``out[offsets[w]:]`` into one flat array."""
    flat = np.empty(dest_offsets[-1], np.int32)
    for w in numba.prange(out_len.shape[0]):
        d, s = dest_offsets[w], offsets[w]
        for k in range(out_len[w]):
            flat[d + k] = out[s + k]
    return flat


@numba.njit(parallel=True, cache=True)
def gather_words(word_ids, cache_flat, cache_offs, dest_offs):
    """Concatenate the cached token ids of each word of ``word_ids``."""
    flat = np.empty(dest_offs[-1], np.int32)
    n = word_ids.shape[0]
    n_blocks = max(1, min(64, n // 4096))
    for b in numba.prange(n_blocks):
        for i in range(b * n // n_blocks, (b + 1) * n // n_blocks):
            w = word_ids[i]
            d = dest_offs[i]
            s = cache_offs[w]
            for k in range(cache_offs[w + 1] - s):
                flat[d + k] = cache_flat[s + k]
    return flat


def encode_words(kind, codes, offsets, tables):
    """Token ids for words given as code points (flat + offsets): ``(flat ids, int64 offsets)``.

    ``kind`` is ``'bpe'`` or ``'wordpiece'``; ``tables`` is the model's
    :class:`~nlpkit.text.subword.model._Tables`."""
    n = offsets.shape[0] - 1
    out = np.empty(max(codes.shape[0], n), np.int32)
    out_len = np.zeros(n, np.int64)
    if n:
        blocks = _blocks(n)
        if kind == "bpe":
            _bpe_encode(codes, offsets, blocks, tables.slots, tables.codes, tables.offsets,
                        tables.prefix, tables.suffix, tables.pair_keys, tables.pair_rank,
                        tables.merge_new, tables.unk, tables.fuse_unk, out, out_len)
        else:
            # an empty word has no code points but still one slot in ``out``
            _wordpiece_encode(codes, offsets, blocks, tables.slots, tables.codes, tables.offsets,
                              tables.prefix, tables.unk, tables.max_chars, out, out_len)
    dest = np.zeros(n + 1, np.int64)
    np.cumsum(out_len, out=dest[1:])
    return compact(out, offsets, out_len, dest), dest
