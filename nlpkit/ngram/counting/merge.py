"""K-way merge of sorted runs, and sorting tables by word columns (in memory or on disk).

Runs are :class:`~.runs.Table` objects whose rows are sorted lexicographically on
their ``words`` columns.  :func:`merge_tables` streams their union in order; with
``combine`` rows with equal words (the same n-gram counted in several chunks)
become one row whose ``count`` is the sum and ``first`` the minimum.  The merge
is a heap over the runs' current blocks in a Numba kernel: each run has its own
slot of the block buffer, and the kernel returns to Python only to refill a
slot that ran dry or to hand over a full output block.

:func:`sort_table` re-sorts a table on a new arrangement of its word columns:
in memory by stable counting sorts on the columns the input order does not
already fix; spilled by sorting memory-sized chunks into runs and merging them.
"""
from __future__ import annotations

import numba
import numpy as np

from ..estimation.joins import cmp_cols, stable_order_by_columns
from .runs import TableWriter, table_from_arrays

OUT_FULL = 1
REFILL = 2
FAN_IN = 48  # runs merged at once (each keeps a file open per column)


@numba.njit(cache=True, inline="always")
def _less(words, a, ia, b, ib, k):
    for c in range(k):
        x = words[a, ia, c]
        y = words[b, ib, c]
        if x != y:
            return x < y
    return a < b  # equal rows: the earlier run first (stable)


@numba.njit(cache=True, inline="always")
def _sift_down(heap, size, at, words, pos, k):
    while True:
        left = 2 * at + 1
        if left >= size:
            return
        best = left
        right = left + 1
        if right < size and _less(words, heap[right], pos[heap[right]], heap[left],
                                  pos[heap[left]], k):
            best = right
        if _less(words, heap[best], pos[heap[best]], heap[at], pos[heap[at]], k):
            heap[at], heap[best] = heap[best], heap[at]
            at = best
        else:
            return


@numba.njit(cache=True)
def merge_kernel(words, values, length, pos, more, combine, count_col, first_col, out_words,
                 out_values, out_rows):
    """Merge the runs' slots ``words[r, :length[r]]`` (with value columns ``values[r]``)
    from ``pos[r]`` on into the outputs from row ``out_rows``.

    ``more[r]``: run r has rows beyond its slot.  With ``combine``, rows with equal
    words become one: ``values[:, :, count_col]`` summed, ``first_col`` the minimum.
    Returns ``(rows, status, run)``: ``REFILL`` when slot ``run`` ran dry and has more
    (refill it, reset ``pos[run]`` and call again), ``OUT_FULL`` when the output is.
    """
    R = words.shape[0]
    k = words.shape[2]
    nv = values.shape[2]
    cap = out_words.shape[0]
    heap = np.empty(R, np.int64)
    size = 0
    for r in range(R):
        if pos[r] < length[r]:
            heap[size] = r
            size += 1
        elif more[r]:
            return out_rows, REFILL, r
    for at in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, at, words, pos, k)
    while size > 0:
        r = heap[0]
        i = pos[r]
        if combine and out_rows > 0 and cmp_cols(out_words, out_rows - 1, words[r], i, k) == 0:
            o = out_rows - 1
            out_values[o, count_col] += values[r, i, count_col]
            if first_col >= 0 and values[r, i, first_col] < out_values[o, first_col]:
                out_values[o, first_col] = values[r, i, first_col]
        else:
            if out_rows == cap:
                return out_rows, OUT_FULL, -1
            for c in range(k):
                out_words[out_rows, c] = words[r, i, c]
            for c in range(nv):
                out_values[out_rows, c] = values[r, i, c]
            out_rows += 1
        pos[r] = i + 1
        if pos[r] == length[r]:
            if more[r]:
                return out_rows, REFILL, r
            size -= 1
            heap[0] = heap[size]
        _sift_down(heap, size, 0, words, pos, k)
    return out_rows, 0, -1


