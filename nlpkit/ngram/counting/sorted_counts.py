"""A corpus's n-gram counts as sorted tables: chunks counted in memory, runs merged.

The encoded corpus arrives as chunks (word ids already in the output's id order,
sentence offsets, the chunk's global position).  Each chunk is counted by
:func:`.chunk.count_chunk`; its rows of order n are one sorted run.  With one
chunk the runs are the result; with several, each order's runs are merged
(equal n-grams summed, first positions the earliest) into one table, in memory
or in files as the memory plan says.  Unigrams stay dense arrays indexed by id.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .chunk import RCTX, count_chunk
from .merge import FAN_IN, fewer_runs, merge_tables
from .runs import Table, TableWriter, table_from_arrays

COLUMNS = ("words", "count", "first")


@dataclass
class SortedCounts:
    """Unigram counts and first positions by id (first -1: never seen), and for orders
    2..N a :class:`Table` of ``words`` (rows × n), ``count``, ``first`` sorted by
    ``layout``."""
    W: int
    order: int
    layout: str
    uni_count: np.ndarray
    uni_first: np.ndarray
    tables: list = field(default_factory=list)  # index n-2 for order n
    tokens: int = 0

    def table(self, n) -> Table:
        return self.tables[n - 2]


def count_chunks(chunks, order, W, *, layout=RCTX, plan=None, device=None, tokens=None,
                 with_first=True):
    """Count ``chunks`` (an iterable of ``(rid, offsets, base)``).

    ``plan``: the memory plan; when it spills, each chunk's runs go to files as soon
    as they are counted and the merged tables too (None: all in memory).
    ``device='cuda'`` counts each chunk with the GPU's hash-table twin instead of the
    CPU's sort.  ``tokens`` (the corpus size, if known) lets counts and positions be
    stored in 32 bits; ``with_first``: keep first positions (Katz and count files).
    """
    from ... import backend
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    space = plan.space_for_runs()
    counter = backend.pick(count_chunk, "nlpkit.ngram.counting.trie:count_chunk_cuda", device)
    dtypes = run_dtypes(tokens)
    # per-word arrays: 32 bits when the corpus allows (millions of words cost megabytes)
    uni_count = np.zeros(W, np.int32 if dtypes["count"] == np.uint32 else np.int64)
    uni_first = np.full(W, -1, dtypes["first"])
    runs = [[] for _ in range(order - 1)]
    seen_tokens = 0
    key_rows = max(1 << 16, plan.rows_for(8, 0.25)) if plan.spill else 1 << 21
    for rid, offsets, base in chunks:
        seen_tokens += int(rid.shape[0])
        _, _, chunk_runs = counter(rid, offsets, order, W, base=base, layout=layout,
                                   with_first=with_first, count_dtype=dtypes["count"],
                                   first_dtype=dtypes["first"], key_rows=key_rows,
                                   unigrams=(uni_count, uni_first))
        for n in range(2, order + 1):
            run = chunk_runs[n - 2] if n - 2 < len(chunk_runs) else None
            runs[n - 2].append(store_run(run, n, space, dtypes, with_first))
        del chunk_runs
    return merge_runs(runs, order, W, layout, uni_count, uni_first, seen_tokens, plan=plan,
                      dtypes=dtypes, with_first=with_first)


def run_dtypes(tokens):
    """The dtypes of counts and positions: 32 bits when the corpus size ``tokens`` (if
    known) allows."""
    small = tokens is not None and tokens < 2**31
    return {"count": np.uint32 if small else np.int64, "first": np.int32 if small else np.int64}


def store_run(run, n, space, dtypes, with_first):
    """One sorted run of order ``n`` (a dict of arrays; None: empty) as a :class:`Table`,
    written under ``space`` (None: kept in memory)."""
    if run is None:
        run = _empty(n, dtypes, with_first)
    if not with_first:
        run.pop("first", None)
    if space is not None:
        w = TableWriter(run_columns(n, dtypes, with_first), space, stem=f"count{n}-run")
        w.append(**run)
        return w.close()
    return table_from_arrays(**run)


def merge_runs(runs, order, W, layout, uni_count, uni_first, tokens, *, plan, dtypes,
               with_first=True):
    """:class:`SortedCounts` from each order's sorted runs (``runs[n-2]``, Tables): each
    order's runs merged into one table (equal n-grams summed, first positions the
    earliest), in memory or in files as ``plan`` says."""
    tables = [merge_order(runs[n - 2], n, plan=plan, dtypes=dtypes, with_first=with_first)
              for n in range(2, order + 1)]
    return SortedCounts(W, order, layout, uni_count, uni_first, tables, tokens)


def merge_order(parts, n, *, plan, dtypes, with_first=True):
    """One table of order ``n`` from its sorted runs (Tables), in memory or in files as
    ``plan`` says."""
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    space = plan.space_for_runs()
    parts = [r for r in parts if len(r)] or [table_from_arrays(**_empty(n, dtypes, with_first))]
    if len(parts) == 1:
        return parts[0]
    out = TableWriter(run_columns(n, dtypes, with_first), space, stem=f"count{n}")
    per_run = plan.rows_for((4 * n + 16) * (min(len(parts), FAN_IN) + 2), 0.5)
    values = ["count", "first"] if with_first else ["count"]
    parts = fewer_runs(parts, values, combine=True, space=space, block_rows=per_run,
                       stem=f"count{n}-pass")
    for blk in merge_tables(parts, values, combine=True, block_rows=per_run):
        out.append(**blk)
    for r in parts:
        r.drop()
    return out.close()


def run_columns(n, dtypes, with_first):
    cols = {"words": (np.int32, (n,)), "count": (dtypes["count"], ())}
    if with_first:
        cols["first"] = (dtypes["first"], ())
    return cols


def _empty(n, dtypes, with_first):
    return {k: np.zeros((0,) + shape, dtype) for k, (dtype, shape) in
            run_columns(n, dtypes, with_first).items()}
