"""Interpolated modified Kneser-Ney exactly as KenLM's ``lmplz`` computes it.

The stages follow lmplz's builder (and ``LMPLZ-KN.md``, the step-by-step
specification this module was written from), over the sorted count tables of
:mod:`nlpkit.ngram.counting` (word ids are lmplz's: ``<unk> <s> </s>``, then
first appearance; rows in the counting layout, see :mod:`.joins`):

    adjusted counts  a(x): raw at the top order and for n-grams starting with <s>,
                     else the number of distinct left neighbours, counted by joining
                     each order with the one above by suffix
    discounts        D1 D2 D3 per order from the counts of counts of a (or the fallback)
    probabilities    per context: gamma = sum D·N / sum a; u = (a - D(a)) / sum a; then
                     p = u + gamma · p(suffix), order by order, in float32
    output           each order re-sorted into lmplz's suffix order; back-off weights
                     (log10 gamma of each context) paired with the lines as lmplz pairs them

All estimation arithmetic is float32 with one rounding per operation, as in
lmplz: NumPy float32 array arithmetic does exactly that (no fused multiply-add),
and the logarithms are glibc's ``log10f`` through Numba.  Every table is held in
memory or in temporary files as the memory plan says.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import NlpkitError
from ..backoff import BackoffModel
from ..counting.merge import sort_table
from ..counting.runs import GroupBlocks, TableWriter
from . import joins, kn_kernels as kk

UNK, BOS, EOS = 0, 1, 2
DEFAULT_FALLBACK = (0.5, 1.0, 1.5)
_F = np.float32


def check_options(order, discount_fallback, prune):
    """The fallback discounts and prune thresholds in their working form (errors early)."""
    return _fallback_values(discount_fallback), _prune_thresholds(prune, order)


@dataclass
class KnModel:
    """An estimated lmplz model as tables, printed lazily order by order: the unigrams
    (dense), and per order k >= 2 the rows with their probabilities in the counting layout
    (re-sorted into lmplz's suffix order as they are printed) and the gammas of the order's
    contexts (order k-1, suffix order: the back-offs of order k-1's lines)."""
    vocab: object  # the WordTable: ids are lmplz's
    order: int
    uni_rows: np.ndarray
    p_uni: np.ndarray
    probs: list  # index k-2: Table of words, p (and count when pruning)
    gammas: list  # index k-1: Table of the order-(k+1) contexts and their gammas
    thresholds: list
    counts: list
    meta: dict = field(default_factory=dict)
    plan: object = None

    def sections(self, block=1 << 18):
        """Per order ``(n, blocks)`` of ``(words, their layout, lp, bow or NaN)``: exactly
        the lines lmplz prints, in its order."""
        N = self.order
        # lmplz pairs an order's lines with the next order's contexts by key only when
        # that order is pruned (LMPLZ-KN.md §6), else one by one
        matched = [self.thresholds is not None and k + 1 < N and self.thresholds[k + 1] > 0
                   for k in range(N)]
        yield 1, _unigram_lines(self.uni_rows, self.p_uni, self.gammas[0] if N > 1 else None,
                                matched[0], block)
        for k in range(2, N + 1):
            t = self.thresholds[k - 1] if self.thresholds is not None else None
            yield k, _lines(self.probs[k - 2], k, t, self.gammas[k - 1] if k < N else None,
                            matched[k - 1], len(self.vocab), self.plan, block)

    def allowed(self, words) -> np.ndarray:
        """Per id of :meth:`sections`: is the word one of ``words`` (or a mark)?"""
        from ..editing.filter import allowed_mask
        return allowed_mask(self.vocab, words)

    def write_arpa(self, path, sections=None, counts=None) -> None:
        """Write the model as lmplz prints it, order by order (atomic; ``.gz`` by name)."""
        from ..formats.arpa_lmplz import write_sections
        wpool, woff = self.vocab.byte_pool()
        write_sections(path, self.counts if counts is None else counts,
                       self.sections() if sections is None else sections, wpool, woff)

    def to_backoff_model(self) -> BackoffModel:
        ngrams, lps, bos, hbs = [], [], [], []
        from .katz import as_natural
        for n, blocks in self.sections():
            parts = [(as_natural(b[0], b[1]), b[2], b[3]) for b in blocks]
            ngrams.append(np.concatenate([b[0] for b in parts]) if parts
                          else np.zeros((0, n), np.int32))
            lps.append(np.concatenate([b[1] for b in parts]) if parts else np.zeros(0, _F))
            b = np.concatenate([b[2] for b in parts]) if parts else np.zeros(0, _F)
            hbs.append(np.full(b.shape[0], n < self.order))
            bos.append(np.where(b == b, b, _F(0)).astype(_F))
        return BackoffModel(self.vocab.words(), ngrams, lps, bos, hbs, meta=dict(self.meta))


def estimate(sc, vocab, *, largest_padded, words_read, sentences, discount_fallback=None,
             interpolate_unigrams=True, prune=None, plan=None) -> KnModel:
    """lmplz's interpolated modified Kneser-Ney model of the sorted counts ``sc``.

    ``largest_padded``: the left-padded N-gram that comes last in suffix order (its
    suffixes keep raw counts in the discount statistics, LMPLZ-KN.md §3).
    ``discount_fallback``: None (a bad discount estimate is an error, as lmplz
    refuses), True for lmplz's default ``0.5 1 1.5``, or up to three numbers.
    ``prune``: lmplz's ``--prune t1 t2 …`` (must start with 0, never decrease).
    ``plan``: the memory plan (None keeps every table in memory).
    """
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    space, block = plan.space_for_tables(), plan.block_rows
    N = sc.order
    W = sc.W
    fallback, thresholds = check_options(N, discount_fallback, prune)
    uni_count = sc.uni_count.copy()
    uni_rows = uni_count > 0
    uni_rows[UNK] = True  # <unk> is a unigram of every model, seen or not
    # adjusted counts and their statistics, order by order
    uni_a = np.zeros(W, np.int64)
    adjusted = [None] * N  # tables of a, aligned with each order's rows (orders 2..N-1)
    stats = [None] * N
    if N == 1:
        uni_a[:] = uni_count
    else:
        last = np.zeros(W, np.int64)
        for blk in sc.table(2).blocks(["words"]):
            last += np.bincount(blk["words"][:, 1], minlength=W)
        uni_a[:] = last
    uni_a[UNK] = uni_a[BOS] = 0
    stats[0] = _stats_of(uni_a[uni_rows], None)
    for k in range(2, N):
        adjusted[k - 1] = _adjusted(sc.table(k + 1), sc.table(k), k, W, space, block)
    for k in range(2, N + 1):
        stats[k - 1] = _table_stats(sc.table(k), adjusted[k - 1], k, block)
    _raw_counts_at_the_end(stats, sc, uni_a, uni_count, largest_padded, N)
    discounts = [_discounts(stats[k], k + 1, fallback) for k in range(N)]
    # probabilities, bottom up
    p_uni, _ = _unigram_probs(uni_rows, uni_a, discounts[0], interpolate_unigrams)
    probs, gammas = [], [None] * N  # gammas index k-1: the contexts of order k+1
    counts = [int(np.count_nonzero(uni_rows))]
    lower = None
    for k in range(2, N + 1):
        t = thresholds[k - 1] if thresholds is not None else None
        pk, gammas[k - 2], printed = _order_probs(
            sc.table(k), adjusted[k - 1], k, discounts[k - 1], t, lower, p_uni, W, space, block)
        sc.table(k).drop_columns(["count"] if t is None else [])
        if adjusted[k - 1] is not None:
            adjusted[k - 1].drop()
        probs.append(pk)
        counts.append(printed)
        lower = pk
    meta = {"smoothing": "kn", "discounts": [d.tolist() for d in discounts],
            "prune": thresholds, "tokens": words_read, "sentences": sentences}
    return KnModel(vocab, N, np.flatnonzero(uni_rows).astype(np.int32), p_uni, probs, gammas,
                   thresholds, counts, meta, plan)


# ----------------------------------------------------------------------------- adjusted counts
def _adjusted(upper, table, k, W, space, block):
    """a(x) of order k (1 < k < N), one value per row of ``table``: the number of rows of
    order k+1 whose suffix is x, except raw counts for n-grams that start with <s>."""
    out = TableWriter({"a": (np.int64, ())}, space, stem=f"adj{k}", capacity=len(table))
    rows = _SuffixRows(table, k, W, block, ["count"])
    for blk, final in GroupBlocks(upper, ["words"], k, block):
        rows.tally(blk["words"])
        for seg in rows.take_done():  # (rows no later n-gram can extend: written now)
            out.append(a=seg)
    for seg in rows.finish():
        out.append(a=seg)
    return out.close()


class _SuffixRows:
    """The order-k table read forward as a window, to tally for each of its rows how many
    rows of order k+1 have it as suffix; finished rows are handed out in order."""

    def __init__(self, table, k, W, block, names):
        self.k = k
        self.names = ["words", *names]
        self.it = table.blocks(self.names, block)
        self.win = next(self.it, None)
        self.nxt = next(self.it, None)
        self.pos = 0
        self.tally_ = np.zeros(self.win["words"].shape[0] if self.win else 0, np.int64)
        self.dense = np.full(W, -1, np.int32)
        self.loaded = np.array([-1, -1], np.int64)
        self.done = []

    def tally(self, words):
        rows = words.shape[0]
        idx = np.empty(rows, np.int64)
        i = 0
        while True:
            j, self.pos, status = joins.suffix_join(
                words, i, rows, self.k + 1, self.win["words"], self.pos,
                self.win["words"].shape[0], self.nxt is None, self.dense, self.loaded, idx)
            self.tally_ += np.bincount(idx[i:j], minlength=self.tally_.shape[0])
            i = j
            if status != joins.NEED_Y:
                return
            self._slide()

    def _slide(self):
        keep = self.pos
        self.done.append(self._finished(0, keep))
        self.win = {k: np.concatenate([self.win[k][keep:], self.nxt[k]]) for k in self.names}
        self.tally_ = np.concatenate([self.tally_[keep:],
                                      np.zeros(self.nxt["words"].shape[0], np.int64)])
        self.nxt = next(self.it, None)
        self.pos = 0

    def _finished(self, a, b):
        a_ = self.tally_[a:b].copy()
        first = self.win["words"][a:b, self.k - 2]  # w1 of each row
        bos = first == BOS
        a_[bos] = self.win["count"][a:b][bos]
        return a_

    def take_done(self):
        done, self.done = self.done, []
        return done

    def finish(self):
        yield from self.take_done()
        while self.win is not None:
            yield self._finished(0, self.win["words"].shape[0])
            if self.nxt is None:
                break
            self.win = self.nxt
            self.tally_ = np.zeros(self.win["words"].shape[0], np.int64)
            self.nxt = next(self.it, None)
        self.win = None


def _stats_of(s, raw_fix):
    return np.array([np.count_nonzero(s == k) for k in range(1, 5)], np.int64)


def _table_stats(table, adjusted, k, block):
    """Counts of counts n1..n4 of order k's statistics count s (= a)."""
    n = np.zeros(4, np.int64)
    if adjusted is None:  # the top order: a = c
        for blk in table.blocks(["count"], block):
            c = blk["count"]
            n += np.array([np.count_nonzero(c == v) for v in range(1, 5)], np.int64)
        return n
    for blk in adjusted.blocks(["a"], block):
        a = blk["a"]
        n += np.array([np.count_nonzero(a == v) for v in range(1, 5)], np.int64)
    return n


def _raw_counts_at_the_end(stats, sc, uni_a, uni_count, largest, N):
    """lmplz's scan ends with the suffixes of the largest left-padded N-gram still
    pending; they enter the statistics with their raw count (LMPLZ-KN.md §3)."""
    for j in range(1, N):
        x = largest[N - j:]
        if j == 1:
            s_old, s_new = uni_a[x[0]], uni_count[x[0]]
            found = uni_count[x[0]] > 0 or x[0] == UNK
        else:
            layout = np.array([list(x[j - 2::-1]) + [x[j - 1]]], np.int32)
            s_old = s_new = None
            found = False
            for blk in sc.table(j).blocks(["words", "count"]):
                i = int(joins.find_rows(blk["words"], layout)[0]) if blk["words"].shape[0] else -1
                if i >= 0:
                    s_new = int(blk["count"][i])
                    found = True
                    break
            if found:
                s_old = _a_of(sc, j, layout, N)
        if found and s_old != s_new:
            if 1 <= s_old <= 4:
                stats[j - 1][s_old - 1] -= 1
            if 1 <= s_new <= 4:
                stats[j - 1][s_new - 1] += 1
        if x[0] == BOS:
            break


def _a_of(sc, j, layout, N):
    """The adjusted count of one order-j row (1 < j < N), by counting its left neighbours."""
    if layout[0, j - 2] == BOS:
        for blk in sc.table(j).blocks(["words", "count"]):
            i = int(joins.find_rows(blk["words"], layout)[0])
            if i >= 0:
                return int(blk["count"][i])
    # rows of order j+1 whose suffix is x: middle = x's columns 0..j-2 … and last word x[-1]
    n = 0
    for blk in sc.table(j + 1).blocks(["words"]):
        w = blk["words"]
        n += int(np.count_nonzero((w[:, :j - 1] == layout[0, :j - 1]).all(axis=1)
                                  & (w[:, j] == layout[0, j - 1])))
    return n


# ----------------------------------------------------------------------------- probabilities
def _unigram_probs(uni_rows, a, D, interpolate_unigrams):
    """p of every unigram row (dense by id; 0 elsewhere) and gamma of the empty context."""
    rows = np.flatnonzero(uni_rows)
    ar = a[rows]
    Dz = np.concatenate([np.zeros(1, _F), D])
    den = _F(ar.sum())
    n_k = [_F(np.count_nonzero(ar == 1)), _F(np.count_nonzero(ar == 2)),
           _F(np.count_nonzero(ar >= 3))]
    mass = D[0] * n_k[0]
    mass = _F(mass + D[1] * n_k[1])
    mass = _F(mass + D[2] * n_k[2])
    gamma = _F(mass / den)
    u = ((ar.astype(_F) - Dz[np.minimum(ar, 3)]) / den).astype(_F)
    weight = np.full(rows.shape[0], gamma, _F)
    weight[rows == BOS] = 0
    u[rows == BOS] = 1
    u[rows == UNK] = 0
    if not interpolate_unigrams:
        u[rows == UNK] = gamma
        weight[:] = 0
    V = max(0, rows.shape[0] - 1)
    p0 = _F(1.0 / np.float64(_F(V)))
    p = np.zeros(a.shape[0], _F)
    p[rows] = u + weight * p0
    return p, gamma


def _order_probs(table, adjusted, k, D, threshold, lower, p_uni, W, space, block):
    """One pass over order k: gamma of each context (order k-1, suffix order) and p of each
    row (kept for the next order's join and the output; the raw count too when pruning).
    Returns the tables and how many rows are printed (not pruned)."""
    count_dtype = table.columns["count"][0]
    pcols = {"words": (np.int32, (k,)), "p": (_F, ())}
    if threshold is not None:
        pcols["count"] = (count_dtype, ())
    pw = TableWriter(pcols, space, stem=f"knp{k}")
    gw = TableWriter({"words": (np.int32, (k - 1,)), "gamma": (_F, ())}, space, stem=f"gamma{k-1}")
    Dz = np.concatenate([np.zeros(1, _F), D]).astype(_F)
    join = _PJoin(lower, k, W, block) if k > 2 else None
    a_it = adjusted.blocks(["a"], block) if adjusted is not None else None
    a_buf = np.zeros(0, np.int64)
    printed = 0
    for blk, final in GroupBlocks(table, ["words", "count"], k - 1, block):
        words, c = blk["words"], blk["count"]
        printed += rows_of(words) if threshold is None else int(np.count_nonzero(c > threshold))
        rows = words.shape[0]
        if adjusted is None:
            a = c
        else:
            while a_buf.shape[0] < rows:
                a_buf = np.concatenate([a_buf, next(a_it)["a"]])
            a, a_buf = a_buf[:rows], a_buf[rows:]
        ends = joins.group_ends(words, 0, rows, k - 1)
        p_low = p_uni[words[:, 1]] if join is None else join.values(words)
        p = np.empty(rows, _F)
        gamma = np.empty(ends.shape[0], _F)
        kk.order_probs(a, c, ends, np.int64(-1 if threshold is None else threshold), Dz, p_low,
                       p, gamma)
        out = {"words": words, "p": p}
        if threshold is not None:
            out["count"] = c
        pw.append(**out)
        gw.append(words=words[np.r_[0, ends[:-1]], :k - 1], gamma=gamma)
    return pw.close(), gw.close(), printed


def rows_of(words):
    return int(words.shape[0])


class _PJoin:
    """p of each row's suffix, from the order below read forward as a window."""

    def __init__(self, lower, k, W, block):
        self.k = k
        self.it = lower.blocks(["words", "p"], block)
        self.win = next(self.it, None)
        self.nxt = next(self.it, None)
        self.pos = 0
        self.dense = np.full(W, -1, np.int32)
        self.loaded = np.array([-1, -1], np.int64)

    def values(self, words):
        rows = words.shape[0]
        idx = np.empty(rows, np.int64)
        out = np.empty(rows, _F)
        i = 0
        while True:
            j, self.pos, status = joins.suffix_join(
                words, i, rows, self.k, self.win["words"], self.pos, self.win["words"].shape[0],
                self.nxt is None, self.dense, self.loaded, idx)
            out[i:j] = self.win["p"][idx[i:j]]
            i = j
            if status != joins.NEED_Y:
                return out
            self.win = {n: np.concatenate([self.win[n][self.pos:], self.nxt[n]])
                        for n in ("words", "p")}
            self.nxt = next(self.it, None)
            self.pos = 0


# ----------------------------------------------------------------------------- output
def _unigram_lines(rows, p_uni, gammas, matched, block):
    """Unigram lines in id order (lmplz's suffix order for unigrams) with back-offs, in
    blocks."""
    pair = _Pairing(gammas, 1, matched, block) if gammas is not None else None
    for a in range(0, rows.shape[0], block):
        r = rows[a:a + block]
        lp = np.minimum(log10f(p_uni[r]), _F(0))
        w = r.reshape(-1, 1)
        bow = pair.backoffs(w) if pair is not None else np.full(r.shape[0], np.nan, _F)
        yield w, "natural", lp, bow


def _lines(probs, k, threshold, gammas, matched, W, plan, block):
    """Order k's lines in lmplz's suffix order (last word first), pruned rows dropped, each
    with log10 of the gamma paired to it (orders below the top), block by block."""
    from ..counting.chunk import stable_order_by_column
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    names = ["p", "count"] if threshold is not None else ["p"]
    pair = _Pairing(gammas, k, matched, block) if gammas is not None else None
    # counting layout (w[k-1], …, w1, wk) -> suffix order (wk, w[k-1], …, w1): a stable sort
    # by the last column alone
    if probs.in_memory:
        words = probs.arrays["words"]
        perm = stable_order_by_column(words, np.int64(k - 1), np.int64(W))
        chunks = (_suffix_block(probs.arrays, names, perm, a, min(a + block, perm.shape[0]))
                  for a in range(0, perm.shape[0], block))
        srt = None
    else:
        srt = sort_table(probs, [k - 1] + list(range(k - 1)), names, W=W,
                         space=plan.space_for_tables(), presorted=k - 1, stem=f"knout{k}",
                         chunk_rows=plan.rows_for(4 * k + 24, 0.5))
        chunks = srt.blocks(["words", *names], block)
    for blk in chunks:
        w = blk["words"]
        p = blk["p"]
        if threshold is not None:  # (unpruned, a mask of all True would copy the block)
            keep = blk["count"] > threshold
            w, p = w[keep], p[keep]
        lp = np.minimum(log10f(p), _F(0))
        bow = pair.backoffs(w) if pair is not None else np.full(w.shape[0], np.nan, _F)
        yield w, "suffix", lp, bow
    if srt is not None:
        srt.drop()


def _suffix_block(arrays, names, perm, a, b):
    """Rows ``perm[a:b]`` of an in-memory table of probabilities in suffix layout."""
    words = arrays["words"]
    blk = {"words": np.empty((b - a, words.shape[1]), np.int32), "p": np.empty(b - a, _F)}
    kk.gather_suffix_rows(words, perm, np.int64(a), np.int64(b), arrays["p"], blk["words"],
                          blk["p"])
    for n in names[1:]:
        blk[n] = arrays[n][perm[a:b]]
    return blk


class _Pairing:
    """lmplz's pairing of an order's lines with the next order's contexts, both in suffix
    order: the lines that do not end in </s> or <unk> take the gammas one by one (lines
    left over get 0); with pruning each line takes its own context's gamma, scanning
    forward, and once the scan runs out every later line gets 0 (LMPLZ-KN.md §6)."""

    def __init__(self, gammas, k, pruning, block):
        self.k = k
        self.pruning = pruning
        self.it = gammas.blocks(["words", "gamma"], block)
        self.cur = next(self.it, None)
        self.nxt = next(self.it, None)
        self.pos = 0
        self.dead = False

    def _advance(self):
        self.cur, self.nxt, self.pos = self.nxt, next(self.it, None), 0

    def backoffs(self, w):
        """``w``: printed lines in suffix layout (wk, …, w1)."""
        rows = w.shape[0]
        bow = np.zeros(rows, _F)
        listed = np.flatnonzero((w[:, 0] != EOS) & (w[:, 0] != UNK))
        if self.dead or listed.size == 0:
            return bow
        if not self.pruning:
            at = 0
            while at < listed.shape[0] and self.cur is not None:
                take = min(listed.shape[0] - at, self.cur["gamma"].shape[0] - self.pos)
                bow[listed[at:at + take]] = log10f(self.cur["gamma"][self.pos:self.pos + take])
                at += take
                self.pos += take
                if self.pos == self.cur["gamma"].shape[0]:
                    self._advance()
            return bow
        lw = np.ascontiguousarray(w[listed])
        idx = np.full(lw.shape[0], -1, np.int64)
        i = 0
        while i < lw.shape[0] and self.cur is not None:
            j, self.pos = joins.align_rows(lw, i, lw.shape[0], self.cur["words"], self.pos,
                                           self.cur["words"].shape[0], self.nxt is None, self.k,
                                           idx)
            miss = np.flatnonzero(idx[i:j] < 0)
            hit = np.arange(i, j) if miss.size == 0 else np.arange(i, i + miss[0])
            bow[listed[hit]] = log10f(self.cur["gamma"][idx[hit]])
            if miss.size:
                self.dead = True  # a line that is no context: lmplz's stream is used up
                return bow
            i = j
            if i < lw.shape[0]:
                self._advance()
        if i < lw.shape[0]:
            self.dead = True
        return bow


def _prune_thresholds(prune, order):
    if prune is None:
        return None
    t = [int(v) for v in (prune if np.iterable(prune) else [prune])]
    if not t or any(v < 0 for v in t):
        raise NlpkitError("prune thresholds must be counts >= 0")
    if t[0] != 0:
        raise NlpkitError("pruning unigrams is not supported: the first prune threshold must be 0")
    if any(b < a for a, b in zip(t, t[1:])):
        raise NlpkitError(f"prune thresholds must not decrease; got {' '.join(map(str, t))}")
    if len(t) > order:
        raise NlpkitError(f"{len(t)} prune thresholds given for an order-{order} model")
    return t + [t[-1]] * (order - len(t))


def _fallback_values(value):
    if value is None or value is False:
        return None
    if value is True:
        return np.array(DEFAULT_FALLBACK, _F)
    vals = [float(v) for v in (value if np.iterable(value) else [value])]
    if not 1 <= len(vals) <= 3:
        raise NlpkitError(f"discount fallback takes one to three values; got {len(vals)}")
    vals += [vals[-1]] * (3 - len(vals))
    for j, v in enumerate(vals, 1):
        if not 0 <= v <= j:
            raise NlpkitError(f"discount fallback D{j} must lie in [0, {j}]; got {v:g}")
    return np.array(vals, _F)


def _discounts(n_k, n, fallback):
    """D1, D2, D3 of one order from its count-of-counts (float32, as lmplz)."""
    n1, n2, n3, n4 = (int(v) for v in n_k)
    bad = None
    if n1 == 0 or n2 == 0 or n3 == 0:
        bad = f"n1={n1}, n2={n2}, n3={n3}"
    else:
        y = _F(_F(n1) / _F(n1 + 2.0 * n2))
        nk = [_F(n1), _F(n2), _F(n3), _F(n4)]
        d = np.array([_F(_F(j) - _F(_F(_F(_F(j + 1) * y) * nk[j]) / nk[j - 1])) for j in (1, 2, 3)], _F)
        out_of_range = [j for j in (1, 2, 3) if not 0 <= d[j - 1] <= j]
        if not out_of_range:
            return d
        bad = f"D{out_of_range[0]}={float(d[out_of_range[0] - 1]):.6g} is out of range"
    if fallback is None:
        raise NlpkitError(f"cannot estimate the Kneser-Ney discounts of order {n} ({bad}); "
                          "this happens on small or artificial corpora: pass a discount fallback "
                          "(--discount-fallback), as lmplz requires")
    return fallback.copy()


def log10f(x) -> np.ndarray:
    """glibc's ``log10f`` elementwise (Numba's float32 ``log10`` calls libm).

    NumPy's own float32 log10 differs from libm in about half of the inputs,
    which would change the printed digits of lmplz-exact models.
    """
    x = np.ascontiguousarray(x, dtype=_F)
    out = np.empty_like(x)
    kk.log10f_into(x, out)
    return out


def tracking_largest(chunks, order, largest):
    """The chunks, passed on; ``largest[0]`` becomes the left-padded ``order``-gram that
    comes last in suffix order among them (what lmplz's estimate needs of the corpus)."""
    for rid, offsets, base in chunks:
        got = np.empty(order, np.int64)
        kk.largest_padded(rid, offsets, np.int64(order), np.int64(BOS), got)
        if largest[0] is None or tuple(got[::-1]) > tuple(largest[0][::-1]):
            largest[0] = got
        yield rid, offsets, base
