"""The options of :func:`nlpkit.ngram.build` and :func:`nlpkit.ngram.count`, checked in one place."""
from __future__ import annotations

from ..errors import NlpkitError

MAX_ORDER = 16
SMOOTHINGS = ("katz", "kn", "stupid")
# the options of one smoothing or two, with their neutral values, and who understands them
_OPTIONS = {
    "gt_min": (None, ("katz",)), "gt_max": (None, ("katz",)), "cutoffs": (None, ("katz",)),
    "unk": (False, ("katz",)), "vocab": (None, ("katz", "stupid")),
    "counts": (None, ("katz", "stupid")),
    "discount_fallback": (None, ("kn",)), "interpolate_unigrams": (True, ("kn",)),
    "prune": (None, ("kn",)), "skip_symbols": (False, ("kn",)),
    "alpha": (None, ("stupid",)),
}
# how the command line spells them (one error message serves Python and the shell)
_FLAGS = {"gt_min": "--gtNmin", "gt_max": "--gtNmax", "cutoffs": "--gtNmin",
          "interpolate_unigrams": "--no-interpolate-unigrams"}


def options_of(smoothing) -> tuple:
    """The options that ``smoothing`` understands."""
    return tuple(k for k, (_, owners) in _OPTIONS.items() if smoothing in owners)


def check_order(order):
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise NlpkitError(f"order must be an integer from 1 to {MAX_ORDER}; got {order!r}")


def check_smoothing_options(smoothing, **options):
    """The smoothing is known and no option of another smoothing is set."""
    if smoothing not in SMOOTHINGS:
        raise NlpkitError(f"smoothing must be one of {', '.join(map(repr, SMOOTHINGS))}; "
                          f"got {smoothing!r}")
    bad = [(k, owners) for k, (neutral, owners) in _OPTIONS.items()
           if smoothing not in owners and _is_set(options.get(k, neutral), neutral)]
    if bad:
        which = "; ".join(
            f"{k} ({_FLAGS.get(k, '--' + k.replace('_', '-'))}) goes with "
            f"{' or '.join('--smoothing ' + o for o in owners)}" for k, owners in bad)
        raise NlpkitError(f"{which}; this build's smoothing is {smoothing!r}")
    if options.get("gt_min") is not None and options.get("cutoffs") is not None:
        raise NlpkitError("give either gt_min or cutoffs (they are the same setting), not both")


def _is_set(value, neutral) -> bool:
    return not (value is neutral or (isinstance(value, bool) and value == neutral))
