"""N-gram hash tables and scoring kernels (CPU).  The CUDA twin is ``scoring_cuda.py``.

Layout (built by :mod:`nlpkit.ngram.model`, all flat 1-D arrays so kernels take
plain arguments):

* unigrams are dense, indexed by word id: ``uni[2w]`` is the log10 prob
  (float32, -inf where the word has none) and ``uni[2w+1]`` the back-off weight;
* orders ``n >= 2`` live in one open-addressing table per order, laid side by
  side in ``slots`` (table ``n`` starts at slot ``tab_off[n]`` and has
  ``tab_mask[n] + 1`` slots, a power of two).  A slot is three uint64 words:
  the key's low 64 bits; its high 32 bits above ``row + 1`` (0 = empty); and
  the n-gram's float32 log10 prob and back-off weight (read through
  ``slots_f``, a float32 view of the same memory).  A probe that hits has
  everything in one place, as in KenLM's probing tables;
* the key of an n-gram is its ids packed ``bits`` each when ``n * bits <= 96``
  -- then the key *is* the n-gram -- and otherwise a 64-bit hash of the ids,
  checked against the stored ids (``grams`` from ``gram_off[n]``, ``n`` ids a
  row) so a collision can never give a wrong row;
* rows of order ``n`` start at ``row_off[n]`` in the model's row arrays.

A row whose prob is NaN is a context node without a probability of its own
(SRILM creates such nodes for the suffixes of every context; see model.py).

Scoring follows SRILM's ``wordProbBO`` (SRILM-KATZ.md §5) exactly, in float32:
``bow`` accumulates the back-off weights of the contexts longer than the
longest match and resets to 0 at each match.
"""
import numba
import numpy as np

_MUL = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_PRIME = np.uint64(0x100000001B3)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


@numba.njit(cache=True, inline="always")
def _mix(k):
    # murmur3's fmix64: spreads packed keys whose high bits are mostly zero
    k ^= k >> _S33
    k *= _M1
    k ^= k >> _S33
    k *= _M2
    k ^= k >> _S33
    return k


@numba.njit(cache=True, inline="always")
def gram_key(seq, start, n, bits, packed):
    """``(lo, hi)``: ``seq[start:start+n]`` packed into 96 bits, or ``(hash, 0)``."""
    lo = np.uint64(0)
    hi = np.uint64(0)
    if packed:
        b = np.uint64(bits)
        back = np.uint64(64 - bits)
        for t in range(n):
            hi = (hi << b) | (lo >> back)
            lo = (lo << b) | np.uint64(seq[start + t])
    else:
        lo = np.uint64(0xCBF29CE484222325)
        for t in range(n):
            lo = (lo ^ np.uint64(seq[start + t])) * _PRIME
            lo = _mix(lo + _MUL)
    return lo, hi


@numba.njit(cache=True, inline="always")
def _home(lo, hi, mask):
    return np.int64(_mix(lo ^ (hi * _MUL)) & np.uint64(mask))


@numba.njit(cache=True, inline="always")
def _same(grams, g0, row, n, seq, start):
    base = g0 + row * n
    for t in range(n):
        if grams[base + t] != seq[start + t]:
            return False
    return True


@numba.njit(cache=True, inline="always")
def probe(slots, t0, mask, grams, g0, seq, start, n, packed, lo, hi, slot):
    """:func:`find_slot` from a key and home slot computed beforehand."""
    while True:
        a = 3 * (t0 + slot)
        w = slots[a + 1]
        r = np.int64(w & _LOW32) - 1
        if r < 0:
            return -1
        if slots[a] == lo and (w >> _S32) == hi:
            if packed or _same(grams, g0, r, n, seq, start):
                return a
        slot = (slot + 1) & mask


@numba.njit(cache=True, inline="always")
def find_slot(slots, t0, mask, grams, g0, seq, start, n, bits, packed):
    """Word index of the slot holding ``seq[start:start+n]`` (order ``n``'s table), or -1."""
    lo, hi = gram_key(seq, start, n, bits, packed)
    slot = _home(lo, hi, mask)
    while True:
        a = 3 * (t0 + slot)
        w = slots[a + 1]
        r = np.int64(w & _LOW32) - 1
        if r < 0:
            return -1
        if slots[a] == lo and (w >> _S32) == hi:
            if packed or _same(grams, g0, r, n, seq, start):
                return a
        slot = (slot + 1) & mask


@numba.njit(cache=True, inline="always")
def lookup(slots, t0, mask, grams, g0, seq, start, n, bits, packed):
    """Row (local to the order) of ``seq[start:start+n]``, or -1."""
    a = find_slot(slots, t0, mask, grams, g0, seq, start, n, bits, packed)
    if a < 0:
        return -1
    return np.int64(slots[a + 1] & _LOW32) - 1


