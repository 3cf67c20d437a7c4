"""Tables of sorted n-gram rows, held in memory or spilled to temporary files, read in blocks.

A :class:`Table` is one sequence of rows (one order's counts, or an estimation
pass's output) as named columns: ``words`` (rows × n int32) and one array per
value.  Stages write tables with a :class:`TableWriter` and read them back with
:meth:`Table.blocks`; whether the rows live in arrays or in files under a
:class:`TempSpace` is the writer's choice (the memory plan's), not the
reader's, so every stage runs unchanged on a corpus larger than memory.

:class:`TempSpace` owns the temporary directory: it is removed when the build
ends, fails, or is interrupted (SIGINT, and SIGTERM while a build runs), and a
write that fails for lack of room names the directory in one line.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile

import numpy as np

from ...errors import NO_ROOM, NlpkitError, unwind_on_sigterm, why_write_failed


class TempSpace:
    """A private temporary directory for spilled tables (a context manager)."""

    def __init__(self, parent=None):
        self.parent = os.fspath(parent) if parent is not None else tempfile.gettempdir()
        self.path = None
        self._serial = 0
        self._old_term = None

    def __enter__(self):
        if not os.path.isdir(self.parent):
            what = "does not exist" if not os.path.exists(self.parent) else "is not a directory"
            raise NlpkitError(f"{self.parent}: cannot hold temporary files: it {what}")
        try:
            self.path = tempfile.mkdtemp(prefix="nlpkit-ngram-", dir=self.parent)
            probe = os.path.join(self.path, "probe")
            with open(probe, "wb") as fh:
                fh.write(b"\0" * 4096)
            os.remove(probe)
        except OSError as exc:
            self._remove()
            raise self.error(exc) from None
        # SIGTERM's default action kills the process without unwinding: turn it into
        # an exception so the build's cleanup (this directory, the output's temp file) runs
        self._old_term = unwind_on_sigterm()
        return self

    def __exit__(self, *exc):
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None
        self._remove()
        return False

    def _remove(self):
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def new_path(self, stem):
        self._serial += 1
        return os.path.join(self.path, f"{stem}-{self._serial}")

    def error(self, exc: OSError) -> NlpkitError:
        """One line naming the directory for a failed write into it."""
        advice = "free some space there or " if exc.errno in NO_ROOM else ""
        return NlpkitError(f"{self.parent}: cannot write temporary files "
                           f"({why_write_failed(exc)}); {advice}choose another directory "
                           "with --temp-dir")


class Table:
    """Rows in sorted order, as named columns; ``len()`` rows."""

    def __init__(self, columns, rows, arrays=None, files=None):
        self.columns = columns  # name -> (dtype, trailing shape)
        self.rows = int(rows)
        self.arrays = arrays  # name -> array, when in memory
        self.files = files  # name -> path, when spilled

    def __len__(self):
        return self.rows

    @property
    def in_memory(self):
        return self.arrays is not None

    def column(self, name):
        """A whole column (read from disk if spilled: only for small tables)."""
        if self.arrays is not None:
            return self.arrays[name]
        dtype, shape = self.columns[name]
        return np.fromfile(self.files[name], dtype=dtype).reshape((-1,) + shape)

    def blocks(self, names=None, size=1 << 20):
        """Dicts of column slices of at most ``size`` rows, in order."""
        names = list(self.columns) if names is None else list(names)
        if self.arrays is not None:
            for a in range(0, self.rows, size) if self.rows else ():
                yield {k: self.arrays[k][a:a + size] for k in names}
            return
        handles = {k: open(self.files[k], "rb") for k in names}
        try:
            for a in range(0, self.rows, size):
                b = min(self.rows, a + size)
                out = {}
                for k in names:
                    dtype, shape = self.columns[k]
                    count = (b - a) * int(np.prod(shape, dtype=np.int64))
                    arr = np.fromfile(handles[k], dtype=dtype, count=count)
                    out[k] = arr.reshape((b - a,) + shape)
                yield out
        finally:
            for fh in handles.values():
                fh.close()

    def drop_columns(self, names):
        """Free some columns (no pass will read them again)."""
        for k in names:
            if k not in self.columns:
                continue
            del self.columns[k]
            if self.arrays is not None:
                self.arrays.pop(k, None)
            if self.files is not None:
                try:
                    os.remove(self.files.pop(k))
                except OSError:
                    pass

    def drop(self):
        """Free the rows (arrays, or the files)."""
        if self.files is not None:
            for p in self.files.values():
                try:
                    os.remove(p)
                except OSError:
                    pass
        self.arrays = self.files = None


class TableWriter:
    """Appends blocks of rows; ``close()`` gives the :class:`Table`.

    ``space`` None keeps the rows in memory; a :class:`TempSpace` writes them to files.
    In memory, ``capacity`` (an upper bound on the rows) lets each column be one array
    filled in place (pages never written cost nothing), and ``shared`` names columns
    that are handed in as consecutive slices of an existing table's arrays: they are kept
    as a view of those, not copied.
    """

    def __init__(self, columns, space=None, stem="table", capacity=None, shared=()):
        self.columns = {k: (np.dtype(d), tuple(s)) for k, (d, s) in columns.items()}
        self.space = space
        self.rows = 0
        self.capacity = capacity
        self.shared = set(shared) if space is None else set()
        self.parts = {k: [] for k in self.columns} if space is None else None
        self.full = {}
        self.files = None
        self.handles = None
        if space is not None:
            self.files = {k: space.new_path(f"{stem}.{k}") for k in self.columns}
            try:
                self.handles = {k: open(p, "wb") for k, p in self.files.items()}
            except OSError as exc:
                raise space.error(exc) from None

    def append(self, **arrays):
        rows = None
        for k, (dtype, shape) in self.columns.items():
            a = arrays[k] if k in self.shared else np.ascontiguousarray(arrays[k], dtype=dtype)
            if rows is None:
                rows = a.shape[0]
            if self.parts is not None:
                if self.capacity is not None and k not in self.shared:
                    if k not in self.full:
                        self.full[k] = np.empty((self.capacity,) + shape, dtype)
                    self.full[k][self.rows:self.rows + a.shape[0]] = a
                else:
                    self.parts[k].append(a)
            else:
                try:
                    # (a file object's write, not ndarray.tofile: a short write raises with
                    # the system's reason, ENOSPC or EFBIG)
                    if a.size:
                        self.handles[k].write(memoryview(a.reshape(-1)).cast("B"))
                except OSError as exc:
                    raise self.space.error(exc) from None
        self.rows += rows or 0

    def close(self) -> Table:
        if self.parts is not None:
            arrays = {}
            for k, (dtype, shape) in self.columns.items():
                parts = self.parts[k]
                if k in self.full:
                    arrays[k] = self.full[k][:self.rows]
                else:
                    arrays[k] = (adjacent_views(parts) if len(parts) > 1 else parts[0] if parts
                                 else np.zeros((0,) + shape, dtype))
            self.parts = self.full = None
            return Table(self.columns, self.rows, arrays=arrays)
        try:
            for fh in self.handles.values():
                fh.close()
        except OSError as exc:
            raise self.space.error(exc) from None
        return Table(self.columns, self.rows, files=self.files)


def adjacent_views(parts):
    """One array of the parts: a view when they are consecutive slices of one array (a pass
    that hands on its input's words block by block copies nothing), else a concatenation."""
    base = parts[0].base
    if base is not None and all(p.base is base and p.flags.c_contiguous for p in parts):
        start = parts[0].__array_interface__["data"][0]
        at = start
        for p in parts:
            if p.__array_interface__["data"][0] != at:
                break
            at += p.nbytes
        else:
            b = base if isinstance(base, np.ndarray) else None
            if b is not None and b.flags.c_contiguous:
                offset = (start - b.__array_interface__["data"][0]) // parts[0].itemsize
                flat = b.reshape(-1)[offset:offset + sum(p.size for p in parts)]
                return flat.reshape((-1,) + parts[0].shape[1:])
    return np.concatenate(parts)


def table_from_arrays(**arrays) -> Table:
    """An in-memory table over existing arrays (no copy)."""
    columns = {k: (a.dtype, a.shape[1:]) for k, a in arrays.items()}
    rows = next(iter(arrays.values())).shape[0] if arrays else 0
    return Table(columns, rows, arrays=arrays)


class GroupBlocks:
    """Blocks of a table cut at group boundaries (rows equal on the first ``ncols``
    word columns), so that no group is split: ``for block, final in GroupBlocks(...)``."""

    def __init__(self, table, names, ncols, size=1 << 20):
        self.table, self.names, self.ncols, self.size = table, names, ncols, size

    def __iter__(self):
        from ..estimation.joins import last_group_start, next_group_start
        if self.table.in_memory:  # slices of the arrays, cut forward to a group's end
            arrays = self.table.arrays
            words, rows, a = arrays["words"], self.table.rows, 0
            while a < rows:
                b = min(rows, a + self.size)
                if b < rows and self.ncols:
                    b = int(next_group_start(words, b, rows, self.ncols))
                yield {k: arrays[k][a:b] for k in self.names}, b == rows
                a = b
            return
        carry = None
        it = self.table.blocks(self.names, self.size)
        block = next(it, None)
        while block is not None:
            nxt = next(it, None)
            if carry is not None:
                block = {k: np.concatenate([carry[k], block[k]]) for k in self.names}
                carry = None
            if nxt is None:
                yield block, True
                break
            rows = block["words"].shape[0]
            cut = int(last_group_start(block["words"], 0, rows, self.ncols)) if self.ncols else rows
            if cut == 0:  # one group fills the block: take the next block in too
                carry = block
            else:
                carry = {k: block[k][cut:] for k in self.names}
                yield {k: block[k][:cut] for k in self.names}, False
            block = nxt
