"""Good-Turing discounting with Katz back-off, exactly as SRILM 1.7.3 ``ngram-count`` by default.

The spec followed step by step is SRILM-KATZ.md (tests/data/ngram): §3 the
discount coefficients (:func:`good_turing`), §4 the probabilities order by
order with the "sums to about 1" retry, §5 back-off weights and the unigram
leftover, §6 fixups.  The per-context loops are Numba kernels in
``katz_kernels.py``; this module streams the sorted count tables through them.

Word ids here are *ranks*: the position of each word in byte-wise (``strcmp``)
order, so that the counting layout ``(w[n-1], …, w1, wn)`` sorts the rows of
every order exactly as SRILM prints them (SRILM-KATZ.md §7).  Order by order:

* unigrams (dense arrays over the vocabulary): probabilities, ``<s>``, the
  leftover mass;
* order n >= 2, one pass over its rows: each row's suffix found in the order
  below (:func:`.joins.suffix_join`), then per context the probabilities and
  the back-off weight (:func:`.katz_kernels.order_groups`); the rows' results go
  to a table that the next order joins against and the writer prints, the
  back-off weights (in suffix order of their contexts) to a table re-sorted for
  the writer;
* context nodes (the lines that carry a back-off weight) and SRILM's fixups of
  missing prefixes, then the ARPA file, one order at a time.

Every table is held in memory or in temporary files as the memory plan says;
only the vocabulary, one context's followers and one group of the order below
need to be in memory at once.

Parameters per order ``n`` follow SRILM: ``gtNmin`` (the count cut-off: an
n-gram seen fewer times gets no probability of its own) defaults to
1, 1, 2, 2, …; ``gtNmax`` (counts above it are not discounted) to 1, 7, 7, …
(and 5 above order 9).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import NlpkitError
from ..backoff import BackoffModel
from ..counting.merge import merge_tables, sort_table
from ..counting.runs import GroupBlocks, Table, TableWriter, table_from_arrays
from ..reading.encode import BOS_ID, EOS_ID, PAU_ID, UNK_ID
from . import joins, katz_kernels as kk

EPS = kk.EPS


def default_gt_min(n: int) -> int:
    return 1 if n <= 2 else (2 if n <= 9 else 1)


def default_gt_max(n: int) -> int:
    return 1 if n == 1 else (7 if n <= 9 else 5)


@dataclass
class GoodTuring:
    """Good-Turing discount coefficients of one order (SRILM's GoodTuring class)."""
    gtmin: int
    gtmax: int          # K after SRILM's adjustment
    discounts: np.ndarray  # float64, index r = 0..K (index 0 unused)

    @property
    def no_discount(self) -> bool:
        return self.gtmin <= 1 and self.gtmax <= 0

    def discount(self, c: int) -> float:
        if c <= 0:
            return 1.0
        if c < self.gtmin:
            return 0.0
        if c > self.gtmax:
            return 1.0
        return float(self.discounts[c])

    def to_srilm(self) -> str:
        """The text ``ngram-count -gtN FILE`` writes."""
        lines = [f"mincount {self.gtmin}", f"maxcount {self.gtmax}"]
        lines += [f"discount {r} {self.discounts[r]:.16g}" for r in range(1, self.gtmax + 1)]
        return "\n".join(lines) + "\n"


def good_turing(count_of_counts, gtmin: int, gtmax: int) -> GoodTuring:
    """SRILM's ``GoodTuring::estimate`` (Discount.cc:174-257).

    ``count_of_counts[r]`` is the number of n-grams seen ``r`` times (index 0 unused),
    at least up to ``gtmax + 1``.
    """
    n = np.zeros(gtmax + 2, dtype=np.float64)
    cc = np.asarray(count_of_counts, dtype=np.float64)[: gtmax + 2]
    n[: cc.shape[0]] = cc
    K = gtmax
    if n[1] == 0:
        K = 0
    while K > 0 and n[K + 1] == 0:
        K -= 1
    disc = np.ones(K + 1, dtype=np.float64)
    if K > 0:
        common = ((K + 1) * n[K + 1]) / n[1]
        for r in range(1, K + 1):
            if n[r] == 0:
                disc[r] = 1.0
                continue
            d0 = ((r + 1) * n[r + 1]) / (r * n[r])
            with np.errstate(divide="ignore", invalid="ignore"):
                d = (d0 - common) / (1.0 - common) if common != 1.0 else np.inf
            if not np.isfinite(d) or d <= EPS or d0 > 1.0:
                d = 1.0
            disc[r] = d
    return GoodTuring(gtmin, K, disc)


def per_order(value, order: int, default, name: str) -> list[int]:
    """Normalize a per-order setting: None, an int (all orders), a sequence or ``{n: value}``."""
    if value is None:
        return [default(n) for n in range(1, order + 1)]
    if isinstance(value, bool):
        raise NlpkitError(f"{name} must be an int, a list per order or a dict {{order: value}}")
    if isinstance(value, (int, np.integer)):
        out = [int(value)] * order
    elif isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, (int, np.integer)) or not 1 <= k <= order]
        if bad:
            raise NlpkitError(f"{name}: order {bad[0]!r} is not between 1 and {order}")
        out = [int(value[n]) if value.get(n) is not None else default(n)
               for n in range(1, order + 1)]
    else:
        value = list(value)
        if len(value) > order:
            raise NlpkitError(f"{name} has {len(value)} values but the model has order {order}")
        out = [default(n) if i >= len(value) or value[i] is None else int(value[i])
               for i, n in enumerate(range(1, order + 1))]
    return out


