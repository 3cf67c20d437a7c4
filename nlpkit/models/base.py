"""What the neural estimators share: seeds, threads, devices, pretrained vectors."""

from __future__ import annotations

import contextlib
import os

import numpy as np
from sklearn.utils import check_random_state

from .. import backend
from ..errors import NlpkitError


def seed_from(random_state) -> int:
    """An int seed from sklearn's ``random_state`` (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def compute(n_jobs, device, where):
    """Threads for the kernels; the neural models run on the CPU only for now."""
    if backend.resolve_device(device) == "cuda":
        raise NlpkitError(f"{where}: the neural models run on the CPU only; use device='cpu'")
    with backend.threads(n_jobs):
        yield


def check_positive_int(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise NlpkitError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def check_fraction(value, name):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise NlpkitError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)


def resolve_pretrained(pretrained):
    """``(lookup(word) -> vector or None, dim)`` from KeyedVectors, a dict or a vectors file."""
    if pretrained is None:
        return None, None
    if isinstance(pretrained, (str, os.PathLike)):
        from ..embed.formats import load

        pretrained = load(pretrained)
    if hasattr(pretrained, "key_to_index") and hasattr(pretrained, "vectors"):
        index, vectors = pretrained.key_to_index, np.asarray(pretrained.vectors)

        def lookup(word):
            i = index.get(word)
            return None if i is None else vectors[i]

        return lookup, int(vectors.shape[1])
    if hasattr(pretrained, "get") and hasattr(pretrained, "__len__") and len(pretrained):
        first = np.asarray(next(iter(pretrained.values())))
        return (lambda w: pretrained.get(w)), int(first.shape[-1])
    raise NlpkitError(
        "pretrained must be KeyedVectors (with .key_to_index and .vectors), "
        f"a non-empty dict word -> vector, or a vectors file path; got {type(pretrained).__name__}"
    )


def init_embedding(embedding, vocab, lookup):
    """Copy pretrained vectors into the rows of the words they know; return how many."""
    found = 0
    for i, word in enumerate(vocab.itos):
        if i == 0:  # <pad> stays zero
            continue
        v = lookup(word)
        if v is not None:
            embedding.weight[i] = v
            found += 1
    return found
