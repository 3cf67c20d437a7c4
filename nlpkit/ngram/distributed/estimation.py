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
    wpool, woff = vocab.table.byte_pool()
    return futures.add(client.scatter([(wpool, woff, np.ascontiguousarray(vocab.by_rank))],
                                      broadcast=True, hash=False))[0]


def _write(client, model, sections, path):
    """The unigrams as a one-process model prints them, then every order partition after
    partition (their pieces of text fetched one at a time)."""
    order = model.order

    def all_sections():
        yield 1, model._section(1, 1 << 18)
        for n in range(2, order + 1):
            yield n, (client.submit(tasks.text_of, s, n, pure=False).result() for s in sections)

    model.write_arpa(path, all_sections(), model.counts)


def _killed(exc):
    from .counting import _task
    return NlpkitError(f"Dask workers died running {_task(exc)} (each time it was tried); "
                       "no model was written")


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
        rows = np.zeros(max(0, order - 1), np.int64)
        for s in sections:
            got = _small(c, tasks.summary_of, s)
            rows += np.asarray(got["rows"], np.int64)
            uni_node[got["uni"]] = True
        futures.release(scored)
        counts = [int(np.count_nonzero(uni_lp == uni_lp))] + [int(r) for r in rows]
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
        rows = np.zeros(max(0, order - 1), np.int64)
        targets = 0
        for s in sections:
            got = _small(c, tasks.summary_of, s)
            rows += np.asarray(got["rows"], np.int64)
            uni_node[got["uni"]] = True
            targets += got["targets"]
        futures.release(scored)
        if targets or (uni_node & ~(uni_lp == uni_lp)).any():
            return None
        counts = [int(np.count_nonzero(uni_lp == uni_lp))] + [int(r) for r in rows]
        model = K.KatzModel(vocab, order, uni_lp, uni_bow, uni_node, [], [], {}, counts,
                            meta={"smoothing": "katz", "gt_min": st.gmin, "gt_max": st.gmax,
                                  "unk": unk, "fixups": 0, **meta})
        _write(c, model, sections, path)
    except KilledWorker as exc:
        raise _killed(exc) from None
    finally:
        futures.cancel()
    return counts
