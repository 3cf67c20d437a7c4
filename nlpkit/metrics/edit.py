"""Word and character error rates: Levenshtein distances summed over the corpus, divided by
the references' total length (the convention of ASR scoring and jiwer).

Strings never reach the kernel: tokens (or characters) become int ids, sequences flat
arrays with offsets (:mod:`nlpkit.metrics.edit_kernels`, its CUDA twin chosen by
``device``)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import NlpkitError
from . import edit_kernels


def _sequences(items, what, unit):
    """Token lists ('word') or character lists ('char': a token list is joined by spaces)."""
    if isinstance(items, str):
        raise NlpkitError(f"{what} must be a list of sequences (strings or token lists), "
                          "not a single string")
    out = []
    for i, s in enumerate(items):
        if isinstance(s, (list, tuple)) and all(isinstance(t, str) for t in s):
            s = list(s) if unit == "word" else " ".join(s)
        elif not isinstance(s, str):
            raise NlpkitError(f"{what}[{i}] must be a string or a list of string tokens")
        out.append(s.split() if isinstance(s, str) and unit == "word" else list(s))
    return out


def edit_distances(hypotheses, references, unit="word", device=None):
    """Per pair, ``(edit distance, reference length)`` as two int64 arrays.  ``unit``
    'word' (strings split on whitespace; token lists used as they are) or 'char'
    (every character, spaces included; token lists joined by a space)."""
    if unit not in ("word", "char"):
        raise NlpkitError(f"unit must be 'word' or 'char'; got {unit!r}")
    hyps = _sequences(hypotheses, "hypotheses", unit)
    refs = _sequences(references, "references", unit)
    if len(hyps) != len(refs):
        raise NlpkitError(f"hypotheses and references have different lengths: {len(hyps)} "
                          f"and {len(refs)}")
    ids = {}
    flat = [np.fromiter((ids.setdefault(t, len(ids)) for s in seqs for t in s), np.int64)
            for seqs in (hyps, refs)]
    offs = [np.concatenate(([0], np.cumsum([len(s) for s in seqs]))).astype(np.int64)
            for seqs in (hyps, refs)]
    out = np.empty(len(hyps), np.int64)
    kernels = backend.pick(edit_kernels, "nlpkit.metrics.edit_kernels_cuda", device)
    kernels.distances(flat[0], offs[0], flat[1], offs[1], out)
    return out, np.diff(offs[1])


def wer(hypotheses, references, device=None):
    """Word error rate: total word-level edit distance / total reference words."""
    return ErrorRate("word", device).update(hypotheses, references).rate()


def cer(hypotheses, references, device=None):
    """Character error rate: total character-level edit distance / total reference
    characters (spaces count, as jiwer's)."""
    return ErrorRate("char", device).update(hypotheses, references).rate()


class ErrorRate:
    """Edit distances and reference lengths summed as ``update(hypotheses, references)`` is
    given each block of a corpus; ``rate()`` is :func:`wer` ('word') or :func:`cer`
    ('char') of all of them."""

    def __init__(self, unit="word", device=None):
        self.unit, self.device = unit, device
        self.distance = self.length = 0

    def update(self, hypotheses, references):
        d, n = edit_distances(hypotheses, references, self.unit, self.device)
        self.distance += int(d.sum())
        self.length += int(n.sum())
        return self

    def rate(self):
        if self.length == 0:
            raise NlpkitError("the references are empty: an error rate needs reference tokens")
        return float(self.distance) / self.length
