"""The client's side of a distributed count: ranges out, vocabularies and runs back in."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ...errors import NlpkitError
from ..reading.ranges import split_files
from . import tasks

# a range is about a quarter of a worker's share of the corpus, and within these bounds:
# each worker gets several ranges (a slow or lost worker delays less) and a range's
# counts, sent back whole, stay small beside a worker's memory
MIN_RANGE = 1 << 20
MAX_RANGE = 16 << 20
RANGES_PER_WORKER = 4
# partitions of the n-grams by their first column, merged each on one worker
PARTS_PER_WORKER = 2


@dataclass
class Counted:
    """What a distributed count gives the estimators (as the single-process stages do)."""
    counts: object  # SortedCounts
    vocab: object  # WordTable (kn, count) or RankedVocab (katz)
    tokens: int
    sentences: int
    words_read: int
    largest: np.ndarray | None
    parts: object = None  # with keep_parts: the Parts left on the workers


@dataclass
class Parts:
    """Merged partitions left on the workers (``futures[p]``: orders 2..N of partition p),
    the bounds on the first column that cut them, and what the client holds of the counts."""
    futures: list
    bounds: np.ndarray
    uni_count: np.ndarray
    uni_first: np.ndarray
    tag: str


def range_bytes(total, workers):
    share = -(-total // max(1, workers * RANGES_PER_WORKER))
    return int(min(MAX_RANGE, max(MIN_RANGE, share)))


def count_distributed(client, source, order, plan, kind, *, vocab=None, skip_symbols=False,
                      progress=None, keep_parts=False) -> Counted:
    """Count ``source`` (a path, glob or list of them, read by the workers) on ``client``'s
    cluster for a ``kind`` of build: ``'katz'`` (rank ids, layout rctx, first positions),
    ``'kn'`` (lmplz ids, rctx, no positions) or ``'count'`` (SRILM ids, layout ctx).
    ``keep_parts``: leave the merged partitions on the workers (``Counted.parts``, for an
    estimation there; the caller cancels them) instead of bringing the tables here."""
    from distributed import KilledWorker
    if source is None or source == "-" or isinstance(source, (bytes, bytearray)) or not (
            isinstance(source, (str, os.PathLike)) or all(
                isinstance(s, (str, os.PathLike)) for s in source)):
        raise NlpkitError("a build on a Dask scheduler reads files: give a path, a glob or a "
                          "list of paths that the workers can read")
    job = _Job(client, kind, order, plan, vocab, skip_symbols)
    try:
        files = client.submit(tasks.list_inputs, source, pure=False).result()
        total = sum(size for _, size in files)
        workers = max(1, sum(client.nthreads().values()))
        ranges = split_files(files, range_bytes(total, workers))
        words, maps, freqs, stats = job.vocabularies(ranges)
        tokens, sentences, words_read = (sum(s[k] for s in stats) for k in range(3))
        if kind == "kn" and tokens == 0:
            raise NlpkitError("the corpus is empty: lmplz needs at least one line")
        if kind != "kn" and sentences == 0:
            raise NlpkitError(f"{_label(files)}: the corpus is empty (no line holds a word)")
        W = len(words)
        plan.settle(W, tokens)
        bounds = partition_bounds(maps, freqs, W, PARTS_PER_WORKER * workers)
        del freqs
        heads, merged = job.count(ranges, maps, W, [s[0] for s in stats], bounds)
        uni_count, uni_first, largest = job.unigrams(heads, maps, W, tokens, progress,
                                                     [_range_size(r, files) for r in ranges])
        if keep_parts:
            if kind == "kn" and largest is None:
                from ..estimation.kn import BOS
                largest = np.full(order, BOS, np.int64)  # (as below)
            kept = Parts(merged, bounds, uni_count, uni_first, job.tag)
            job.futures = []  # (the caller's now)
            return Counted(None, words, tokens, sentences, words_read, largest, kept)
        tables = job.tables(merged, tokens)
    except KilledWorker as exc:
        raise NlpkitError(f"Dask workers died running {_task(exc)} (each time it was tried); "
                          "no model was written") from None
    finally:
        job.cancel()
    if kind == "kn" and largest is None:
        from ..estimation.kn import BOS
        largest = np.full(order, BOS, np.int64)  # (no window: all <s>, as one process gives)
    from ..counting.chunk import CTX, RCTX
    from ..counting.sorted_counts import SortedCounts
    sc = SortedCounts(W, order, CTX if kind == "count" else RCTX, uni_count, uni_first, tables,
                      tokens)
    return Counted(sc, words, tokens, sentences, words_read, largest)


class _Job:
    """The rounds of one distributed count, and the futures still out (cancelled when the
    count fails or is interrupted)."""

    def __init__(self, client, kind, order, plan, vocab, skip_symbols):
        self.client, self.kind, self.order, self.plan = client, kind, order, plan
        self.vocab, self.skip_symbols = vocab, skip_symbols
        self.with_first = kind != "kn"
        self.tag = os.urandom(6).hex()  # (the keys of this count's tasks)
        self.futures = []

    def cancel(self):
        if self.futures:
            self.client.cancel(self.futures)
        self.futures = []

    def vocabularies(self, ranges):
        """Round 1: each range's words in order of first appearance, interned range after
        range: the ids one process reading the whole corpus gives.  Returns the
        vocabulary (Katz: ranked), each range's map from its ids to the build's, each
        range's word frequencies and its (tokens, sentences, words read)."""
        self.futures = self.client.map(tasks.range_vocab, ranges, kind=self.kind,
                                       vocab=self.vocab, skip_symbols=self.skip_symbols,
                                       key=[f"nlpkit-vocab-{i}-{self.tag}"
                                            for i in range(len(ranges))])
        table = tasks.new_table(self.kind, self.vocab)
        maps, freqs, stats = [], [], []
        for fut in self.futures:
            got = fut.result()
            fut.release()
            maps.append(table.add_words(got["pool"], got["woff"]))
            freqs.append(got["freq"])
            stats.append((got["tokens"], got["sentences"], got["read"]))
        self.futures = []
        table.freeze()
        if self.kind != "katz":
            return table, maps, freqs, stats
        from ..estimation.katz import RankedVocab
        ranked = RankedVocab(table)
        return ranked, [ranked.rank[m].astype(np.int32) for m in maps], freqs, stats

    def count(self, ranges, maps, W, range_tokens, bounds):
        """Round 2: each range encoded with the build's ids and counted into sorted runs, cut
        into partitions by their first column; each partition's pieces merged on a worker.
        Returns the futures of the ranges' unigram results and of the merged partitions."""
        c, tag, plan = self.client, self.tag, self.plan
        tokens = int(sum(range_tokens))
        bases = np.concatenate([[0], np.cumsum(range_tokens)[:-1]]).astype(np.int64)
        crowd = threads_per_host(c)
        counted = [c.submit(tasks.range_counts, rng, self.kind, maps[i], W, self.order,
                            int(bases[i]), tokens, bounds, vocab=self.vocab,
                            skip_symbols=self.skip_symbols,
                            memory=plan.budget if plan.explicit else None, share=crowd,
                            temp_dir=plan.temp_dir, key=f"nlpkit-count-{i}-{tag}")
                   for i, rng in enumerate(ranges)]
        heads = [c.submit(tasks.head_of, f, key=f"nlpkit-head-{i}-{tag}")
                 for i, f in enumerate(counted)]
        merged = [c.submit(tasks.merge_part, self.kind, self.order, tokens,
                           *[c.submit(tasks.part_of, f, p, key=f"nlpkit-part-{i}-{p}-{tag}")
                             for i, f in enumerate(counted)],
                           key=f"nlpkit-merge-{p}-{tag}")
                  for p in range(len(bounds) - 1)]
        # only these are held here: a range's counts and pieces are let go on the workers
        # as soon as the tasks that need them are done
        self.futures = heads + merged
        return heads, merged

    def unigrams(self, heads, maps, W, tokens, progress, sizes):
        """The ranges' unigram counts summed and first positions taken by minimum (by the
        build's ids), and lmplz's largest padded N-gram of the corpus, as ranges finish."""
        from distributed import as_completed
        from ..counting.sorted_counts import run_dtypes
        dtypes = run_dtypes(tokens)
        uni_count = np.zeros(W, np.int32 if dtypes["count"] == np.uint32 else np.int64)
        uni_first = np.full(W, -1, dtypes["first"])
        largest = None
        index = {f.key: i for i, f in enumerate(heads)}
        for fut in as_completed(heads):
            got = fut.result()
            i = index[fut.key]
            fut.release()
            ids = maps[i]
            np.add.at(uni_count, ids, got["uni_count"])
            first, cur = got["uni_first"], uni_first[ids]
            take = (first >= 0) & ((cur < 0) | (first < cur))
            uni_first[ids[take]] = first[take]
            big = got["largest"]
            if big is not None and (largest is None or tuple(big[::-1]) > tuple(largest[::-1])):
                largest = big
            if progress is not None:
                progress(sizes[i])
        return uni_count, uni_first, largest

    def tables(self, merged, tokens):
        """Each order's table (see :func:`gather_tables`)."""
        out = gather_tables(merged, self.order, self.plan, tokens, self.with_first)
        self.futures = []
        return out


