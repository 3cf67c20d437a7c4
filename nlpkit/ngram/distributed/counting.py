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
    from ..counting.sorted_counts import merge_runs, run_dtypes, store_run
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
        maps, stats = [], []
        for fut in futures:
            got = fut.result()
            fut.release()
            maps.append(table.add_words(got["pool"], got["woff"]))
            stats.append((got["tokens"], got["sentences"], got["read"]))
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
        # round 2: each range encoded with those ids and counted into sorted runs
        futures = [client.submit(tasks.range_counts, rng, kind, maps[i], W, order, int(bases[i]),
                                 tokens, vocab=vocab, skip_symbols=skip_symbols,
                                 memory=plan.budget if plan.explicit else None,
                                 temp_dir=plan.temp_dir, pure=False,
                                 key=f"nlpkit-count-{i}-{os.urandom(6).hex()}")
                   for i, rng in enumerate(ranges)]
        index = {f.key: i for i, f in enumerate(futures)}
        dtypes = run_dtypes(tokens)
        with_first = kind != "kn"
        space = plan.space_for_runs()
        uni_count = np.zeros(W, np.int32 if dtypes["count"] == np.uint32 else np.int64)
        uni_first = np.full(W, -1, dtypes["first"])
        runs = [[] for _ in range(order - 1)]
        largest = None
        for fut in as_completed(futures):
            got = fut.result()
            i = index[fut.key]
            fut.release()
            ids = maps[i]
            np.add.at(uni_count, ids, got["uni_count"])
            first = got["uni_first"]
            cur = uni_first[ids]
            take = (first >= 0) & ((cur < 0) | (first < cur))
            uni_first[ids[take]] = first[take]
            for n in range(2, order + 1):
                runs[n - 2].append(store_run(got["runs"][n - 2], n, space, dtypes, with_first))
            if got["largest"] is not None and (largest is None or tuple(got["largest"][::-1])
                                               > tuple(largest[::-1])):
                largest = got["largest"]
            if progress is not None:
                progress(_range_size(ranges[i], files))
            del got
        futures = []
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
    sc = merge_runs(runs, order, W, CTX if kind == "count" else RCTX, uni_count, uni_first,
                    tokens, plan=plan, dtypes=dtypes, with_first=with_first)
    return Counted(sc, words, tokens, sentences, words_read, largest)


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
