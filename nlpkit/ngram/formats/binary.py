"""nlpkit's binary n-gram model format (``.nlpkit``), and loading/saving models by file name.

A binary model is one file: the magic ``NLPKITLM``, a little-endian uint32
format version, a uint32 header length, a JSON header (order, meta, and for
each array its dtype, shape and byte offset), then the raw arrays, each
aligned to 64 bytes.  The arrays are the scorer's own (hash tables included,
see :mod:`nlpkit.ngram.scoring.kernels`) plus the vocabulary as ``\\n``-joined UTF-8,
so loading is a memory map and no table is rebuilt: a model from a 170 MB
ARPA file loads in a fraction of a second.

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
from ..scoring.tables import NGramTables

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
    version, hlen = np.frombuffer(mm, dtype="<u4", count=2, offset=len(MAGIC))
    if version < VERSION:
        raise InputFileError(path, f"binary model of format version {version}, written by an "
                             f"older nlpkit; this one reads version {VERSION} (its hash tables "
                             "are laid out differently): convert the ARPA file again with "
                             "'nlpkit ngram convert'")
    if version != VERSION:
        raise InputFileError(path, f"binary model version {version}; this nlpkit reads {VERSION}")
    try:
        header = json.loads(bytes(mm[len(MAGIC) + 8:len(MAGIC) + 8 + hlen]))
    except ValueError:
        raise InputFileError(path, "damaged header") from None
    start = -(-(len(MAGIC) + 8 + int(hlen)) // _ALIGN) * _ALIGN
    arrays = {}
    for name, spec in header["arrays"].items():
        dt = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        off = start + spec["offset"]
        if off + count * dt.itemsize > len(mm):
            raise InputFileError(path, "file is shorter than its header says (truncated?)")
        arrays[name] = np.frombuffer(mm, dtype=dt, count=count, offset=off).reshape(spec["shape"])
    text = arrays.pop("vocab").tobytes().decode("utf-8")
    vocab = text.split("\n") if text else []
    tables = NGramTables(header["order"], len(vocab), arrays)
    model = tables.to_model(vocab, header.get("meta", {}))
    return NGramScorer(model, tables=tables)


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


__all__ = ["load", "save", "save_arpa", "load_binary", "save_binary", "model_kind", "SUFFIX", "BackoffModel"]
