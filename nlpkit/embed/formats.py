"""Vector files: word2vec text and binary, fastText ``.vec`` and ``.bin``, GloVe text.

* word2vec text / fastText ``.vec``: a header ``V D``, then ``word v1 … vD`` per line.
* GloVe text: the same rows without the header (what Stanford's ``glove`` writes;
  gensim reads it with ``load_word2vec_format(path, no_header=True)``).
* word2vec binary: the same header, then per word ``word `` and D little-endian
  float32 (word2vec.c ends each row with ``\\n``, gensim does not; both are read).
* fastText ``.bin`` (version 12): args, dictionary, input matrix (words then
  ``bucket`` n-gram rows) and output matrix, as facebookresearch/fastText writes it.

Every writer goes through :func:`nlpkit.text.atomic_write`; a reader meeting a
file that ends early or whose rows disagree with its header raises
:class:`~nlpkit.errors.InputFileError` naming the file (and line).

Sizes in a header are checked against the most bytes the file can hold
(:func:`~nlpkit.text.readers.most_content_bytes`: its size, 1032 times it for
``.gz``) before anything is read or allocated for them, and no reader reads more
than its header's (checked) sizes allow: a gzip bomb, a small ``.gz`` inflating to
gigabytes, ends in an error once that much is read, not after it is all in memory.
"""
from __future__ import annotations

import os
import struct

import numpy as np

from ..errors import InputFileError, NlpkitError
from ..text import atomic_write
from ..text.readers import READ_ERRORS, most_content_bytes, open_binary
from .keyedvectors import KeyedVectors

FORMATS = ("word2vec", "word2vec-binary", "fasttext-vec", "fasttext-bin", "glove")
FT_MAGIC, FT_VERSION = 793712314, 12


def _read_bytes(path, limit=-1) -> bytes:
    """The (decompressed, by suffix) bytes of ``path``; errors name the file."""
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a vectors file")
    with open_binary(path) as (stream, _):
        try:
            return stream.read(limit)
        except READ_ERRORS as exc:
            raise InputFileError(path, f"cannot read ({exc})") from None


# ------------------------------------------------------------------ word2vec
def _header(path, line):
    try:
        v, d = (int(x) for x in line.split())
    except ValueError:
        raise InputFileError(path, f"expected a header 'count dim', got {line[:40]!r}", 1) from None
    if v < 0 or d < 1:
        raise InputFileError(path, f"bad header {line.strip()!r}", 1)
    return v, d