# ----------------------------------------------------------------------------- the estimate
class RankedVocab:
    """The vocabulary in SRILM's ids (specials, then first appearance) and in byte order."""

    def __init__(self, table):
        from ..reading.encode import WordTable, byte_order
        if not isinstance(table, WordTable):
            words, table = table, WordTable(())
            for w in words:
                table.add(w)
        self.table = table
        self.by_rank = byte_order(table).astype(np.int32)
        self.rank = np.empty_like(self.by_rank)
        self.rank[self.by_rank] = np.arange(self.by_rank.shape[0], dtype=self.by_rank.dtype)

    of = classmethod(lambda cls, words: cls(words))

    @property
    def words(self):
        """The words by SRILM id, as strings."""
        return self.table.words()

    def __len__(self):
        return len(self.table)


@dataclass
class KatzModel:
    """An estimated Katz model as tables in ARPA order (word ids are ranks).

    ``uni_lp``/``uni_bow``/``uni_node`` are dense by rank (lp NaN: no probability);
    ``tables[m-2]`` holds order m's rows (``words`` in counting layout, ``lp``) and
    ``nodes[m-2]`` (m < N) the context nodes of order m, sorted the same way (``words``,
    ``bow``); ``fixups`` maps ``(order, natural word tuple)`` to the probabilities
    SRILM's fixup added, ``counts`` the number of printed n-grams per order.
    """
    vocab: RankedVocab
    order: int
    uni_lp: np.ndarray
    uni_bow: np.ndarray
    uni_node: np.ndarray
    tables: list
    nodes: list
    fixups: dict
    counts: list
    meta: dict = field(default_factory=dict)
    extra_nodes: set = field(default_factory=set)  # (order, natural words) made nodes by fixups

    def sections(self, block=1 << 18):
        """Per order ``(n, blocks)``; each block is ``(words (rows, n) ranks, their layout,
        lp f32, bow f32 or NaN (no field))``: exactly the lines SRILM prints."""
        N = self.order
        for n in range(1, N + 1):
            yield n, self._section(n, block)

    def _section(self, n, block):
        if n == 1:  # (a vocabulary of millions of words goes in blocks too)
            W = self.uni_lp.shape[0]
            for a in range(0, W, block):
                lp = self.uni_lp[a:a + block]
                r = np.flatnonzero(lp == lp)
                has = self.uni_node[a + r] if n < self.order else np.zeros(r.shape[0], bool)
                yield ((a + r).astype(np.int32).reshape(-1, 1), "natural", lp[r],
                       np.where(has, self.uni_bow[a + r], np.float32(np.nan)))
            return
        fix = {g: v for (m, g), v in self.fixups.items() if m == n}
        extra = {g for (m, g) in self.extra_nodes if m == n}
        nodes = _Aligned(self.nodes[n - 2], ["bow"], n, block) if n < self.order else None
        for blk in self.tables[n - 2].blocks(["words", "lp"], block):
            words, lp = blk["words"], blk["lp"]
            bow = np.full(words.shape[0], np.nan, np.float32)
            if nodes is not None:
                idx = nodes.match(words)
                hit = idx >= 0
                bow[hit] = nodes.values["bow"][idx[hit]]
            if fix or extra:
                lp = lp.copy()
                for k, g in enumerate(map(tuple, natural(words).tolist())):
                    if g in fix:
                        lp[k] = fix[g]
                    if g in extra and bow[k] != bow[k]:
                        bow[k] = 0
            keep = lp == lp
            yield words[keep], "rctx", lp[keep], bow[keep]

    def allowed(self, words) -> np.ndarray:
        """Per id of :meth:`sections` (a rank): is the word one of ``words`` (or a mark)?"""
        from ..editing.filter import allowed_mask
        by_id = allowed_mask(self.vocab.table, words)
        return np.append(by_id[:-1][self.vocab.by_rank], False)

    def write_arpa(self, path, sections=None, counts=None) -> None:
        """Write the model as SRILM prints it, order by order (atomic; ``.gz`` by name)."""
        from ..formats.arpa_srilm import write_sections
        from ..formats.preamble import preamble
        wpool, woff = self.vocab.table.byte_pool()  # (ranks map to ids as lines are made)
        write_sections(path, self.counts if counts is None else counts,
                       self.sections() if sections is None else sections, wpool, woff,
                       word_map=self.vocab.by_rank, preamble=preamble(self.meta))

    def to_backoff_model(self) -> BackoffModel:
        """The model as a :class:`BackoffModel` over the SRILM-id vocabulary."""
        ngrams, lps, bos, hbs = [], [], [], []
        for n, blocks in self.sections():
            parts = [(as_natural(p[0], p[1]), p[2], p[3]) for p in blocks]
            w = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, n), np.int32)
            lp = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
            bw = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float32)
            ngrams.append(self.vocab.by_rank[w].astype(np.int32))
            lps.append(lp)
            hb = bw == bw
            hbs.append(hb)
            bos.append(np.where(hb, bw, np.float32(0)).astype(np.float32))
        return BackoffModel(list(self.vocab.words), ngrams, lps, bos, hbs, meta=dict(self.meta))


