"""The memory plan of a build: how much memory it may use, and what it spills to disk.

``--memory SIZE`` (``500M``, ``4G``, ``25%`` of physical memory; :func:`parse_size`)
is the budget for everything the build holds beyond the interpreter and its
compiled kernels.  By default a build uses at most half the memory that is
available when it starts and spills only what does not fit.  The plan sizes
the counting chunks (tokens counted in memory at once), the blocks that the
estimation passes read, and says whether the encoded corpus, the count runs and
the estimation tables stay in memory or go to files under ``temp_dir``
(:class:`~.counting.runs.TempSpace`, created when first needed).
"""
from __future__ import annotations

import os
import re

import numpy as np

from ..errors import NlpkitError
from .counting.runs import TempSpace, TableWriter

# bytes a counting chunk needs per token (ids, the occurrence keys, context ids,
# positions' rows, and the runs it produces), per order counted
_CHUNK_BYTES_PER_TOKEN_ORDER = 22
_MIN_BUDGET = 16 << 20


def parse_size(text) -> int:
    """``500M``, ``4G``, ``1.5G``, ``800K``, ``123456`` (bytes) or ``25%`` of physical memory."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        size = int(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp%]?)b?\s*", str(text), re.IGNORECASE)
        if m is None:
            raise NlpkitError(f"memory size {text!r}: expected a number with K, M, G or T, "
                              "or a percentage of physical memory (e.g. 500M, 4G, 25%)")
        value, unit = float(m.group(1)), m.group(2).lower()
        if unit == "%":
            if not 0 < value <= 100:
                raise NlpkitError(f"memory size {text!r}: a percentage must be in (0, 100]")
            size = int(physical_memory() * value / 100)
        else:
            size = int(value * (1 << (10 * " kmgtp".index(unit or " "))))
    if size <= 0:
        raise NlpkitError(f"memory size {text!r} must be positive")
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


class Plan:
    """Budget and spilling decisions for one build (a context manager owning the
    temporary directory)."""

    def __init__(self, memory=None, temp_dir=None, order=3):
        self.explicit = memory is not None
        self.budget = parse_size(memory) if memory is not None else available_memory() // 2
        self.temp_dir = temp_dir
        self.order = order
        self._space = None
        self.chunk_tokens = max(1 << 16, self.budget // (_CHUNK_BYTES_PER_TOKEN_ORDER
                                                         * max(1, order)))
        self.block_rows = 1 << 62
        self.spill = False

    def __enter__(self):
        if self.temp_dir is not None:  # fail now on a directory that cannot be used
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
    def id_store(self):
        return IdStore(self)

    def spills(self, tokens) -> bool:
        return tokens > self.chunk_tokens

    def space_for_runs(self, tokens):
        return self.space() if self.spills(tokens) else None

    def space_for_tables(self):
        return self.space() if self.spill else None


class IdStore:
    """The encoded corpus's blocks: kept in memory, or written to a temporary file
    once they outgrow their share of the budget."""

    def __init__(self, plan):
        self.plan = plan
        self.blocks = []
        self.nbytes = 0
        self.writer = None

    def append(self, ids, offsets):
        self.blocks.append((ids, offsets))
        self.nbytes += ids.nbytes + offsets.nbytes

    def close(self):
        return self

    def read(self):
        yield from self.blocks

    def drop(self):
        self.blocks = []