def read_word2vec(path, binary: bool | None = None) -> KeyedVectors:
    """Read a word2vec text or binary file (``binary=None`` guesses from the content)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a vectors file")
    with open_binary(path) as (stream, raw):
        try:
            head = stream.readline(_MAX_WORD)
            if not head.endswith(b"\n"):
                raise InputFileError(path, "no header line (empty or truncated file)")
            v, d = _header(path, head[:-1].decode("utf-8", "replace"))
            most = most_content_bytes(path, raw)
            _check_room(path, v, d, None if most is None else most - len(head),
                        binary is True, "can hold (at most {left} bytes)")
            data = head + _read_at_most(path, stream, v * (d * _MAX_VALUE + _MAX_WORD)
                                        + _MAX_WORD, f"{v} rows of {d} numbers")
        except READ_ERRORS as exc:
            raise InputFileError(path, f"cannot read ({exc})") from None
    nl = len(head) - 1
    if binary is None:
        binary = _looks_binary(data, nl + 1, d)
    _check_room(path, v, d, len(data) - (nl + 1), binary)
    read = _read_binary if binary else _read_text
    return read(path, data, nl + 1, v, d)


# The most bytes a row can take beyond its numbers (its word, in any format), and a number
# written as text (``%.9g`` takes at most 15, ``repr`` 24): what a header's ``V D`` lets a
# reader read (a file longer than that is damaged, or a gzip bomb)
_MAX_WORD = 1 << 16
_MAX_VALUE = 64


def _read_at_most(path, stream, limit, what):
    """The rest of ``stream``, refused once it is longer than ``limit`` bytes (read in
    pieces: one ``read(limit)`` would allocate ``limit`` bytes at once)."""
    parts, total = [], 0
    while True:
        piece = stream.read(min(1 << 22, limit + 1 - total))
        if not piece:
            return b"".join(parts)
        parts.append(piece)
        total += len(piece)
        if total > limit:
            raise InputFileError(path, f"more data than its header's {what} can hold "
                                 "(a damaged header, or a gzip bomb?)")


_MAX_DIM = 2 ** 31 - 1


def _check_room(path, v, d, left, binary, what="({left} bytes) holds"):
    """Refuse a header ``V D`` that the rest of the file (``left`` bytes, ``None`` if not
    known) cannot hold, before anything is allocated: a binary row is a word, a space and
    ``4 D`` bytes, a text row at least a word and ``D`` one-digit numbers after spaces.
    (Text rows are counted before their matrix is allocated, and :func:`_parse_rows`
    bounds ``D`` by them.)"""
    row = 4 * d + 1 if binary else 2 * d + 1
    if d > _MAX_DIM or (left is not None and v * row > left):
        raise InputFileError(path, f"truncated or damaged: the header says {v} words of {d} "
                             f"numbers, more than the rest of the file "
                             + what.format(left=left),
                             1)


def _has_header(line: bytes) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def read_glove(path) -> KeyedVectors:
    """Read a header-less GloVe text file (``word v1 … vD`` per line).

    The dimension is the commonest number of values on the first lines, and a word is
    what precedes the last that many fields, so a word that contains spaces (as in
    some published GloVe files) keeps them.

    Rows are parsed a block at a time as they are read, so what is held is the rows
    (a file of junk ends at its first bad row, not once it is all in memory), and a
    line longer than a row of ``D`` numbers can be is refused as it is read."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a vectors file")
    words, vecs, state = [], [], {"d": None, "line": 1, "blank": []}
    with open_binary(path) as (stream, _):
        try:
            carry = b""
            while True:
                # (a megabyte a block: its lines as str objects take some 25 times that)
                piece = stream.read(1 << 20)
                data = carry + piece
                cut = data.rfind(b"\n") + 1 if piece else len(data)
                carry = data[cut:]
                _glove_block(path, data[:cut], state, words, vecs)
                if not piece:
                    break
                d = state["d"]  # (before it is known: as many as the line's fields)
                limit = _MAX_WORD + _MAX_VALUE * (d if d is not None else carry.count(b" ") + 1)
                if len(carry) > limit:
                    raise InputFileError(path, f"a line longer than {limit} bytes, more than a "
                                         "row can be (damaged file, or a gzip bomb?)",
                                         state["line"] + len(state["blank"]))
        except READ_ERRORS as exc:
            raise InputFileError(path, f"cannot read ({exc})") from None
    if not words:
        raise InputFileError(path, "empty vectors file")
    _check_unique(path, words)
    return KeyedVectors(words, np.concatenate(vecs) if len(vecs) > 1 else vecs[0])


def _glove_block(path, block, state, words, vecs):
    """Parse the rows of ``block`` (whole lines) into ``words`` and ``vecs``; blank lines
    at its end wait in ``state`` (they are the file's end, or an error if rows follow)."""
    lines = state["blank"] + block.decode("utf-8", "replace").splitlines()
    n = len(lines)
    while n and not lines[n - 1].strip():
        n -= 1
    state["blank"] = lines[n:]
    if not n:
        return
    lines = lines[:n]
    if state["d"] is None:
        fields = [len(line.rstrip().split(" ")) for line in lines[:100]]
        state["d"] = max(set(fields), key=lambda f: (fields.count(f), f)) - 1
        if state["d"] < 1:
            raise InputFileError(path, "expected 'word v1 v2 ...' rows", 1)
    w, v = _rows(path, lines, state["d"], state["line"], spaced_words=True)
    words += w
    vecs.append(v)
    state["line"] += n


def _parse_rows(path, lines, d, first_lineno, spaced_words=False):
    """Rows ``word v1 … vD`` (with ``spaced_words`` the word is whatever precedes the
    last ``d`` fields)."""
    words, vecs = _rows(path, lines, d, first_lineno, spaced_words)
    _check_unique(path, words)
    return KeyedVectors(words, vecs)


