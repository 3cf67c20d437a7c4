"""Parameters an estimator would ignore: refused at ``fit``, by name.

A parameter that has no effect in the configuration chosen (``positions`` of a recurrent
encoder, ``char_filters`` without a character encoder, ...) is an error, not a silent
no-op: the user believes it changed something.  A parameter left at its default is never
refused (the default is what every configuration accepts)."""
from __future__ import annotations

import inspect

from .errors import NlpkitError


def changed(est, names):
    """The parameters among ``names`` that ``est`` holds at a value other than its
    class's default, in order."""
    defaults = {k: p.default for k, p in inspect.signature(type(est)).parameters.items()}
    return [n for n in names if not _same(getattr(est, n), defaults[n])]


def refuse_ignored(est, names, when):
    """Raise :class:`NlpkitError` naming those of ``names`` set away from their defaults:
    they have no effect ``when`` (a phrase: ``"with encoder='lstm'"``)."""
    bad = changed(est, names)
    if bad:
        listed = ", ".join(f"{n}={getattr(est, n)!r}" for n in bad)
        raise NlpkitError(f"{type(est).__name__}: {listed} "
                          f"{'has' if len(bad) == 1 else 'have'} no effect {when}; leave "
                          f"{'it' if len(bad) == 1 else 'them'} at the default")


def _same(value, default) -> bool:
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):  # an array or an object without a plain ==
        return False
