"""The hypothesis/reference layout BLEU and chrF share (sacrebleu's)."""
from __future__ import annotations

from ..errors import NlpkitError


def check_streams(hypotheses, references, what):
    """``(hypotheses, per-segment reference lists)`` from sacrebleu's layout: ``references``
    a list of reference streams, each with one string per hypothesis (None where a segment
    has fewer references); a single stream (a list of strings) is taken as one."""
    if isinstance(hypotheses, str) or not all(isinstance(h, str) for h in hypotheses):
        raise NlpkitError(f"{what}: hypotheses must be a list of strings")
    hypotheses = list(hypotheses)
    if isinstance(references, str):
        raise NlpkitError(f"{what}: references must be a list of reference streams (lists of "
                          "strings), not a string")
    references = list(references)
    if references and isinstance(references[0], str):
        references = [references]
    if not references:
        raise NlpkitError(f"{what}: no references")
    for i, stream in enumerate(references):
        stream = list(stream) if not isinstance(stream, str) else None
        if stream is None or len(stream) != len(hypotheses):
            raise NlpkitError(f"{what}: reference stream {i} has "
                              f"{'no list' if stream is None else len(stream)} segments for "
                              f"{len(hypotheses)} hypotheses")
        references[i] = stream
    segments = []
    for j in range(len(hypotheses)):
        refs = [stream[j] for stream in references if stream[j] is not None]
        if any(not isinstance(r, str) for r in refs):
            raise NlpkitError(f"{what}: references of segment {j} must be strings (or None)")
        if not refs:
            raise NlpkitError(f"{what}: segment {j} has no reference (every stream holds None)")
        segments.append(refs)
    return hypotheses, segments