def _rows(path, lines, d, first_lineno, spaced_words=False):
    """``(words, vectors)`` of the rows (see :func:`_parse_rows`)."""
    # a row is at least a word and d one-character numbers, single spaces between: rows
    # of d numbers cannot hold fewer than 2 d + 1 characters; a d beyond that (a damaged
    # header) would allocate far more than the file (the rows below say where it fails
    # when the excess is small)
    if len(lines) * (2 * d + 1) > 2 * sum(map(len, lines)) + 2 * len(lines):
        raise InputFileError(path, f"the rows cannot hold {d} numbers each (damaged header?)",
                             first_lineno - 1 if first_lineno > 1 else None)
    words, vecs = [], np.empty((len(lines), d), np.float32)
    for i, line in enumerate(lines):
        parts = line.rstrip().rsplit(" ", d) if spaced_words else line.rstrip().split(" ")
        if len(parts) != d + 1 or not parts[0]:
            raise InputFileError(path, f"expected a word and {d} numbers, got {len(parts) - 1} "
                                 "numbers", i + first_lineno)
        words.append(parts[0])
        try:
            vecs[i] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise InputFileError(path, "a vector value is not a number", i + first_lineno) from None
    return words, vecs


def _looks_binary(data, pos, d):
    sp = data.find(b" ", pos)
    if sp < 0:
        return False
    row = data[sp + 1: sp + 1 + 4 * d]
    try:
        text = row.decode("ascii")
    except UnicodeDecodeError:
        return True
    return not all(c in "0123456789.-+eE \n\r\tnaifNAIF" for c in text)


def _read_text(path, data, pos, v, d):
    lines = data[pos:].decode("utf-8", "replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != v:
        raise InputFileError(path, f"the header says {v} words but the file has {len(lines)} rows")
    return _parse_rows(path, lines, d, 2)


def _read_binary(path, data, pos, v, d):
    words, vecs = [], np.empty((v, d), np.float32)
    width = 4 * d
    for i in range(v):
        sp = data.find(b" ", pos)
        if sp < 0 or sp + 1 + width > len(data):
            raise InputFileError(path, f"truncated: the header says {v} words, the file ends "
                                 f"in word {i + 1}")
        words.append(data[pos:sp].lstrip(b"\n").decode("utf-8", "replace"))
        vecs[i] = np.frombuffer(data, "<f4", d, sp + 1)
        pos = sp + 1 + width
    if data[pos:].strip(b"\n"):
        raise InputFileError(path, f"the file has more than the {v} words its header says")
    _check_unique(path, words)
    return KeyedVectors(words, vecs)


def _check_unique(path, words):
    if len(set(words)) != len(words):
        seen = set()
        dup = next(w for w in words if w in seen or seen.add(w))
        raise InputFileError(path, f"the word {dup!r} appears twice")


def write_word2vec(kv: KeyedVectors, path, binary: bool = False, header: bool = True):
    """Write ``kv``'s word vectors in word2vec text or binary format (atomically);
    ``header=False`` writes GloVe's header-less text."""
    vecs = np.ascontiguousarray(kv.vectors, dtype="<f4")
    v, d = vecs.shape
    for w in kv.index_to_key:
        if not w or any(c.isspace() for c in w):
            raise NlpkitError(f"cannot write the word {w!r}: vector files need words without "
                              "whitespace")
    with atomic_write(path, "wb") as fh:
        if header:
            fh.write(f"{v} {d}\n".encode())
        if binary:
            for w, row in zip(kv.index_to_key, vecs):
                fh.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            _write_text_rows(fh, kv.index_to_key, vecs)


def _write_text_rows(fh, words, vecs):
    """``word v1 ... vD`` lines, each value as ``%.9g``, formatted by a kernel in blocks of
    rows (see :mod:`nlpkit.embed.float_text`); a row it is unsure of is formatted here."""
    from .float_text import VALUE_BYTES, format_rows_cpu, join_rows
    v, d = vecs.shape
    encoded = [w.encode("utf-8") for w in words]
    word_offsets = np.zeros(v + 1, np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, v), out=word_offsets[1:])
    arena = np.frombuffer(b"".join(encoded), np.uint8)
    fmt = " ".join(["%.9g"] * d)
    rows = max(1, (8 << 20) // (d * VALUE_BYTES + 64))  # about 8 MB of text a block
    for r0 in range(0, v, rows):
        r1 = min(v, r0 + rows)
        longest = int(np.max(word_offsets[r0 + 1:r1 + 1] - word_offsets[r0:r1]))
        scratch = np.empty((r1 - r0, longest + d * VALUE_BYTES + 1), np.uint8)
        lengths = np.empty(r1 - r0, np.int64)
        certain = np.empty(r1 - r0, np.bool_)
        format_rows_cpu(vecs, r0, r1, arena, word_offsets, scratch, lengths, certain)
        start = 0
        for r in [*np.flatnonzero(~certain).tolist(), r1 - r0]:
            if r > start:
                out = np.empty(int(lengths[start:r].sum()), np.uint8)
                join_rows(scratch[start:r], lengths[start:r], out)
                fh.write(out)
            if r < r1 - r0:
                fh.write((words[r0 + r] + " " + fmt % tuple(vecs[r0 + r].tolist()) + "\n")
                         .encode("utf-8"))
            start = r + 1


# ------------------------------------------------------------------ fastText .bin
_ARGS = struct.Struct("<12id")
_ARG_NAMES = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model", "bucket",
              "minn", "maxn", "lr_update_rate", "t")


