"""The options of :func:`nlpkit.ngram.build` and :func:`nlpkit.ngram.count`, checked in one place."""
from __future__ import annotations

from ..errors import NlpkitError

MAX_ORDER = 16
SMOOTHINGS = ("katz", "kn")
# the options each smoothing alone understands, with their neutral values
_KATZ_ONLY = {"gt_min": None, "gt_max": None, "cutoffs": None, "unk": False, "vocab": None,
              "counts": None}
_KN_ONLY = {"discount_fallback": None, "interpolate_unigrams": True, "prune": None,
            "skip_symbols": False}


def check_order(order):
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise NlpkitError(f"order must be an integer from 1 to {MAX_ORDER}; got {order!r}")


def check_smoothing_options(smoothing, **options):
    """The smoothing is known and no option of another smoothing is set."""
    if smoothing not in SMOOTHINGS:
        raise NlpkitError(f"smoothing must be one of {', '.join(map(repr, SMOOTHINGS))}; "
                          f"got {smoothing!r}")
    foreign = _KN_ONLY if smoothing == "katz" else _KATZ_ONLY
    other = "kn" if smoothing == "katz" else "katz"
    bad = [k for k, neutral in foreign.items() if _is_set(options.get(k, neutral), neutral)]
    if bad:
        raise NlpkitError(f"{', '.join(bad)} go{'es' if len(bad) == 1 else ''} with smoothing "
                          f"{other!r} (--smoothing {other}); this build's smoothing is {smoothing!r}")
    if options.get("gt_min") is not None and options.get("cutoffs") is not None:
        raise NlpkitError("give either gt_min or cutoffs (they are the same setting), not both")


def _is_set(value, neutral) -> bool:
    return not (value is neutral or (isinstance(value, bool) and value == neutral))