@numba.njit(cache=True)
def fill_values(slots, slots_f, t0, mask, lp, bo):
    """Copy each row's prob and back-off weight into its slot."""
    for slot in range(mask + 1):
        a = 3 * (t0 + slot)
        r = np.int64(slots[a + 1] & _LOW32) - 1
        if r >= 0:
            slots_f[2 * (a + 2)] = lp[r]
            slots_f[2 * (a + 2) + 1] = bo[r]


@numba.njit(cache=True)
def build_table(grams, n, bits, packed, slots, t0, mask):
    """Insert every row of ``grams`` (flat, ``n`` ids a row) into the table of
    ``mask + 1`` slots starting at slot ``t0`` (which must be empty); a later
    duplicate wins.  Returns ``dup``: True for rows overridden by a later
    identical n-gram (SRILM keeps the last line of a duplicated n-gram).
    """
    rows = grams.shape[0] // n
    dup = np.zeros(rows, dtype=np.bool_)
    for r in range(rows):
        lo, hi = gram_key(grams, r * n, n, bits, packed)
        slot = _home(lo, hi, mask)
        while True:
            a = 3 * (t0 + slot)
            w = slots[a + 1]
            v = np.int64(w & _LOW32) - 1
            if v < 0:
                slots[a] = lo
                slots[a + 1] = (hi << _S32) | np.uint64(r + 1)
                break
            if slots[a] == lo and (w >> _S32) == hi and (
                    packed or _same(grams, 0, v, n, grams, r * n)):
                dup[v] = True
                slots[a + 1] = (hi << _S32) | np.uint64(r + 1)
                break
            slot = (slot + 1) & mask
    return dup


@numba.njit(parallel=True, cache=True)
def build_tables(grams, gram_off, row_off, plan, plan_off, bits, packed_upto, slots, tab_off,
                 tab_mask):
    """:func:`build_table` for several orders at once, in parallel.

    Worker ``k`` builds the orders ``plan[plan_off[k]:plan_off[k+1]]`` (the
    caller balances their sizes).  ``grams`` holds the rows of every order
    (order ``n`` from ``gram_off[n]``); returns the ``dup`` flags of all rows
    (order ``n`` from ``row_off[n]``).
    """
    dup = np.zeros(row_off[row_off.shape[0] - 1], dtype=np.bool_)
    for k in numba.prange(plan_off.shape[0] - 1):
        for i in range(plan_off[k], plan_off[k + 1]):
            n = plan[i]
            g = grams[gram_off[n]:gram_off[n] + (row_off[n + 1] - row_off[n]) * n]
            d = build_table(g, n, bits, n <= packed_upto, slots, tab_off[n], tab_mask[n])
            dup[row_off[n]:row_off[n + 1]] = d
    return dup


@numba.njit(parallel=True, cache=True)
def lookup_many(slots, t0, mask, table_grams, query, width, off, n, bits, packed):
    """Rows of many n-grams at once: ``query`` holds rows of ``width`` ids and the
    n-gram looked up in row ``r`` is ``query[r*width+off : r*width+off+n]``
    (so ``off=0`` asks for prefixes and ``off=1`` for suffixes of longer n-grams)."""
    rows = query.shape[0] // width
    out = np.empty(rows, dtype=np.int32)
    for r in numba.prange(rows):
        out[r] = lookup(slots, t0, mask, table_grams, 0, query, r * width + off, n, bits, packed)
    return out


@numba.njit(cache=True, inline="always")
def _score_seq(seq, L, first, order, uni, slots, slots_f, grams,
               tab_off, tab_mask, row_off, gram_off, bits, packed_upto, floor,
               out_lp, out_len, o0, ctx, kbuf):
    """Score ``seq[first:L]`` given ``seq[:first]`` as history; write per-token results.

    ``ctx[j]`` is the slot of the j-gram ending at the previous token (j >= 2;
    j = 1 is the previous word itself), valid for ``j <= m``.  ``kbuf`` is
    scratch for the keys of one token's lookups (3 words per order).
    """
    m = 0
    if first > 0:
        m = 1
    for i in range(first, L):
        w = seq[i]
        logp = uni[2 * w]
        bow = np.float32(0.0)
        length = 1
        new_m = 1
        kmax = min(m, order - 1)
        # Hash every n-gram this token may need and read each home slot first:
        # the loads do not depend on each other, so their cache misses overlap
        # instead of coming one after another in the probes below.
        touch = np.uint64(0)
        for j in range(1, kmax + 1):
            n = j + 1
            lo, hi = gram_key(seq, i - j, n, bits, n <= packed_upto)
            home = _home(lo, hi, tab_mask[n])
            kbuf[3 * j] = lo
            kbuf[3 * j + 1] = hi
            kbuf[3 * j + 2] = np.uint64(home)
            touch ^= slots[3 * (tab_off[n] + home) + 1]
        kbuf[0] = touch
        for j in range(1, kmax + 1):
            if j == 1:
                cb = uni[2 * seq[i - 1] + 1]
            else:
                cb = slots_f[2 * (ctx[j] + 2) + 1]
            bow = np.float32(bow + cb)
            n = j + 1
            r = probe(slots, tab_off[n], tab_mask[n], grams, gram_off[n], seq, i - j, n,
                      n <= packed_upto, kbuf[3 * j], kbuf[3 * j + 1], np.int64(kbuf[3 * j + 2]))
            if r >= 0:
                if new_m == j:
                    new_m = n
                    ctx[order + n] = r
                p = slots_f[2 * (r + 2)]
                if not np.isnan(p):
                    logp = p
                    bow = np.float32(0.0)
                    length = n
        if logp == -np.inf:
            logp = floor
        if logp == -np.inf:
            out_lp[o0 + i - first] = -np.inf
        else:
            out_lp[o0 + i - first] = np.float32(logp + bow)
        out_len[o0 + i - first] = length
        # the grams ending here become the next token's contexts
        for j in range(2, new_m + 1):
            ctx[j] = ctx[order + j]
        m = new_m