class _Reader:
    """A fastText ``.bin`` stream read as it is parsed: each size it holds is checked
    against the most bytes the file can hold (``most``, None if not known) before it is
    read or allocated, and nothing past the output matrix is read."""

    def __init__(self, path, stream, most):
        self.path, self.stream, self.most = path, stream, most
        self.pos = 0  # bytes parsed
        self.buf, self.at = b"", 0  # read ahead, and where parsing is in it

    def _truncated(self, where=""):
        raise InputFileError(self.path, f"truncated fastText .bin file{where}")

    def _fill(self, n):
        """At least ``n`` bytes ahead in the buffer, unless the file ends first."""
        parts, have = [self.buf[self.at:]], len(self.buf) - self.at
        while have < n:
            piece = self.stream.read(min(max(n - have, 1 << 16), 1 << 22))
            if not piece:
                break
            parts.append(piece)
            have += len(piece)
        self.buf, self.at = b"".join(parts), 0

    def _check(self, n):
        if n < 0 or (self.most is not None and self.pos + n > self.most):
            self._truncated()

    def take(self, n):
        self._check(n)
        if len(self.buf) - self.at < n:
            self._fill(n)
            if len(self.buf) - self.at < n:
                self._truncated()
        out = self.buf[self.at:self.at + n]
        self.at += n
        self.pos += n
        return out

    def unpack(self, fmt):
        s = struct.Struct(fmt)
        return s.unpack(self.take(s.size))

    def cstring(self):
        while (end := self.buf.find(b"\0", self.at)) < 0:
            have = len(self.buf) - self.at
            if have > _MAX_WORD:
                raise InputFileError(self.path, f"a dictionary word longer than {_MAX_WORD} "
                                     "bytes (damaged file)")
            self._fill(have + 1)
            if len(self.buf) - self.at == have:
                self._truncated(" (in the dictionary)")
        out = self.buf[self.at:end]
        self.pos += end + 1 - self.at
        self.at = end + 1
        return out

    def floats(self, count):
        """``count`` little-endian float32s, read into their array (checked first)."""
        self._check(4 * count)
        out = np.empty(count, "<f4")
        raw = memoryview(out).cast("B")
        done = min(len(self.buf) - self.at, raw.nbytes)
        raw[:done] = self.buf[self.at:self.at + done]
        self.at += done
        while done < raw.nbytes:
            got = self.stream.readinto(raw[done:done + (1 << 24)])
            if not got:
                self._truncated()
            done += got
        self.pos += raw.nbytes
        return out

    def matrix(self, has_quant_flag=True):
        quant = self.unpack("<?")[0] if has_quant_flag else False
        if quant:
            raise InputFileError(self.path, "quantized fastText models (.ftz) are not supported")
        m, n = self.unpack("<qq")
        if m < 0 or not 0 <= n <= _MAX_DIM or (n == 0 and m > 0):
            raise InputFileError(self.path, f"bad matrix shape {m} x {n}")
        return self.floats(m * n).reshape(m, n).astype(np.float32, copy=False)


