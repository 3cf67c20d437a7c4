"""Streaming text readers: plain, .gz, .bz2 and .xz files and stdin (``-``).

Text is read one sentence per line, lines ending at LF (a CR before it is
dropped; a lone CR stays inside the line, as in SRILM), so a corpus larger than
memory can be streamed.  Bytes that are not UTF-8 are decoded with the
replacement character; when the file has been read, one :class:`DecodeWarning`
gives their count.  A truncated or corrupt compressed file raises
:class:`~nlpkit.errors.InputFileError` naming the file.

Readers can report progress: ``on_progress(done, total)`` is called with the
bytes of the file (compressed bytes for compressed files) read so far, and its
size (``None`` for stdin).

The formats built on lines are read here too, one reader each: labelled documents
(:func:`iter_labelled`), CoNLL-style tagged sentences (:func:`iter_conll`) and
``source<TAB>target`` pairs (:func:`iter_pairs`).  Files are written with
:func:`atomic_write`.
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
import zlib
from contextlib import contextmanager

from ..errors import NO_ROOM, InputFileError, why_write_failed

_DECOMPRESSORS = {".gz": gzip.GzipFile, ".bz2": bz2.BZ2File, ".xz": lzma.LZMAFile}
# Deflate cannot expand more than 1032:1 (a 258-byte match costs at least 2 bits), so a
# gzip file of n bytes never inflates to more than 1032 n bytes: a bound a header's counts
# can be checked against before the data is read (and a gzip bomb's claims refused)
GZIP_MAX_RATIO = 1032
# what a truncated or corrupt (compressed) file raises as it is read
READ_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)


class DecodeWarning(UserWarning):
    """Some bytes of an input were not valid UTF-8 and were replaced."""


# One error handler for all readers: it replaces bad bytes and counts them.
# Each reader notes the count before and after it runs.
_replaced = [0]


def _count_and_replace(err):
    _replaced[0] += err.end - err.start
    return "\ufffd", err.end


codecs.register_error("nlpkit-replace", _count_and_replace)


def label_of(path) -> str:
    return "<stdin>" if path in ("-", None) else os.fspath(path)


def open_raw(path):
    """``path`` opened for reading bytes as stored; InputFileError naming it otherwise."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except PermissionError:
        raise InputFileError(path, "permission denied") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot open ({exc.strerror or exc})") from None


def most_content_bytes(path, raw=None):
    """The most bytes reading ``path`` can yield: its size for a plain file,
    :data:`GZIP_MAX_RATIO` times it for gzip (told by the suffix or by content, as the
    readers tell it), ``None`` when nothing bounds it (stdin, ``.bz2``, ``.xz``).

    The one bound every reader checks a header's counts against before allocating for
    them.  ``raw``: the file already open (its size is taken from it)."""
    if path in ("-", None):
        return None
    path = os.fspath(path)
    try:
        size = os.fstat(raw.fileno()).st_size if raw is not None else os.path.getsize(path)
    except OSError:
        return None
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".bz2", ".xz"):
        return None
    if suffix == ".gz" or _starts_with(path, raw, b"\x1f\x8b"):
        return GZIP_MAX_RATIO * size
    return size