def merge_tables(tables, value_names, *, combine=False, block_rows=1 << 16, out_rows=None):
    """Yield blocks (dicts: ``words`` and the value columns) of the merged runs.

    Value columns are carried as int64 (counts, positions) or as their own dtype when
    all are float; with ``combine`` the value columns must be ``count`` and ``first``.
    """
    tables = [t for t in tables if len(t)]
    if not tables:
        return
    block_rows = int(min(block_rows, max(len(t) for t in tables)))
    out_rows = int(out_rows or max(1024, min(1 << 18, 2 * block_rows)))
    k = tables[0].columns["words"][1][0]
    dtypes = [tables[0].columns[v][0] for v in value_names]
    vdtype = np.result_type(*dtypes) if dtypes else np.int64
    R = len(tables)
    words = np.zeros((R, block_rows, k), np.int32)
    values = np.zeros((R, block_rows, max(1, len(value_names))), vdtype)
    length = np.zeros(R, np.int64)
    pos = np.zeros(R, np.int64)
    more = np.zeros(R, np.bool_)
    iters = [t.blocks(["words", *value_names], block_rows) for t in tables]

    def refill(r):
        blk = next(iters[r], None)
        if blk is None:
            length[r] = pos[r] = 0
            more[r] = False
            return
        m = blk["words"].shape[0]
        words[r, :m] = blk["words"]
        for c, v in enumerate(value_names):
            values[r, :m, c] = blk[v]
        length[r], pos[r] = m, 0
        more[r] = True  # unknown until the next read comes back empty

    for r in range(R):
        refill(r)
    count_col = value_names.index("count") if combine else 0
    first_col = value_names.index("first") if combine and "first" in value_names else -1
    out_words = np.empty((out_rows, k), np.int32)
    out_values = np.empty((out_rows, values.shape[2]), vdtype)
    rows = 0
    while True:
        rows, status, r = merge_kernel(words, values, length, pos, more, combine, count_col,
                                       first_col, out_words, out_values, rows)
        if status == REFILL:
            refill(r)
            continue
        if status == OUT_FULL or status == 0:
            # with combine the last row may still grow: hold it back unless done
            keep = 1 if (combine and status == OUT_FULL) else 0
            emit = rows - keep
            if emit:
                yield _block(out_words[:emit], out_values[:emit], value_names, dtypes)
            if keep:
                out_words[0] = out_words[rows - 1]
                out_values[0] = out_values[rows - 1]
            rows = keep
            if status == 0:
                return


def fewer_runs(tables, value_names, *, combine=False, space=None, block_rows=1 << 16,
               stem="merged"):
    """Merge groups of at most :data:`FAN_IN` runs into single runs until that many are left
    (a build with hundreds of chunks would otherwise hold thousands of files open)."""
    tables = [t for t in tables if len(t)]
    while len(tables) > FAN_IN:
        merged = []
        for a in range(0, len(tables), FAN_IN):
            group = tables[a:a + FAN_IN]
            if len(group) == 1:
                merged.append(group[0])
                continue
            out = TableWriter({k: group[0].columns[k] for k in ["words", *value_names]}, space,
                              stem=stem)
            for blk in merge_tables(group, value_names, combine=combine, block_rows=block_rows):
                out.append(**blk)
            for g in group:
                g.drop()
            merged.append(out.close())
        tables = merged
    return tables


def _block(w, v, names, dtypes):
    out = {"words": w.copy()}
    for c, (name, dt) in enumerate(zip(names, dtypes)):
        out[name] = v[:, c].astype(dt)
    return out


def sort_table(table, cols, value_names, *, W, space=None, presorted=0, chunk_rows=1 << 22,
               stem="sorted"):
    """The table's rows with ``words`` re-arranged as ``words[:, cols]``, sorted on them.

    ``presorted``: how many trailing target columns the input order already sorts
    (ties of the leading ones stay in input order), so only the leading columns
    need counting-sort passes.  ``space`` None sorts in memory; otherwise chunks of
    ``chunk_rows`` become sorted runs in files that are merged.
    """
    cols = np.asarray(cols, np.int64)
    lead = np.arange(len(cols) - presorted, dtype=np.int64)
    names = ["words", *value_names]
    if space is None:
        blk = {k: table.column(k) for k in names}
        words = np.ascontiguousarray(blk["words"][:, cols])
        perm = stable_order_by_columns(words, lead, np.int64(W))
        return table_from_arrays(words=words[perm], **{v: blk[v][perm] for v in value_names})
    runs = []
    for blk in table.blocks(names, chunk_rows):
        words = np.ascontiguousarray(blk["words"][:, cols])
        perm = stable_order_by_columns(words, lead, np.int64(W))
        w = TableWriter({"words": (np.int32, (len(cols),)),
                         **{v: (blk[v].dtype, blk[v].shape[1:]) for v in value_names}},
                        space, stem=f"{stem}-run")
        w.append(words=words[perm], **{v: blk[v][perm] for v in value_names})
        runs.append(w.close())
    if len(runs) == 1:
        return runs[0]
    per_run = max(1024, chunk_rows // (min(len(runs), FAN_IN) + 2))
    runs = fewer_runs(runs, value_names, space=space, block_rows=per_run, stem=f"{stem}-pass")
    out = TableWriter({"words": (np.int32, (len(cols),)),
                       **{v: table.columns[v] for v in value_names}}, space, stem=stem)
    for blk in merge_tables(runs, value_names, block_rows=per_run):
        out.append(**blk)
    for r in runs:
        r.drop()
    return out.close()