def gather_tables(merged, order, plan, tokens, with_first):
    """Each order's table: the merged partitions' rows, partition after partition (they
    are ranges of the sort order), in memory or in files as the plan says."""
    from ..counting.runs import TableWriter
    from ..counting.sorted_counts import run_columns, run_dtypes
    dtypes = run_dtypes(tokens)
    space = plan.space_for_runs()
    orders = range(2, order + 1)
    writers = [TableWriter(run_columns(n, dtypes, with_first), space, stem=f"count{n}")
               for n in orders]
    for fut in merged:
        got = fut.result()
        fut.release()
        for n, w in zip(orders, writers):
            if got[n - 2] is not None:
                w.append(**got[n - 2])
        del got
    return [w.close() for w in writers]


def sorted_counts_of(counted, order, plan, kind):
    """The tables of a count that kept its partitions on the workers, brought here (the
    estimation runs on the client after all)."""
    from ..counting.chunk import CTX, RCTX
    from ..counting.sorted_counts import SortedCounts
    parts = counted.parts
    tables = gather_tables(parts.futures, order, plan, counted.tokens, kind != "kn")
    parts.futures = []  # (released as they came)
    return SortedCounts(len(counted.vocab), order, CTX if kind == "count" else RCTX,
                        parts.uni_count, parts.uni_first, tables, counted.tokens)