def _starts_with(path, raw, magic):
    try:
        if raw is not None:
            return os.pread(raw.fileno(), len(magic), 0) == magic
        with open(path, "rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


@contextmanager
def open_binary(path):
    """Open ``path`` (or stdin for ``-``) for binary reading, decompressing by suffix.

    Yields ``(stream, raw)`` where ``raw`` is the file underneath (its ``tell()``
    is the position in the file as stored), or ``None`` for stdin.
    """
    if path == "-" or path is None:
        yield sys.stdin.buffer, None
        return
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a text file")
    raw = open_raw(path)
    try:
        wrap = _DECOMPRESSORS.get(os.path.splitext(path)[1].lower())
        yield (wrap(fileobj=raw) if wrap is gzip.GzipFile else wrap(raw)) if wrap else raw, raw
    finally:
        raw.close()


@contextmanager
def _text_stream(path, on_progress):
    """A decoding text stream over ``path`` plus a function that reports progress."""
    before = _replaced[0]
    label = label_of(path)
    with open_binary(path) as (stream, raw):
        total = os.fstat(raw.fileno()).st_size if raw is not None else None
        read = [0]  # characters so far: the progress measure for stdin

        def report(chars=0):
            read[0] += chars
            if on_progress is not None:
                on_progress(raw.tell() if raw is not None else read[0], total)

        text = io.TextIOWrapper(stream, encoding="utf-8", errors="nlpkit-replace", newline="\n")
        try:
            yield text, report
        except READ_ERRORS as exc:
            raise InputFileError(label, f"cannot read or decompress ({exc})") from None
        finally:
            text.detach()
    bad = _replaced[0] - before
    if bad:
        warnings.warn(f"{label}: {bad} byte(s) were not valid UTF-8 and were replaced by U+FFFD",
                      DecodeWarning, stacklevel=3)


def iter_lines(path, *, on_progress=None):
    """Yield the lines of a text file (or stdin for ``-``) as ``str``, without line ends."""
    with _text_stream(path, on_progress) as (text, report):
        chars = 0
        for i, line in enumerate(text):
            chars += len(line)
            if line.endswith("\n"):
                line = line[:-2] if line.endswith("\r\n") else line[:-1]
            yield line
            if i & 0x3FFF == 0x3FFF:
                report(chars)
                chars = 0
        report(chars)


def iter_chunks(path, size=1 << 22, *, on_progress=None):
    """Yield the text of a file in pieces of about ``size`` characters, each ending
    at a line end (the last may not).  Much faster than line by line for big files."""
    with _text_stream(path, on_progress) as (text, report):
        carry = ""
        while True:
            block = text.read(size)
            if not block:
                break
            cut = block.rfind("\n") + 1
            if cut == 0:
                carry += block
                continue
            yield carry + block[:cut]
            report(len(carry) + cut)
            carry = block[cut:]
        if carry:
            yield carry
        report(len(carry))


def iter_utf8_blocks(path, size=1 << 22, *, on_progress=None):
    """Yield the bytes of a file in pieces of about ``size`` bytes, each ending at a line
    end (the last may not), as valid UTF-8: bytes that are not are replaced by U+FFFD's
    encoding exactly as the text readers replace them (and counted in the same
    :class:`DecodeWarning`).  For kernels that read bytes; ``\\n`` never falls inside a
    multi-byte character, so a piece holds whole characters."""
    before = _replaced[0]
    label = label_of(path)
    with open_binary(path) as (stream, raw):
        total = os.fstat(raw.fileno()).st_size if raw is not None else None
        done = 0
        try:
            carry = b""
            while True:
                block = stream.read(size)
                if not block:
                    break
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    carry += block
                    continue
                piece, carry = carry + block[:cut], block[cut:]
                done += len(piece)
                yield _valid_utf8(piece)
                if on_progress is not None:
                    on_progress(raw.tell() if raw is not None else done, total)
            if carry:
                # (an incomplete character at the very end is replaced, as the text
                # decoder replaces it when the stream ends)
                yield _valid_utf8(carry)
                if on_progress is not None:
                    on_progress(raw.tell() if raw is not None else done + len(carry), total)
        except READ_ERRORS as exc:
            raise InputFileError(label, f"cannot read or decompress ({exc})") from None
    bad = _replaced[0] - before
    if bad:
        warnings.warn(f"{label}: {bad} byte(s) were not valid UTF-8 and were replaced by U+FFFD",
                      DecodeWarning, stacklevel=2)


def _valid_utf8(data: bytes) -> bytes:
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", "nlpkit-replace").encode("utf-8")


def read_lines(source, *, on_progress=None):
    """Lines from ``source``: a path, ``-``, or an iterable of strings (passed through)."""
    if isinstance(source, (str, os.PathLike)):
        return iter_lines(source, on_progress=on_progress)
    return iter(source)


@contextmanager
def atomic_write(path, mode="w", *, encoding="utf-8", compress=None):
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A failed or interrupted write leaves no partial file behind.  ``compress``
    defaults to the suffix of ``path`` (``.gz``, ``.bz2``, ``.xz``; ``""`` for none).
    ``path`` ``-`` writes to stdout.
    """
    if path == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputFileError(path, "cannot write: its folder does not exist")
    if os.path.isdir(path):
        raise InputFileError(path, "cannot write: it is a directory")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    suffix = os.path.splitext(path)[1].lower() if compress is None else compress
    # (the temporary file is opened inside the try that removes it: a signal that lands
    # just after open() created it, before the with block, must not leave it behind)
    try:
        try:
            raw = open(tmp, "wb")
        except PermissionError:
            raise InputFileError(path, "cannot write: permission denied") from None
        with raw:
            if suffix == ".gz":
                # mtime=0 and no file name in the header: the same content gives the same bytes
                binary = gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0)
            elif suffix == ".bz2":
                binary = bz2.BZ2File(raw, "wb")
            elif suffix == ".xz":
                binary = lzma.LZMAFile(raw, "wb")
            else:
                binary = None
            if "b" in mode:
                fh = binary if binary is not None else raw
                yield fh
            else:
                fh = io.TextIOWrapper(binary if binary is not None else raw, encoding=encoding,
                                      newline="\n", write_through=False)
                yield fh
                fh.flush()
                fh.detach()
            if binary is not None:
                binary.close()
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in NO_ROOM:  # (only writes fail so: not an input's error misnamed)
            raise InputFileError(path, f"cannot write ({why_write_failed(exc)})") from None
        raise
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def whole_lines(chunks):
    """The byte ``chunks`` regrouped so that each block ends at a line end (but the last
    block, when the text does not end with one): how the encoders read text in blocks."""
    rest = b""
    for data in chunks:
        data = rest + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]
    if rest:
        yield rest


# ------------------------------------------------------- labelled, tagged and paired text
def read_labelled(path):
    """``(texts, labels)`` from fastText's ``__label__X text`` or ``label<TAB>text`` lines.

    Blank lines are skipped; a line with neither form raises InputFileError naming the line.
    Only the first fastText label of a line is used.
    """
    return _two_lists(iter_labelled(path))


def iter_labelled(path):
    """:func:`read_labelled`'s ``(text, label)`` pairs one by one, the file read as it goes."""
    for lineno, line in _nonblank_lines(path, "no labelled lines"):
        if line.startswith("__label__"):
            parts = line.split()
            lab = [p for p in parts if p.startswith("__label__")]
            words = [p for p in parts if not p.startswith("__label__")]
            label, text = lab[0][len("__label__") :], " ".join(words)
        elif "\t" in line:
            label, _, text = line.partition("\t")
        else:
            raise InputFileError(path, "expected '__label__X text' or 'label<TAB>text'", lineno)
        if not label or not text.strip():
            raise InputFileError(path, "empty label or text", lineno)
        yield text, label


def _nonblank_lines(path, nothing):
    """``(line number, line)`` of the lines of ``path`` that are not blank; InputFileError
    ``nothing`` when there is none."""
    empty = True
    for lineno, line in enumerate(iter_lines(path), 1):
        if line.strip():
            empty = False
            yield lineno, line
    if empty:
        raise InputFileError(path, nothing)


def read_conll(path):
    """``(token_lists, tag_lists)`` from ``token<TAB>tag`` lines, a blank line between sentences."""
    return _two_lists(iter_conll(path))


def _two_lists(pairs):
    """The first items of ``pairs`` and the second ones, as two lists."""
    firsts, seconds = [], []
    for a, b in pairs:
        firsts.append(a)
        seconds.append(b)
    return firsts, seconds


def iter_conll(path):
    """:func:`read_conll`'s ``(tokens, tags)`` sentences one by one, the file read as it goes."""
    empty, cur_tok, cur_tag = True, [], []
    for lineno, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            if cur_tok:
                empty = False
                yield cur_tok, cur_tag
                cur_tok, cur_tag = [], []
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2 or not parts[0] or not parts[-1]:
            raise InputFileError(path, "expected 'token<TAB>tag'", lineno)
        cur_tok.append(parts[0])
        cur_tag.append(parts[-1])
    if cur_tok:
        empty = False
        yield cur_tok, cur_tag
    if empty:
        raise InputFileError(path, "no sentences")


def iter_pairs(path, chars=False):
    """``(source, target)`` token lists from ``source<TAB>target`` lines, one by one, the
    file read as it goes."""
    for lineno, line in _nonblank_lines(path, "no pairs"):
        a, sep, b = line.partition("\t")
        if not sep or not a.strip() or not b.strip():
            raise InputFileError(path, "expected 'source<TAB>target'", lineno)
        yield (list(a.strip()) if chars else a.split()), (list(b.strip()) if chars else b.split())


def batched(items, size):
    """Lists of ``size`` consecutive items of ``items`` (the last may be shorter): how a
    stream of lines is scored a block at a time, in bounded memory."""
    block = []
    for item in items:
        block.append(item)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block
