"""An encoded corpus spilled to disk: its int32 ids and int64 offsets (see
:class:`~nlpkit.text.corpus.Corpus`) written block by block to files in a temporary
folder and mapped back into memory, so training can pass over a corpus larger than
memory again and again.

The pages of a mapped file that a kernel has read count in the process's resident
memory until they are dropped: :meth:`MappedCorpus.release` drops them (the data stays
in the file and the OS page cache, and is read again when touched), so a trainer that
calls it after each block holds one block of the corpus, not the corpus.

Mappings are private (copy on write) and writable, so the kernels see the same array
type as for an in-memory corpus (a read-only array would compile them again).
"""
from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from contextlib import contextmanager

import numpy as np


@contextmanager
def spill_dir(prefix="nlpkit-"):
    """A temporary folder (under ``$TMPDIR``) removed on exit, on error and on Ctrl-C."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class ArrayFile:
    """A 1-d array of one dtype appended to a file block by block, then mapped."""

    def __init__(self, directory, name, dtype):
        self.path = os.path.join(directory, name)
        self.dtype = np.dtype(dtype)
        self.size = 0
        self._fh = open(self.path, "wb")

    def append(self, array):
        array = np.ascontiguousarray(array, dtype=self.dtype)
        array.tofile(self._fh)
        self.size += array.shape[0]

    def close(self):
        if not self._fh.closed:
            self._fh.close()

    def map(self):
        """The array, mapped: ``(array, mmap or None)``."""
        self.close()
        if self.size == 0:
            return np.zeros(0, self.dtype), None
        with open(self.path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
        return np.frombuffer(mm, self.dtype, self.size), mm


class MappedCorpus:
    """``ids`` (int32) and ``offsets`` (int64) mapped from files: sentence ``i`` is
    ``ids[offsets[i]:offsets[i + 1]]``, as in :class:`~nlpkit.text.corpus.Corpus`."""

    def __init__(self, ids_file: ArrayFile, offsets_file: ArrayFile):
        self.ids, mm_ids = ids_file.map()
        self.offsets, mm_off = offsets_file.map()
        self._maps = [m for m in (mm_ids, mm_off) if m is not None]

    @property
    def n_tokens(self) -> int:
        return self.ids.shape[0]

    @property
    def n_sentences(self) -> int:
        return self.offsets.shape[0] - 1

    def release(self):
        """Drop the pages read so far from this process's memory (see the module's doc)."""
        for mm in self._maps:
            mm.madvise(mmap.MADV_DONTNEED)

    def blocks(self, sentences=1 << 16):
        """``(ids, offsets)`` of consecutive runs of ``sentences`` sentences, each with its
        offsets starting at 0 (in memory: one block at a time), pages released after each."""
        n = self.n_sentences
        for s0 in range(0, n, sentences):
            s1 = min(s0 + sentences, n)
            off = np.array(self.offsets[s0:s1 + 1])
            ids = np.array(self.ids[off[0]:off[-1]])
            yield ids, off - off[0]
            self.release()


class CorpusWriter:
    """Writes a corpus block by block: ``add(ids, lengths)``; ``finish()`` maps it."""

    def __init__(self, directory, name="corpus"):
        self.ids = ArrayFile(directory, f"{name}.ids.int32", np.int32)
        self.offsets = ArrayFile(directory, f"{name}.offsets.int64", np.int64)
        self.offsets.append(np.zeros(1, np.int64))
        self._end = 0

    def add(self, ids, lengths):
        self.ids.append(ids)
        ends = np.cumsum(lengths, dtype=np.int64)
        self.offsets.append(ends + self._end)
        if ends.shape[0]:
            self._end += int(ends[-1])

    def finish(self) -> MappedCorpus:
        return MappedCorpus(self.ids, self.offsets)
