"""Model files: a pickled estimator behind a small header, written atomically.

Only load model files you trust: like every pickle, a model file can run code when read.
"""

from __future__ import annotations

import os
import pickle

from ..errors import InputFileError
from ..text import atomic_write

FORMAT = "nlpkit-model"
VERSION = 1


def save_model(model, path):
    """Write ``model`` to ``path`` (temp file + rename; ``.gz`` compresses)."""
    payload = {"format": FORMAT, "version": VERSION, "kind": type(model).__name__, "model": model}
    with atomic_write(path, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(path, kind=None):
    """Read a model written by :func:`save_model`; ``kind`` (a class name) is checked if given."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileError(path, "no such file")
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a model file")
    from ..text import open_binary

    try:
        with open_binary(path) as (fh, _raw):
            payload = pickle.load(fh)
    except (
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        IndexError,
        TypeError,
        OSError,
    ) as exc:
        raise InputFileError(path, f"not an nlpkit model file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputFileError(path, "not an nlpkit model file")
    if payload.get("version", 0) > VERSION:
        raise InputFileError(path, f"written by a newer nlpkit (model format {payload['version']})")
    if kind is not None and payload.get("kind") != kind:
        raise InputFileError(path, f"holds a {payload.get('kind')}, not a {kind}")
    return payload["model"]