@numba.njit(cache=True, inline="always")
def _fill_seq(seq, ids, s, e, bos, eos, bos_id, eos_id):
    L = 0
    if bos:
        seq[0] = bos_id
        L = 1
    for t in range(s, e):
        seq[L] = ids[t]
        L += 1
    if eos:
        seq[L] = eos_id
        L += 1
    return L


@numba.njit(cache=True)
def _chunking(offsets):
    """``(chunks, sentences per chunk, longest sentence)`` for a prange over sentences."""
    n_sent = offsets.shape[0] - 1
    longest = 0
    for s in range(n_sent):
        longest = max(longest, offsets[s + 1] - offsets[s])
    # a fixed count, enough to balance any thread count (get_num_threads() would stop caching)
    n_chunks = min(n_sent, 1024)
    n_chunks = max(n_chunks, 1)
    step = (n_sent + n_chunks - 1) // n_chunks
    return n_chunks, max(step, 1), longest


@numba.njit(parallel=True, cache=True)
def score_tokens(ids, offsets, bos, eos, bos_id, eos_id, order, uni, slots, slots_f,
                 grams, tab_off, tab_mask, row_off, gram_off, bits, packed_upto, floor,
                 out_off):
    """Per-token log10 probabilities and n-gram lengths for many sentences.

    Sentence ``s`` is ``ids[offsets[s]:offsets[s+1]]``; with ``bos`` it is
    preceded by ``<s>`` (context only), with ``eos`` followed by ``</s>``
    (scored).  Results for sentence ``s`` start at ``out_off[s]``.
    ``floor`` replaces a -inf probability (-inf keeps SRILM's convention;
    KenLM's is -99, plus the back-off weights).
    """
    n_sent = offsets.shape[0] - 1
    total = out_off[n_sent]
    out_lp = np.empty(total, dtype=np.float32)
    out_len = np.empty(total, dtype=np.int8)
    n_chunks, step, longest = _chunking(offsets)
    for c in numba.prange(n_chunks):
        # one scratch buffer per chunk of sentences, not per sentence
        seq = np.empty(longest + 2, dtype=np.int32)
        ctx = np.zeros(2 * order + 2, dtype=np.int32)
        kbuf = np.zeros(3 * order + 3, dtype=np.uint64)
        for s in range(c * step, min(n_sent, (c + 1) * step)):
            L = _fill_seq(seq, ids, offsets[s], offsets[s + 1], bos, eos, bos_id, eos_id)
            first = 1 if bos else 0
            _score_seq(seq, L, first, order, uni, slots, slots_f, grams, tab_off,
                       tab_mask, row_off, gram_off, bits, packed_upto, floor, out_lp, out_len,
                       out_off[s], ctx, kbuf)
    return out_lp, out_len


