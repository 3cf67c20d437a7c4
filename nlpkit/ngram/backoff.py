"""The back-off model as plain arrays: what estimators produce, ARPA files hold and scorers read.

A :class:`BackoffModel` is the meeting point of the n-gram package:

    counts ─► katz.estimate ─► BackoffModel ─► arpa.write_arpa / binary.save
    arpa.read_arpa / binary.load ─► BackoffModel ─► model.NGramScorer (hash tables + kernels)

Words are int ids into ``vocab`` (a list of strings).  For order ``n``
(``n = 1..order``, stored at index ``n - 1``):

* ``ngrams[n-1]``  int32 array of shape ``(count_n, n)``: the word ids, oldest first;
* ``logprob[n-1]`` float32 array: log10 probabilities (``-inf`` is printed ``-99``);
* ``backoff[n-1]`` float32 array: log10 back-off weights (0 where there is none);
* ``has_backoff[n-1]`` bool array: whether the line carries a back-off field
  (SRILM prints one exactly where a context node exists; it is always False
  for the highest order).

Rows may be in any order; writers sort as their format requires.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BackoffModel:
    vocab: list[str]
    ngrams: list[np.ndarray]
    logprob: list[np.ndarray]
    backoff: list[np.ndarray]
    has_backoff: list[np.ndarray]
    #: free-form provenance, e.g. {"smoothing": "katz", "source": "train.txt"}
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.ngrams)
        if not (len(self.logprob) == len(self.backoff) == len(self.has_backoff) == n):
            raise ValueError("BackoffModel: one array of each kind per order is needed")
        for k in range(n):
            self.ngrams[k] = np.ascontiguousarray(self.ngrams[k], dtype=np.int32).reshape(-1, k + 1)
            self.logprob[k] = np.ascontiguousarray(self.logprob[k], dtype=np.float32)
            self.backoff[k] = np.ascontiguousarray(self.backoff[k], dtype=np.float32)
            self.has_backoff[k] = np.ascontiguousarray(self.has_backoff[k], dtype=bool)
            rows = self.ngrams[k].shape[0]
            if not (self.logprob[k].shape == self.backoff[k].shape
                    == self.has_backoff[k].shape == (rows,)):
                raise ValueError(f"BackoffModel: order {k + 1} arrays disagree in length")

    @property
    def order(self) -> int:
        return len(self.ngrams)

    def counts(self) -> list[int]:
        """Number of n-grams of each order (the ARPA header's ``ngram n=`` values)."""
        return [a.shape[0] for a in self.ngrams]

    def word_id(self, word: str) -> int:
        try:
            return self._index[word]
        except AttributeError:
            self._index = {w: i for i, w in enumerate(self.vocab)}
            return self._index.get(word, -1)
        except KeyError:
            return -1