class _Aligned:
    """A sorted table read forward in blocks, matched row by row to another sorted
    stream's rows (equal words): ``match(words) -> row in .values or -1``."""

    def __init__(self, table, names, ncols, block):
        self.ncols = ncols
        self.it = table.blocks(["words", *names], block)
        self.cur = next(self.it, None)
        self.nxt = next(self.it, None)
        self.pos = 0
        self.names = names

    def match(self, words):
        rows = words.shape[0]
        idx = np.full(rows, -1, np.int64)
        out = {k: np.empty(rows, self.cur[k].dtype if self.cur else np.float32)
               for k in self.names}
        i = 0
        while i < rows and self.cur is not None:
            j, self.pos = joins.align_rows(words, i, rows, self.cur["words"], self.pos,
                                           self.cur["words"].shape[0], self.nxt is None,
                                           self.ncols, idx)
            hit = np.flatnonzero(idx[i:j] >= 0) + i
            for k in self.names:
                out[k][hit] = self.cur[k][idx[hit]]
            i = j
            if i < rows:  # this block is used up
                self.cur, self.nxt, self.pos = self.nxt, next(self.it, None), 0
        self.values = out
        return np.where(idx >= 0, np.arange(rows), -1)


def as_natural(words, layout):
    """Words stored in ``layout`` (see :func:`~..formats.lines.natural_columns`) in natural
    order."""
    from ..formats.lines import natural_columns
    return np.ascontiguousarray(words[:, natural_columns(words.shape[1], layout)])