def _decode(raw: bytes, encoding: str) -> str:
    """A dictionary word as gensim decodes it: bytes that are not ``encoding`` become
    backslash escapes (so distinct words stay distinct)."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return raw.decode(encoding, "backslashreplace")


def read_fasttext_bin(path, *, full: bool = False, encoding: str = "utf-8"):
    """Read a Facebook fastText ``.bin`` model (version 12, or the older header-less one).

    ``encoding`` is the encoding of the dictionary's words (fastText stores raw bytes;
    e.g. ``'cp852'`` for gensim's ``cp852_fasttext.bin``), as in gensim's
    ``load_facebook_vectors(path, encoding)``; n-grams are then hashed from the
    words' UTF-8, as gensim does.

    Returns :class:`KeyedVectors` with subword rows (unseen words get vectors);
    with ``full=True`` returns ``(kv, info)`` where ``info`` holds ``args``,
    ``counts``, ``input`` (whole input matrix) and ``output``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a fastText .bin file")
    with open_binary(path) as (stream, raw):
        try:
            return _read_fasttext_bin(_Reader(path, stream, most_content_bytes(path, raw)),
                                      full, encoding)
        except READ_ERRORS as exc:
            raise InputFileError(path, f"cannot read ({exc})") from None


def _read_fasttext_bin(r, full, encoding):
    path = r.path
    magic, version = r.unpack("<ii")
    new_format = magic == FT_MAGIC
    if new_format and version > FT_VERSION:
        raise InputFileError(path, f"fastText .bin version {version} is newer than supported (12)")
    if new_format:
        args = dict(zip(_ARG_NAMES, r.unpack("<12id")))
    else:  # fastText before the magic number: the file starts with dim and ws
        if not (0 < magic < 100_000 and 0 < version < 10_000):
            raise InputFileError(path, "not a fastText .bin file (bad magic number)")
        args = dict(zip(_ARG_NAMES, (magic, version) + r.unpack("<10id")))
    size, nwords, nlabels = r.unpack("<iii")
    ntokens, = r.unpack("<q")
    pruneidx_size = r.unpack("<q")[0] if new_format else 0
    if not (0 <= nwords <= size) or nlabels < 0:
        raise InputFileError(path, f"bad dictionary sizes ({size} entries, {nwords} words)")
    r._check(10 * size)  # an entry is at least a NUL, a count and a kind
    words, counts = [], []
    for _ in range(size):
        w = _decode(r.cstring(), encoding)
        count, kind = r.unpack("<qb")
        if kind == 0:
            words.append(w)
            counts.append(count)
    r.take(8 * max(pruneidx_size, 0))
    inp = r.matrix(new_format)
    out = r.matrix(new_format)
    if len(words) != nwords:
        raise InputFileError(path, f"the dictionary holds {len(words)} words, its header says "
                             f"{nwords}")
    if inp.shape[0] < nwords or inp.shape[1] != args["dim"]:
        raise InputFileError(path, f"input matrix {inp.shape} does not fit {nwords} words x "
                             f"{args['dim']}")
    ngrams = inp[nwords:] if args["maxn"] > 0 and inp.shape[0] > nwords else None
    kv = KeyedVectors(words, inp[:nwords], counts, ngrams=ngrams, minn=args["minn"],
                      maxn=args["maxn"])
    if full:
        return kv, {"args": args, "counts": np.array(counts, np.int64), "input": inp,
                    "output": out, "ntokens": ntokens}
    return kv


