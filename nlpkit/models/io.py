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


def is_model_file(path) -> bool:
    """True when ``path`` is a file :func:`save_model` wrote (by its first bytes: a pickle,
    plain or gzipped), False for anything else (word vectors, text)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    from ..text import open_binary

    try:
        with open_binary(path) as (fh, _raw):
            head = fh.read(2)
    except (OSError, EOFError):
        return False
    return len(head) == 2 and head[0] == 0x80 and head[1] >= 2  # pickle protocol >= 2


def load_model(path, kind=None):
    """Read a model written by :func:`save_model`; ``kind`` (a class name, or a tuple of
    them) is checked if given."""
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
    kinds = (kind,) if isinstance(kind, str) else kind
    if kind is not None and payload.get("kind") not in kinds:
        raise InputFileError(path, f"holds a {payload.get('kind')}, not a {' or a '.join(kinds)}")
    return payload["model"]