def natural(words):
    """Counting layout ``(w[n-1], …, w1, wn)`` -> natural order ``(w1, …, wn)``."""
    n = words.shape[1]
    if n == 1:
        return words
    return np.ascontiguousarray(np.concatenate([words[:, n - 2::-1], words[:, n - 1:]], axis=1))


class _Settings:
    """What every kernel call of one estimate shares: ranks of the specials, the
    non-event mask by rank, V and the Good-Turing parameters."""

    def __init__(self, vocab, order, gt_min, gt_max, unk):
        W = len(vocab)
        self.W = W
        self.unk = unk
        r = vocab.rank
        self.unk_r, self.bos_r, self.eos_r, self.pau_r = (int(r[i]) for i in
                                                         (UNK_ID, BOS_ID, EOS_ID, PAU_ID))
        ne = np.zeros(W, np.bool_)
        ne[self.bos_r] = ne[self.pau_r] = True
        ne[self.unk_r] = not unk
        self.nonevent = ne
        self.V = int(W - ne.sum())
        self.gmin = per_order(gt_min, order, default_gt_min, "gt_min")
        self.gmax = per_order(gt_max, order, default_gt_max, "gt_max")
        for n, (a, b) in enumerate(zip(self.gmin, self.gmax), 1):
            if a < 0 or b < 0:
                raise NlpkitError(f"Good-Turing range of order {n} must not be negative "
                                  f"(gtmin {a}, gtmax {b})")

    def good_turing(self, n, count_of_counts) -> GoodTuring:
        return good_turing(count_of_counts, self.gmin[n - 1], self.gmax[n - 1])

    def kernel_gt(self, gt):
        return gt.no_discount, np.int64(gt.gtmin), np.int64(gt.gtmax), gt.discounts


def estimate(sc, vocab: RankedVocab, *, gt_min=None, gt_max=None, unk=False, plan=None,
             discounts_out=None) -> KatzModel:
    """SRILM's default Good-Turing/Katz model of the sorted counts ``sc`` (rank ids).

    ``unk=True`` is SRILM's ``-unk``.  ``plan``: the memory plan (:mod:`..plan`; None
    keeps every table in memory).  ``discounts_out``, a list, receives each order's
    :class:`GoodTuring`.
    """
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    N = sc.order
    st = _Settings(vocab, N, gt_min, gt_max, unk)
    W = st.W
    uni_lp, uni_bow, uni_node, gt1 = _unigrams(sc, vocab, st)
    if discounts_out is not None:
        discounts_out.append(gt1)
    # what the next order joins against: per row, bo(w | ...) and its (lpeff, acc); a
    # unigram's is its own probability (-inf if none) with nothing added
    lower = {"lq": np.where(uni_lp == uni_lp, uni_lp, np.float32(-np.inf)).astype(np.float32)}
    lower["lpeff"], lower["acc"] = lower["lq"], None
    tables, bows = [], []
    counts = [int(np.count_nonzero(uni_lp == uni_lp))]
    for n in range(2, N + 1):
        gt = st.good_turing(n, _count_of_counts(sc.table(n), st, n))
        if discounts_out is not None:
            discounts_out.append(gt)
        y, b, stored = _order_pass(sc.table(n), n, lower, gt, st, plan,
                                   need_y=n < N, uni_bow=uni_bow, uni_node=uni_node)
        sc.table(n).drop_columns(["count"])
        if n > 2:
            lower.drop_columns(["lq", "lpeff", "acc"])  # (only order n joined against them)
        lower = y
        tables.append(y)
        bows.append(b)
        counts.append(stored)
    nodes = _context_nodes(bows, tables, uni_node, N, W, plan)
    model = KatzModel(vocab, N, uni_lp, uni_bow, uni_node, tables, nodes, {}, counts,
                      meta={"smoothing": "katz", "gt_min": st.gmin, "gt_max": st.gmax, "unk": unk})
    n_fixed = _fixups(model, sc, st)
    model.meta["fixups"] = n_fixed
    return model


