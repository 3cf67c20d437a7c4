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


def range_bytes(total, workers):
    share = -(-total // max(1, workers * RANGES_PER_WORKER))
    return int(min(MAX_RANGE, max(MIN_RANGE, share)))


def count_distributed(client, source, order, plan, kind, *, vocab=None, skip_symbols=False,
                      progress=None) -> Counted:
    """Count ``source`` (a path, glob or list of them, read by the workers) on ``client``'s
    cluster for a ``kind`` of build: ``'katz'`` (rank ids, layout rctx, first positions),
    ``'kn'`` (lmplz ids, rctx, no positions) or ``'count'`` (SRILM ids, layout ctx)."""
    from distributed import KilledWorker, as_completed
    from ..counting.runs import TableWriter
    from ..counting.sorted_counts import SortedCounts, run_columns, run_dtypes
    if source is None or source == "-" or isinstance(source, (bytes, bytearray)) or not (
            isinstance(source, (str, os.PathLike)) or all(
                isinstance(s, (str, os.PathLike)) for s in source)):
        raise NlpkitError("a build on a Dask scheduler reads files: give a path, a glob or a "
                          "list of paths that the workers can read")
    futures = []
    try:
        files = client.submit(tasks.list_inputs, source, pure=False).result()
        total = sum(size for _, size in files)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        ranges = split_files(files, range_bytes(total, workers))
        # round 1: each range's words in order of first appearance, interned range after
        # range: the ids one process reading the whole corpus gives
        futures = client.map(tasks.range_vocab, ranges, kind=kind, vocab=vocab,
                             skip_symbols=skip_symbols, pure=False)
        table = tasks.new_table(kind, vocab)
        maps, stats, freqs = [], [], []
        for fut in futures:
            got = fut.result()
            fut.release()
            maps.append(table.add_words(got["pool"], got["woff"]))
            stats.append((got["tokens"], got["sentences"], got["read"]))
            freqs.append(got["freq"])
        futures = []
        table.freeze()
        tokens = sum(s[0] for s in stats)
        sentences = sum(s[1] for s in stats)
        words_read = sum(s[2] for s in stats)
        if kind == "kn" and tokens == 0:
            raise NlpkitError("the corpus is empty: lmplz needs at least one line")
        if kind != "kn" and sentences == 0:
            raise NlpkitError(f"{_label(files)}: the corpus is empty (no line holds a word)")
        if kind == "katz":
            from ..estimation.katz import RankedVocab
            words = RankedVocab(table)
            maps = [words.rank[m].astype(np.int32) for m in maps]
        else:
            words = table
        W = len(table)
        plan.settle(W, tokens)
        bases = np.concatenate([[0], np.cumsum([s[0] for s in stats])[:-1]]).astype(np.int64)
        bounds = partition_bounds(maps, freqs, W, PARTS_PER_WORKER * workers)
        del freqs
        # round 2: each range encoded with those ids and counted into sorted runs, cut into
        # partitions by their first column; each partition's pieces merged on a worker
        tag = os.urandom(6).hex()
        counted = [client.submit(tasks.range_counts, rng, kind, maps[i], W, order,
                                 int(bases[i]), tokens, bounds, vocab=vocab,
                                 skip_symbols=skip_symbols,
                                 memory=plan.budget if plan.explicit else None,
                                 temp_dir=plan.temp_dir, key=f"nlpkit-count-{i}-{tag}")
                   for i, rng in enumerate(ranges)]
        heads = [client.submit(tasks.head_of, f, key=f"nlpkit-head-{i}-{tag}")
                 for i, f in enumerate(counted)]
        merged = [client.submit(tasks.merge_part, kind, order, tokens,
                                *[client.submit(tasks.part_of, f, p,
                                                key=f"nlpkit-part-{i}-{p}-{tag}")
                                  for i, f in enumerate(counted)],
                                key=f"nlpkit-merge-{p}-{tag}")
                  for p in range(len(bounds) - 1)]
        # (only these are held here: a range's counts and pieces are let go on the workers
        # as soon as the tasks that need them are done)
        futures = heads + merged
        del counted
        index = {f.key: i for i, f in enumerate(heads)}
        dtypes = run_dtypes(tokens)
        with_first = kind != "kn"
        uni_count = np.zeros(W, np.int32 if dtypes["count"] == np.uint32 else np.int64)
        uni_first = np.full(W, -1, dtypes["first"])
        largest = None
        for fut in as_completed(heads):
            got = fut.result()
            i = index[fut.key]
            fut.release()
            ids = maps[i]
            np.add.at(uni_count, ids, got["uni_count"])
            first = got["uni_first"]
            cur = uni_first[ids]
            take = (first >= 0) & ((cur < 0) | (first < cur))
            uni_first[ids[take]] = first[take]
            if got["largest"] is not None and (largest is None or tuple(got["largest"][::-1])
                                               > tuple(largest[::-1])):
                largest = got["largest"]
            if progress is not None:
                progress(_range_size(ranges[i], files))
        # the partitions in order, one after the other: each order's table is their rows
        space = plan.space_for_runs()
        writers = [TableWriter(run_columns(n, dtypes, with_first), space, stem=f"count{n}")
                   for n in range(2, order + 1)]
        for fut in merged:
            got = fut.result()
            fut.release()
            for n, w in zip(range(2, order + 1), writers):
                if got[n - 2] is not None:
                    w.append(**got[n - 2])
            del got
        futures = []
        tables = [w.close() for w in writers]
    except KilledWorker as exc:
        raise NlpkitError(f"Dask workers died running {_task(exc)} (each time it was tried); "
                          "no model was written") from None
    finally:
        if futures:
            client.cancel(futures)
    if kind == "kn" and largest is None:
        from ..estimation.kn import BOS
        largest = np.full(order, BOS, np.int64)  # (no window: all <s>, as one process gives)
    from ..counting.chunk import CTX, RCTX
    sc = SortedCounts(W, order, CTX if kind == "count" else RCTX, uni_count, uni_first, tables,
                      tokens)
    return Counted(sc, words, tokens, sentences, words_read, largest)


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
