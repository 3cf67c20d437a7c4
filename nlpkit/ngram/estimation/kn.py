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
    """An estimated lmplz model as tables: per order the rows in lmplz's output order
    (``words`` in natural order, ``lp``) and the back-off weights (orders below the
    top).  ``counts``: printed n-grams per order."""
    vocab: object  # the WordTable: ids are lmplz's
    order: int
    sections_tables: list  # per order: Table of words (natural), lp, bow (NaN: none)
    counts: list
    meta: dict = field(default_factory=dict)

    def sections(self, block=1 << 18):
        for n, table in enumerate(self.sections_tables, 1):
            yield n, ((b["words"], b["lp"], b["bow"]) for b in table.blocks(None, block))

    def section_words(self) -> list:
        return self.vocab.words()

    def write_arpa(self, path, sections=None, counts=None) -> None:
        """Write the model as lmplz prints it, order by order (atomic; ``.gz`` by name)."""
        from ..formats.arpa_lmplz import write_sections
        wpool, woff = self.vocab.byte_pool()
        write_sections(path, self.counts if counts is None else counts,
                       self.sections() if sections is None else sections, wpool, woff)

    def to_backoff_model(self) -> BackoffModel:
        ngrams, lps, bos, hbs = [], [], [], []
        for n, table in enumerate(self.sections_tables, 1):
            ngrams.append(table.column("words"))
            lps.append(table.column("lp"))
            b = table.column("bow")
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
    p_uni, gamma_uni = _unigram_probs(uni_rows, uni_a, discounts[0], interpolate_unigrams)
    probs = [None] * N  # tables of p aligned with each order's rows
    gammas = [None] * N  # per order n < N: contexts (suffix layout) and gamma, suffix order
    lower = None
    for k in range(2, N + 1):
        t = thresholds[k - 1] if thresholds is not None else None
        probs[k - 1], gammas[k - 2] = _order_probs(
            sc.table(k), adjusted[k - 1], k, discounts[k - 1], t, lower, p_uni, W, space, block,
            need_p=k < N)
        lower = probs[k - 1]
    # output: each order in lmplz's suffix order with its back-off weights
    sections, counts = [], []
    # lmplz pairs an order's lines with the next order's contexts by key only when that
    # order is pruned (LMPLZ-KN.md §6), else one by one
    matched = [thresholds is not None and k + 1 < N and thresholds[k + 1] > 0 for k in range(N)]
    uni_sec, c1 = _unigram_section(uni_rows, p_uni, gammas[0] if N > 1 else None, N,
                                   matched[0], block)
    sections.append(uni_sec)
    counts.append(c1)
    for k in range(2, N + 1):
        t = thresholds[k - 1] if thresholds is not None else None
        sec, c = _output_section(probs[k - 1], k, t, gammas[k - 1] if k < N else None,
                                 matched[k - 1], W, plan)
        sections.append(sec)
        counts.append(c)
    meta = {"smoothing": "kn", "discounts": [d.tolist() for d in discounts],
            "prune": thresholds, "tokens": words_read, "sentences": sentences}
    return KnModel(vocab, N, sections, counts, meta)


# ----------------------------------------------------------------------------- adjusted counts
def _adjusted(upper, table, k, W, space, block):
    """a(x) of order k (1 < k < N), one value per row of ``table``: the number of rows of
    order k+1 whose suffix is x, except raw counts for n-grams that start with <s>."""
    out = TableWriter({"a": (np.int64, ())}, space, stem=f"adj{k}")
    rows = _SuffixRows(table, k, W, block, ["count"])
    for blk, final in GroupBlocks(upper, ["words"], k, block):
        rows.tally(blk["words"])
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
        self.dense = np.full(W, -1, np.int64)
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

    def finish(self):
        yield from self.done
        self.done = []
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