def _count_of_counts(table, st, n):
    """Count-of-counts of order ``n`` up to gtmax + 2, over the rows whose last word is
    an event (SRILM-KATZ.md §3, §9.6)."""
    top = st.gmax[n - 1] + 2
    coc = np.zeros(top + 1, np.int64)
    for blk in table.blocks(["words", "count"]):
        c = blk["count"]
        ok = (c >= 1) & ~st.nonevent[blk["words"][:, n - 1]]
        coc += np.bincount(np.minimum(c[ok], top), minlength=top + 1)
    return coc


def _unigrams(sc, vocab, st):
    """Unigram probabilities by rank, in SRILM's row order: seen words by first
    occurrence, then the words it never saw (vocabulary words, ``<s>``) by id."""
    W = st.W
    seen = sc.uni_first >= 0
    want = ~st.nonevent
    want[st.bos_r] = True
    extra = want & ~seen
    seen_rows = np.flatnonzero(seen)
    seen_rows = seen_rows[np.argsort(sc.uni_first[seen_rows], kind="stable")]
    extra_rows = np.flatnonzero(extra)
    extra_rows = extra_rows[np.argsort(vocab.by_rank[extra_rows], kind="stable")]
    rows = np.concatenate([seen_rows, extra_rows]).astype(np.int64)
    count = sc.uni_count
    ok = (count[rows] >= 1) & ~st.nonevent[rows]
    top = st.gmax[0] + 2
    gt = st.good_turing(1, np.bincount(np.minimum(count[rows][ok], top), minlength=top + 1))
    lp = np.full(W, np.nan, np.float32)
    word = np.arange(W, dtype=np.int32)
    kk.unigram_probs(rows, count, word, st.nonevent, np.int64(st.unk_r), *st.kernel_gt(gt),
                     np.int64(st.V), lp)
    lp[st.bos_r] = -np.inf  # SRILM stores <s> = -inf, counted or not
    kk.distribute_leftover(rows, word, st.nonevent, lp, np.int64(st.V))
    return lp, np.zeros(W, np.float32), np.zeros(W, np.bool_), gt