@numba.njit(parallel=True, cache=True)
def score_sentences(ids, offsets, bos, eos, bos_id, eos_id, unk_id, order, uni, slots,
                    slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits,
                    packed_upto, floor):
    """Per-sentence totals in one pass: ``(logprob, oovs, zeroprobs)``.

    ``logprob`` is the double sum of the finite float32 token scores (SRILM),
    or their float32 sum as KenLM adds them when ``floor`` is finite.  A token
    scored -inf is an OOV when it is ``<unk>`` and a zeroprob otherwise
    (SRILM's ``-ppl`` bookkeeping); with a finite ``floor`` none are -inf.
    """
    n_sent = offsets.shape[0] - 1
    total = np.zeros(n_sent, dtype=np.float64)
    oov = np.zeros(n_sent, dtype=np.int32)
    zero = np.zeros(n_sent, dtype=np.int32)
    n_chunks, step, longest = _chunking(offsets)
    first = 1 if bos else 0
    for c in numba.prange(n_chunks):
        seq = np.empty(longest + 2, dtype=np.int32)
        ctx = np.zeros(2 * order + 2, dtype=np.int32)
        out_lp = np.empty(longest + 2, dtype=np.float32)
        out_len = np.empty(longest + 2, dtype=np.int8)
        kbuf = np.zeros(3 * order + 3, dtype=np.uint64)
        for s in range(c * step, min(n_sent, (c + 1) * step)):
            L = _fill_seq(seq, ids, offsets[s], offsets[s + 1], bos, eos, bos_id, eos_id)
            _score_seq(seq, L, first, order, uni, slots, slots_f, grams, tab_off, tab_mask,
                       row_off, gram_off, bits, packed_upto, floor, out_lp, out_len, 0, ctx, kbuf)
            acc = 0.0
            acc32 = np.float32(0.0)
            no = 0
            nz = 0
            for t in range(L - first):
                v = out_lp[t]
                if v == -np.inf:
                    if seq[first + t] == unk_id:
                        no += 1
                    else:
                        nz += 1
                else:
                    acc += v
                    acc32 = np.float32(acc32 + v)
            total[s] = acc if floor == -np.inf else np.float64(acc32)
            oov[s] = no
            zero[s] = nz
    return total, oov, zero


@numba.njit(cache=True)
def word_logprob(seq, h0, L, order, uni, slots, slots_f, grams, tab_off,
                 tab_mask, row_off, gram_off, bits, packed_upto):
    """SRILM's ``bo(w, h)`` for ``w = seq[L]`` after the history ``seq[h0:L]``.

    Contexts are looked up directly (no carried state): the suffix closure of
    context nodes (model.py) makes stopping at the first missing one exact.
    """
    w = seq[L]
    logp = uni[2 * w]
    bow = np.float32(0.0)
    kmax = min(L - h0, order - 1)
    for j in range(1, kmax + 1):
        if j == 1:
            cb = uni[2 * seq[L - 1] + 1]
        else:
            c = find_slot(slots, tab_off[j], tab_mask[j], grams, gram_off[j], seq, L - j, j,
                          bits, j <= packed_upto)
            if c < 0:
                break
            cb = slots_f[2 * (c + 2) + 1]
        bow = np.float32(bow + cb)
        n = j + 1
        r = find_slot(slots, tab_off[n], tab_mask[n], grams, gram_off[n], seq, L - j, n,
                      bits, n <= packed_upto)
        if r >= 0:
            p = slots_f[2 * (r + 2)]
            if not np.isnan(p):
                logp = p
                bow = np.float32(0.0)
    if logp == -np.inf:
        return logp
    return np.float32(logp + bow)


@numba.njit(cache=True)
def sample_sentences(n_sent, max_len, seed, bos_id, eos_id, order, cand_words, uni,
                     slots, slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits,
                     packed_upto):
    """Draw sentences word by word from the model's conditional distributions.

    Each step scores every candidate word (``cand_words``: the vocabulary minus
    ``<s>``) after the current history with the back-off rule and samples from
    the normalised probabilities; a sentence ends at ``</s>`` or ``max_len``
    words.  Seeded inside the kernel (single-threaded), so runs repeat exactly.
    """
    np.random.seed(seed)
    V = cand_words.shape[0]
    out = np.empty(n_sent * max_len + 1, dtype=np.int32)
    out_off = np.zeros(n_sent + 1, dtype=np.int64)
    seq = np.empty(max_len + 2, dtype=np.int32)
    probs = np.empty(V, dtype=np.float64)
    ln10 = np.log(10.0)
    pos = 0
    for s in range(n_sent):
        seq[0] = bos_id
        L = 1
        while L <= max_len:
            h0 = max(0, L - (order - 1))
            z = 0.0
            for c in range(V):
                seq[L] = cand_words[c]
                v = word_logprob(seq, h0, L, order, uni, slots, slots_f, grams,
                                 tab_off, tab_mask, row_off, gram_off, bits, packed_upto)
                p = 0.0 if v == -np.inf else np.exp(np.float64(v) * ln10)
                probs[c] = p
                z += p
            u = np.random.random() * z
            acc = 0.0
            pick = V - 1
            for c in range(V):
                acc += probs[c]
                if acc >= u and probs[c] > 0.0:
                    pick = c
                    break
            w = cand_words[pick]
            if w == eos_id:
                break
            seq[L] = w
            out[pos] = w
            pos += 1
            L += 1
        out_off[s + 1] = pos
    return out[:pos].copy(), out_off
