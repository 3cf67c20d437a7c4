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

from ..errors import InputFileError, why_write_failed
from .readers import batched

_SENTENCES = 4096  # sentences of an iterable encoded at a time


@contextmanager
def spill_dir(prefix="nlpkit-"):
    """A temporary folder (under ``$TMPDIR``) removed on exit, on error and on Ctrl-C."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class ArrayFile:
    """A 1-d array of one dtype appended block by block, then mapped: to a file in
    ``directory``, or kept in memory when ``directory`` is None (small inputs, tests)."""

    def __init__(self, directory, name, dtype):
        self.dtype = np.dtype(dtype)
        self.size = 0
        self.path = None if directory is None else os.path.join(directory, name)
        self._fh = None if directory is None else open(self.path, "wb")
        self._blocks = []

    def append(self, array):
        array = np.ascontiguousarray(array, dtype=self.dtype)
        if self._fh is None:
            self._blocks.append(array)
        else:
            # write(), not tofile(): a short write (a full disk) must raise, not leave a
            # shorter file that fails later when it is mapped
            with self._no_room():
                self._fh.write(memoryview(array).cast("B"))
        self.size += array.shape[0]

    def close(self):
        if self._fh is not None and not self._fh.closed:
            with self._no_room():
                self._fh.close()

    @contextmanager
    def _no_room(self):
        try:
            yield
        except OSError as exc:
            raise InputFileError(self.path, f"cannot write ({why_write_failed(exc)}); the "
                                 "encoded text is kept there while it is used: set TMPDIR to "
                                 "a folder with more room") from None

    def map(self):
        """The array, mapped: ``(array, mmap or None)``."""
        self.close()
        if self.path is None or self.size == 0:
            blocks = self._blocks or [np.zeros(0, self.dtype)]
            self._blocks = []
            return np.concatenate(blocks), None
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

    def cut(self, length) -> "MappedCorpus":
        """The same ids (the same mapping) as sentences of at most ``length`` tokens: each
        sentence cut into consecutive pieces (an empty one gives none)."""
        n = -(-np.diff(self.offsets) // length)  # pieces per sentence
        first = np.repeat(np.cumsum(n) - n, n)
        starts = np.repeat(self.offsets[:-1], n) + (np.arange(first.shape[0]) - first) * length
        out = object.__new__(MappedCorpus)
        out.ids, out._maps = self.ids, self._maps
        out.offsets = np.append(starts, self.offsets[-1]).astype(np.int64)
        return out

    def release(self):
        """Drop the pages read so far from this process's memory (see the module's doc)."""
        for mm in self._maps:
            mm.madvise(mmap.MADV_DONTNEED)

    def blocks(self, tokens=1 << 20):
        """``(ids, offsets)`` of consecutive runs of sentences of about ``tokens`` tokens
        (at least one sentence), each with its offsets starting at 0, copied into memory
        one block at a time; the mapped pages are released after each."""
        n = self.n_sentences
        s0 = 0
        while s0 < n:
            s1 = int(np.searchsorted(self.offsets, self.offsets[s0] + tokens, side="right")) - 1
            s1 = min(max(s1, s0 + 1), n)
            off = np.array(self.offsets[s0:s1 + 1])
            ids = np.array(self.ids[off[0]:off[-1]])
            yield ids, off - off[0]
            self.release()
            s0 = s1


class CorpusWriter:
    """Writes a corpus block by block: ``add(ids, lengths)``; ``finish()`` maps it
    (``directory`` None: in memory)."""

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


class EncodedText:
    """A text encoded in one streaming pass, before its vocabulary exists: each token as
    the index of its word in order of first appearance (``corpus``, spilled to
    ``directory``), ``words`` in that order and their ``counts``.

    A model builds its vocabulary from the counts (the same words, counts and order as
    counting the token lists themselves) and :meth:`remapped` maps the ids to it in a
    second pass over the spilled ids, not over the text: so the text is read once, and a
    stream (stdin) can be trained on.
    """

    def __init__(self, corpus: MappedCorpus, words, counts, directory=None):
        self.corpus, self.words, self.counts, self.directory = corpus, words, counts, directory

    @classmethod
    def read(cls, source, directory=None, *, tokenizer=None, skip_empty=True, name="first-seen"):
        """Encode ``source`` (a path, or an iterable of strings or token lists; see
        :func:`nlpkit.text.corpus.iter_encoded`)."""
        from .corpus import _gc_paused, iter_encoded

        column = _Column(directory, name)
        if isinstance(source, (str, os.PathLike)):
            pieces = iter_encoded(source, tokenizer, column.encoder, skip_empty=skip_empty)
        else:  # sentences from a generator: a few thousand at a time (long lines are big)
            pieces = (piece for block in batched(source, _SENTENCES)
                      for piece in iter_encoded(block, tokenizer, column.encoder,
                                                skip_empty=skip_empty))
        with _gc_paused():
            for ids, lengths in pieces:
                column.add(ids, lengths)
        return column.finish()

    @classmethod
    def read_columns(cls, rows, names, directory=None):
        """Encode the columns of ``rows`` (an iterable of tuples of token lists, one per
        name in ``names``: a document's words and its label, a sentence's words and its
        tags, a source and its target) in one pass, each on its own as :meth:`read` does:
        a list of texts, one per column, whose sentence ``i`` comes from row ``i`` (an
        empty token list stays, empty)."""
        from .corpus import _gc_paused, iter_encoded

        columns = [_Column(directory, name) for name in names]
        with _gc_paused():
            for block in batched(rows, _SENTENCES):
                for k, column in enumerate(columns):
                    for ids, lengths in iter_encoded([row[k] for row in block], None,
                                                     column.encoder, skip_empty=False):
                        column.add(ids, lengths)
        return [column.finish() for column in columns]

    @property
    def n_sentences(self) -> int:
        return self.corpus.n_sentences

    @property
    def n_tokens(self) -> int:
        return self.corpus.n_tokens

    def count_dict(self) -> dict:
        """``{word: count}`` in order of first appearance (for ``Vocabulary.from_counts``)."""
        return dict(zip(self.words, self.counts.tolist()))

    def remapped(self, remap, name="corpus") -> MappedCorpus:
        """The corpus with each id ``i`` replaced by ``remap[i]``, negative ones dropped (a
        sentence left empty stays, empty), spilled beside this one."""
        from .encode_kernels import remap_ids

        remap = np.asarray(remap, np.int32)
        writer = CorpusWriter(self.directory, name)
        for ids, offsets in self.corpus.blocks():
            ids, offsets = remap_ids(ids, offsets, remap)
            writer.add(ids, np.diff(offsets))
        return writer.finish()


class _Column:
    """A text being encoded by first appearance: its encoder, spilled ids and counts."""

    def __init__(self, directory, name):
        from .corpus import Encoder

        self.encoder, self.directory = Encoder(), directory
        self.writer = CorpusWriter(directory, name)
        self.counts = np.zeros(0, np.int64)

    def add(self, ids, lengths):
        from .count_kernels import count_ids_cpu

        n_types = int(ids.max()) + 1 if ids.shape[0] else 0
        if n_types > self.counts.shape[0]:
            self.counts = np.concatenate([self.counts,
                                          np.zeros(n_types - self.counts.shape[0], np.int64)])
        self.counts += count_ids_cpu(ids, self.counts.shape[0])
        self.writer.add(ids, lengths)

    def finish(self) -> EncodedText:
        words = self.encoder.first_seen
        counts = np.concatenate([self.counts,
                                 np.zeros(len(words) - self.counts.shape[0], np.int64)])
        return EncodedText(self.writer.finish(), words, counts, self.directory)