def _order_pass(table, n, lower, gt, st, plan, *, need_y, uni_bow, uni_node):
    """One pass over order ``n``: probabilities, the back-off weights of its contexts
    (order n-1), and (``need_y``) what order n+1 joins against.  Returns ``(rows table,
    back-off table or None, stored rows)``."""
    W = st.W
    space, block = plan.space_for_tables(), plan.block_rows
    ycols = {"words": (np.int32, (n,)), "lp": (np.float32, ()),
             "first": table.columns["first"]}
    if need_y:
        ycols.update(lq=(np.float32, ()), lpeff=(np.float32, ()), acc=(np.float32, ()))
    # the rows' words and first positions are the count table's own (not copied in memory)
    yw = TableWriter(ycols, space, stem=f"katz{n}", capacity=len(table),
                     shared=("words", "first"))
    bw = TableWriter({"words": (np.int32, (n - 1,)), "bow": (np.float32, ())}, space,
                     stem=f"bow{n - 1}", capacity=len(table)) if n > 2 else None
    join = _Join(lower, n, W, block) if n > 2 else None
    stored = 0
    gtargs = st.kernel_gt(gt)
    for blk, final in GroupBlocks(table, ["words", "count", "first"], n - 1, block):
        words = blk["words"]
        rows = words.shape[0]
        if join is None:
            lq = lower["lq"][words[:, 1]]
            low = {"lq": lq, "lpeff": lq, "acc": np.zeros(rows, np.float32)}
        else:
            low = join.values(words)
        lp = np.empty(rows, np.float32)
        y_lq, y_lpeff, y_acc = (np.empty(rows if need_y else 0, np.float32) for _ in range(3))
        ends = joins.group_ends(words, 0, rows, n - 1)
        g_bow = np.empty(ends.shape[0], np.float32)
        g_node = np.empty(ends.shape[0], np.bool_)
        kk.order_groups(words, blk["count"], blk["first"], ends, np.int64(n), low["lq"],
                        low["lpeff"], low["acc"], st.nonevent, np.int64(st.unk_r),
                        np.int64(st.eos_r), not st.unk, *gtargs, np.int64(st.V), lp, y_lq,
                        y_lpeff, y_acc, need_y, g_bow, g_node)
        node_groups = np.flatnonzero(g_node)
        bow_row = np.r_[0, ends[:-1]][node_groups]
        bow_val = g_bow[node_groups]
        nb = node_groups.shape[0]
        stored += int(np.count_nonzero(lp == lp))
        out = {"words": words, "lp": lp, "first": blk["first"]}
        if need_y:
            out.update(lq=y_lq, lpeff=y_lpeff, acc=y_acc)
        yw.append(**out)
        ctx = words[bow_row[:nb], :n - 1]  # the contexts, in suffix layout
        if n == 2:
            uni_bow[ctx[:, 0]] = bow_val[:nb]
            uni_node[ctx[:, 0]] = True
        else:
            bw.append(words=ctx, bow=bow_val[:nb])
            if n == 3:  # the suffix of a context node is a node (SRILM-KATZ.md §5)
                uni_node[ctx[:, 0]] = True
    return yw.close(), (bw.close() if bw is not None else None), stored


class _Join:
    """The order below, read forward as a window, matched to rows by their suffix."""

    def __init__(self, lower: Table, n, W, block):
        self.n = n
        self.names = ["words", "lq", "lpeff", "acc"]
        self.it = lower.blocks(self.names, block)
        self.win = next(self.it, None) or {k: np.zeros((0, n - 1) if k == "words" else 0,
                                                        np.int32 if k == "words" else np.float32)
                                           for k in self.names}
        self.final = False
        self._peek()
        self.pos = 0
        self.dense = np.full(W, -1, np.int32)
        self.loaded = np.array([-1, -1], np.int64)

    def _peek(self):
        self.nxt = next(self.it, None)
        self.final = self.nxt is None

    def values(self, words):
        rows = words.shape[0]
        idx = np.empty(rows, np.int64)
        out = {k: np.empty(rows, np.float32) for k in self.names[1:]}
        i = 0
        while True:
            j, self.pos, status = joins.suffix_join(
                words, i, rows, self.n, self.win["words"], self.pos, self.win["words"].shape[0],
                self.final, self.dense, self.loaded, idx)
            for k in self.names[1:]:
                out[k][i:j] = self.win[k][idx[i:j]]
            i = j
            if status != joins.NEED_Y:
                return out
            keep = {k: v[self.pos:] for k, v in self.win.items()}
            self.win = {k: np.concatenate([keep[k], self.nxt[k]]) for k in self.names}
            self.pos = 0
            self._peek()