def _order_probs(table, adjusted, k, D, threshold, lower, p_uni, W, space, block, need_p):
    """One pass over order k: gamma of each context (order k-1, suffix order) and p of each
    row (``need_p``: kept for the next order's join and the output)."""
    pw = TableWriter({"words": (np.int32, (k,)), "p": (_F, ()), "count": (np.int64, ())},
                     space, stem=f"knp{k}")
    gw = TableWriter({"words": (np.int32, (k - 1,)), "gamma": (_F, ())}, space, stem=f"gamma{k-1}")
    Dz = np.concatenate([np.zeros(1, _F), D]).astype(_F)
    join = _PJoin(lower, k, W, block) if k > 2 else None
    a_it = adjusted.blocks(["a"], block) if adjusted is not None else None
    a_buf = np.zeros(0, np.int64)
    for blk, final in GroupBlocks(table, ["words", "count"], k - 1, block):
        words, c = blk["words"], blk["count"]
        rows = words.shape[0]
        if adjusted is None:
            a = c
        else:
            while a_buf.shape[0] < rows:
                a_buf = np.concatenate([a_buf, next(a_it)["a"]])
            a, a_buf = a_buf[:rows], a_buf[rows:]
        ends = joins.group_ends(words, 0, rows, k - 1)
        starts = np.r_[0, ends[:-1]]
        group = np.repeat(np.arange(starts.shape[0]), np.diff(np.r_[starts, rows]))
        kept = np.ones(rows, bool) if threshold is None else c > threshold
        den = np.add.reduceat(a, starts).astype(_F)
        n1 = np.add.reduceat((kept & (a == 1)).astype(np.int64), starts).astype(_F)
        n2 = np.add.reduceat((kept & (a == 2)).astype(np.int64), starts).astype(_F)
        n3 = np.add.reduceat((kept & (a >= 3)).astype(np.int64), starts).astype(_F)
        mass = Dz[1] * n1
        mass = mass + Dz[2] * n2
        mass = mass + Dz[3] * n3
        if not kept.all():
            mass = mass + np.add.reduceat(np.where(kept, 0, a), starts).astype(_F)
        gamma = mass / den
        u = (a.astype(_F) - Dz[np.minimum(a, 3)]) / den[group]
        p_low = p_uni[words[:, 1]] if join is None else join.values(words)
        p = (u + gamma[group] * p_low).astype(_F)
        pw.append(words=words, p=p, count=c)
        gw.append(words=words[starts, :k - 1], gamma=gamma.astype(_F))
    return pw.close(), gw.close()


class _PJoin:
    """p of each row's suffix, from the order below read forward as a window."""

    def __init__(self, lower, k, W, block):
        self.k = k
        self.it = lower.blocks(["words", "p"], block)
        self.win = next(self.it, None)
        self.nxt = next(self.it, None)
        self.pos = 0
        self.dense = np.full(W, -1, np.int64)
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
def _unigram_section(uni_rows, p_uni, gammas, N, pruning, block):
    """Unigram lines in id order (lmplz's suffix order for unigrams) with back-offs."""
    from ..counting.runs import table_from_arrays
    rows = np.flatnonzero(uni_rows).astype(np.int32)
    lp = np.minimum(log10f(p_uni[rows]), _F(0))
    w = rows.reshape(-1, 1)
    bow = (_Pairing(gammas, 1, pruning, block).backoffs(w) if gammas is not None
           else np.full(rows.shape[0], np.nan, _F))
    return table_from_arrays(words=w, lp=lp, bow=bow), int(rows.shape[0])


def _output_section(probs, k, threshold, gammas, pruning, W, plan):
    """Order k's lines in lmplz's suffix order (last word first), pruned rows dropped, each
    with log10 of the gamma paired to it (orders below the top)."""
    # counting layout (w[k-1], …, w1, wk) -> suffix order (wk, w[k-1], …, w1): a stable sort
    # by the last column alone
    space, block = plan.space_for_tables(), plan.block_rows
    srt = sort_table(probs, [k - 1] + list(range(k - 1)), ["p", "count"], W=W, space=space,
                     presorted=k - 1, stem=f"knout{k}", chunk_rows=plan.rows_for(4 * k + 24, 0.5))
    probs.drop()
    out = TableWriter({"words": (np.int32, (k,)), "lp": (_F, ()), "bow": (_F, ())}, space,
                      stem=f"knsec{k}")
    pair = _Pairing(gammas, k, pruning, block) if gammas is not None else None
    printed = 0
    for blk in srt.blocks(["words", "p", "count"], block):
        w = blk["words"]
        keep = np.ones(w.shape[0], bool) if threshold is None else blk["count"] > threshold
        w, p = w[keep], blk["p"][keep]
        nat = np.ascontiguousarray(w[:, ::-1])  # (wk, …, w1) -> natural (w1, …, wk)
        lp = np.minimum(log10f(p), _F(0))
        bow = pair.backoffs(w) if pair is not None else np.full(w.shape[0], np.nan, _F)
        out.append(words=nat, lp=lp, bow=bow)
        printed += int(w.shape[0])
    srt.drop()
    return out.close(), printed


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
