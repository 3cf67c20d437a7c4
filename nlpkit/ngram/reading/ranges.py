"""Parts of a corpus that can be read on their own: byte ranges of files, cut at line ends.

A distributed build (:mod:`nlpkit.ngram.distributed`) hands each worker a
:class:`ByteRange`; the encoders read it as they read a whole file
(:func:`.encode._blocks`).  A range is given by nominal byte offsets and owns the
lines that *start* inside it: the first line begins after the first newline at or
after ``start - 1`` (at 0 for ``start == 0``), the last one ends at the first
newline at or after ``end - 1``.  Two ranges that meet at an offset therefore agree
on the line boundary there without knowing of each other, and the ranges of a file
hold each of its lines exactly once, in order.  A compressed file cannot be entered
in the middle: it is one range, read whole.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ...errors import InputFileError
from ...text.readers import open_raw, whole_lines

COMPRESSED = (".gz", ".bz2", ".xz")
_SCAN = 1 << 16  # bytes read at a time while looking for a line end


@dataclass(frozen=True)
class ByteRange:
    """Lines of ``path`` that start in bytes ``start..end-1`` (``end`` None: to the end,
    the only form a compressed file takes)."""
    path: str
    start: int = 0
    end: int | None = None

    def __str__(self):
        if self.start == 0 and self.end is None:
            return self.path
        return f"{self.path} (bytes {self.start}-{'' if self.end is None else self.end})"

    def blocks(self, block_bytes):
        """Byte blocks of the range, each ending at a line end (but the file's last line)."""
        with open_raw(self.path) as fh:
            size = os.fstat(fh.fileno()).st_size
            end = size if self.end is None else min(self.end, size)
            a = _line_start(fh, self.start, size)
            b = _line_start(fh, end, size)
            fh.seek(a)
            yield from whole_lines(_chunks(fh, b - a, block_bytes, self.path))


def _line_start(fh, offset, size):
    """Where the first line that starts at or after ``offset`` starts (``size`` if none)."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    fh.seek(offset - 1)
    at = offset - 1
    while True:
        data = fh.read(_SCAN)
        if not data:
            return size
        i = data.find(b"\n")
        if i >= 0:
            return at + i + 1
        at += len(data)


def _chunks(fh, n, block_bytes, path):
    """The next ``n`` bytes of ``fh``, ``block_bytes`` at a time."""
    while n > 0:
        try:
            data = fh.read(min(block_bytes, n))
        except OSError as exc:
            raise InputFileError(path, f"cannot read ({exc.strerror or exc})") from None
        if not data:
            return
        n -= len(data)
        yield data


def split_files(files, range_bytes):
    """:class:`ByteRange` parts of ``files`` (``(path, size)`` pairs, in corpus order) of
    about ``range_bytes`` each; a compressed file is one part."""
    out = []
    for path, size in files:
        if path.lower().endswith(COMPRESSED) or size <= range_bytes:
            out.append(ByteRange(path))
            continue
        parts = -(-size // range_bytes)
        step = -(-size // parts)
        for a in range(0, size, step):
            out.append(ByteRange(path, a, None if a + step >= size else a + step))
    return out
