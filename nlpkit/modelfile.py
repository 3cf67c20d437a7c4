"""Model files that cannot run code: a zip archive of ``model.json`` and ``weights.safetensors``.

Layout (model format 2)::

    model.zip
      model.json            {"format": "nlpkit-model", "version": 2, "kind": "TextClassifier",
                             "nlpkit": "0.1.0", ...what the kind needs to rebuild itself}
      weights.safetensors   every array, by name: a network's under PyTorch's state-dict
                            names (what ``load_file`` of ``safetensors.torch`` gives,
                            ``load_state_dict`` of the same torch module takes)

Reading parses JSON and checks numbers; it never unpickles.  Before anything is read, the
archive's central directory is checked (the two members and nothing else, their sizes against
limits and against the file's size; a deflated member is read with its size capped), and the
safetensors header is checked (its length, and every tensor's dtype, shape and offsets against
the member's size) before the arrays are made.  Every problem is an
:class:`~nlpkit.errors.InputFileError` naming the file; so is a newer format, a file holding
another kind than asked for, and a model file from before format 2 (a pickle, which can run
code when read: nlpkit no longer reads those; retrain the model).

The writer and reader of the container live here; what goes into ``model.json`` is each
object's own business (``nlpkit.models.io`` for the estimators, ``Module.save`` for networks).
:class:`Fields` reads ``model.json`` with a type check on every field.
"""
from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from ._version import __version__
from .errors import InputFileError
from .text.readers import GZIP_MAX_RATIO  # (deflate's bound, zip members' too)

FORMAT = "nlpkit-model"
VERSION = 2
JSON_MEMBER = "model.json"
WEIGHTS_MEMBER = "weights.safetensors"

MAX_JSON_BYTES = 256 << 20  # vocabularies and tokenizers live here: generous, not unbounded
MAX_WEIGHTS_BYTES = 64 << 30
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit
MAX_TENSORS = 1 << 20
MAX_NDIM = 8

# safetensors dtype names -> numpy
DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32,
          "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_}

BEFORE_FORMAT_2 = ("an nlpkit model file from before format 2 (a pickle, which can run code when "
                   "loaded); nlpkit no longer reads those: retrain it")


# ------------------------------------------------------------------------------ writing
def write_model_file(path, kind: str, config: dict, arrays: dict):
    """Write ``config`` (JSON values) and ``arrays`` (name -> numpy array) as a model file of
    ``kind``, atomically (a temporary file renamed at the end).  The file is a zip whatever
    the suffix (no gzip around it: the JSON member is deflated inside)."""
    from safetensors.numpy import save as save_tensors

    from .text import atomic_write

    head = {"format": FORMAT, "version": VERSION, "kind": kind, "nlpkit": __version__}
    doc = json.dumps({**head, **config}, ensure_ascii=False, allow_nan=False)
    tensors = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    with atomic_write(path, "wb", compress="") as fh:
        with zipfile.ZipFile(fh, "w") as zf:
            zf.writestr(JSON_MEMBER, doc.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
            # stored, not deflated: float weights hardly shrink, and stored bytes are the
            # file's bytes (no decompression to bound)
            zf.writestr(WEIGHTS_MEMBER, save_tensors(tensors), compress_type=zipfile.ZIP_STORED)


# ------------------------------------------------------------------------------ reading
def sniff(path) -> str:
    """What ``path`` looks like by its first bytes: 'zip', 'pickle' (a model file from before
    format 2, plain or gzipped), or 'other' (word vectors, text, a missing file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head[:2] == b"\x1f\x8b":  # gzip: look at the first bytes inside only
                import gzip

                fh.seek(0)
                try:
                    with gzip.GzipFile(fileobj=fh) as gz:
                        head = gz.read(2)
                except (OSError, EOFError, zlib.error):
                    return "other"
    except OSError:
        return "other"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    return "other"


def is_model_file(path) -> bool:
    """True when ``path`` is an nlpkit model file (of any format, readable or not) rather than
    something else, by its first bytes."""
    path = os.fspath(path)
    return os.path.isfile(path) and sniff(path) != "other"


def read_model_file(path, kind=None):
    """``(kind, Fields of model.json, {name: array})`` of the model file at ``path``.

    ``kind`` (a name or a tuple of names), if given, is checked.  Raises InputFileError on
    anything but a well-formed file of format <= 2."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileError(path, "no such file")
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a model file")
    what = sniff(path)
    if what == "pickle":
        raise InputFileError(path, BEFORE_FORMAT_2)
    if what != "zip":
        raise InputFileError(path, "not an nlpkit model file")
    size = os.path.getsize(path)
    _check_entry_count(path, size)
    try:
        with zipfile.ZipFile(path) as zf:
            members = _check_directory(path, zf, size)
            doc = _read_member(path, zf, members[JSON_MEMBER])
            fields = _parse_json(path, doc)
            found = _check_head(path, fields, kind)
            weights = _read_member(path, zf, members[WEIGHTS_MEMBER])
    except InputFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError, struct.error) as exc:
        raise InputFileError(path, f"damaged model file ({_short(exc)})") from None
    return found, fields, read_tensors(path, weights)


