"""Training kernel (CPU): BPE merges learned from word counts, updated incrementally.

Input is the corpus' distinct words, each an int32 run of initial symbol ids
(flat + offsets) with its count.  The kernel keeps

* the count of every adjacent symbol pair in an open-addressing table keyed by
  ``(left << 32) | right``, with, per pair, a linked list of the words it occurs
  in (a pool of ``(word, next)`` cells);
* a binary max-heap of ``(score, pair)`` entries, checked lazily: an entry whose
  score is no longer the pair's is re-pushed with the current one (counts only
  fall) or, in likelihood mode, dropped (every pair whose score changed was
  pushed again when it changed);
* the spelling of every symbol (a flag word plus code points) in a string
  table, so that a merge whose result is spelled like an existing symbol reuses
  that id, as ``tokenizers`` and subword-nmt do.

After each merge only the words on the merged pair's list are rewritten; for
each, the pairs around each occurrence are subtracted and the pairs around each
new symbol added, so no pair is ever recounted from scratch.

Scores: ``count`` (BPE, Sennrich et al. 2016) or the gain in likelihood of the
training words under a unigram model of the symbols (WordPiece, Schuster &
Nakajima 2012; see :func:`_score`).  Ties go to the smaller ``(left id, right id)``, the order of
``tokenizers``' BpeTrainer.

Spelling flags: bit 0 = the symbol carries the continuing-subword prefix, bit 1
= it carries the end-of-word suffix; merging ``a b`` keeps ``a``'s bit 0 and
``b``'s bit 1 and concatenates the code points in between.
"""
import numba
import numpy as np

from .encode_kernels import _same, hash_codes, pair_find, _slot_of


# ------------------------------------------------------------------ pair table
@numba.njit(cache=True)
def _pair_upsert(keys, key):
    """Slot of ``key``, inserted if absent (the caller keeps the table at most half full)."""
    cap = keys.shape[0]
    s = _slot_of(key, cap)
    while True:
        k = keys[s]
        if k == key:
            return s, False
        if k == -1:
            keys[s] = key
            return s, True
        s = (s + 1) & (cap - 1)


@numba.njit(cache=True)
def _rehash_pairs(keys, cnt, head, room):
    """A new table holding the live pairs (count > 0) with space for as many again plus
    ``room`` more, at most half full: the table doubles with the pairs, so rehashes stay
    rare, but no bigger, so that it stays in cache (a table sized for the worst case, two
    slots per word position, is tens of MB for some 10^4 pairs: a cache miss per look-up).
    Dead pairs (merged away, or all their words rewritten) are dropped, so the table follows
    the pairs that exist, not all that ever did.  Returns it and its size."""
    live = 0
    for s in range(keys.shape[0]):
        if keys[s] != -1 and cnt[s] > 0:
            live += 1
    cap = 16
    while cap < 4 * (2 * live + room):
        cap *= 2
    nkeys = np.full(cap, -1, np.int64)
    ncnt = np.zeros(cap, np.int64)
    nhead = np.full(cap, -1, np.int32)
    nmark = np.full(cap, -1, np.int32)
    for s in range(keys.shape[0]):
        if keys[s] != -1 and cnt[s] > 0:
            t, _ = _pair_upsert(nkeys, keys[s])
            ncnt[t] = cnt[s]
            nhead[t] = head[s]
    return nkeys, ncnt, nhead, nmark, live


# ------------------------------------------------------------------------ heap
@numba.njit(cache=True)
def _better(hs, hk, i, j):
    return hs[i] > hs[j] or (hs[i] == hs[j] and hk[i] < hk[j])


@numba.njit(cache=True)
def _sift_down(hs, hk, n, i):
    while True:
        left = 2 * i + 1
        if left >= n:
            return
        best = left
        if left + 1 < n and _better(hs, hk, left + 1, left):
            best = left + 1
        if not _better(hs, hk, best, i):
            return
        hs[i], hs[best] = hs[best], hs[i]
        hk[i], hk[best] = hk[best], hk[i]
        i = best


