"""ARPA files as KenLM's ``lmplz`` prints them.

Differences from SRILM's printing (``arpa_writer``): nothing before ``\\data\\``;
every line below the highest order carries a back-off, ``0`` included; the rows
of each order come in the model's own order (the KN estimator gives lmplz's
suffix order on ids); numbers are the shortest decimal that reads back as the
same float32, written plainly when the decimal exponent is in [-6, 21) and as
``d.ddde-7`` otherwise.
"""
from __future__ import annotations

import numpy as np

from ..text import atomic_write
from .backoff import BackoffModel


def format_float32(values: np.ndarray) -> np.ndarray:
    """The lmplz spelling of each float32 value (an object array of str)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.size == 0:
        return np.zeros(0, dtype=object)
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array(_shortest(uniq), dtype=object)[inverse.reshape(-1)]


def _shortest(values: np.ndarray) -> list[str]:
    """Shortest round-trip spellings of distinct float32 values.

    A float32 needs at most 9 significant digits.  ``%.{p-1}e`` gives the
    p-digit decimal nearest the value; the first p (from 6 up) that reads back
    as the value itself is the shortest (6 digits also cover every shorter
    spelling, whose trailing zeros are dropped).  The digits are then laid out
    as lmplz does: plain when the decimal exponent e is in [-6, 21), where
    ``%.{p-1-e}f`` rounds at the same digit and so gives the same digits.
    """
    out: list[str | None] = [None] * values.shape[0]
    special = ~np.isfinite(values) | (values == 0)
    for i in np.flatnonzero(special).tolist():
        v = values[i]
        out[i] = ("-inf" if v < 0 else "inf") if np.isinf(v) else ("-0" if np.signbit(v) else "0")
    todo = np.flatnonzero(~special)
    as_double = values.astype(np.float64)
    for digits in range(6, 10):
        if todo.size == 0:
            break
        fmt = f"%.{digits - 1}e"
        doubles = as_double[todo].tolist()
        spelled = [fmt % v for v in doubles]
        ok = np.array(spelled, dtype=np.float64).astype(np.float32) == values[todo]
        if digits == 9:
            ok[:] = True
        for i, v, sci in zip(todo[ok].tolist(), (d for d, g in zip(doubles, ok) if g),
                             (t for t, g in zip(spelled, ok) if g)):
            e = int(sci[sci.rindex("e") + 1:])
            if -6 <= e < 21:
                plain = f"%.{max(digits - 1 - e, 0)}f" % v
                out[i] = plain.rstrip("0").rstrip(".") if "." in plain else plain
            else:
                mantissa = sci[:sci.rindex("e")]
                if "." in mantissa:
                    mantissa = mantissa.rstrip("0").rstrip(".")
                out[i] = f"{mantissa}e{e}"
        todo = todo[~ok]
    return out


def write_arpa_lmplz(model: BackoffModel, path) -> None:
    """Write ``model`` as lmplz does (atomic; ``.gz`` by name)."""
    vocab = np.array(model.vocab, dtype=object)
    top = model.order
    with atomic_write(path) as fh:
        fh.write("\\data\\\n")
        for n, size in enumerate(model.counts(), 1):
            fh.write(f"ngram {n}={size}\n")
        for k in range(top):
            fh.write(f"\n\\{k + 1}-grams:\n")
            grams = model.ngrams[k]
            text = vocab[grams[:, 0]]
            for j in range(1, k + 1):
                text = text + " " + vocab[grams[:, j]]
            lines = format_float32(model.logprob[k]) + "\t" + text
            if k < top - 1:
                lines = lines + "\t" + format_float32(model.backoff[k])
            if lines.size:
                fh.write("\n".join(lines.tolist()))
                fh.write("\n")
        fh.write("\n\\end\\\n")
