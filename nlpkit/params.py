"""The parameter contract of every estimator, checked in one place.

Each estimator declares, as data, what each of its ``__init__`` parameters may be::

    _parameter_constraints = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "cell": [Options("lstm", "gru")],
        "tokenizer": [None, "path", HasMethods("encode")],
    }

(scikit-learn's ``_parameter_constraints`` idea) and its ``fit`` (and ``partial_fit``)
starts with :func:`validate_params`, which checks them all and then runs the estimator's
``_check_params()``: the rules that tie parameters together (``minn <= maxn``, a head
count dividing the model size) and the parameters the chosen configuration would ignore
(:func:`refuse_ignored`).  A bad value is one line naming the estimator, the parameter,
the value and what is allowed, raised as :class:`ParameterError` (a ValueError, as
scikit-learn raises for a bad parameter; the CLI prints it as one line).

A constraint is one of:

* :class:`Interval` (ints or real numbers between bounds) or :class:`Options` (a set of
  values);
* ``None`` (the value None), ``"boolean"``, ``"path"`` (str or os.PathLike),
  ``"random_state"`` (None, an int seed, a RandomState or a Generator), ``"callable"``,
  ``"array-like"`` (a list, tuple or array);
* a type (instances of it), or :class:`HasMethods` (duck typing).

A value is valid when it meets one of its parameter's constraints.  What a value means
beyond its kind (a file's content, a smoothing option against the order) is checked where
it is used, by the function that reads it.

A parameter an estimator would ignore is refused by name (:func:`refuse_ignored`): a
parameter that has no effect in the configuration chosen (``positions`` of a recurrent
encoder, ``char_filters`` without a character encoder, ...) is an error, not a silent
no-op, since the user believes it changed something.  A parameter left at its default is
never refused (the default is what every configuration accepts).  Likewise a size that
a pretrained model sets (the embedding size of word vectors, a language model's layers) is
not silently replaced: a user's other value is refused by name (:func:`refuse_overridden`).
"""
from __future__ import annotations

import inspect
import math
import os
from numbers import Integral, Real

import numpy as np

from .errors import NlpkitError

__all__ = [
    "BOOLEAN",
    "DEVICE",
    "FRACTION",
    "NONNEGATIVE",
    "NONNEGATIVE_INT",
    "N_JOBS",
    "POSITIVE",
    "POSITIVE_INT",
    "RANDOM_STATE",
    "HasMethods",
    "Integral",
    "Interval",
    "Options",
    "ParameterError",
    "Real",
    "changed",
    "check_param",
    "refuse_ignored",
    "refuse_overridden",
    "validate_params",
]


class ParameterError(NlpkitError):
    """An estimator's parameter outside its contract; the message names both."""


def _is_int(v) -> bool:
    return isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (Real, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1


class Interval:
    """Ints (``Integral``) or real numbers (``Real``, ints included) between ``left`` and
    ``right`` (None: unbounded on that side); ``closed`` says which bounds belong to it:
    'both', 'left', 'right' or 'neither'."""

    def __init__(self, kind, left, right, *, closed="both"):
        if kind not in (Integral, Real):
            raise TypeError("Interval: kind must be Integral or Real")
        if closed not in ("both", "left", "right", "neither"):
            raise TypeError(f"Interval: closed={closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def __contains__(self, v) -> bool:
        if not (_is_int(v) if self.kind is Integral else _is_real(v)):
            return False
        if isinstance(v, (float, np.floating)) and math.isnan(v):
            return False
        if self.kind is Integral and not _INT64_MIN <= v <= _INT64_MAX:
            return False  # every int parameter ends up in an int64 somewhere (an array, a kernel)
        if self.kind is Real and _is_int(v) and abs(v) > 2 ** 1023:
            return False  # not a float either
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        above = self.left is None or v > self.left or (lo_in and v == self.left)
        below = self.right is None or v < self.right or (hi_in and v == self.right)
        return above and below

    def __str__(self):
        what = "an int" if self.kind is Integral else "a number"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.left is None and self.right is None:
            return what
        if self.right is None:
            return f"{what} {'>=' if lo_in else '>'} {self.left}"
        if self.left is None:
            return f"{what} {'<=' if hi_in else '<'} {self.right}"
        return f"{what} in {'[' if lo_in else '('}{self.left}, {self.right}{']' if hi_in else ')'}"


class Options:
    """One of the given values (compared with ``==``, of the same type: ``True`` is not
    ``1``)."""

    def __init__(self, *values):
        self.values = values

    def __contains__(self, v) -> bool:
        return any(type(v) is type(o) and v == o for o in self.values)

    def __str__(self):
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(map(repr, self.values))


class HasMethods:
    """An object with all the given methods (duck typing: a fitted tokenizer, a client)."""

    def __init__(self, *methods, name=None):
        self.methods, self.name = methods, name

    def __contains__(self, v) -> bool:
        return all(callable(getattr(v, m, None)) for m in self.methods)

    def __str__(self):
        return self.name or "an object with " + ", ".join(f".{m}()" for m in self.methods)



# the constraints many parameters share
POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]
NONNEGATIVE_INT = [Interval(Integral, 0, None, closed="left")]
POSITIVE = [Interval(Real, 0, None, closed="neither")]
NONNEGATIVE = [Interval(Real, 0, None, closed="left")]
FRACTION = [Interval(Real, 0, 1, closed="left")]  # dropout, a held-out share
BOOLEAN = ["boolean"]
# scikit-learn's n_jobs: None, k threads, or -k for all but k - 1
N_JOBS = [None, Interval(Integral, 1, None, closed="left"),
          Interval(Integral, None, -1, closed="right")]
DEVICE = [None, Options("cpu", "cuda", "auto")]
RANDOM_STATE = ["random_state"]


def _random_state(v) -> bool:
    return v is None or _is_int(v) or isinstance(v, (np.random.RandomState, np.random.Generator))


# the named constraints: (test, how it reads in a message)
_NAMED = {
    "boolean": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "path": (lambda v: isinstance(v, (str, os.PathLike)), "a path"),
    "random_state": (_random_state, "an int seed, a RandomState or None"),
    "callable": (callable, "a callable"),
    "array-like": (lambda v: isinstance(v, (list, tuple, np.ndarray)), "a list or an array"),
}


def _holds(constraint, v) -> bool:
    if constraint is None:
        return v is None
    if isinstance(constraint, str):
        return _NAMED[constraint][0](v)
    if isinstance(constraint, type):
        return isinstance(v, constraint)
    return v in constraint


def _describe(constraint) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, str):
        return _NAMED[constraint][1]
    if isinstance(constraint, type):
        return f"a {constraint.__name__}"
    return str(constraint)