def _short(exc):
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _check_entry_count(path, size):
    """The number of members, from the end-of-central-directory record, before zipfile reads
    the directory itself (whose entries it would all keep)."""
    with open(path, "rb") as fh:
        fh.seek(max(0, size - (1 << 16) - 22))
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise InputFileError(path, "damaged model file (no zip directory at its end)")
    (count,) = struct.unpack("<H", tail[at + 10:at + 12])
    if count not in (2, 0xFFFF):  # 0xFFFF: a zip64 record says; the directory check follows
        raise InputFileError(path, f"not an nlpkit model file (the archive holds {count} "
                             f"members; a model file holds {JSON_MEMBER} and {WEIGHTS_MEMBER})")


def _check_directory(path, zf, size):
    """The members by name, after checking the central directory: exactly the two members,
    stored or deflated, sizes within limits and possible for a file of ``size`` bytes."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(infos) != 2 or set(names) != {JSON_MEMBER, WEIGHTS_MEMBER}:
        shown = ", ".join(repr(n[:60]) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputFileError(path, f"not an nlpkit model file (the archive holds "
                             f"{shown or 'nothing'}; a model file holds {JSON_MEMBER} and "
                             f"{WEIGHTS_MEMBER})")
    limits = {JSON_MEMBER: MAX_JSON_BYTES, WEIGHTS_MEMBER: MAX_WEIGHTS_BYTES}
    for info in infos:
        name = info.filename
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputFileError(path, f"{name}: unsupported compression (method "
                                 f"{info.compress_type})")
        if info.flag_bits & 0x1:
            raise InputFileError(path, f"{name}: encrypted")
        if info.compress_size > size:
            raise InputFileError(path, f"{name}: claims {info.compress_size} bytes in a file of "
                                 f"{size} (truncated or damaged)")
        if info.file_size > limits[name]:
            raise InputFileError(path, f"{name}: {info.file_size} bytes, more than the limit of "
                                 f"{limits[name]}")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
                not stored and info.file_size > info.compress_size * GZIP_MAX_RATIO + 1024):
            raise InputFileError(path, f"{name}: {info.file_size} bytes from "
                                 f"{info.compress_size} compressed is impossible (a zip bomb?)")
    return {i.filename: i for i in infos}


def _read_member(path, zf, info):
    """The member's bytes, never more than its declared size (a lying header cannot make
    the decompressor run on)."""
    limit = info.file_size
    chunks, total = [], 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(min(1 << 20, limit - total + 1))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise InputFileError(path, f"{info.filename}: more data than its declared "
                                     f"{limit} bytes (a zip bomb?)")
            chunks.append(chunk)
    if total != limit:
        raise InputFileError(path, f"{info.filename}: {total} bytes, not the declared {limit}")
    return b"".join(chunks)


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


def loads(text):
    """JSON without NaN, Infinity or numbers that overflow to them."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def _parse_json(path, doc):
    if doc[:1] == b"\x80":
        raise InputFileError(path, f"{JSON_MEMBER} is a pickle, not JSON; nlpkit never "
                             "loads pickles (they can run code)")
    try:
        data = loads(doc.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputFileError(path, f"{JSON_MEMBER} is not valid JSON ({_short(exc)})") from None
    if not isinstance(data, dict):
        raise InputFileError(path, f"{JSON_MEMBER} must hold a JSON object; got "
                             f"{_json_type(data)}")
    return Fields(data, path)


def _check_head(path, fields, kind):
    if fields.data.get("format") != FORMAT:
        raise InputFileError(path, f"not an nlpkit model file ({JSON_MEMBER}: format is not "
                             f"{FORMAT!r})")
    version = fields.int("version", lo=1)
    if version > VERSION:
        raise InputFileError(path, f"written by a newer nlpkit (model format {version}); this "
                             f"nlpkit reads model format {VERSION} and older: upgrade nlpkit")
    if version < 2:
        raise InputFileError(path, BEFORE_FORMAT_2)
    found = fields.str("kind")
    kinds = (kind,) if isinstance(kind, str) else tuple(kind or ())
    if kinds and found not in kinds:
        raise InputFileError(path, f"holds a {found}, not a {' or a '.join(kinds)}")
    return found


def read_tensors(path, buf: bytes) -> dict:
    """The arrays of a safetensors buffer, after checking its header against its size."""
    from safetensors.numpy import load as load_tensors

    where = WEIGHTS_MEMBER
    if len(buf) < 8:
        raise InputFileError(path, f"{where}: {len(buf)} bytes, too short for safetensors")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER_BYTES or n > len(buf) - 8:
        if buf[0] == 0x80 and 2 <= buf[1] <= 5:
            raise InputFileError(path, f"{where} is a pickle, not safetensors; nlpkit never "
                                 "loads pickles (they can run code)")
        raise InputFileError(path, f"{where}: a header of {n} bytes in a member of {len(buf)}")
    try:
        header = loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputFileError(path, f"{where}: the header is not valid JSON ({_short(exc)})") \
            from None
    if not isinstance(header, dict) or len(header) > MAX_TENSORS:
        raise InputFileError(path, f"{where}: the header must be a JSON object of tensors")
    data_len = len(buf) - 8 - n
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise InputFileError(path, f"{where}: __metadata__ must map names to strings")
            continue
        spans.append(_check_entry(path, name, entry, data_len))
    spans.sort()
    for (b0, e0, n0), (b1, _e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise InputFileError(path, f"{where}: tensors {n0!r} and {n1!r} overlap")
    try:
        return load_tensors(bytes(buf))
    except Exception as exc:  # noqa: BLE001 - safetensors' own error type is not exported
        raise InputFileError(path, f"{where}: not a safetensors file ({_short(exc)})") from None


def _check_entry(path, name, entry, data_len):
    where = f"{WEIGHTS_MEMBER}: tensor {name[:80]!r}"
    if not isinstance(entry, dict):
        raise InputFileError(path, f"{where}: its header entry must be an object")
    dtype = entry.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise InputFileError(path, f"{where}: dtype {dtype!r} is not one of "
                             f"{', '.join(DTYPES)}")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(
            _is_int(d) and 0 <= d <= data_len for d in shape):
        raise InputFileError(path, f"{where}: shape {str(shape)[:80]} is not a list of at most "
                             f"{MAX_NDIM} sizes within the member")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(
            _is_int(o) for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= data_len:
        raise InputFileError(path, f"{where}: data_offsets {str(offsets)[:80]} are not within "
                             f"the {data_len} data bytes")
    nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize  # Python ints: no overflow
    if nbytes != offsets[1] - offsets[0]:
        raise InputFileError(path, f"{where}: shape {shape} of {dtype} needs {nbytes} bytes; "
                             f"its offsets span {offsets[1] - offsets[0]}")
    return offsets[0], offsets[1], name


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _json_type(v):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(v), "?")


# ------------------------------------------------------------------------------ model.json
class Fields:
    """The fields of a JSON object read from a model file: each accessor checks the field's
    type (and range) and raises InputFileError naming the file and the field otherwise."""

    MISSING = object()

    def __init__(self, data: dict, path, where: str = ""):
        self.data, self.path, self.where = data, path, where

    def __contains__(self, name):
        return name in self.data

    def names(self):
        return list(self.data)

    def fail(self, name, problem):
        raise InputFileError(self.path, f"{JSON_MEMBER}: {self.where}{name} {problem}")

    def get(self, name, default=MISSING):
        if name not in self.data:
            if default is Fields.MISSING:
                self.fail(name, "is missing")
            return default
        return self.data[name]

    def _typed(self, name, ok, what, default):
        value = self.get(name, default)
        if value is default and default is not Fields.MISSING and name not in self.data:
            return value
        if value is None and default is None:
            return None
        if not ok(value):
            self.fail(name, f"must be {what}; got {_json_type(value)}")
        return value

    def str(self, name, choices=None, default=MISSING):
        value = self._typed(name, lambda v: isinstance(v, str), "a string", default)
        if choices is not None and value is not None and value not in choices:
            self.fail(name, f"must be one of {', '.join(map(repr, choices))}; got {value[:80]!r}")
        return value

    def int(self, name, lo=None, hi=None, default=MISSING):
        value = self._typed(name, _is_int, "an integer", default)
        if value is not None and ((lo is not None and value < lo) or
                                  (hi is not None and value > hi)):
            self.fail(name, f"must be in [{lo}, {hi if hi is not None else '...'}]; got {value}")
        return value

    def float(self, name, default=MISSING):
        value = self._typed(name, lambda v: _is_int(v) or isinstance(v, float), "a number",
                            default)
        return None if value is None else float(value)

    def bool(self, name, default=MISSING):
        return self._typed(name, lambda v: isinstance(v, bool), "true or false", default)

    def list(self, name, item=None, what="a list", default=MISSING):
        value = self._typed(name, lambda v: isinstance(v, list) and (
            item is None or all(item(x) for x in v)), what, default)
        return value

    def obj(self, name, default=MISSING) -> Fields:
        value = self._typed(name, lambda v: isinstance(v, dict), "an object", default)
        return None if value is None else Fields(value, self.path, f"{self.where}{name}.")
