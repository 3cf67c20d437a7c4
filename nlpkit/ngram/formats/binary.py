"""nlpkit's binary n-gram model format (``.nlpkit``), and loading/saving models by file name.

A binary model is one file: the magic ``NLPKITLM``, a little-endian uint32
format version, a uint32 header length, a JSON header (order, meta, and for
each array its dtype, shape and byte offset), then the raw arrays, each
aligned to 64 bytes.  The arrays are the scorer's own (hash tables included,
see :mod:`nlpkit.ngram.scoring.kernels`) plus the vocabulary as ``\\n``-joined UTF-8,
so loading is a memory map and no table is rebuilt: a model from a 170 MB
ARPA file loads in a fraction of a second.  The scoring kernels trust the
tables they are given, so loading checks them first: every header field, each
array's dtype, shape and offset against the file's size, and the tables'
contents (row ranges, slots pointing inside their order, an empty slot to end
every probe, word ids inside the vocabulary).  A damaged file raises
:class:`~nlpkit.errors.InputFileError`; it never reaches a kernel.

Model paths anywhere in nlpkit are picked by name when written --
``.arpa`` or ``.arpa.gz`` (ARPA text) and ``.nlpkit`` (binary) -- and by
content when read (the binary magic, else ARPA, gzipped or not).
"""
from __future__ import annotations

import json
import mmap
import os

import numpy as np

from ...errors import InputFileError, NlpkitError
from ...text import atomic_write
from ..backoff import BackoffModel
from ..scoring.scorer import NGramScorer
from ..scoring.tables import BOS, EOS, UNK, NGramTables

MAGIC = b"NLPKITLM"
# 2: hash tables of 1.5 slots a row, home slot by multiply-shift (1: power-of-two sizes, masked)
VERSION = 2
SUFFIX = ".nlpkit"
_ALIGN = 64


def model_kind(path) -> str:
    """``'arpa'`` or ``'binary'`` for a path to write, by its name."""
    name = os.fspath(path).lower()
    if name.endswith(SUFFIX):
        return "binary"
    if name.endswith((".arpa", ".arpa.gz", ".lm", ".lm.gz")) or name == "-":
        return "arpa"
    raise NlpkitError(f"{path}: cannot tell the model format from the name; "
                      f"use .arpa, .arpa.gz or {SUFFIX}")