def threads_per_host(client):
    """Worker threads on the most crowded host of the cluster: the tasks that may run at
    once on one machine, among which a worker task's memory budget is shared."""
    from urllib.parse import urlparse
    hosts = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = info.get("host") or urlparse(address).hostname
        hosts[host] = hosts.get(host, 0) + int(info.get("nthreads", 1))
    return max(hosts.values(), default=1)


def partition_bounds(maps, freqs, W, parts):
    """Bounds ``0 = b[0] <= ... <= b[parts] = W`` on the first column's ids (the words in
    the order of the build's ids) that cut the corpus's tokens into about equal shares."""
    total = np.zeros(W, np.int64)
    for ids, freq in zip(maps, freqs):
        np.add.at(total, ids, freq)
    cum = np.cumsum(total)
    share = cum[-1] / max(1, parts) if W else 0
    inner = np.searchsorted(cum, share * np.arange(1, parts), side="left") + 1
    return np.concatenate([[0], np.minimum(inner, W), [W]]).astype(np.int64)


def _task(exc):
    key = getattr(exc, "task", None) or (exc.args[0] if exc.args else "a task")
    return f"task {key}"


def _label(files):
    return files[0][0] if len(files) == 1 else f"{files[0][0]} and {len(files) - 1} more"


def _range_size(rng, files):
    if rng.start == 0 and rng.end is None:
        return dict(files).get(rng.path, 0)
    end = dict(files).get(rng.path, 0) if rng.end is None else rng.end
    return end - rng.start
