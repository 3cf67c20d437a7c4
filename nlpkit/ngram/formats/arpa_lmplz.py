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
from .lines import assemble_lines, byte_pool, dedupe_u32
from .numfmt import LMPLZ, spell, spell_strings


def format_float32(values) -> list[str]:
    """The lmplz spelling of each float32 value."""
    return spell_strings(values, LMPLZ)


def write_arpa_lmplz(model: BackoffModel, path) -> None:
    """Write ``model`` as lmplz does (atomic; ``.gz`` by name)."""
    wpool, woff = byte_pool([w.encode("utf-8", "surrogateescape") for w in model.vocab])
    top = model.order
    with atomic_write(path, "wb") as fh:
        fh.write(b"\\data\\\n" + b"".join(b"ngram %d=%d\n" % (n, c)
                                            for n, c in enumerate(model.counts(), 1)))
        for k in range(top):
            fh.write(b"\n\\%d-grams:\n" % (k + 1))
            rows = model.logprob[k].shape[0]
            if rows == 0:
                continue
            with_bow = k < top - 1
            values = np.concatenate([model.logprob[k], model.backoff[k] if with_bow else []])
            numpool, numoff, inv = _spell_distinct(values)
            bow_idx = inv[rows:] if with_bow else np.full(rows, -1, np.int64)
            fh.write(assemble_lines(model.ngrams[k], np.ascontiguousarray(inv[:rows]),
                                    np.ascontiguousarray(bow_idx, dtype=np.int64), wpool, woff,
                                    numpool, numoff, False).data)  # (no copy)
        fh.write(b"\n\\end\\\n")


def _spell_distinct(values):
    """Spell each distinct value once: ``(pool, offsets, index of each value's spelling)``.

    Zero and infinities go through :func:`spell` on their own: mixed in with the
    rest they would send every number through its slower Python splicing path.
    """
    uniq, inv = dedupe_u32(np.ascontiguousarray(values, dtype=np.float32).view(np.uint32))
    uniq = uniq.view(np.float32)
    plain = (uniq != 0) & np.isfinite(uniq)
    first, rest = np.flatnonzero(plain), np.flatnonzero(~plain)
    pool, off = spell(uniq[first], LMPLZ)
    if rest.size:
        pool2, off2 = spell(uniq[rest], LMPLZ)
        pool, off = np.concatenate([pool, pool2]), np.concatenate([off, off2[1:] + off[-1]])
    where = np.empty(uniq.shape[0], np.int64)
    where[first] = np.arange(first.shape[0])
    where[rest] = first.shape[0] + np.arange(rest.shape[0])
    return pool, off, where[inv]
