"""ARPA files as KenLM's ``lmplz`` prints them.

Differences from SRILM's printing (``arpa_writer``): nothing before ``\\data\\``;
every line below the highest order carries a back-off, ``0`` included; the rows
of each order come in the model's own order (the KN estimator gives lmplz's
suffix order on ids); numbers are the shortest decimal that reads back as the
same float32, written plainly when the decimal exponent is in [-6, 21) and as
``d.ddde-7`` otherwise (:mod:`nlpkit.ngram.formats.numfmt`).
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
from .numfmt import LMPLZ, spell_distinct, spell_strings


def format_float32(values) -> list[str]:
    """The lmplz spelling of each float32 value."""
    return spell_strings(values, LMPLZ)


def write_arpa_lmplz(model: BackoffModel, path) -> None:
    """Write ``model`` as lmplz does (atomic; ``.gz`` by name), rows in the model's order."""
    wpool, woff = byte_pool([w.encode("utf-8", "surrogateescape") for w in model.vocab])
    top = model.order

    def sections():
        for k in range(top):
            bow = model.backoff[k] if k < top - 1 else np.full(model.logprob[k].shape[0], np.nan,
                                                                np.float32)
            yield k + 1, [(model.ngrams[k], "natural", model.logprob[k], bow)]

    write_sections(path, model.counts(), sections(), wpool, woff)


def write_sections(path, counts, sections, wpool, woff) -> None:
    """Write an ARPA file as lmplz prints it from ``sections``: per order ``(n, blocks)``
    with blocks ``(words, layout, lp, bow or NaN)`` in lmplz's line order."""
    with atomic_write(path, "wb") as fh, BlockWriter(fh) as out:
        out.write(b"\\data\\\n" + b"".join(b"ngram %d=%d\n" % (n, c)
                                               for n, c in enumerate(counts, 1)))
        for n, blocks in sections:
            out.write(b"\n\\%d-grams:\n" % n)
            for block in blocks:  # (bytes: lines formatted elsewhere, e.g. on a Dask worker)
                if isinstance(block, (bytes, memoryview)):
                    out.write(block)
                else:
                    out.put(section_lines, owned(block), wpool, woff)
        out.write(b"\n\\end\\\n")


def section_lines(block, wpool, woff) -> bytes:
    words, layout, lp, bow = block
    rows = lp.shape[0]
    if rows == 0:
        return b""
    has = bow == bow
    numpool, numoff, inv = _spell_distinct(np.concatenate([lp, bow[has]]))
    bow_idx = np.full(rows, -1, np.int64)
    bow_idx[has] = inv[rows:]
    return assemble_lines(np.ascontiguousarray(words, dtype=np.int32),
                          natural_columns(words.shape[1], layout), NO_MAP,
                          np.ascontiguousarray(inv[:rows]), bow_idx, wpool, woff, numpool,
                          numoff, False).data


def _spell_distinct(values):
    return spell_distinct(values, LMPLZ)