def _check_declared(name, constraints):
    for c in constraints:
        if not (c is None or isinstance(c, (type, Interval, Options, HasMethods))
                or c in _NAMED):
            raise TypeError(f"{name}: unknown constraint {c!r}")


def check_param(owner, name, value, constraints):
    """Raise :class:`ParameterError` unless ``value`` meets one of ``constraints``.
    ``owner``: who takes it (an estimator's class name, a function's name)."""
    problem = violation(name, value, constraints)
    if problem is not None:
        raise ParameterError(f"{owner}: {name} {problem}")
    return value


def violation(name, value, constraints):
    """None when ``value`` meets one of ``constraints``, else what is wrong (``"must be an
    int >= 1, got 0"``)."""
    _check_declared(name, constraints)
    if any(_holds(c, value) for c in constraints):
        return None
    allowed = [_describe(c) for c in constraints]
    allowed = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
    beyond = _is_int(value) and not _INT64_MIN <= value <= _INT64_MAX
    return f"must be {allowed}, got {_show(value)}" + (" (beyond 64-bit ints)" if beyond else "")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_params(est):
    """Check every parameter of ``est`` against its class's ``_parameter_constraints``, then
    the class's own cross-parameter rules (``est._check_params()``, when it has one).

    Called first thing by ``fit`` and ``partial_fit``: parameters are set freely (``set_params``,
    ``clone``, a grid search) and judged when they are about to be used."""
    cls = type(est)
    constraints = getattr(cls, "_parameter_constraints", {})
    for name in _init_params(cls):
        if name not in constraints:
            # a programming error: every parameter is declared (a test checks it)
            raise TypeError(f"{cls.__name__}: no constraint is declared for {name!r}")
        check_param(cls.__name__, name, getattr(est, name), constraints[name])
    check = getattr(est, "_check_params", None)
    if check is not None:
        check()


def _init_params(cls):
    return [n for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def undeclared(cls):
    """The ``__init__`` parameters of ``cls`` its ``_parameter_constraints`` leaves out."""
    declared = getattr(cls, "_parameter_constraints", {})
    return [n for n in _init_params(cls) if n not in declared]


# ------------------------------------------------------------ parameters with no effect
def changed(est, names):
    """The parameters among ``names`` that ``est`` holds at a value other than its
    class's default, in order."""
    defaults = {k: p.default for k, p in inspect.signature(type(est)).parameters.items()}
    return [n for n in names if not _same(getattr(est, n), defaults[n])]


def refuse_ignored(est, names, when):
    """Raise :class:`ParameterError` naming those of ``names`` set away from their
    defaults: they have no effect ``when`` (a phrase: ``"with encoder='lstm'"``)."""
    bad = changed(est, names)
    if bad:
        listed = ", ".join(f"{n}={getattr(est, n)!r}" for n in bad)
        raise ParameterError(f"{type(est).__name__}: {listed} "
                             f"{'has' if len(bad) == 1 else 'have'} no effect {when}; leave "
                             f"{'it' if len(bad) == 1 else 'them'} at the default")


def refuse_overridden(est, given, where):
    """Raise :class:`ParameterError` for a parameter the user set (away from its default)
    to a value other than the one ``where`` imposes: ``given`` maps names to the imposed
    values (``{"embedding_dim": 300}`` from pretrained vectors).  A parameter at its default
    takes the imposed value silently; one set to that same value is fine."""
    for name in changed(est, list(given)):
        value, imposed = getattr(est, name), given[name]
        if not _same(value, imposed) and not (_is_int(value) and _is_int(imposed)
                                              and int(value) == int(imposed)):
            raise ParameterError(f"{type(est).__name__}: {name}={value!r} conflicts with "
                                 f"{where}, whose {name} is {imposed!r}; leave it at the "
                                 f"default or set {imposed!r}")


def _same(value, default) -> bool:
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):  # an array or an object without a plain ==
        return False
