"""N-gram hash tables and scoring kernels (CPU).  The CUDA twin is ``kernels_cuda.py``.

Layout (built by :mod:`nlpkit.ngram.scoring.tables`, all flat 1-D arrays so kernels take
plain arguments):

* unigrams are dense, indexed by word id: ``uni[2w]`` is the log10 prob
  (float32, -inf where the word has none) and ``uni[2w+1]`` the back-off weight;
* orders ``n >= 2`` live in one open-addressing table per order (linear
  probing), laid side by side in ``slots``: table ``n`` starts at slot
  ``tab_off[n]`` and its last slot is ``tab_mask[n]`` (the name is older than
  the layout: sizes are not powers of two but 1.5 slots a row, KenLM's probing
  multiplier, and a key's home slot is its hash scaled to the size, see
  ``scalar.home_slot``; a table at most 2/3 full, where power-of-two sizes
  left them 35-70% full).  A slot is three uint64 words:
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

from ..prefetch import prefetch

from .scalar import LOW32 as _LOW32, S32 as _S32, FNV0 as _FNV0, compiled

# the scalar math shared with scoring_cuda.py
_M = compiled(numba.njit(inline="always"))
_pack_id, _hash_id, _home, _next = _M["pack_id"], _M["hash_id"], _M["home_slot"], _M["next_slot"]
_slot_row, _tally_token = _M["slot_row"], _M["tally_token"]
_backoff_step, _token_logprob = _M["backoff_step"], _M["token_logprob"]
# rows ahead whose slot is prefetched while building or checking a table
_AHEAD = 12


@numba.njit(cache=True, inline="always")
def gram_key(seq, start, n, bits, packed):
    """``(lo, hi)``: ``seq[start:start+n]`` packed into 96 bits, or ``(hash, 0)``."""
    lo = np.uint64(0)
    hi = np.uint64(0)
    if packed:
        for t in range(n):
            lo, hi = _pack_id(lo, hi, seq[start + t], bits)
    else:
        lo = _FNV0
        for t in range(n):
            lo = _hash_id(lo, seq[start + t])
    return lo, hi


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
        r = _slot_row(slots, a, lo, hi)
        if r == -1:
            return -1
        if r >= 0 and (packed or _same(grams, g0, r, n, seq, start)):
            return a
        slot = _next(slot, mask)


@numba.njit(cache=True, inline="always")
def find_slot(slots, t0, mask, grams, g0, seq, start, n, bits, packed):
    """Word index of the slot holding ``seq[start:start+n]`` (order ``n``'s table), or -1."""
    lo, hi = gram_key(seq, start, n, bits, packed)
    return probe(slots, t0, mask, grams, g0, seq, start, n, packed, lo, hi, _home(lo, hi, mask))


@numba.njit(cache=True, inline="always")
def lookup(slots, t0, mask, grams, g0, seq, start, n, bits, packed):
    """Row (local to the order) of ``seq[start:start+n]``, or -1."""
    a = find_slot(slots, t0, mask, grams, g0, seq, start, n, bits, packed)
    if a < 0:
        return -1
    return np.int64(slots[a + 1] & _LOW32) - 1


@numba.njit(cache=True, inline="always")
def _prefetch_home(slots, t0, mask, seq, start, n, bits, packed):
    lo, hi = gram_key(seq, start, n, bits, packed)
    prefetch(slots, 3 * (t0 + _home(lo, hi, mask)) + 1)


@numba.njit(cache=True)
def build_table(grams, n, bits, packed, slots, slots_f, t0, mask, lp, bo):
    """Insert every row of ``grams`` (flat, ``n`` ids a row) into the table of
    ``mask + 1`` slots starting at slot ``t0`` (which must be empty), with its
    prob ``lp`` and back-off weight ``bo``; a later duplicate wins.  Returns
    ``dup``: True for rows overridden by a later identical n-gram (SRILM keeps
    the last line of a duplicated n-gram).
    """
    rows = grams.shape[0] // n
    dup = np.zeros(rows, dtype=np.bool_)
    for r in range(rows):
        if r + _AHEAD < rows:
            _prefetch_home(slots, t0, mask, grams, (r + _AHEAD) * n, n, bits, packed)
        lo, hi = gram_key(grams, r * n, n, bits, packed)
        slot = _home(lo, hi, mask)
        while True:
            a = 3 * (t0 + slot)
            w = slots[a + 1]
            v = np.int64(w & _LOW32) - 1
            if v < 0:
                slots[a] = lo
                break
            if slots[a] == lo and (w >> _S32) == hi and (
                    packed or _same(grams, 0, v, n, grams, r * n)):
                dup[v] = True
                break
            slot = _next(slot, mask)
        slots[a + 1] = (hi << _S32) | np.uint64(r + 1)
        slots_f[2 * (a + 2)] = lp[r]
        slots_f[2 * (a + 2) + 1] = bo[r]
    return dup


@numba.njit(parallel=True, cache=True)
def build_tables(grams, gram_off, row_off, plan, plan_off, bits, packed_upto, slots, slots_f,
                 tab_off, tab_mask, lp, bo):
    """:func:`build_table` for several orders at once, in parallel.

    Worker ``k`` builds the orders ``plan[plan_off[k]:plan_off[k+1]]`` (the
    caller balances their sizes).  ``grams`` holds the rows of every order
    (order ``n`` from ``gram_off[n]``), ``lp``/``bo`` their values (from
    ``row_off[n]``); returns the ``dup`` flags of all rows (from ``row_off[n]``).
    """
    dup = np.zeros(row_off[row_off.shape[0] - 1], dtype=np.bool_)
    for k in numba.prange(plan_off.shape[0] - 1):
        for i in range(plan_off[k], plan_off[k + 1]):
            n = plan[i]
            r0, r1 = row_off[n], row_off[n + 1]
            g = grams[gram_off[n]:gram_off[n] + (r1 - r0) * n]
            d = build_table(g, n, bits, n <= packed_upto, slots, slots_f, tab_off[n],
                            tab_mask[n], lp[r0:r1], bo[r0:r1])
            dup[r0:r1] = d
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


@numba.njit(parallel=True, cache=True)
def count_broken_contexts(slots, tab_off, tab_mask, grams, gram_off, row_off, has_bo,
                          uni_has_bo, order, bits, packed_upto, orphans):
    """How many n-grams of each order need the reader's repairs (model.py).

    Counts, for orders ``n >= 2``, the rows whose context (all ids but the
    last) has no back-off line, when ``orphans``, plus the context nodes (rows
    with a back-off weight, ``n >= 3``) whose suffix (all ids but the first)
    is not in order ``n - 1``.  Rows ``_AHEAD`` further on are prefetched.
    """
    bad = np.zeros(order + 1, dtype=np.int64)
    for n in range(2, order + 1):
        m = n - 1
        rows = row_off[n + 1] - row_off[n]
        g0, h0, hm = gram_off[n], row_off[n], row_off[m]
        t0, mask, pk = tab_off[m], tab_mask[m], m <= packed_upto
        n_chunks = min(rows, 256)
        found = np.zeros(n_chunks, dtype=np.int64)
        for c in numba.prange(n_chunks):
            r1 = rows * (c + 1) // n_chunks
            k = 0
            for r in range(rows * c // n_chunks, r1):
                base = g0 + r * n
                if n >= 3 and r + _AHEAD < r1:
                    if orphans:
                        _prefetch_home(slots, t0, mask, grams, base + _AHEAD * n, m, bits, pk)
                    if has_bo[h0 + r + _AHEAD]:
                        _prefetch_home(slots, t0, mask, grams, base + _AHEAD * n + 1, m, bits, pk)
                if orphans:
                    if n == 2:
                        ok = uni_has_bo[grams[base]]
                    else:
                        row = lookup(slots, t0, mask, grams, gram_off[m], grams, base, m, bits, pk)
                        ok = row >= 0 and has_bo[hm + row]
                    if not ok:
                        k += 1
                if n >= 3 and has_bo[h0 + r]:
                    if lookup(slots, t0, mask, grams, gram_off[m], grams, base + 1, m, bits,
                              pk) < 0:
                        k += 1
            found[c] = k
        bad[n] = found.sum()
    return bad


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
            n = j + 1
            r = probe(slots, tab_off[n], tab_mask[n], grams, gram_off[n], seq, i - j, n,
                      n <= packed_upto, kbuf[3 * j], kbuf[3 * j + 1], np.int64(kbuf[3 * j + 2]))
            logp, bow, length, new_m = _backoff_step(j, r, cb, order, ctx, slots_f, logp, bow,
                                                     length, new_m)
        out_lp[o0 + i - first] = _token_logprob(logp, bow, floor)
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
                acc, acc32, no, nz = _tally_token(out_lp[t], seq[first + t] == unk_id, acc,
                                                  acc32, no, nz)
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