def _context_nodes(bows, tables, uni_node, N, W, plan):
    """The context nodes of orders 2..N-1 as tables sorted like the rows (``words``,
    ``bow``): the contexts with a stored follower (their back-off weights, re-sorted
    from suffix order), and every suffix of a node (bow 0), as SRILM's context trie
    has them.  Unigram nodes are marked in ``uni_node`` (the suffixes of order-2 nodes
    were marked during the order-3 pass)."""
    space = plan.space_for_tables()
    nodes = [None] * max(0, N - 2)
    for m in range(N - 1, 1, -1):
        b = bows[m - 1]  # contexts of order m, from the order m+1 pass, suffix layout
        # suffix layout (h_m, …, h_1) -> counting layout (h_{m-1}, …, h_1, h_m)
        own = sort_table(b, list(range(1, m)) + [0], ["bow"], W=W, space=space,
                         presorted=1, stem=f"nodes{m}", chunk_rows=plan.rows_for(8 * m + 16, 0.5))
        b.drop()
        if m + 1 <= N - 1 and m >= 2 and nodes[m - 1] is not None:
            own = _with_suffixes_of(nodes[m - 1], own, m, W, plan)
        nodes[m - 2] = own
    if N >= 4 and nodes:
        # suffixes of order-2 nodes are unigram nodes
        for blk in nodes[0].blocks(["words"]):
            uni_node[blk["words"][:, 1]] = True
    return nodes


def _with_suffixes_of(upper, own, m, W, plan):
    """``own`` (order-m nodes with their weights) joined by the suffixes of the order
    m+1 nodes ``upper`` (weight 0 unless ``own`` has one)."""
    space = plan.space_for_tables()
    # the suffix w2 … w[m+1] of an (m+1)-gram in counting layout (w[m], …, w1, w[m+1])
    # is (w[m], …, w2, w[m+1]): drop column m-1
    cols = list(range(m - 1)) + [m]
    suf = sort_table(upper, cols, [], W=W, space=space, stem=f"sufnodes{m}",
                     chunk_rows=plan.rows_for(8 * m + 16, 0.5))
    zeros = TableWriter({"words": (np.int32, (m,)), "bow": (np.float32, ())}, space,
                        stem=f"sufnodes{m}z")
    first_rows = _FirstOfEqual()
    for blk in suf.blocks(["words"], plan.block_rows):
        keep = first_rows(blk["words"])
        zeros.append(words=blk["words"][keep], bow=np.zeros(int(keep.sum()), np.float32))
    suf.drop()
    zeros = zeros.close()
    out = TableWriter({"words": (np.int32, (m,)), "bow": (np.float32, ())}, space,
                      stem=f"nodes{m}-all")
    # equal rows come from both tables: the context node's weight wins (its table sorts
    # first among equals)
    first_rows = _FirstOfEqual()
    for blk in merge_tables([own, zeros], ["bow"], block_rows=plan.rows_for(24 * m, 0.2)):
        keep = first_rows(blk["words"])
        out.append(words=blk["words"][keep], bow=blk["bow"][keep])
    own.drop()
    zeros.drop()
    return out.close()


class _FirstOfEqual:
    """Over sorted blocks of rows: which rows differ from the row before (across blocks)."""

    def __init__(self):
        self.last = None

    def __call__(self, w):
        keep = np.ones(w.shape[0], bool)
        keep[1:] = (w[1:] != w[:-1]).any(axis=1)
        if w.shape[0]:
            if self.last is not None and (w[0] == self.last).all():
                keep[0] = False
            self.last = w[-1].copy()
        return keep


