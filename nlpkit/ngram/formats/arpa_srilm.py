"""Write a :class:`BackoffModel` as an ARPA file exactly as SRILM prints it (SRILM-KATZ.md §7).

* Header: an empty line, ``\\data\\``, ``ngram n=COUNT`` per order; then per
  order an empty line, ``\\n-grams:`` and the lines; an empty line and ``\\end\\``.
* A line is ``%.7g`` of the log10 probability (``-99`` for -inf), TAB, the
  words separated by spaces, and TAB + ``%.7g`` of the back-off weight where
  the model has one.
* Order of lines: SRILM's, sorted by (w_{n-1}, …, w_1, w_n), words compared
  byte-wise (``strcmp``), i.e. the reversed context first and the predicted word last.

Formatting is vectorized: each distinct number is formatted once, and a Numba
kernel copies number and word bytes into the output buffer.  The file is
written to a temporary name and renamed (``.gz`` compresses by the name).
"""
from __future__ import annotations

import numpy as np

from ...text import atomic_write
from ..backoff import BackoffModel
from .lines import (
    NO_MAP,
    BlockWriter,
    assemble_lines,
    byte_pool,
    natural_columns,
    owned,
)
from .numfmt import PRINTF_G, spell_distinct


def _format_numbers(values: np.ndarray):
    """Float32 values -> (the ``%.7g`` byte pool of the distinct ones, index of each value);
    -inf is spelled ``-99``, as SRILM prints log10(0)."""
    pool, off, inv = spell_distinct(values, PRINTF_G, 7, special=_special)
    return (pool, off), inv


def _special(v):
    return "-99" if v == -np.inf else "%.7g" % v


def section_lines(block, wpool, woff, word_map=NO_MAP) -> bytes:
    """The lines of one block ``(words, layout, lp, bow)``: ``words`` (rows × n, in
    ``layout``, see :func:`~.lines.natural_columns`) index the word pool (through
    ``word_map`` if given), ``lp`` the log10 probabilities, ``bow`` the back-off weights
    (NaN: no field)."""
    words, layout, lp, bow = block
    if words.shape[0] == 0:
        return b""
    has = bow == bow
    (numpool, numoff), inv = _format_numbers(np.concatenate([lp, bow[has]]))
    rows = lp.shape[0]
    bow_idx = np.full(rows, -1, dtype=np.int64)
    bow_idx[has] = inv[rows:]
    out = assemble_lines(np.ascontiguousarray(words, dtype=np.int32),
                         natural_columns(words.shape[1], layout), word_map,
                         np.ascontiguousarray(inv[:rows]), bow_idx, wpool, woff, numpool,
                         numoff, False)
    return out.data


def write_sections(path, counts, sections, wpool, woff, word_map=NO_MAP, preamble=b"") -> None:
    """Write an ARPA file as SRILM prints it from ``sections``: per order ``(n, blocks)``
    with blocks ``(words, layout, lp, bow)`` (or their lines, made by :func:`section_lines`)
    in SRILM's line order (atomic; ``.gz`` by name).  ``preamble``: ``#`` lines to put
    before ``\\data\\`` (see :mod:`.preamble`)."""
    header = b"".join(b"ngram %d=%d\n" % (n, c) for n, c in enumerate(counts, 1))
    with atomic_write(path, "wb") as fh, BlockWriter(fh) as out:
        out.write(preamble + b"\n\\data\\\n" + header)
        for n, blocks in sections:
            out.write(b"\n\\%d-grams:\n" % n)
            for block in blocks:  # (bytes: lines formatted elsewhere, e.g. on a Dask worker)
                if isinstance(block, (bytes, memoryview)):
                    out.write(block)
                else:
                    out.put(section_lines, owned(block), wpool, woff, word_map)
        out.write(b"\n\\end\\\n")


def arpa_order(words: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Row order of SRILM's ARPA output for n-grams ``words`` (rows × n ids).

    ``rank[id]`` is the byte-wise sort rank of each word.  The key is
    (w_{n-1}, …, w_1, w_n); packed into one uint64 when it fits.
    """
    n = words.shape[1]
    r = rank[words]
    cols = [r[:, k] for k in range(n - 2, -1, -1)] + [r[:, n - 1]]  # most significant first
    bits = max(1, int(rank.shape[0] - 1).bit_length())
    if bits * n <= 64:
        key = np.zeros(words.shape[0], dtype=np.uint64)
        for c in cols:
            key = (key << np.uint64(bits)) | c.astype(np.uint64)
        return np.argsort(key)
    return np.lexsort(cols[::-1])  # lexsort: the last key is the primary one


def model_sections(model: BackoffModel):
    """A :class:`BackoffModel`'s lines in SRILM's order, as :func:`write_sections` takes them."""
    enc = [w.encode("utf-8", "surrogateescape") for w in model.vocab]
    rank = np.empty(len(enc), dtype=np.int64)
    rank[sorted(range(len(enc)), key=enc.__getitem__)] = np.arange(len(enc))
    for k in range(model.order):
        words = model.ngrams[k]
        order = arpa_order(words, rank) if words.shape[0] else np.zeros(0, np.int64)
        hb = model.has_backoff[k][order]
        bow = np.where(hb, model.backoff[k][order], np.float32(np.nan)).astype(np.float32)
        yield k + 1, [(words[order], "natural", model.logprob[k][order], bow)]


def write_arpa(model: BackoffModel, path) -> None:
    """Write ``model`` to ``path`` (``.gz`` by name; ``-`` for stdout), atomically."""
    from .preamble import preamble
    wpool, woff = byte_pool([w.encode("utf-8", "surrogateescape") for w in model.vocab])
    write_sections(path, model.counts(), model_sections(model), wpool, woff,
                   preamble=preamble(model.meta))