@numba.njit(cache=True)
def _push(hs, hk, n, score, key):
    if n == hs.shape[0]:
        hs = np.concatenate((hs, np.empty(n + 16, np.float64)))
        hk = np.concatenate((hk, np.empty(n + 16, np.int64)))
    hs[n], hk[n] = score, key
    i = n
    while i > 0:
        parent = (i - 1) // 2
        if not _better(hs, hk, i, parent):
            break
        hs[i], hs[parent] = hs[parent], hs[i]
        hk[i], hk[parent] = hk[parent], hk[i]
        i = parent
    return hs, hk, n + 1


@numba.njit(cache=True)
def _xlogx(x):
    return x * np.log(x) if x > 0.0 else 0.0


@numba.njit(cache=True)
def _score(c, a, b, symcnt, likelihood, log_n1):
    """The pair's count, or the gain in log-likelihood of the training words under a
    unigram model of the symbols if its ``c`` occurrences were merged:
    ``c log c + (ca-c) log(ca-c) + (cb-c) log(cb-c) - ca log ca - cb log cb + c (log N + 1)``
    (the last term is ``N log N - (N-c) log(N-c)`` to first order, N the symbol total
    held at its initial value, so that a merge changes only the scores of the pairs
    that share a symbol with it)."""
    if not likelihood:
        return float(c)
    k, ca, cb = float(c), float(symcnt[a]), float(symcnt[b])
    if a == b:
        return _xlogx(k) + _xlogx(ca - 2.0 * k) - _xlogx(ca) + k * log_n1
    return (_xlogx(k) + _xlogx(ca - k) + _xlogx(cb - k) - _xlogx(ca) - _xlogx(cb)
            + k * log_n1)


