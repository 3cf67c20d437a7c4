"""The bundled corpora: ``path(name)`` finds one, ``load(name)`` reads it.

They install with the package as ``nlpkit.data`` (the repository's top-level
``corpora/`` folder); run from a source checkout, that folder is used directly.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import NlpkitError

#: name -> (folder, file per split)
CORPORA = {
    "kjv": ("kjv", {"train": "train.txt.gz", "test": "test.txt"}),
    "kjv-genre": ("kjv-genre", {"train": "train.tsv.gz", "test": "test.tsv"}),
    "kjv-names": ("kjv-names", {"train": "train.conll.gz", "test": "test.conll"}),
}


def _root() -> Path:
    try:
        root = Path(str(resources.files("nlpkit.data")))
        if (root / "kjv").is_dir():
            return root
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "corpora"


def names() -> list[str]:
    return sorted(CORPORA)


def path(name: str, split: str = "train") -> str:
    """Path of a bundled corpus file, e.g. ``path('kjv', 'test')``."""
    if name not in CORPORA:
        raise NlpkitError(f"unknown corpus {name!r}; bundled corpora: {', '.join(names())}")
    folder, files = CORPORA[name]
    if split not in files:
        raise NlpkitError(f"corpus {name!r} has no split {split!r}; it has {', '.join(files)}")
    p = _root() / folder / files[split]
    if not p.is_file():
        raise NlpkitError(f"bundled corpus file {p} is missing; reinstall nlpkit")
    return os.fspath(p)


def load(name: str, split: str = "train"):
    """Read a bundled corpus.

    ``kjv`` gives a list of sentences (str); ``kjv-genre`` gives ``(texts, labels)``;
    ``kjv-names`` gives ``(token_lists, tag_lists)``.
    """
    from .text.readers import iter_lines, read_conll, read_labelled
    if name == "kjv":
        return list(iter_lines(path(name, split)))
    if name == "kjv-genre":
        return read_labelled(path(name, split))
    return read_conll(path(name, split))