def is_binary(path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        return False


def load(path, *, max_order=None) -> NGramScorer:
    """Load an ARPA (plain or gzipped) or binary model, ready to score."""
    path = os.fspath(path)
    if path != "-" and not os.path.exists(path):
        raise InputFileError(path, "no such file")
    if path != "-" and is_binary(path):
        scorer = load_binary(path)
        if max_order is not None and max_order < scorer.order:
            from dataclasses import replace
            m = scorer.model
            k = int(max_order)
            if k < 1:
                raise NlpkitError(f"max_order must be >= 1, got {max_order}")
            top = [np.zeros_like(m.backoff[k - 1]), np.zeros_like(m.has_backoff[k - 1])]
            m = replace(m, ngrams=m.ngrams[:k], logprob=m.logprob[:k],
                        backoff=m.backoff[:k - 1] + [top[0]],
                        has_backoff=m.has_backoff[:k - 1] + [top[1]])
            scorer = NGramScorer(m)
        return scorer
    from .arpa_reader import read_arpa
    return NGramScorer(read_arpa(path, max_order=max_order))


def save(model, path) -> None:
    """Write a model (:class:`NGramScorer` or :class:`BackoffModel`) by the name of ``path``."""
    kind = model_kind(path)
    if kind == "binary":
        scorer = model if isinstance(model, NGramScorer) else NGramScorer(model)
        save_binary(scorer, path)
        return
    save_arpa(model.model if isinstance(model, NGramScorer) else model, path)


def save_arpa(model: BackoffModel, path) -> None:
    """Write ``model`` as ARPA text (``.gz`` by name), laid out as its peer prints it:
    lmplz's way for a Kneser-Ney model built by nlpkit, SRILM's way otherwise."""
    if model.meta.get("smoothing") == "kn":
        from .arpa_lmplz import write_arpa_lmplz
        write_arpa_lmplz(model, path)
    else:
        from .arpa_srilm import write_arpa
        write_arpa(model, path)


def save_binary(scorer: NGramScorer, path) -> None:
    arrays = scorer.tables.arrays()
    arrays["vocab"] = np.frombuffer("\n".join(scorer.vocab).encode("utf-8"), dtype=np.uint8)
    specs, offset = {}, 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        arrays[name] = a
        offset = -(-offset // _ALIGN) * _ALIGN
        specs[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        offset += a.nbytes
    meta = {k: v for k, v in scorer.model.meta.items() if _jsonable(v)}
    header = json.dumps({"order": scorer.order, "vocab_size": len(scorer.vocab), "meta": meta,
                         "arrays": specs}).encode("utf-8")
    start = -(-(len(MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
    with atomic_write(path, "wb", compress="") as fh:
        fh.write(MAGIC + np.array([VERSION, len(header)], dtype="<u4").tobytes() + header)
        pos = len(MAGIC) + 8 + len(header)
        for name, a in arrays.items():
            target = start + specs[name]["offset"]
            fh.write(b"\0" * (target - pos))
            fh.write(a.tobytes())
            pos = target + a.nbytes


def load_binary(path) -> NGramScorer:
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot read ({exc})") from None
    if mm[:len(MAGIC)] != MAGIC or len(mm) < len(MAGIC) + 8:
        raise InputFileError(path, "not an nlpkit binary model")
    version, hlen = (int(x) for x in np.frombuffer(mm, dtype="<u4", count=2, offset=len(MAGIC)))
    if version < VERSION:
        raise InputFileError(path, f"binary model of format version {version}, written by an "
                             f"older nlpkit; this one reads version {VERSION} (its hash tables "
                             "are laid out differently): convert the ARPA file again with "
                             "'nlpkit ngram convert'")
    if version != VERSION:
        raise InputFileError(path, f"binary model version {version}; this nlpkit reads {VERSION}")
    if len(MAGIC) + 8 + hlen > len(mm):
        raise InputFileError(path, "file is shorter than its header says (truncated?)")
    try:
        header = json.loads(bytes(mm[len(MAGIC) + 8:len(MAGIC) + 8 + hlen]))
    except (ValueError, RecursionError):
        raise InputFileError(path, "damaged header") from None
    start = -(-(len(MAGIC) + 8 + hlen) // _ALIGN) * _ALIGN
    order, vocab_size, specs = _header_fields(path, header)
    arrays = {}
    for name, (dtype, count, offset) in specs.items():
        off = start + offset
        if off + count * dtype.itemsize > len(mm):
            raise InputFileError(path, "file is shorter than its header says (truncated?)")
        arrays[name] = np.frombuffer(mm, dtype=dtype, count=count, offset=off)
    try:
        text = arrays.pop("vocab").tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(path, "damaged vocabulary (not UTF-8)") from None
    vocab = text.split("\n") if text else []
    if len(vocab) != vocab_size:
        raise InputFileError(path, f"the header says {vocab_size} words, the vocabulary holds "
                             f"{len(vocab)}")
    _check_tables(path, order, vocab, arrays)
    tables = NGramTables(order, len(vocab), arrays)
    model = tables.to_model(vocab, header.get("meta", {}))
    return NGramScorer(model, tables=tables)


# What a binary model holds: each array's name and dtype (all are 1-D).  Loading checks
# every one against this and the file's size before mapping it, and the tables' contents
# against each other (see _check_tables): the scoring kernels index with what they find
# in them, unchecked, so a damaged file must be refused here, not crash there.
_ARRAYS = {"uni": "<f4", "uni_has_bo": "|b1", "uni_present": "|b1", "lpbo": "<f4",
           "has_bo": "|b1", "grams": "<i4", "slots": "<u8", "tab_off": "<i8", "tab_mask": "<i8",
           "row_off": "<i8", "gram_off": "<i8", "n_real": "<i8", "vocab": "|u1"}
# deeper than any model anyone builds; keeps the per-order arrays small
_MAX_ORDER = 255


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _header_fields(path, header):
    """``(order, vocab_size, {name: (dtype, count, offset)})`` from the JSON header,
    every field checked for type and range."""
    def bad(what):
        raise InputFileError(path, f"damaged header ({what})")
    if not isinstance(header, dict):
        bad("not a JSON object")
    order, vocab_size, specs = header.get("order"), header.get("vocab_size"), header.get("arrays")
    if not _is_int(order) or not 1 <= order <= _MAX_ORDER:
        bad(f"order {order!r}")
    if not _is_int(vocab_size) or vocab_size < 0:
        bad(f"vocab_size {vocab_size!r}")
    if not isinstance(header.get("meta", {}), dict):
        bad("meta is not an object")
    if not isinstance(specs, dict) or set(specs) != set(_ARRAYS):
        bad("the arrays are not those of an n-gram model")
    out = {}
    for name, dt in _ARRAYS.items():
        spec = specs[name]
        if not isinstance(spec, dict) or spec.get("dtype") != dt:
            bad(f"array {name}: dtype is not {dt}")
        shape, offset = spec.get("shape"), spec.get("offset")
        if not (isinstance(shape, list) and len(shape) == 1 and _is_int(shape[0])
                and shape[0] >= 0):
            bad(f"array {name}: shape {shape!r}")
        if not _is_int(offset) or offset < 0 or offset % _ALIGN:
            bad(f"array {name}: offset {offset!r}")
        out[name] = (np.dtype(dt), shape[0], offset)
    return order, vocab_size, out


def _check_tables(path, N, vocab, a):
    """Refuse tables whose contents would send a scoring kernel out of its arrays or
    into an endless probe (layout in :mod:`nlpkit.ngram.scoring.kernels`)."""
    def bad(what):
        raise InputFileError(path, f"damaged model tables ({what})")
    V = len(vocab)
    for special in (BOS, EOS, UNK):
        if special not in vocab:
            raise InputFileError(path, f"the vocabulary lacks {special}")
    if a["uni"].shape[0] != 2 * V or a["uni_has_bo"].shape[0] != V \
            or a["uni_present"].shape[0] != V:
        bad("unigram arrays do not match the vocabulary")
    for name in ("tab_off", "tab_mask", "row_off", "gram_off"):
        if a[name].shape[0] != N + 2:
            bad(f"{name} does not match the order")
    if a["n_real"].shape[0] != N:
        bad("n_real does not match the order")
    total = a["has_bo"].shape[0]
    if a["lpbo"].shape[0] != 2 * total:
        bad("row arrays disagree")
    if a["slots"].shape[0] % 3:
        bad("slots")
    n_slots = a["slots"].shape[0] // 3
    row_off, gram_off = a["row_off"], a["gram_off"]
    tab_off, tab_mask, n_real = a["tab_off"], a["tab_mask"], a["n_real"]
    grams = a["grams"]
    low = np.uint64(0xFFFFFFFF)
    if N >= 2 and (row_off[2] != 0 or gram_off[2] != 0):
        bad("row offsets")
    for n in range(2, N + 1):
        r0, g0 = int(row_off[n]), int(gram_off[n])
        r1 = int(row_off[n + 1]) if n < N else total
        rows = r1 - r0
        if rows < 0 or r1 > total or (n < N and int(gram_off[n + 1]) - g0 != rows * n):
            bad(f"rows of order {n}")
        if not 0 <= int(n_real[n - 1]) <= rows:
            bad(f"n_real of order {n}")
        t0, mask = int(tab_off[n]), int(tab_mask[n])
        # tab_mask holds the table's last slot (any size since format 2: multiply-shift)
        if t0 < 0 or mask < 0 or t0 + mask + 1 > n_slots:
            bad(f"hash table of order {n}")
        # every slot's row within its order, and an empty slot to end each probe
        row1 = a["slots"][3 * t0 + 1:3 * (t0 + mask + 1):3] & low
        if int(row1.max(initial=0)) > rows or not (row1 == 0).any():
            bad(f"hash table of order {n}")
    if N >= 2 and grams.shape[0] != int(gram_off[N]) + (total - int(row_off[N])) * N:
        bad("grams")
    if N < 2 and (total or grams.shape[0]):
        bad("rows of a unigram model")
    if grams.shape[0] and (int(grams.min()) < 0 or int(grams.max()) >= V):
        bad("word ids out of the vocabulary")


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


__all__ = ["load", "save", "save_arpa", "load_binary", "save_binary", "model_kind", "SUFFIX", "BackoffModel"]
