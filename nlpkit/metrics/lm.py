"""Language-model figures from per-token log-probabilities."""
from __future__ import annotations

import math

import numpy as np

from ..errors import NlpkitError
from ..params import POSITIVE, check_param


def _total(log_probs, base):
    lp = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in log_probs]) \
        if isinstance(log_probs, (list, tuple)) and log_probs and np.ndim(log_probs[0]) else \
        np.ravel(np.asarray(log_probs, np.float64))
    lp = lp[~np.isnan(lp)]  # NaN: a token left out (an OOV, as SRILM leaves it)
    if not lp.size:
        raise NlpkitError("no scored tokens (every log-probability is NaN or none was given)")
    if base <= 0 or base == 1:
        raise NlpkitError(f"base must be a positive number other than 1; got {base}")
    return float(lp.sum()) * math.log(base), lp.size  # natural-log total


def perplexity(log_probs, base=math.e):
    """``exp(-mean log p)`` over the tokens' log-probabilities (in ``base``: 10 for SRILM's
    and NGramLM's log10; a list of per-sentence arrays is flattened; NaN entries, left-out
    OOVs, are skipped)."""
    total, n = _total(log_probs, base)
    return math.exp(-total / n)


def bits_per_token(log_probs, base=math.e):
    """``-mean log2 p``: the cross-entropy in bits per scored token."""
    total, n = _total(log_probs, base)
    return -total / n / math.log(2)


def bits_per_character(log_probs, n_characters, base=math.e):
    """``-sum log2 p / n_characters``: bits per character of the text (a word-level model's
    total over the characters its words spell, or a character-level model's over its own
    tokens)."""
    check_param("bits_per_character", "n_characters", n_characters, POSITIVE)
    total, _ = _total(log_probs, base)
    return -total / n_characters / math.log(2)
