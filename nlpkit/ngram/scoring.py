"""N-gram hash tables and scoring kernels (CPU).  The CUDA twin is ``scoring_cuda.py``.

Layout (built by :mod:`nlpkit.ngram.model`, all flat 1-D arrays so kernels take
plain arguments):

* unigrams are dense, indexed by word id: ``uni_lp`` (float32, -inf where the
  word has no probability) and ``uni_bo`` (float32, 0 where none);
* orders ``n >= 2`` live in one open-addressing table per order, laid side by
  side in ``keys``/``vals`` (``tab_off[n]``, size ``tab_mask[n] + 1``, a power
  of two).  ``vals`` holds the row of the n-gram in the flat row arrays
  (``lp``, ``bo``, starting at ``row_off[n]``) or -1 for an empty slot;
* the key of an n-gram is its ids packed into 64 bits (``bits`` per id) when
  ``n * bits <= 64`` -- then the key *is* the n-gram -- and otherwise a 64-bit
  hash of the ids, checked against the stored ids (``grams`` from
  ``gram_off[n]``, ``n`` ids a row) so a collision can never give a wrong row.

A row whose ``lp`` is NaN is a context node without a probability of its own
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
_ONE = np.uint64(1)


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
    """The 64-bit key of ``seq[start:start+n]``: the packed ids, or a hash of them."""
    k = np.uint64(0)
    if packed:
        b = np.uint64(bits)
        for t in range(n):
            k = (k << b) | np.uint64(seq[start + t])
    else:
        k = np.uint64(0xCBF29CE484222325)
        for t in range(n):
            k = (k ^ np.uint64(seq[start + t])) * _PRIME
            k = _mix(k + _MUL)
    return k


@numba.njit(cache=True, inline="always")
def _same(grams, g0, row, n, seq, start):
    base = g0 + row * n
    for t in range(n):
        if grams[base + t] != seq[start + t]:
            return False
    return True


@numba.njit(cache=True, inline="always")
def lookup(keys, vals, t0, mask, grams, g0, seq, start, n, bits, packed):
    """Row (local to the order) of ``seq[start:start+n]``, or -1."""
    k = gram_key(seq, start, n, bits, packed)
    slot = np.int64(_mix(k) & np.uint64(mask))
    while True:
        v = vals[t0 + slot]
        if v < 0:
            return -1
        if keys[t0 + slot] == k:
            if packed or _same(grams, g0, v, n, seq, start):
                return v
        slot = (slot + 1) & mask


@numba.njit(cache=True)
def build_table(grams, n, bits, packed, mask):
    """Insert every row of ``grams`` (flat, ``n`` ids a row); a later duplicate wins.

    Returns ``(keys, vals, dup)``: ``dup[r]`` is True for rows overridden by a
    later identical n-gram (SRILM keeps the last line of a duplicated n-gram).
    """
    rows = grams.shape[0] // n
    keys = np.zeros(mask + 1, dtype=np.uint64)
    vals = np.full(mask + 1, -1, dtype=np.int32)
    dup = np.zeros(rows, dtype=np.bool_)
    for r in range(rows):
        k = gram_key(grams, r * n, n, bits, packed)
        slot = np.int64(_mix(k) & np.uint64(mask))
        while True:
            v = vals[slot]
            if v < 0:
                keys[slot] = k
                vals[slot] = r
                break
            if keys[slot] == k and (packed or _same(grams, 0, v, n, grams, r * n)):
                dup[v] = True
                vals[slot] = r
                break
            slot = (slot + 1) & mask
    return keys, vals, dup


@numba.njit(parallel=True, cache=True)
def lookup_many(keys, vals, mask, table_grams, query, width, off, n, bits, packed):
    """Rows of many n-grams at once: ``query`` holds rows of ``width`` ids and the
    n-gram looked up in row ``r`` is ``query[r*width+off : r*width+off+n]``
    (so ``off=0`` asks for prefixes and ``off=1`` for suffixes of longer n-grams)."""
    rows = query.shape[0] // width
    out = np.empty(rows, dtype=np.int32)
    for r in numba.prange(rows):
        out[r] = lookup(keys, vals, 0, mask, table_grams, 0, query, r * width + off, n, bits, packed)
    return out


@numba.njit(cache=True, inline="always")
def _score_seq(seq, L, first, order, uni_lp, uni_bo, lp, bo, keys, vals, grams,
               tab_off, tab_mask, row_off, gram_off, bits, packed_upto, floor,
               out_lp, out_len, o0, ctx):
    """Score ``seq[first:L]`` given ``seq[:first]`` as history; write per-token results.

    ``ctx[j]`` is the row of the j-gram ending at the previous token (j >= 2;
    j = 1 is the previous word itself), valid for ``j <= m``.
    """
    m = 0
    if first > 0:
        m = 1
    for i in range(first, L):
        w = seq[i]
        logp = uni_lp[w]
        bow = np.float32(0.0)
        length = 1
        new_m = 1
        kmax = min(m, order - 1)
        for j in range(1, kmax + 1):
            if j == 1:
                cb = uni_bo[seq[i - 1]]
            else:
                cb = bo[row_off[j] + ctx[j]]
            bow = np.float32(bow + cb)
            n = j + 1
            r = lookup(keys, vals, tab_off[n], tab_mask[n], grams, gram_off[n], seq, i - j, n,
                       bits, n <= packed_upto)
            if r >= 0:
                if new_m == j:
                    new_m = n
                    ctx[order + n] = r
                p = lp[row_off[n] + r]
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


@numba.njit(parallel=True, cache=True)
def score_tokens(ids, offsets, bos, eos, bos_id, eos_id, order, uni_lp, uni_bo, lp, bo, keys,
                 vals, grams, tab_off, tab_mask, row_off, gram_off, bits, packed_upto, floor,
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
    for s in numba.prange(n_sent):
        a = offsets[s]
        b = offsets[s + 1]
        seq = np.empty(b - a + 2, dtype=np.int32)
        ctx = np.zeros(2 * order + 2, dtype=np.int32)
        L = _fill_seq(seq, ids, a, b, bos, eos, bos_id, eos_id)
        first = 1 if bos else 0
        _score_seq(seq, L, first, order, uni_lp, uni_bo, lp, bo, keys, vals, grams, tab_off,
                   tab_mask, row_off, gram_off, bits, packed_upto, floor, out_lp, out_len,
                   out_off[s], ctx)
    return out_lp, out_len


@numba.njit(parallel=True, cache=True)
def score_sentences(ids, offsets, bos, eos, bos_id, eos_id, unk_id, order, uni_lp, uni_bo, lp,
                    bo, keys, vals, grams, tab_off, tab_mask, row_off, gram_off, bits,
                    packed_upto, floor):
    """Per-sentence totals in one pass: ``(logprob, oovs, zeroprobs)``.

    ``logprob`` is the double sum of the finite float32 token scores.  A token
    scored -inf is an OOV when it is ``<unk>`` and a zeroprob otherwise
    (SRILM's ``-ppl`` bookkeeping); with a finite ``floor`` none are -inf.
    """
    n_sent = offsets.shape[0] - 1
    total = np.zeros(n_sent, dtype=np.float64)
    oov = np.zeros(n_sent, dtype=np.int32)
    zero = np.zeros(n_sent, dtype=np.int32)
    for s in numba.prange(n_sent):
        a = offsets[s]
        b = offsets[s + 1]
        seq = np.empty(b - a + 2, dtype=np.int32)
        ctx = np.zeros(2 * order + 2, dtype=np.int32)
        L = _fill_seq(seq, ids, a, b, bos, eos, bos_id, eos_id)
        first = 1 if bos else 0
        out_lp = np.empty(L, dtype=np.float32)
        out_len = np.empty(L, dtype=np.int8)
        _score_seq(seq, L, first, order, uni_lp, uni_bo, lp, bo, keys, vals, grams, tab_off,
                   tab_mask, row_off, gram_off, bits, packed_upto, floor, out_lp, out_len, 0, ctx)
        acc = 0.0
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
        total[s] = acc
        oov[s] = no
        zero[s] = nz
    return total, oov, zero


@numba.njit(cache=True)
def word_logprob(seq, h0, L, order, uni_lp, uni_bo, lp, bo, keys, vals, grams, tab_off,
                 tab_mask, row_off, gram_off, bits, packed_upto):
    """SRILM's ``bo(w, h)`` for ``w = seq[L]`` after the history ``seq[h0:L]``.

    Contexts are looked up directly (no carried state): the suffix closure of
    context nodes (model.py) makes stopping at the first missing one exact.
    """
    w = seq[L]
    logp = uni_lp[w]
    bow = np.float32(0.0)
    kmax = min(L - h0, order - 1)
    for j in range(1, kmax + 1):
        if j == 1:
            cb = uni_bo[seq[L - 1]]
        else:
            c = lookup(keys, vals, tab_off[j], tab_mask[j], grams, gram_off[j], seq, L - j, j,
                       bits, j <= packed_upto)
            if c < 0:
                break
            cb = bo[row_off[j] + c]
        bow = np.float32(bow + cb)
        n = j + 1
        r = lookup(keys, vals, tab_off[n], tab_mask[n], grams, gram_off[n], seq, L - j, n,
                   bits, n <= packed_upto)
        if r >= 0:
            p = lp[row_off[n] + r]
            if not np.isnan(p):
                logp = p
                bow = np.float32(0.0)
    if logp == -np.inf:
        return logp
    return np.float32(logp + bow)


@numba.njit(cache=True)
def sample_sentences(n_sent, max_len, seed, bos_id, eos_id, order, cand_words, uni_lp, uni_bo,
                     lp, bo, keys, vals, grams, tab_off, tab_mask, row_off, gram_off, bits,
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
                v = word_logprob(seq, h0, L, order, uni_lp, uni_bo, lp, bo, keys, vals, grams,
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
