"""Counts of (gold, predicted) label pairs, added a block at a time: the sufficient
statistics of accuracy, per-label precision/recall/F1 and the confusion matrix, so a test
set is scored as it streams by.  The figures are scikit-learn's (``accuracy_score``,
``precision_recall_fscore_support`` with ``zero_division=0``, ``confusion_matrix``) to
every bit: the same integer counts divided the same way."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import NlpkitError


class ConfusionCounts:
    """``update(gold, predicted)`` with each block of labels; then ``matrix(labels)``,
    ``scores(labels)`` and ``accuracy()`` over everything added."""

    def __init__(self):
        self.pairs = Counter()
        self.n = 0

    def update(self, gold, predicted):
        gold, predicted = list(gold), list(predicted)
        if len(gold) != len(predicted):
            raise NlpkitError(f"{len(gold)} gold labels but {len(predicted)} predicted")
        self.pairs.update(zip(gold, predicted))
        self.n += len(gold)
        return self

    def labels(self):
        """Every label seen, gold or predicted, sorted."""
        return sorted({g for g, _ in self.pairs} | {p for _, p in self.pairs})

    def gold_labels(self):
        return {g for g, _ in self.pairs}

    def matrix(self, labels):
        """Counts (rows: gold, columns: predicted) over ``labels``; pairs with a label outside
        them are left out, as scikit-learn's ``confusion_matrix(labels=...)`` does."""
        index = {lab: i for i, lab in enumerate(labels)}
        cm = np.zeros((len(labels), len(labels)), np.int64)
        for (g, p), c in self.pairs.items():
            if g in index and p in index:
                cm[index[g], index[p]] += c
        return cm

    def scores(self, labels):
        """``(precision, recall, f1, support)`` arrays over ``labels`` (0 where undefined)."""
        index = {lab: i for i, lab in enumerate(labels)}
        tp, pred, true = (np.zeros(len(labels), np.int64) for _ in range(3))
        for (g, p), c in self.pairs.items():
            if g in index:
                true[index[g]] += c
                if g == p:
                    tp[index[g]] += c
            if p in index:
                pred[index[p]] += c
        precision, recall = _divide(tp, pred), _divide(tp, true)
        f1 = _divide(2.0 * tp.astype(np.float64), 1.0 * true.astype(np.float64) + pred)
        return precision, recall, f1, true

    def per_label(self, labels=None):
        """``{label: {"precision", "recall", "f1", "support"}}`` over ``labels`` (default:
        every label seen, sorted)."""
        labels = self.labels() if labels is None else list(labels)
        p, r, f, s = self.scores(labels)
        return {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                      "support": int(s[i])} for i, lab in enumerate(labels)}

    def accuracy(self):
        """Share of the labels predicted right (0 for none)."""
        right = sum(c for (g, p), c in self.pairs.items() if g == p)
        return float(right / self.n) if self.n else 0.0


def _divide(num, den):
    """``num / den`` in float64, 0 where ``den`` is 0."""
    den = np.asarray(den, np.float64)
    out = np.asarray(num, np.float64) / np.where(den == 0, 1.0, den)
    out[den == 0] = 0.0
    return out
