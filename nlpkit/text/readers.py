"""Streaming line readers: plain, .gz, .bz2, .xz files and stdin (``-``).

Lines are yielded without their line ending, one sentence per line, so a corpus
larger than memory can be read.  Bytes that are not UTF-8 are decoded with the
replacement character and reported in one warning with their count when the
file has been read, instead of stopping the run.
"""
from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import sys
import warnings
from contextlib import contextmanager

from ..errors import InputFileError

_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_CHUNK = 1 << 20


class DecodeWarning(UserWarning):
    """Some bytes of an input were not valid UTF-8 and were replaced."""


# One error handler for all readers: it replaces bad bytes and counts them.
# Each reader notes the count before and after it runs.
_replaced = [0]


def _count_and_replace(err):
    _replaced[0] += err.end - err.start
    return "\ufffd", err.end


codecs.register_error("nlpkit-replace", _count_and_replace)


@contextmanager
def open_binary(path):
    """Open ``path`` (or stdin for ``-``) for binary reading, decompressing by suffix."""
    if path == "-" or path is None:
        yield sys.stdin.buffer
        return
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a text file")
    opener = _OPENERS.get(os.path.splitext(path)[1].lower(), open)
    try:
        fh = opener(path, "rb")
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except PermissionError:
        raise InputFileError(path, "permission denied") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot open ({exc.strerror or exc})") from None
    try:
        yield fh
    finally:
        fh.close()


def iter_lines(path, *, strip_newline=True):
    """Yield the lines of a text file as ``str``, decoding UTF-8 with replacement.

    ``path`` may be ``-`` for stdin.  A compressed file that is truncated or
    corrupt raises :class:`~nlpkit.errors.InputFileError` naming the file.
    """
    before = _replaced[0]
    label = "<stdin>" if path in ("-", None) else os.fspath(path)
    with open_binary(path) as raw:
        # newline='' keeps '\r' out of the way: we strip '\r\n' and '\n' ourselves,
        # so a lone '\r' inside a line stays part of the text.
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="nlpkit-replace", newline="")
        try:
            for line in text:
                if strip_newline:
                    if line.endswith("\n"):
                        line = line[:-2] if line.endswith("\r\n") else line[:-1]
                    elif line.endswith("\r"):
                        line = line[:-1]
                yield line
        except (EOFError, OSError, lzma.LZMAError) as exc:
            raise InputFileError(label, f"cannot decompress ({exc})") from None
        finally:
            text.detach()
    bad = _replaced[0] - before
    if bad:
        warnings.warn(f"{label}: {bad} byte(s) were not valid UTF-8 and were replaced by U+FFFD",
                      DecodeWarning, stacklevel=2)


def read_lines(source):
    """Lines from ``source``: a path, ``-``, or an iterable of strings (passed through)."""
    if isinstance(source, (str, os.PathLike)):
        return iter_lines(source)
    return iter(source)


@contextmanager
def atomic_write(path, mode="w", *, encoding="utf-8", compress=None):
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A failed or interrupted write leaves no partial file behind.  ``compress``
    defaults to the suffix of ``path`` (``.gz``, ``.bz2``, ``.xz``).
    ``path`` ``-`` writes to stdout.
    """
    if path == "-":
        stream = sys.stdout if "b" not in mode else sys.stdout.buffer
        yield stream
        stream.flush()
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputFileError(path, "the folder to write into does not exist")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    suffix = os.path.splitext(path)[1].lower() if compress is None else compress
    opener = _OPENERS.get(suffix)
    try:
        if opener is not None:
            kw = {"compresslevel": 6} if suffix == ".gz" else {}
            fh = opener(tmp, mode if "b" in mode else mode.replace("w", "wt"),
                        **({} if "b" in mode else {"encoding": encoding}), **kw)
        else:
            fh = open(tmp, mode, **({} if "b" in mode else {"encoding": encoding, "newline": "\n"}))
        with fh:
            yield fh
        os.replace(tmp, path)
    except PermissionError:
        _remove(tmp)
        raise InputFileError(path, "permission denied") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
