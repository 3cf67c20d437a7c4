"""The streaming accumulators of nlpkit.metrics give the list functions' scores to the last
bit, whatever the blocks: BLEU, chrF, WER/CER from summed statistics, and accuracy,
precision/recall/F1 and the confusion matrix from counts (scikit-learn's figures)."""
from itertools import pairwise

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from nlpkit import metrics


def _blocks(n, rng):
    """Random cut points splitting ``n`` items into blocks (some empty)."""
    cuts = np.sort(rng.integers(0, n + 1, size=rng.integers(1, 6)))
    return [0, *cuts.tolist(), n]


def _sentences(rng, n, vocab):
    words = [f"w{i}" for i in range(vocab)] + [",", ".", "'s"]
    return [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_bleu_chrf_error_rates_by_blocks_equal_the_list_functions(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    hyps, refs, refs2 = (_sentences(rng, n, 8) for _ in range(3))
    refs = [r or "w1" for r in refs]  # error rates need reference words
    cuts = _blocks(n, rng)
    kinds = {"bleu": (metrics.BLEUStats, metrics.corpus_bleu, [refs, refs2]),
             "bleu1": (metrics.BLEUStats, metrics.corpus_bleu, [refs]),
             "chrf": (metrics.CHRFStats, metrics.corpus_chrf, [refs, refs2])}
    for stats, whole, streams in kinds.values():
        acc = stats()
        for a, b in pairwise(cuts):
            acc.update(hyps[a:b], [s[a:b] for s in streams])
        assert acc.score().score == whole(hyps, streams).score
        assert str(acc.score()) == str(whole(hyps, streams))
    for unit, whole in (("word", metrics.wer), ("char", metrics.cer)):
        acc = metrics.ErrorRate(unit)
        for a, b in pairwise(cuts):
            acc.update(hyps[a:b], refs[a:b])
        assert acc.rate() == whole(hyps, refs)


@pytest.mark.parametrize("seed", range(5))
def test_confusion_counts_by_blocks_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    names = ["a", "b", "c", "d", "e"]
    gold = rng.choice(names[:4], size=n).tolist()
    pred = rng.choice(names[int(rng.integers(0, 2)):], size=n).tolist()
    counts = metrics.ConfusionCounts()
    cuts = _blocks(n, rng)
    for a, b in pairwise(cuts):
        counts.update(gold[a:b], pred[a:b])
    labels = counts.labels()
    assert labels == sorted(set(gold) | set(pred))
    for subset in (labels, names, labels[1:]):
        expected = precision_recall_fscore_support(gold, pred, labels=subset, zero_division=0)
        for got, want in zip(counts.scores(subset), expected):
            assert got.tolist() == want.tolist()  # every bit
        assert counts.matrix(subset).tolist() == confusion_matrix(gold, pred,
                                                                  labels=subset).tolist()
        # macro-F1 as nlpkit.cli.report.classification_report takes it
        macro = f1_score(gold, pred, labels=subset, average="macro", zero_division=0)
        assert float(np.mean(counts.scores(subset)[2])) == macro
    assert counts.accuracy() == accuracy_score(gold, pred)
    assert counts.n == n
