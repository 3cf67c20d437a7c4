"""The ``#`` lines nlpkit writes before ``\\data\\`` to mark an ARPA file whose numbers are
scores, not probabilities (stupid back-off), and their reading back.

ARPA has no comment syntax inside its sections, but text before ``\\data\\`` is
ignored by SRILM and by nlpkit's reader, and KenLM accepts lines there that start
with ``#``.  The marker line carries the smoothing and alpha, so that a model read
back knows it is unnormalised (``nlpkit ngram ppl`` warns).
"""
from __future__ import annotations

import re

_MARK = b"# nlpkit-smoothing: stupid alpha="
_MARK_RE = re.compile(rb"(?m)^# nlpkit-smoothing: stupid alpha=([0-9.eE+-]+)[ \t\r]*$")


def preamble(meta) -> bytes:
    """The lines to write before ``\\data\\`` for a model with this ``meta`` (b"" but for
    stupid back-off)."""
    if meta.get("smoothing") != "stupid":
        return b""
    return (_MARK + repr(float(meta["alpha"])).encode() + b"\n"
            b"# Stupid back-off (Brants et al. 2007): the numbers below are log10 scores, not\n"
            b"# probabilities; they are not normalised, so a perplexity computed from them is\n"
            b"# not a perplexity.\n")


def read_preamble(head: bytes) -> dict:
    """What the text before ``\\data\\`` says about the model ({} if nothing)."""
    m = _MARK_RE.search(head)
    if m is None:
        return {}
    try:
        return {"smoothing": "stupid", "alpha": float(m.group(1))}
    except ValueError:
        return {}


def is_unnormalised(meta) -> bool:
    return meta.get("smoothing") == "stupid"
