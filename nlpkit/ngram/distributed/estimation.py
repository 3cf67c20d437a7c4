"""The client's side of an estimation on the workers (stupid back-off and Katz; the
package's docstring says why each step may run where it does): partitions estimated
where they were merged, contexts shuffled to the partitions that print them, sections
formatted there and written here one partition's piece at a time."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from ...errors import NlpkitError
from . import tasks

# bytes of formatted lines fetched from a worker at once
TEXT_PIECE = 4 << 20


class _Futures:
    """The futures of one estimation still held (cancelled on failure; released ones
    dropped: the scheduler refuses to cancel what no client wants)."""

    def __init__(self, client):
        self.client, self.held = client, []

    def add(self, futures):
        self.held += futures
        return futures

    def release(self, futures):
        for f in futures:
            if f in self.held:
                self.held.remove(f)
                f.release()

    def cancel(self):
        if self.held:
            self.client.cancel(self.held)
        self.held = []


def _small(client, fn, future):
    """A small result of ``fn`` on the worker holding ``future`` (not the whole of it)."""
    return client.submit(fn, future, pure=False).result()


def _shuffle(client, futures, scored, section_task, tag, *args):
    """Partition q's sections from its own results and the pieces every partition cut
    for it (P x P small transfers)."""
    P = len(scored)
    out = []
    for q in range(P):
        pieces = futures.add([client.submit(tasks.pieces_for, s, q,
                                            key=f"nlpkit-shuffle-{p}-{q}-{tag}")
                              for p, s in enumerate(scored)])
        out += futures.add([client.submit(section_task, scored[q], *args, *pieces,
                                          key=f"nlpkit-arpa-{q}-{tag}")])
    return out


def _vocab_pool(client, futures, vocab):
    """The words' bytes for the workers' writers (Katz, stupid: and the ids of the ranks;
    Kneser-Ney: ``vocab`` is the word table)."""
    if hasattr(vocab, "by_rank"):
        wpool, woff = vocab.table.byte_pool()
        pool = (wpool, woff, np.ascontiguousarray(vocab.by_rank))
    else:
        pool = vocab.byte_pool()
    return futures.add(client.scatter([pool], broadcast=True, hash=False))[0]


def _text(client, sections, n):
    """The lines of order ``n``, partition after partition, in pieces of at most
    ``TEXT_PIECE`` bytes fetched one at a time (what the client holds of them)."""
    for s in sections:
        size = client.submit(tasks.sizes_of, s, pure=False).result()[n - 2]
        for a in range(0, size, TEXT_PIECE):
            yield client.submit(tasks.text_of, s, n, a, TEXT_PIECE, pure=False).result()


def _write(client, model, sections, path):
    """The unigrams as a one-process model prints them, then every order partition after
    partition."""
    order = model.order

    def all_sections():
        yield 1, model._section(1, 1 << 18)
        for n in range(2, order + 1):
            yield n, _text(client, sections, n)

    model.write_arpa(path, all_sections(), model.counts)


def _killed(exc):
    from .counting import _task
    return NlpkitError(f"Dask workers died running {_task(exc)} (each time it was tried); "
                       "no model was written")


def _counts_written(c, sections, order, uni_lp, uni_node):
    """The n-grams each order's ARPA section will hold (the unigrams: those with a
    probability), from the partitions' summaries, and how many targets SRILM's fixups
    would look up; marks in ``uni_node`` the unigrams that are contexts there."""
    rows = np.zeros(max(0, order - 1), np.int64)
    targets = 0
    for s in sections:
        got = _small(c, tasks.summary_of, s)
        rows += np.asarray(got["rows"], np.int64)
        uni_node[got["uni"]] = True
        targets += got["targets"]
    counts = [int(np.count_nonzero(uni_lp == uni_lp))] + [int(r) for r in rows]
    return counts, targets


def write_stupid(client, counted, order, alpha, path, meta):
    """Estimate stupid back-off on the workers from ``counted`` (a count that kept its
    partitions there) and write the ARPA file ``path`` as a single-process build writes it.
    Returns the n-grams written per order."""
    from distributed import KilledWorker

    from ..estimation.stupid import StupidModel, unigram_scores
    from ..reading.encode import BOS_ID
    parts, vocab = counted.parts, counted.vocab
    c, tag = client, parts.tag
    bos = int(vocab.rank[BOS_ID])
    bow = float(np.float32(math.log10(alpha)))
    futures = _Futures(c)
    try:
        uni_lp = unigram_scores(parts.uni_count, bos)
        pool = _vocab_pool(c, futures, vocab)
        scored = futures.add([c.submit(tasks.stupid_scores, f, order, bos, parts.bounds,
                                       key=f"nlpkit-estimate-{p}-{tag}")
                              for p, f in enumerate(parts.futures)])
        sections = _shuffle(c, futures, scored, tasks.stupid_sections, tag, order, bow, pool)
        uni_node = np.zeros(uni_lp.shape[0], np.bool_)
        for s in scored:
            uni_node[_small(c, tasks.unigram_nodes_of, s)] = True
        counts, _ = _counts_written(c, sections, order, uni_lp, uni_node)
        futures.release(scored)
        model = StupidModel(vocab, order, uni_lp, np.full(uni_lp.shape[0], np.float32(bow)),
                            uni_node, [], [], {}, counts,
                            meta={"smoothing": "stupid", "alpha": alpha, **meta})
        _write(c, model, sections, path)
    except KilledWorker as exc:
        raise _killed(exc) from None
    finally:
        futures.cancel()
    return counts


def write_katz(client, counted, order, path, meta, *, gt_min=None, gt_max=None, unk=False):
    """Estimate SRILM's Katz model on the workers from ``counted`` and write the ARPA file
    ``path`` as a single-process build writes it; the n-grams written per order.  None
    (nothing written) when SRILM's fixups are due (a context node without a probability of
    its own): they look single n-grams up across partitions, so the caller estimates on
    the client instead."""
    from distributed import KilledWorker

    from ..estimation import katz as K
    parts, vocab = counted.parts, counted.vocab
    c, tag = client, parts.tag
    futures = _Futures(c)
    try:
        st = K._Settings(vocab, order, gt_min, gt_max, unk)
        uni_lp, uni_bow, uni_node, _ = K._unigrams(
            SimpleNamespace(uni_count=parts.uni_count, uni_first=parts.uni_first), vocab, st)
        # the discounts: counts of counts summed over the partitions
        coc = [c.submit(tasks.katz_count_of_counts, f, order, st,
                        key=f"nlpkit-coc-{p}-{tag}") for p, f in enumerate(parts.futures)]
        futures.add(coc)
        total = None
        for f in coc:
            got = f.result()
            total = got if total is None else [a + b for a, b in zip(total, got)]
        futures.release(coc)
        gts = [st.good_turing(n, total[n - 2]) for n in range(2, order + 1)]
        uni_lq = np.where(uni_lp == uni_lp, uni_lp, np.float32(-np.inf)).astype(np.float32)
        pool = _vocab_pool(c, futures, vocab)
        scored = futures.add([c.submit(tasks.katz_scores, f, order, st, gts, uni_lq,
                                       parts.bounds, key=f"nlpkit-estimate-{p}-{tag}")
                              for p, f in enumerate(parts.futures)])
        sections = _shuffle(c, futures, scored, tasks.katz_sections, tag, order, pool)
        nodes = []
        for s in scored:
            got = _small(c, tasks.katz_unigrams_of, s)
            ids, bows = got["ctx"]
            uni_bow[ids] = bows  # (a bigram context is in one partition)
            nodes.append(got["nodes"])
        for ids in nodes:
            uni_node[ids] = True
        counts, targets = _counts_written(c, sections, order, uni_lp, uni_node)
        futures.release(scored)
        if targets or (uni_node & ~(uni_lp == uni_lp)).any():
            return None
        model = K.KatzModel(vocab, order, uni_lp, uni_bow, uni_node, [], [], {}, counts,
                            meta={"smoothing": "katz", "gt_min": st.gmin, "gt_max": st.gmax,
                                  "unk": unk, "fixups": 0, **meta})
        _write(c, model, sections, path)
    except KilledWorker as exc:
        raise _killed(exc) from None
    finally:
        futures.cancel()
    return counts


def write_kn(client, counted, order, path, *, discount_fallback=None,
             interpolate_unigrams=True):
    """Estimate lmplz's modified Kneser-Ney model (not pruned) on the workers from
    ``counted`` and write the ARPA file ``path`` as a single-process build writes it; the
    n-grams written per order.  None (nothing written) when an order's listed lines and
    its contexts do not pair one to one (lmplz's pairing then runs over a whole order: the
    caller estimates on the client)."""
    from distributed import KilledWorker

    from ..counting.runs import table_from_arrays
    from ..estimation import kn as K
    from ..formats.arpa_lmplz import write_sections
    parts, vocab = counted.parts, counted.vocab
    c, tag, N = client, parts.tag, order
    W = len(vocab)
    largest = [int(v) for v in counted.largest]
    futures = _Futures(c)
    try:
        fallback, _ = K.check_options(N, discount_fallback, None)
        stats_ = futures.add([c.submit(tasks.kn_statistics, f, N, W, largest,
                                       key=f"nlpkit-stats-{p}-{tag}")
                              for p, f in enumerate(parts.futures)])
        uni_count = parts.uni_count.copy()
        uni_rows = uni_count > 0
        uni_rows[K.UNK] = True  # <unk> is a unigram of every model, seen or not
        uni_a = np.zeros(W, np.int64)
        stats = [np.zeros(4, np.int64) for _ in range(N)]
        for s in stats_:
            got = _small(c, tasks.kn_stats_of, s)
            uni_a += got["last"]
            for k in range(1, N):
                stats[k] += got["stats"][k]
        uni_a[K.UNK] = uni_a[K.BOS] = 0
        stats[0] = K._stats_of(uni_a[uni_rows], None)
        # the unigram step of lmplz's raw counts at the end (the workers did the others:
        # with no tables here, those steps find nothing)
        empty = table_from_arrays(words=np.zeros((0, 1), np.int32),
                                  count=np.zeros(0, np.int64))
        K._raw_counts_at_the_end(stats, SimpleNamespace(table=lambda k: empty), uni_a,
                                 uni_count, largest, N)
        discounts = [K._discounts(stats[k], k + 1, fallback) for k in range(N)]
        p_uni, _ = K._unigram_probs(uni_rows, uni_a, discounts[0], interpolate_unigrams)
        pool = _vocab_pool(c, futures, vocab)
        probs = futures.add([c.submit(tasks.kn_probs, s, N, W, discounts, p_uni, parts.bounds,
                                      key=f"nlpkit-estimate-{p}-{tag}")
                             for p, s in enumerate(stats_)])
        sections = _shuffle(c, futures, probs, tasks.kn_sections, tag, N, W, pool)
        g_words, g_gamma = [], []
        for s in probs:
            w, g = _small(c, tasks.kn_unigram_gammas_of, s)
            g_words.append(w)
            g_gamma.append(g)
        rows = np.zeros(N - 1, np.int64)
        paired = True
        for s in sections:
            got = _small(c, tasks.kn_summary_of, s)
            rows += np.asarray(got["rows"], np.int64)
            paired = paired and got["paired"]
        futures.release(stats_ + probs)
        if not paired:
            return None
        gammas1 = table_from_arrays(words=np.concatenate(g_words).reshape(-1, 1),
                                    gamma=np.concatenate(g_gamma))
        counts = [int(np.count_nonzero(uni_rows))] + [int(r) for r in rows]

        def all_sections():
            yield 1, K._unigram_lines(np.flatnonzero(uni_rows).astype(np.int32), p_uni,
                                      gammas1, False, 1 << 18)
            for n in range(2, N + 1):
                yield n, _text(c, sections, n)

        wpool, woff = vocab.byte_pool()
        write_sections(path, counts, all_sections(), wpool, woff)
    except KilledWorker as exc:
        raise _killed(exc) from None
    finally:
        futures.cancel()
    return counts