# ----------------------------------------------------------------------------- fixups
def _fixups(model: KatzModel, sc, st) -> int:
    """SRILM's fixupProbs (SRILM-KATZ.md §6): every context node's n-gram, and its
    prefixes down to the first that has one, gets the probability ``bo`` gives it;
    the prefix of each becomes a node (back-off weight 0), and its suffixes too.

    Such n-grams exist only where a non-event ends a context (``a <s> b``) or
    cut-offs leave a context without its own probability, so this works on the few
    n-grams involved, found by key, in plain Python.
    """
    N = model.order
    if N < 2:
        return 0
    look = _Lookup(model)
    targets = []
    r = np.flatnonzero(model.uni_node & ~(model.uni_lp == model.uni_lp))
    targets += [(1, (int(x),)) for x in r]
    for m in range(2, N):
        nodes = _Aligned(model.nodes[m - 2], ["bow"], m, 1 << 20)
        for blk in model.tables[m - 2].blocks(["words", "lp"]):
            is_node = nodes.match(blk["words"]) >= 0
            miss = is_node & ~(blk["lp"] == blk["lp"])
            targets += [(m, tuple(g)) for g in natural(blk["words"][miss]).tolist()]
    if not targets:
        return 0
    missing = set()
    for m, h in targets:
        g = h
        while g and not look.stored(g):
            missing.add(g)
            g = g[:-1]
    order = sorted(missing, key=lambda g: (len(g), look.first(g)))
    for g in order:
        value = look.set_lp(g, look.bo(g))
        if len(g) == 1:
            model.uni_lp[g[0]] = value
        else:
            model.fixups[(len(g), g)] = value
        model.counts[len(g) - 1] += 1
        h = g[:-1]
        while h:
            if not look.is_node(len(h), h):
                look.add_node(h)
                if len(h) == 1:
                    model.uni_node[h[0]] = True
                else:
                    model.extra_nodes.add((len(h), h))
            h = h[1:]
    return len(order)


class _Lookup:
    """Probabilities, first positions, nodes and back-off weights of single n-grams
    (natural word tuples of ranks), looked up in the model's tables, with the
    fixups made so far laid over them."""

    def __init__(self, model):
        self.model = model
        self.lp_over = {}
        self.node_over = set()
        self.cache = {}

    def _row(self, g):
        if g not in self.cache:
            m = len(g)
            if m == 1:
                w = g[0]
                mdl = self.model
                self.cache[g] = (float(mdl.uni_lp[w]), 0, bool(mdl.uni_node[w]),
                                 float(mdl.uni_bow[w]))
            else:
                layout = np.array([list(g[m - 2::-1]) + [g[m - 1]]], np.int32)
                lp, first = _find(self.model.tables[m - 2], layout, ["lp", "first"])
                lp = np.nan if lp is None else lp
                bow = None
                if m < self.model.order:
                    (bow,) = _find(self.model.nodes[m - 2], layout, ["bow"])
                self.cache[g] = (lp, first, bow is not None, 0.0 if bow is None else bow)
        return self.cache[g]

    def stored(self, g):
        if g in self.lp_over:
            return True
        lp = self._row(g)[0]
        return lp == lp

    def lp(self, g):
        return self.lp_over.get(g, self._row(g)[0])

    def first(self, g):
        return self._row(g)[1]

    def is_node(self, m, g):
        return g in self.node_over or self._row(g)[2]

    def bow(self, g):
        return self._row(g)[3] if self._row(g)[2] else 0.0

    def add_node(self, g):
        self.node_over.add(g)

    def set_lp(self, g, value):
        self.lp_over[g] = value
        return value

    def bo(self, g):
        """SRILM's wordProbBO(last(g), prefix(g), len(g) - 1), float32 (SRILM-KATZ.md §5)."""
        w, h = g[-1], g[:-1]
        f32 = np.float32
        logp = f32(self.lp((w,))) if self.stored((w,)) else f32(-np.inf)
        acc = f32(0.0)
        for j in range(1, len(h) + 1):
            ctx = h[len(h) - j:]
            if not self.is_node(j, ctx):
                break
            acc = f32(acc + f32(self.bow(ctx)))
            x = ctx + (w,)
            if self.stored(x):
                logp = f32(self.lp(x))
                acc = f32(0.0)
        return f32(-np.inf) if logp == -np.inf else f32(logp + acc)


def _find(table, layout_row, names):
    """The values of the row of ``table`` whose words equal ``layout_row`` (or Nones)."""
    for blk in table.blocks(["words", *names]):
        w = blk["words"]
        if w.shape[0] == 0:
            continue
        if joins.cmp_cols(w, w.shape[0] - 1, layout_row, 0, w.shape[1]) < 0:
            continue
        i = int(joins.find_rows(w, layout_row)[0])
        if i < 0:
            break
        return tuple(blk[k][i].item() for k in names)
    return tuple(None for _ in names)

