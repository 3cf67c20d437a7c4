"""Hash tables over packed n-gram keys: a :class:`BackoffModel` made ready for the scoring kernels.

:class:`NGramTables` turns a :class:`~nlpkit.ngram.backoff.BackoffModel` into
the flat arrays the kernels in :mod:`nlpkit.ngram.scoring.kernels` read (layout
in that module's docstring).  Two SRILM rules are applied on the way, so that
scores match ``ngram -ppl`` on any file SRILM accepts:

* a duplicated n-gram keeps its **last** line;
* every suffix of a context node (an n-gram line with a back-off weight) is a
  node too: missing ones are added as rows without a probability and with
  back-off weight 0 (SRILM creates them when it inserts the node into its
  context trie).  This also lets the scorer stop at the first missing context.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numba
import numpy as np

from ..backoff import BackoffModel
from . import kernels as scoring

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_PACK_BITS = 96  # n-grams of n * bits <= 96 are keyed by their packed ids


@contextmanager
def chunks_on_demand():
    """Parallel kernels hand out their prange chunks one at a time to whichever
    thread is free (Numba's default splits them evenly up front, so on a busy
    machine a thread that loses its core holds everyone up).  For kernels whose
    prange runs over a few hundred chunks, not over millions of items."""
    old = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(old)


class ModelWarning(UserWarning):
    """An n-gram model was loaded, but something in it was odd (SRILM warns too)."""


class NGramTables:
    """The flat arrays the scoring kernels read; see :mod:`nlpkit.ngram.scoring.kernels`."""

    FIELDS = ("uni", "uni_has_bo", "uni_present", "lpbo", "has_bo", "grams", "slots",
              "tab_off", "tab_mask", "row_off", "gram_off", "n_real")

    def __init__(self, order, vocab_size, arrays):
        self.order, self.vocab_size = int(order), int(vocab_size)
        self.bits = max(1, int(vocab_size - 1).bit_length())
        self.packed_upto = _PACK_BITS // self.bits
        for name in self.FIELDS:
            if name != "lpbo":
                setattr(self, name, arrays[name])
        # lpbo (what the binary format stores) is made on first use from the
        # rows' (lp, bo), which a freshly built model holds in ``values``
        self._lpbo = arrays.get("lpbo")
        self._values = arrays.get("values")

    @property
    def lpbo(self):
        """Every row's (log10 prob, back-off weight), interleaved, orders 2 and up."""
        if self._lpbo is None:
            lp, bo = self._values
            lpbo = np.empty(2 * lp.shape[0], dtype=np.float32)
            lpbo[0::2], lpbo[1::2] = lp, bo
            self._lpbo = lpbo
        return self._lpbo

    # --- building -------------------------------------------------------
    @classmethod
    def build(cls, model: BackoffModel, *, drop_orphans=False, warn=None):
        """Tables for ``model``; returns ``(tables, model)`` where the model has lost
        overridden duplicates (and, with ``drop_orphans``, the n-grams whose
        context has no back-off line: SRILM's reader skips those with a warning,
        because it stores ``p(w|h)`` in the context node of ``h`` and only a
        line with a back-off weight creates that node).

        A well-formed model (no duplicates, every context and every suffix of a
        context present) is built in two parallel passes, insert then check;
        any other goes through the repairs one order at a time.
        """
        warn = warn or (lambda msg: warnings.warn(msg, ModelWarning, stacklevel=3))
        V, N = len(model.vocab), model.order
        bits = max(1, int(V - 1).bit_length())
        ngrams = list(model.ngrams)
        lps, bos, hbs = list(model.logprob), list(model.backoff), list(model.has_backoff)
        uni_lp, uni_bo, uni_has_bo, uni_present = _unigrams(ngrams, lps, bos, hbs, V, warn)
        lay = _Layout(N, [g.shape[0] for g in ngrams], bits)
        flat = _fill_all(lay, ngrams, lps, bos, hbs, N, warn)
        if flat is not None and not _count_broken(lay, flat, uni_has_bo, N, drop_orphans).any():
            arrays = flat.table_arrays(lay)
            ngrams[1:], lps[1:], bos[1:], hbs[1:] = flat.orders()
            n_real = [g.shape[0] for g in ngrams]
        else:
            lay = _repair(lay, ngrams, lps, bos, hbs, uni_has_bo, N, drop_orphans, model.vocab,
                          warn)
            n_real = [ngrams[0].shape[0] if N else 0] + [
                int(np.count_nonzero(~np.isnan(lps[k]))) for k in range(1, N)]
            arrays = _flatten(lay, ngrams, lps, bos, hbs, N)
        uni = np.empty(2 * V, dtype=np.float32)
        uni[0::2], uni[1::2] = uni_lp, uni_bo
        arrays.update(uni=uni, uni_has_bo=uni_has_bo, uni_present=uni_present,
                      n_real=np.asarray(n_real, dtype=np.int64))
        real = BackoffModel(model.vocab, [g[:r] for g, r in zip(ngrams, n_real)],
                            [a[:r] for a, r in zip(lps, n_real)],
                            [a[:r] for a, r in zip(bos, n_real)],
                            [a[:r] for a, r in zip(hbs, n_real)], dict(model.meta))
        return cls(N, V, arrays), real

    def kernel_args(self):
        """The table arguments shared by every scoring kernel, in their order."""
        return (self.order, self.uni, self.slots, self.slots.view(np.float32),
                self.grams, self.tab_off, self.tab_mask, self.row_off, self.gram_off,
                np.int64(self.bits), np.int64(self.packed_upto))

    def arrays(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_model(self, vocab, meta) -> BackoffModel:
        """The :class:`BackoffModel` these tables were built from (real rows only)."""
        N = self.order
        ngrams, lps, bos, hbs = [], [], [], []
        if N:
            w = np.flatnonzero(self.uni_present).astype(np.int32)
            ngrams.append(w.reshape(-1, 1))
            lps.append(self.uni[2 * w])
            bos.append(self.uni[2 * w + 1])
            hbs.append(self.uni_has_bo[w])
        for n in range(2, N + 1):
            r0, r = int(self.row_off[n]), int(self.n_real[n - 1])
            g0 = int(self.gram_off[n])
            ngrams.append(self.grams[g0:g0 + r * n].reshape(r, n))
            lps.append(self.lpbo[2 * r0:2 * (r0 + r):2])
            bos.append(self.lpbo[2 * r0 + 1:2 * (r0 + r):2])
            hbs.append(self.has_bo[r0:r0 + r])
        return BackoffModel(list(vocab), ngrams, lps, bos, hbs, dict(meta))


def _unigrams(ngrams, lps, bos, hbs, V, warn):
    """Dense unigram arrays by word id (a later duplicate wins, as in SRILM)."""
    uni_lp = np.full(V, -np.inf, dtype=np.float32)
    uni_bo = np.zeros(V, dtype=np.float32)
    uni_has_bo = np.zeros(V, dtype=bool)
    uni_present = np.zeros(V, dtype=bool)
    if ngrams:
        w = ngrams[0][:, 0]
        last = _last_occurrence(w)
        if last.shape[0] != w.shape[0]:
            warn(f"{w.shape[0] - last.shape[0]} duplicated 1-gram(s): the last line of each "
                 "is used (as SRILM does)")
            ngrams[0], lps[0], bos[0], hbs[0] = (a[last] for a in
                                                 (ngrams[0], lps[0], bos[0], hbs[0]))
        w = ngrams[0][:, 0]
        uni_lp[w], uni_bo[w], uni_has_bo[w] = lps[0], bos[0], hbs[0]
        uni_present[w] = True
    return uni_lp, uni_bo, uni_has_bo, uni_present


def _last_occurrence(w):
    """Indices of the last occurrence of each value of ``w``, in original order."""
    rev = w[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    if first_in_rev.shape[0] == w.shape[0]:
        return np.arange(w.shape[0])
    return np.sort(w.shape[0] - 1 - first_in_rev)


class _Layout:
    """Where each order's hash table sits in the one flat ``slots`` array."""

    def __init__(self, N, rows, bits):
        self.bits = bits
        self.tab_off = np.zeros(N + 2, np.int64)
        self.tab_mask = np.zeros(N + 2, np.int64)
        t = 0
        for n in range(2, N + 1):
            size = _table_size(rows[n - 1])
            self.tab_off[n], self.tab_mask[n] = t, size - 1
            t += size
        self.slots = np.zeros(3 * t, dtype=np.uint64)  # see scoring.py: 3 words a slot
        self.used = [False] * (N + 2)  # fresh tables are already empty
        self.grams = None  # all orders' ids, flat, when still valid

    def fits(self, n, rows):
        return _table_size(rows) <= self.tab_mask[n] + 1

    def clear(self, n):
        a, b = self.tab_off[n], self.tab_off[n] + self.tab_mask[n] + 1
        self.slots[3 * a:3 * b] = 0


def _table_size(rows: int) -> int:
    # 1.5 slots a row (load factor 2/3), KenLM's default for its probing tables: short
    # probe runs, at a size that follows the rows (a power of two would leave a table
    # anywhere from 35% to 70% full, up to twice the memory)
    return max(16, rows + rows // 2 + 1)


class _Flat:
    """Orders 2..N's rows side by side: the arrays the table kernels read.

    ``row_off[n]``/``gram_off[n]`` are where order ``n``'s rows/ids start and
    ``row_off[N+1]``/``gram_off[N+1]`` the totals.
    """

    def __init__(self, ngrams, lps, bos, hbs, N):
        self.N = N
        self.row_off = np.zeros(N + 2, np.int64)
        self.gram_off = np.zeros(N + 2, np.int64)
        for n in range(2, N + 1):
            rows = ngrams[n - 1].shape[0]
            self.row_off[n + 1] = self.row_off[n] + rows
            self.gram_off[n + 1] = self.gram_off[n] + rows * n
        hi = range(1, N)
        self.grams = _cat([ngrams[k] for k in hi], np.int32)
        self.lp = _cat([lps[k] for k in hi], np.float32)
        self.bo = _cat([bos[k] for k in hi], np.float32)
        self.has_bo = _cat([hbs[k] for k in hi], bool)

    def orders(self):
        """Each order's ``(ngrams, lps, bos, hbs)`` as views of the flat arrays."""
        r, g = self.row_off, self.gram_off
        span = range(2, self.N + 1)
        return ([self.grams[g[n]:g[n + 1]].reshape(-1, n) for n in span],
                [self.lp[r[n]:r[n + 1]] for n in span], [self.bo[r[n]:r[n + 1]] for n in span],
                [self.has_bo[r[n]:r[n + 1]] for n in span])

    def table_arrays(self, lay):
        """The tables' row arrays, laid out as :func:`_flatten` lays them."""
        row_off, gram_off = self.row_off.copy(), self.gram_off.copy()
        row_off[self.N + 1] = gram_off[self.N + 1] = 0
        return dict(slots=lay.slots, tab_off=lay.tab_off, tab_mask=lay.tab_mask,
                    values=(self.lp, self.bo), has_bo=self.has_bo, grams=self.grams,
                    row_off=row_off, gram_off=gram_off)


def _count_broken(lay, flat, uni_has_bo, N, drop_orphans):
    with chunks_on_demand():
        return scoring.count_broken_contexts(
            lay.slots, lay.tab_off, lay.tab_mask, flat.grams, flat.gram_off, flat.row_off,
            flat.has_bo, uni_has_bo, N, lay.bits, _PACK_BITS // lay.bits, bool(drop_orphans))


def _cat(parts, dtype):
    """The parts end to end: a view when they already lie so in one array (the ARPA
    reader gathers orders 2..N that way), else a copy."""
    if not parts:
        return np.zeros(0, dtype)
    from ..counting.runs import adjacent_views
    return adjacent_views([np.ascontiguousarray(p, dtype=dtype).ravel() for p in parts])


def _fill_all(lay, ngrams, lps, bos, hbs, N, warn):
    """Build every order's table at once (in parallel).  Returns the :class:`_Flat`
    rows, or None when there were duplicates (they are dropped, tables rebuilt)."""
    if N < 2:
        return None
    flat = _Flat(ngrams, lps, bos, hbs, N)
    row_off = flat.row_off
    plan, plan_off = _balance(np.diff(row_off, prepend=0), N)
    dup = scoring.build_tables(flat.grams, flat.gram_off, row_off, plan, plan_off, lay.bits,
                               _PACK_BITS // lay.bits, lay.slots, lay.slots.view(np.float32),
                               lay.tab_off, lay.tab_mask, flat.lp, flat.bo)
    lay.grams = flat.grams  # reused by _flatten while no order changes
    clean = True
    for n in range(2, N + 1):
        lay.used[n] = True
        if _drop_duplicates(ngrams, lps, bos, hbs, n, dup[row_off[n]:row_off[n + 1]], warn):
            clean = False
            _fill(lay, ngrams, lps, bos, hbs, n, warn)
    return flat if clean else None


def _balance(rows, N):
    """Orders 2..N split among the threads, largest first onto the least loaded."""
    import numba
    workers = max(1, min(numba.get_num_threads(), N - 1))
    load = [0] * workers
    groups = [[] for _ in range(workers)]
    for n in sorted(range(2, N + 1), key=lambda n: -rows[n + 1]):
        k = load.index(min(load))
        groups[k].append(n)
        load[k] += int(rows[n + 1])
    plan = np.array([n for g in groups for n in g], dtype=np.int64)
    plan_off = np.zeros(workers + 1, dtype=np.int64)
    np.cumsum([len(g) for g in groups], out=plan_off[1:])
    return plan, plan_off


def _fill(lay, ngrams, lps, bos, hbs, n, warn):
    """(Re)build order ``n``'s table; drop rows overridden by a later duplicate."""
    if lay.used[n]:
        lay.clear(n)
    lay.used[n] = True
    lay.grams = None
    flat = np.ascontiguousarray(ngrams[n - 1]).ravel()
    dup = scoring.build_table(flat, n, lay.bits, n * lay.bits <= _PACK_BITS, lay.slots,
                              lay.slots.view(np.float32), lay.tab_off[n], lay.tab_mask[n],
                              np.ascontiguousarray(lps[n - 1], dtype=np.float32),
                              np.ascontiguousarray(bos[n - 1], dtype=np.float32))
    if _drop_duplicates(ngrams, lps, bos, hbs, n, dup, warn):
        _fill(lay, ngrams, lps, bos, hbs, n, warn)


def _drop_duplicates(ngrams, lps, bos, hbs, n, dup, warn):
    """Drop order ``n``'s rows flagged in ``dup`` (overridden by a later line); any dropped?"""
    if not dup.any():
        return False
    keep = ~dup
    for lst in (ngrams, lps, bos, hbs):
        lst[n - 1] = lst[n - 1][keep]
    warn(f"{int(dup.sum())} duplicated {n}-gram(s): the last line of each is used "
         "(as SRILM does)")
    return True


def _repair(lay, ngrams, lps, bos, hbs, uni_has_bo, N, drop_orphans, vocab, warn):
    """SRILM's reading rules, order by order: orphans dropped (with ``drop_orphans``),
    then every suffix of a context node made a node (rows without a probability).
    Returns the layout (a new one if a table outgrew its size)."""
    if drop_orphans:
        for n in range(2, N + 1):
            if _drop_orphans(lay, ngrams, lps, bos, hbs, uni_has_bo, n, vocab, warn):
                _fill(lay, ngrams, lps, bos, hbs, n, warn)
    # suffix closure of context nodes, top order down
    bits = lay.bits
    for n in range(N, 2, -1):
        node = np.flatnonzero(hbs[n - 1])
        if not node.shape[0]:
            continue
        q = np.ascontiguousarray(ngrams[n - 1][node]).ravel()
        found = scoring.lookup_many(lay.slots, lay.tab_off[n - 1], lay.tab_mask[n - 1],
                                    np.ascontiguousarray(ngrams[n - 2]).ravel(), q, n, 1, n - 1,
                                    bits, (n - 1) * bits <= _PACK_BITS)
        missing = ngrams[n - 1][node[found < 0]][:, 1:]
        if missing.shape[0]:
            missing = np.unique(missing, axis=0)
            k = missing.shape[0]
            ngrams[n - 2] = np.concatenate([ngrams[n - 2], missing])
            lps[n - 2] = np.concatenate([lps[n - 2], np.full(k, np.nan, np.float32)])
            bos[n - 2] = np.concatenate([bos[n - 2], np.zeros(k, np.float32)])
            hbs[n - 2] = np.concatenate([hbs[n - 2], np.ones(k, bool)])
            if not lay.fits(n - 1, ngrams[n - 2].shape[0]):
                lay = _Layout(N, [g.shape[0] for g in ngrams], bits)
                for m in range(2, N + 1):
                    _fill(lay, ngrams, lps, bos, hbs, m, warn)
            else:
                _fill(lay, ngrams, lps, bos, hbs, n - 1, warn)
    return lay


def _drop_orphans(lay, ngrams, lps, bos, hbs, uni_has_bo, n, vocab, warn):
    g = ngrams[n - 1]
    if n == 2:
        ok = uni_has_bo[g[:, 0]]
    else:
        rows = scoring.lookup_many(lay.slots, lay.tab_off[n - 1], lay.tab_mask[n - 1],
                                   np.ascontiguousarray(ngrams[n - 2]).ravel(),
                                   np.ascontiguousarray(g).ravel(), n, 0, n - 1, lay.bits,
                                   (n - 1) * lay.bits <= _PACK_BITS)
        ok = rows >= 0
        ok[ok] = hbs[n - 2][rows[ok]]
    if not ok.all():
        bad = np.flatnonzero(~ok)
        example = " ".join(vocab[i] for i in g[bad[0]])
        warn(f"{bad.shape[0]} {n}-gram(s) skipped because their context has no back-off "
             f"weight line (as SRILM does), e.g. \"{example}\"")
        for lst in (ngrams, lps, bos, hbs):
            lst[n - 1] = lst[n - 1][ok]
        lay.grams = None
        return True
    return False


def _flatten(lay, ngrams, lps, bos, hbs, N):
    row_off = np.zeros(N + 2, np.int64)
    gram_off = np.zeros(N + 2, np.int64)
    r = g = 0
    for n in range(2, N + 1):
        row_off[n], gram_off[n] = r, g
        r += lps[n - 1].shape[0]
        g += lps[n - 1].shape[0] * n
    hi = range(1, N)
    lp, bo = _cat([lps[k] for k in hi], np.float32), _cat([bos[k] for k in hi], np.float32)
    grams = lay.grams if lay.grams is not None else _cat([ngrams[k] for k in hi], np.int32)
    return dict(slots=lay.slots, tab_off=lay.tab_off, tab_mask=lay.tab_mask, values=(lp, bo),
                has_bo=_cat([hbs[k] for k in hi], bool), grams=grams, row_off=row_off,
                gram_off=gram_off)