def write_fasttext_bin(kv: KeyedVectors, path, *, output=None, args=None, ntokens=None):
    """Write a fastText ``.bin`` (version 12) that fastText and gensim's
    ``load_facebook_model`` read.  ``output`` is the output matrix (zeros if not given)."""
    nwords, dim = kv.raw.shape
    bucket = kv.ngrams.shape[0] if kv.ngrams is not None else 0
    counts = kv.counts if kv.counts is not None else np.ones(nwords, np.int64)
    a = {"dim": dim, "ws": 5, "epoch": 5, "min_count": 1, "neg": 5, "word_ngrams": 1, "loss": 2,
         "model": 2, "bucket": bucket, "minn": kv.minn if bucket else 0,
         "maxn": kv.maxn if bucket else 0, "lr_update_rate": 100, "t": 1e-4}
    a.update(args or {})
    a["dim"], a["bucket"] = dim, bucket
    out = np.zeros((nwords, dim), np.float32) if output is None else output
    with atomic_write(path, "wb") as fh:
        fh.write(struct.pack("<ii", FT_MAGIC, FT_VERSION))
        fh.write(_ARGS.pack(*(int(a[k]) for k in _ARG_NAMES[:-1]), float(a["t"])))
        fh.write(struct.pack("<iiiqq", nwords, nwords, 0,
                             int(ntokens if ntokens is not None else counts.sum()), -1))
        for w, c in zip(kv.index_to_key, counts.tolist()):
            fh.write(w.encode("utf-8") + b"\0" + struct.pack("<qb", int(c), 0))
        fh.write(struct.pack("<?qq", False, nwords + bucket, dim))
        fh.write(np.ascontiguousarray(kv.raw, "<f4").tobytes())
        if bucket:
            fh.write(np.ascontiguousarray(kv.ngrams, "<f4").tobytes())
        fh.write(struct.pack("<?qq", False, out.shape[0], out.shape[1]))
        fh.write(np.ascontiguousarray(out, "<f4").tobytes())


# ------------------------------------------------------------------ dispatch
def save(kv: KeyedVectors, path, fmt: str = "word2vec", **kw):
    """Write ``kv`` as ``fmt`` (one of :data:`FORMATS`)."""
    if fmt in ("word2vec", "fasttext-vec"):
        write_word2vec(kv, path, binary=False)
    elif fmt == "word2vec-binary":
        write_word2vec(kv, path, binary=True)
    elif fmt == "fasttext-bin":
        write_fasttext_bin(kv, path, **kw)
    elif fmt == "glove":
        write_word2vec(kv, path, binary=False, header=False)
    else:
        raise NlpkitError(f"unknown vectors format {fmt!r}; use one of {', '.join(FORMATS)}")


def load(path, fmt: str | None = None, encoding: str = "utf-8") -> KeyedVectors:
    """Read vectors; ``fmt=None`` guesses (fastText magic → .bin; a ``V D`` header →
    word2vec text/binary; else GloVe text).  ``encoding`` is that of a ``.bin`` file's
    dictionary words."""
    path = os.fspath(path)
    if fmt is None:
        # a word2vec file starts with a text header; a fastText .bin with int32s (the magic
        # number, or in the older format dim and ws, which hold NUL bytes); GloVe's text
        # starts with a word and its numbers
        head = _read_bytes(path, 4096)
        if len(head) >= 8 and (struct.unpack("<i", head[:4])[0] == FT_MAGIC or b"\0" in head[:8]):
            fmt = "fasttext-bin"
        elif head and not _has_header(head.split(b"\n", 1)[0]):
            fmt = "glove"
        else:
            fmt = "auto"
    if fmt == "fasttext-bin":
        return read_fasttext_bin(path, encoding=encoding)
    if fmt in ("word2vec", "fasttext-vec"):
        return read_word2vec(path, binary=False)
    if fmt == "word2vec-binary":
        return read_word2vec(path, binary=True)
    if fmt == "auto":
        return read_word2vec(path)
    if fmt == "glove":
        return read_glove(path)
    raise NlpkitError(f"unknown vectors format {fmt!r}; use one of {', '.join(FORMATS)}")
