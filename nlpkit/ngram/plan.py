"""The memory plan of a build: how much memory it may use, and what it spills to disk.

``--memory SIZE`` (``500M``, ``4G``, ``25%`` of physical memory; :func:`parse_size`)
is the budget for the data a build holds beyond the interpreter and its compiled
kernels.  By default a build may use half the memory available when it starts.

The plan is made in two steps.  While the corpus is read, the encoded word ids
stay in memory until they outgrow a quarter of the budget, then go to a
temporary file.  Once the vocabulary is known (:meth:`Plan.settle`), what every
word costs (the vocabulary and the per-word arrays of the estimators) is set
aside, and the rest decides: if the whole corpus can be counted as one chunk,
every table stays in memory; otherwise chunks of the size that fits are
counted, their runs and every later table go to files under ``temp_dir``
(:class:`~.counting.runs.TempSpace`, created when first needed), and the passes
read them in blocks sized to the budget.  A budget too small for the vocabulary
alone is an error that says how much is needed.
"""
from __future__ import annotations

import os
import re

import numpy as np

from ..errors import NlpkitError
from .counting.runs import TempSpace, TableWriter

# bytes a word costs in the stages after reading (its bytes and offset, rank, the
# estimators' dense per-word arrays, the join tables)
_BYTES_PER_WORD = 64
_MIN_WORK = 256 << 10  # bytes left for chunks and blocks, at the very least
# the compiled kernels a build loads (about 55 MB resident): set aside from the budget, up to
# a quarter of it (so that tiny budgets, used to test spilling on tiny corpora, stay usable)
_CODE_RESERVE = 64 << 20
# rows a pass takes at once even when everything is in memory: its temporary arrays
# (joins, per-group results) stay small beside the tables
IN_MEMORY_BLOCK = 1 << 20


def parse_size(text) -> int:
    """``500M``, ``4G``, ``1.5G``, ``800K``, ``123456`` (bytes) or ``25%`` of physical memory."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        size = int(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp%]?)b?\s*", str(text), re.IGNORECASE)
        if m is None:
            raise NlpkitError(f"--memory {text!r}: expected a size such as 500M, 4G or 25% "
                              "(of physical memory)")
        value, unit = float(m.group(1)), m.group(2).lower()
        if unit == "%":
            if not 0 < value <= 100:
                raise NlpkitError(f"--memory {text!r}: a percentage must be in (0, 100]")
            size = int(physical_memory() * value / 100)
        else:
            size = int(value * (1 << (10 * " kmgtp".index(unit or " "))))
    if size <= 0:
        raise NlpkitError(f"--memory {text!r} must be positive")
    return size


def physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return physical_memory() // 2


def _return_freed_memory():
    """Have glibc give large freed blocks back to the system at once.  Its malloc raises
    its mmap threshold whenever a large block is freed (up to 32 MB), after which the
    builds' many-megabyte buffers come from the heap and stay resident when freed: about
    30 MB more at the peak of a 6M-token build.  A fixed threshold keeps them in mmap."""
    global _MALLOC_SET
    if _MALLOC_SET:
        return
    _MALLOC_SET = True
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD = 128K (also fixes it in place)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


_MALLOC_SET = False


def _mb(nbytes):
    """A size as a user writes it (rounded up): 640K, 12M, 1.5G."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if nbytes >= 1 << shift or unit == "K":
            v = nbytes / (1 << shift)
            return f"{-(-int(v * 10) // 10) if v >= 10 else -(-v * 10 // 1) / 10:g}{unit}"