@numba.njit(cache=True)
def _heapify_pairs(hs, hk, keys, pcnt, min_c, symcnt, likelihood, log_n1):
    """Fill the heap with every pair of the table counted at least ``min_c`` times; its size."""
    hn = np.int64(0)
    for s in range(keys.shape[0]):
        if keys[s] != -1 and pcnt[s] >= min_c:
            a, b = np.int32(keys[s] >> 32), np.int32(keys[s] & 0xFFFFFFFF)
            hs[hn], hk[hn] = _score(pcnt[s], a, b, symcnt, likelihood, log_n1), keys[s]
            hn += 1
    for i in range(hn // 2 - 1, -1, -1):
        _sift_down(hs, hk, hn, i)
    return hn


# --------------------------------------------------------------- string table
@numba.njit(cache=True)
def _spell_find_or_add(slots, codes, offs, n_sym, buf, length):
    """Id of the spelling ``buf[:length]``; a new id ``n_sym`` if absent (codes must have room)."""
    mask = slots.shape[0] - 1
    s = np.int64(hash_codes(buf, 0, length) & np.uint64(mask))
    while True:
        t = slots[s]
        if t < 0:
            break
        if _same(codes, offs[t], offs[t + 1], buf, 0, length):
            return t
        s = (s + 1) & mask
    slots[s] = n_sym
    start = offs[n_sym]
    for k in range(length):
        codes[start + k] = buf[k]
    offs[n_sym + 1] = start + length
    return n_sym


@numba.njit(cache=True)
def _append(pool_a, pool_next, n, a, nxt):
    if n == pool_a.shape[0]:
        pool_a = np.concatenate((pool_a, np.empty(n, pool_a.dtype)))
        pool_next = np.concatenate((pool_next, np.empty(n, np.int32)))
    pool_a[n] = a
    pool_next[n] = nxt
    return pool_a, pool_next, n + 1


@numba.njit(cache=True)
def _count_pair(keys, pcnt, phead, pool_w, pool_n, n_pool, free, shead, spool_k, spool_n,
                n_spool, x, y, w, cw, likelihood):
    """Add word ``w``'s ``cw`` occurrences of the pair ``(x, y)``: count it, note the word on
    the pair's list (in a recycled cell from the list ``free`` when there is one) and, for a
    new pair in likelihood mode, the pair on its symbols' lists.  Returns the (possibly
    grown) pools, their sizes, the free list, the pair's key and whether it is new."""
    key = (np.int64(x) << 32) | np.int64(y)
    s, new_pair = _pair_upsert(keys, key)
    if new_pair and likelihood:
        spool_k, spool_n, n_spool = _append(spool_k, spool_n, n_spool, key, shead[x])
        shead[x] = n_spool - 1
        if y != x:
            spool_k, spool_n, n_spool = _append(spool_k, spool_n, n_spool, key, shead[y])
            shead[y] = n_spool - 1
    pcnt[s] += cw
    h = phead[s]
    if h < 0 or pool_w[h] != w:
        if free >= 0:
            cell = free
            free = np.int64(pool_n[cell])
            pool_w[cell], pool_n[cell] = w, h
        else:
            pool_w, pool_n, n_pool = _append(pool_w, pool_n, n_pool, w, h)
            cell = n_pool - 1
        phead[s] = cell
    return pool_w, pool_n, n_pool, free, spool_k, spool_n, n_spool, key, new_pair


# ---------------------------------------------------------------------- train
@numba.njit(cache=True)
def train_merges(sym, wstart, wlen, wcount, spell_codes, spell_offs, vocab_size, min_freq,
                 likelihood):
    """Learn merges until ``vocab_size`` symbols exist or no pair qualifies.

    ``sym`` (initial symbol ids, flat), ``wstart``/``wlen`` (each word's run,
    int64/int32) and ``wcount`` (int64) describe the words; ``sym`` and ``wlen``
    are rewritten in place.  ``spell_codes``/``spell_offs`` spell the initial
    symbols (flag word then code points).  Returns ``(merges, counts, n_symbols)``:
    int32 rows ``(left, right, new)`` in the order learned and each merge's pair
    count (int64).
    """
    n_words = wlen.shape[0]
    n_sym = spell_offs.shape[0] - 1
    max_sym = max(vocab_size, n_sym) + 1
    # spellings of all symbols, growable
    codes = np.empty(max(16, 2 * spell_codes.shape[0]), np.int32)
    codes[:spell_codes.shape[0]] = spell_codes
    offs = np.zeros(max_sym + 1, np.int64)
    offs[:n_sym + 1] = spell_offs
    cap = 16
    while cap < 2 * max_sym:
        cap *= 2
    slots = np.full(cap, -1, np.int32)
    for t in range(n_sym):
        _spell_find_or_add(slots, codes, offs, t, codes[offs[t]:offs[t + 1]].copy(),
                           offs[t + 1] - offs[t])
    symcnt = np.zeros(max_sym, np.int64)
    longest = 1
    for w in range(n_words):
        longest = max(longest, wlen[w])
    occ = np.zeros(longest + 1, np.bool_)
    isnew = np.zeros(longest + 1, np.bool_)
    buf = np.empty(16, np.int32)

    # ---- count the initial pairs, note the words each occurs in
    n_pos = 0
    for w in range(n_words):
        n_pos += max(0, wlen[w] - 1)
    pcap = 1 << 12  # distinct pairs are far fewer than positions: grown as they come
    keys = np.full(pcap, -1, np.int64)
    pcnt = np.zeros(pcap, np.int64)
    phead = np.full(pcap, -1, np.int32)
    qmark = np.full(pcap, -1, np.int32)  # the merge that last queued the pair
    n_pairs = 0
    pool_w = np.empty(max(16, n_pos), np.int32)
    pool_n = np.empty(max(16, n_pos), np.int32)
    n_pool = np.int64(0)
    free = np.int64(-1)  # recycled cells of the word lists (none until the first merge)
    # symbol -> pairs it is part of (likelihood mode: their scores change with it)
    shead = np.full(max_sym, -1, np.int32)
    spool_k = np.empty(16, np.int64)
    spool_n = np.empty(16, np.int32)
    n_spool = np.int64(0)
    for w in range(n_words):
        s0 = wstart[w]
        if 2 * (n_pairs + wlen[w]) > keys.shape[0]:
            keys, pcnt, phead, qmark, n_pairs = _rehash_pairs(keys, pcnt, phead, wlen[w])
        for i in range(wlen[w]):
            symcnt[sym[s0 + i]] += wcount[w]
        for i in range(wlen[w] - 1):
            pool_w, pool_n, n_pool, _, spool_k, spool_n, n_spool, _, new_pair = _count_pair(
                keys, pcnt, phead, pool_w, pool_n, n_pool, free, shead, spool_k, spool_n, n_spool,
                sym[s0 + i], sym[s0 + i + 1], w, wcount[w], likelihood)
            n_pairs += new_pair

    log_n1 = np.log(max(1.0, float(symcnt.sum()))) + 1.0
    # A pair below min_freq is never merged; its count grows only when it holds a
    # newly merged symbol, and then it is queued again: such pairs stay out of the heap.
    min_c = max(1, min_freq)
    # ---- heap of every pair
    hs = np.empty(n_pairs + 16, np.float64)
    hk = np.empty(n_pairs + 16, np.int64)
    hn = _heapify_pairs(hs, hk, keys, pcnt, min_c, symcnt, likelihood, log_n1)

    merges = np.empty((max(16, vocab_size - n_sym + 16), 3), np.int32)
    mcounts = np.empty(merges.shape[0], np.int64)
    m = 0
    stamp = np.full(n_words, -1, np.int32)
    touched = np.empty(64, np.int64)
    while n_sym < vocab_size and hn > 0:
        if hn > 4 * n_pairs + (1 << 20):
            # mostly stale entries: rebuild from the table (the same pops, less memory)
            hn = _heapify_pairs(hs, hk, keys, pcnt, min_c, symcnt, likelihood, log_n1)
            if hn == 0:
                break
        score, key = hs[0], hk[0]
        hn -= 1
        hs[0], hk[0] = hs[hn], hk[hn]
        _sift_down(hs, hk, hn, np.int64(0))
        a, b = np.int32(key >> 32), np.int32(key & 0xFFFFFFFF)
        slot = pair_find(keys, key)
        if slot < 0:  # dropped from the table: dead
            continue
        c = pcnt[slot]
        if c <= 0:
            continue
        current = _score(c, a, b, symcnt, likelihood, log_n1)
        if current != score:
            if not likelihood:  # counts only fall: re-queue at the true count
                hs, hk, hn = _push(hs, hk, hn, current, key)
            continue
        if c < min_freq:
            if likelihood:
                continue
            break

        # ---- the merged symbol's spelling: a's flag bit 0, b's bit 1, a's then b's code points
        la, lb = offs[a + 1] - offs[a] - 1, offs[b + 1] - offs[b] - 1
        if buf.shape[0] < la + lb + 1:
            buf = np.empty(2 * (la + lb + 1), np.int32)
        buf[0] = (codes[offs[a]] & 1) | (codes[offs[b]] & 2)
        for k in range(la):
            buf[1 + k] = codes[offs[a] + 1 + k]
        for k in range(lb):
            buf[1 + la + k] = codes[offs[b] + 1 + k]
        if offs[n_sym] + la + lb + 1 > codes.shape[0]:
            codes = np.concatenate((codes, np.empty(codes.shape[0] + la + lb + 1, np.int32)))
        new = _spell_find_or_add(slots, codes, offs, n_sym, buf, la + lb + 1)
        if new == n_sym:
            n_sym += 1
        if m == merges.shape[0]:
            merges = np.concatenate((merges, np.empty_like(merges)))
            mcounts = np.concatenate((mcounts, np.empty_like(mcounts)))
        merges[m, 0], merges[m, 1], merges[m, 2] = a, b, new
        mcounts[m] = c
        m += 1

        # ---- rewrite the words on the pair's list
        n_touched = 0
        p = phead[slot]
        phead[slot] = -1
        # the merged pair's list is walked once: its cells are handed to the free list as
        # they are read (the list is not needed again: the pair's count is now 0)
        while p >= 0:
            w = np.int64(pool_w[p])
            nxt = pool_n[p]
            pool_n[p] = free
            free = np.int64(p)
            p = nxt
            if stamp[w] == m:
                continue
            stamp[w] = m
            s0, L, cw = wstart[w], wlen[w], wcount[w]
            k_occ = 0
            i = 0
            while i < L:
                occ[i] = False
                if i < L - 1 and sym[s0 + i] == a and sym[s0 + i + 1] == b:
                    occ[i] = True
                    occ[i + 1] = False
                    k_occ += 1
                    i += 2
                else:
                    i += 1
            if k_occ == 0:
                continue
            # room for this word's new pairs and list cells
            if 2 * (n_pairs + L) > keys.shape[0]:
                keys, pcnt, phead, qmark, n_pairs = _rehash_pairs(keys, pcnt, phead, L)
            for i in range(L - 1):  # the pairs around each occurrence go
                if occ[i] or (i > 0 and occ[i - 1]) or occ[i + 1]:
                    s = pair_find(keys, (np.int64(sym[s0 + i]) << 32) | np.int64(sym[s0 + i + 1]))
                    pcnt[s] -= cw
            j = 0
            i = 0
            while i < L:
                if occ[i]:
                    sym[s0 + j] = new
                    isnew[j] = True
                    i += 2
                else:
                    sym[s0 + j] = sym[s0 + i]
                    isnew[j] = False
                    i += 1
                j += 1
            wlen[w] = j
            symcnt[a] -= cw * k_occ
            symcnt[b] -= cw * k_occ
            symcnt[new] += cw * k_occ
            for i in range(j - 1):  # the pairs around each new symbol come
                if not (isnew[i] or isnew[i + 1]):
                    continue
                pool_w, pool_n, n_pool, free, spool_k, spool_n, n_spool, pk, new_pair = \
                    _count_pair(keys, pcnt, phead, pool_w, pool_n, n_pool, free, shead, spool_k,
                                spool_n, n_spool, sym[s0 + i], sym[s0 + i + 1], w, cw, likelihood)
                n_pairs += new_pair
                if n_touched == touched.shape[0]:
                    touched = np.concatenate((touched, np.empty_like(touched)))
                touched[n_touched] = pk
                n_touched += 1

        # ---- queue what changed
        if likelihood:
            # every live pair with a, b or the new symbol in it has a new score
            for zi in range(3):
                z = a if zi == 0 else (b if zi == 1 else np.int32(new))
                prev = -1
                q = shead[z]
                while q >= 0:
                    s = pair_find(keys, spool_k[q])
                    if s < 0 or pcnt[s] <= 0:  # a dead pair: unlink it
                        if prev < 0:
                            shead[z] = spool_n[q]
                        else:
                            spool_n[prev] = spool_n[q]
                    elif pcnt[s] >= min_c:
                        if n_touched == touched.shape[0]:
                            touched = np.concatenate((touched, np.empty_like(touched)))
                        touched[n_touched] = spool_k[q]
                        n_touched += 1
                        prev = q
                    else:
                        prev = q
                    q = spool_n[q]
        for t in range(n_touched):  # each once (the heap's order does not depend on pushes')
            pk = touched[t]
            s = pair_find(keys, pk)
            if s >= 0 and pcnt[s] >= min_c and qmark[s] != m:
                qmark[s] = m
                x, y = np.int32(pk >> 32), np.int32(pk & 0xFFFFFFFF)
                hs, hk, hn = _push(hs, hk, hn, _score(pcnt[s], x, y, symcnt, likelihood, log_n1), pk)
    return merges[:m].copy(), mcounts[:m].copy(), n_sym
