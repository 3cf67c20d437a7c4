"""Model files of the estimators in :mod:`nlpkit.models`: safe to load from anyone.

A model file (:mod:`nlpkit.modelfile`, model format 2) is a zip archive of ``model.json``
and ``weights.safetensors``.  ``model.json`` holds the estimator's class name, its
parameters as given to ``__init__`` (``params``) and its fitted attributes (``fitted``:
vocabularies, label sets, training history, ...) as tagged JSON values; the network's
weights are in ``weights.safetensors`` under PyTorch's state-dict names.  Loading checks
every field's type, rebuilds the network from the parameters, and loads the weights into it:
nothing is unpickled, so a shared model file cannot run code.

Files written by nlpkit before format 2 were pickles; they are refused with a message saying
so (retrain the model).  A parameter that is not a JSON value, a tokenizer or a path (e.g.
``pretrained=`` given as KeyedVectors, ``random_state=`` a RandomState) is saved as
``{"$unsaved": type name}`` and comes back as None: it only matters to a new ``fit``.
Pickling an estimator in memory (``copy.deepcopy``, ``clone``, joblib) still works as before.

Each estimator contributes its state: :class:`~nlpkit.models.base.NeuralEstimator` writes
``get_params()``, the fitted attributes its class lists in ``_fitted`` (with the types they
may have when read back) and ``net_.state_dict()``; reading checks the sizes the network would
be built with against the stored weights (``_net_sizes``) before ``_make_net`` builds it.

Tagged values (``encode`` / ``decode``): JSON scalars and lists as they are;
``{"$map": {...}}`` a dict with string keys, ``{"$pairs": [[k, v], ...]}`` any other dict,
``{"$float": "nan"|"inf"|"-inf"}``, ``{"$array": {"dtype", "values"}}`` a 1-d array of
labels, ``{"$vocab": {"itos", "counts", "specials"}}`` a Vocabulary,
``{"$tokenizer": tokenizer.json}`` a BPE/WordPiece, ``{"$split": {"tokenizer", "lowercase"}}``
a subword splitter, ``{"$words": {"lower"}}`` the whitespace tokenizer, ``{"$same": name}``
the same object as fitted attribute ``name``, ``{"$unsaved": type}`` see above.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from .. import modelfile
from ..errors import InputFileError, NlpkitError

FORMAT, VERSION = modelfile.FORMAT, modelfile.VERSION
is_model_file = modelfile.is_model_file


def _classes():
    from . import _NAMES

    return _NAMES


def save_model(model, path):
    """Write the fitted estimator ``model`` to ``path`` (a zip; temp file + rename)."""
    # by name and by the state contract, not isinstance: base imports this module, and the
    # package keeps no import cycle (tests/test_imports.py)
    name = type(model).__name__
    if name not in _classes() or not callable(getattr(model, "_to_state", None)):
        raise NlpkitError(f"cannot save a {name} as an nlpkit model file (only the estimators "
                          f"of nlpkit.models: {', '.join(_classes())})")
    config, arrays = model._to_state()
    modelfile.write_model_file(path, name, config, arrays)


def load_model(path, kind=None):
    """The estimator saved at ``path``; ``kind`` (a class name, or a tuple of them) is
    checked if given.  InputFileError for anything else than a well-formed model file."""
    found, fields, arrays = modelfile.read_model_file(path, kind)
    names = _classes()
    if found not in names:
        raise InputFileError(path, f"holds a {found[:80]}, which this nlpkit cannot load (it "
                             f"loads {', '.join(names)})")
    cls = getattr(importlib.import_module(names[found]), found)
    try:
        return cls._from_state(fields, arrays)
    except InputFileError:
        raise
    except NlpkitError as exc:  # the network refused the sizes or the weights
        raise InputFileError(path, f"inconsistent model file: {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            MemoryError, RecursionError, ArithmeticError) as exc:
        # a backstop: the checks above should have caught it with a better message
        raise InputFileError(path, f"inconsistent model file ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None


# ------------------------------------------------------------------ values <-> JSON
_LABEL_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float32", "float64", "str", "object")


def encode(value, what="value", unsaved_ok=False):
    """``value`` as tagged JSON (see the module docstring)."""
    from ..text import Tokenizer, Vocabulary
    from ..text.subword import SubwordTokenizer
    from .data import SubwordSplit

    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.ndarray):
        return encode(value.item(), what, unsaved_ok)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v, what, unsaved_ok) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"$map": {k: encode(v, what, unsaved_ok) for k, v in value.items()}}
        return {"$pairs": [[encode(k, what), encode(v, what, unsaved_ok)]
                           for k, v in value.items()]}
    if isinstance(value, np.ndarray) and value.ndim == 1 and (
            value.dtype.kind in "biuf" or value.dtype.kind in "UO"):
        dtype = "str" if value.dtype.kind == "U" else value.dtype.name
        values = value.tolist()
        if dtype == "object" and not all(isinstance(v, (str, bool, int, float)) for v in values):
            return _unsaved(value, what, unsaved_ok)
        return {"$array": {"dtype": dtype, "values": [encode(v, what) for v in values]}}
    if isinstance(value, Vocabulary):
        return {"$vocab": {"itos": list(value.itos), "counts": value.counts.tolist(),
                           "specials": list(value.specials)}}
    if isinstance(value, SubwordTokenizer) and hasattr(value, "vocab_"):
        return {"$tokenizer": value.to_json()}
    if isinstance(value, SubwordSplit):
        return {"$split": {"tokenizer": value.tokenizer.to_json(), "lowercase": value.lowercase}}
    if isinstance(value, Tokenizer) and value.pattern is None:
        return {"$words": {"lower": value.lower}}
    return _unsaved(value, what, unsaved_ok)


def _unsaved(value, what, unsaved_ok):
    if unsaved_ok:
        return {"$unsaved": type(value).__name__}
    raise NlpkitError(f"cannot save {what}: a {type(value).__name__} has no model-file form")


def decode(raw, fields, name, seen=None):
    """The value ``encode`` gave ``raw`` (field ``name`` of ``fields``), every part checked."""
    def fail(problem):
        fields.fail(name, problem)

    if raw is None or isinstance(raw, (bool, int, float, str)):
        return raw
    if isinstance(raw, list):
        return [decode(v, fields, name, seen) for v in raw]
    if not isinstance(raw, dict) or len(raw) != 1 or not next(iter(raw)).startswith("$"):
        fail("must be a tagged value ({\"$tag\": ...})")
    (tag, body), = raw.items()
    sub = modelfile.Fields({tag: body}, fields.path, f"{fields.where}{name}.")
    if tag == "$map":
        m = sub.obj(tag)
        return {k: decode(m.data[k], m, k, seen) for k in m.names()}
    if tag == "$pairs":
        pairs = sub.list(tag, lambda p: isinstance(p, list) and len(p) == 2, "a list of pairs")
        out = {}
        for k, v in pairs:
            k = decode(k, fields, name, seen)
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                fail("has a key that is not a JSON scalar")
            out[k] = decode(v, fields, name, seen)
        return out
    if tag == "$float":
        s = sub.str(tag, choices=("nan", "inf", "-inf"))
        return float(s)
    if tag == "$array":
        return _decode_array(sub.obj(tag))
    if tag == "$vocab":
        return _decode_vocab(sub.obj(tag))
    if tag == "$tokenizer":
        return _decode_tokenizer(sub.obj(tag))
    if tag == "$split":
        from .data import SubwordSplit

        f = sub.obj(tag)
        return SubwordSplit(_decode_tokenizer(f.obj("tokenizer")), f.bool("lowercase"))
    if tag == "$words":
        from ..text import Tokenizer

        return Tokenizer(lower=sub.obj(tag).bool("lower"))
    if tag == "$same":
        other = sub.str(tag)
        if seen is None or other not in seen:
            fail(f"refers to {other[:40]!r}, which is not an earlier fitted attribute")
        return seen[other]
    if tag == "$unsaved":
        sub.str(tag)
        return None
    fail(f"has an unknown tag {tag[:40]!r}")


def _decode_array(f):
    dtype = f.str("dtype", choices=_LABEL_DTYPES)
    kinds = {"bool": (bool,), "str": (str,), "object": (str, bool, int, float)}
    ok = kinds.get(dtype, (float, int) if dtype.startswith("float") else (int,))
    values = f.list("values", lambda v: isinstance(v, ok) and (
        dtype == "bool" or dtype.startswith("float") or not isinstance(v, bool) or
        dtype == "object"), f"a list of {dtype} values")
    if dtype == "str":
        return np.array(values, dtype=str) if values else np.array([], dtype="<U1")
    if dtype == "object":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    try:
        return np.array(values, dtype=dtype)
    except OverflowError:
        f.fail("values", f"do not fit {dtype}")


def _decode_vocab(f):
    from ..text import Vocabulary

    is_str = lambda v: isinstance(v, str)  # noqa: E731
    itos = f.list("itos", is_str, "a list of strings")
    counts = f.list("counts", lambda c: modelfile._is_int(c) and 0 <= c < 2**63,
                    "a list of integers >= 0")
    specials = f.list("specials", is_str, "a list of strings")
    if len(counts) != len(itos):
        f.fail("counts", f"has {len(counts)} entries for {len(itos)} words")
    try:
        return Vocabulary(itos, counts, tuple(specials))
    except NlpkitError as exc:
        f.fail("itos", f"is not a vocabulary ({exc})")


def _decode_tokenizer(f):
    from ..text.subword import BPE, WordPiece, UnsupportedConfig
    from ..text.subword.formats import from_json

    try:
        return from_json(f.data, {"BPE": BPE, "WordPiece": WordPiece})
    except (InputFileError, UnsupportedConfig, KeyError, TypeError, AttributeError,
            ValueError) as exc:
        problem = exc.problem if isinstance(exc, InputFileError) else f"{type(exc).__name__}: {exc}"
        f.fail("", f"is not a tokenizer.json ({str(problem)[:200]})")


# ------------------------------------------------------------------ parameters
def encode_params(est):
    """``get_params()`` as tagged JSON; a tokenizer given as a path is saved as the
    tokenizer itself, so the model file stands alone."""
    params = est.get_params(deep=False)
    if params.get("tokenizer") is not None:
        from .data import resolve_tokenizer

        params["tokenizer"] = resolve_tokenizer(params["tokenizer"]).tokenizer
    return {k: encode(v, f"parameter {k}", unsaved_ok=True) for k, v in params.items()}


def decode_params(cls, fields):
    """The parameters of ``cls`` saved in ``fields``, each checked against the class's
    parameter contract (missing ones take their default, as in an older file)."""
    from ..params import violation

    defaults = cls().get_params(deep=False)
    unknown = [n for n in fields.names() if n not in defaults]
    if unknown:
        fields.fail(unknown[0][:60], f"is not a parameter of {cls.__name__}")
    params = {}
    for name in defaults:
        if name not in fields:
            continue
        value = decode(fields.data[name], fields, name)
        problem = violation(name, value, cls._parameter_constraints[name])
        if problem is not None:
            fields.fail(name, problem)
        params[name] = value
    return params


# ------------------------------------------------------------------ fitted attributes
def encode_fitted(est, names):
    """The fitted attributes ``names`` that ``est`` has, as tagged JSON (an object met
    twice, e.g. a shared vocabulary, the second time as ``{"$same": first}``)."""
    out, first = {}, {}
    for name in names:
        if not hasattr(est, name):
            continue
        value = getattr(est, name)
        if value is not None and not isinstance(value, (bool, int, float, str)) and \
                id(value) in first:
            out[name] = {"$same": first[id(value)]}
            continue
        first.setdefault(id(value), name)
        out[name] = encode(value, f"fitted attribute {name}")
    return out


def decode_fitted(est, fields, specs):
    """Set the fitted attributes of ``est`` from ``fields``; ``specs`` maps each name to
    ``(types, required)``, and a value of another type is an error naming the field."""
    seen = {}
    for name, (types, required) in specs.items():
        if name not in fields:
            if required:
                fields.fail(name, "is missing")
            continue
        value = decode(fields.data[name], fields, name, seen)
        if not isinstance(value, types):
            fields.fail(name, f"must be {' or '.join(t.__name__ for t in types)}; got "
                        f"{type(value).__name__}")
        seen[name] = value
        setattr(est, name, value)
    unknown = [n for n in fields.names() if n not in specs]
    if unknown:
        fields.fail(unknown[0][:60], f"is not a fitted attribute of {type(est).__name__}")


def check_sizes(fields, arrays, values, counts=(), square=None):
    """Refuse sizes that no stored weight has before a network is built from them: each
    of ``values`` (name -> int or None) must be a dimension of some stored array, each of
    ``counts`` (name -> int) at most the number of arrays, the two largest sizes' product (and
    the square of ``square``, a name in ``values``) within the stored elements (so a hostile
    file cannot make the loader allocate much more than the file holds)."""
    dims = {d for a in arrays.values() for d in a.shape}
    for name, v in values.items():
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < 1 or v not in dims:
            fields.fail(name, f"= {v!r} is not a size any stored weight has")
    # two sizes of a network meet in a weight matrix (input x hidden, hidden x hidden, ...):
    # a pair far beyond the stored elements is a file that lies about its sizes
    total = sum(a.size for a in arrays.values())
    given = sorted(((v, n) for n, v in values.items() if v is not None), reverse=True)
    if len(given) >= 2 and given[0][0] * given[1][0] > 16 * total:
        fields.fail(given[0][1], f"= {given[0][0]} with {given[1][1]} = {given[1][0]} is more "
                    f"than the {total} stored weights can hold")
    if square is not None and values[square] is not None and values[square] ** 2 > 16 * total:
        fields.fail(square, f"= {values[square]} is more than the {total} stored weights can "
                    "hold")
    for name, v in dict(counts).items():
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= max(1, len(arrays)):
            fields.fail(name, f"= {v!r} is out of range for {len(arrays)} stored weights")