class Plan:
    """Budget and spilling decisions for one build (a context manager owning the
    temporary directory)."""

    def __init__(self, memory=None, temp_dir=None, order=3):
        self.explicit = memory is not None
        self.budget = parse_size(memory) if memory is not None else available_memory() // 2
        self.temp_dir = temp_dir
        self.order = order
        self._space = None
        self.spill = False
        self.work = self.budget
        self.chunk_tokens = 1 << 62
        self.block_rows = IN_MEMORY_BLOCK

    def __enter__(self):
        _return_freed_memory()
        if self.temp_dir is not None:  # a directory given on purpose must work, spill or not
            self.space()
        return self

    def __exit__(self, *exc):
        if self._space is not None:
            self._space.__exit__(*exc)
            self._space = None
        return False

    def space(self) -> TempSpace:
        if self._space is None:
            self._space = TempSpace(self.temp_dir).__enter__()
        return self._space

    # --- decisions ----------------------------------------------------------
    def token_bytes(self):
        """Memory a counting chunk needs per token: ids, the occurrence keys, context ids,
        each order's rows (at most one per token) and the suffix ranks between orders."""
        return 32 + sum(8 * n + 12 for n in range(2, self.order + 1))

    def settle(self, n_words, tokens):
        """Decide, once the vocabulary and the corpus size are known, whether the build
        spills, and size its chunks and blocks."""
        fixed = n_words * _BYTES_PER_WORD + min(_CODE_RESERVE, self.budget // 4)
        self.work = self.budget - fixed
        if self.work < _MIN_WORK:
            raise NlpkitError(
                f"--memory {_mb(self.budget)} is below what this corpus needs: its vocabulary "
                f"of {n_words:,} words and the compiled kernels take about {_mb(fixed)}; give "
                f"at least {_mb(fixed + 4 * _MIN_WORK)}")
        per_token = self.token_bytes()
        if tokens * per_token <= self.work:
            self.spill = False
            self.chunk_tokens = max(1, tokens)
            self.block_rows = IN_MEMORY_BLOCK
            return
        self.spill = True
        # (a fifth left for what a chunk's count holds beside: the ids read back, the rows
        # of the orders already counted on their way to disk)
        self.chunk_tokens = max(1 << 10, int(0.8 * self.work) // per_token)
        # a pass reads a handful of tables at once (its own rows, the order below, the
        # writers' buffers), each row at most about 4 * order + 24 bytes
        self.block_rows = max(256, self.work // (8 * (4 * self.order + 24)))

    def rows_for(self, row_bytes, share=1.0):
        """Rows of ``row_bytes`` each that fit into ``share`` of the working memory."""
        return max(256, int(self.work * share) // max(1, row_bytes))

    def id_store(self):
        return IdStore(self)

    def spills(self, tokens=None) -> bool:
        return self.spill

    def space_for_runs(self, tokens=None):
        return self.space() if self.spill else None

    def space_for_tables(self):
        return self.space() if self.spill else None


class IdStore:
    """The encoded corpus's blocks: kept in memory, or written to a temporary file
    once they outgrow a quarter of the budget."""

    def __init__(self, plan):
        self.plan = plan
        self.blocks = []
        self.nbytes = 0
        self.writer = None
        self.table = None

    def append(self, ids, offsets):
        if self.writer is None and self.nbytes + ids.nbytes > self.plan.budget // 4:
            self.writer = TableWriter({"data": (np.int64, ())}, self.plan.space(), stem="ids")
            for b in self.blocks:
                self._write(*b)
            self.blocks = []
        if self.writer is not None:
            self._write(ids, offsets)
        else:
            self.blocks.append((ids, offsets))
        self.nbytes += ids.nbytes + offsets.nbytes

    def _write(self, ids, offsets):
        # one record per block: its sizes, then the ids (as int64 pairs) and the offsets
        head = np.array([ids.shape[0], offsets.shape[0]], np.int64)
        body = np.concatenate([head, np.frombuffer(np.ascontiguousarray(ids, np.int32).tobytes()
                                                   + (b"\0\0\0\0" if ids.shape[0] % 2 else b""),
                                                   np.int64), offsets])
        self.writer.append(data=body)

    def close(self):
        if self.writer is not None:
            self.table = self.writer.close()
            self.writer = None
        return self

    def read(self):
        """The blocks, once (blocks held in memory are let go as they are handed out)."""
        if self.table is None:
            while self.blocks:
                yield self.blocks.pop(0)
            return
        with open(self.table.files["data"], "rb") as fh:
            while True:
                head = np.fromfile(fh, np.int64, 2)
                if head.shape[0] < 2:
                    return
                n_ids, n_off = int(head[0]), int(head[1])
                ids = np.fromfile(fh, np.int64, (n_ids + 1) // 2).view(np.int32)[:n_ids]
                offsets = np.fromfile(fh, np.int64, n_off)
                yield ids, offsets

    def drop(self):
        self.blocks = []
        if self.table is not None:
            self.table.drop()
            self.table = None


class InMemory:
    """The plan of stages called without one: every table in memory, one block."""
    spill = False
    block_rows = IN_MEMORY_BLOCK

    def space_for_tables(self):
        return None

    def space_for_runs(self, tokens=None):
        return None

    def rows_for(self, row_bytes, share=1.0):
        return 1 << 62


IN_MEMORY = InMemory()
