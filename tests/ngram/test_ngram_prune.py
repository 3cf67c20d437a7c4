"""Relative-entropy pruning (Stolcke 1998, SRILM's ngram -prune) on SRILM's KJV Katz model."""
import numpy as np
import pytest

from nlpkit.errors import NlpkitError
from nlpkit.ngram.arpa_reader import read_arpa
from nlpkit.ngram.lookup import ModelIndex
from nlpkit.ngram.prune import prune_entropy


@pytest.fixture(scope="module")
def gt3(data_dir):
    return read_arpa(data_dir / "ngram" / "kjv" / "srilm.gt3.arpa.gz")


@pytest.fixture(scope="module")
def test_lines(data_dir):
    return (data_dir / "ngram" / "kjv" / "test.txt").read_text().splitlines()


def perplexity(model, lines):
    """SRILM's ppl (OOVs skipped, </s> counted) from ModelIndex queries, trigram histories."""
    idx, vid = ModelIndex(model), {w: i for i, w in enumerate(model.vocab)}
    first, rest = ([], []), ([], [])
    for line in lines:
        ids = [vid["<s>"]] + [vid.get(t, -1) for t in line.split()] + [vid["</s>"]]
        for i in range(1, len(ids)):
            if ids[i] >= 0:  # an OOV word is not scored (and, in a history, found nowhere)
                target = first if i == 1 else rest
                target[0].append(ids[max(0, i - 2):i])
                target[1].append(ids[i])
    total = sum(idx.logprob(np.array(h), np.array(w)).sum() for h, w in (first, rest))
    return 10 ** (-total / (len(first[1]) + len(rest[1])))


def test_full_model_perplexity_matches_srilm(gt3, test_lines):
    # ppl_srilm.txt: srilm.gt3 on test.txt -> ppl= 71.98377
    assert round(perplexity(gt3, test_lines), 4) == 71.9838


def test_pruning_shrinks_the_model_and_keeps_perplexity(gt3, test_lines):
    base = perplexity(gt3, test_lines)
    sizes, ppls = [], []
    for threshold in (1e-8, 1e-7, 1e-6):
        pruned = prune_entropy(gt3, threshold)
        sizes.append(sum(pruned.counts()))
        ppls.append(perplexity(pruned, test_lines))
        assert pruned.counts()[0] == gt3.counts()[0]  # unigrams are never pruned
        report = pruned.meta["pruning"]["orders"]
        assert set(report) == {2, 3} and report[3]["pruned"] > 0
    assert sum(gt3.counts()) > sizes[0] > sizes[1] > sizes[2]
    assert ppls[0] / base - 1 < 0.02 and ppls[1] / base - 1 < 0.05
    assert base <= ppls[0] <= ppls[1] <= ppls[2]


def test_pruned_model_is_a_proper_back_off_model(gt3):
    pruned = prune_entropy(gt3, 1e-7)
    idx = ModelIndex(pruned)
    bos = pruned.word_id("<s>")
    words = np.array([w for w in range(len(pruned.vocab)) if w != bos])
    rng = np.random.default_rng(0)
    for k in (1, 2):  # contexts of one and two words
        for r in rng.choice(pruned.ngrams[k].shape[0], 10, replace=False):
            h = pruned.ngrams[k][r, 1:]
            if pruned.vocab[h[-1]] == "</s>":
                continue
            total = (10.0 ** idx.logprob(np.repeat(h[None, :], len(words), 0), words)).sum()
            assert abs(total - 1) < 1e-6


def test_predicted_change_tracks_the_measured_one(gt3, test_lines):
    """The criterion predicts the change of the model's own entropy; on held-out text the
    measured change has the same order of magnitude and grows with it."""
    base = np.log10(perplexity(gt3, test_lines))
    predicted, measured = [], []
    for threshold in (1e-7, 1e-6):
        pruned = prune_entropy(gt3, threshold)
        predicted.append(sum(o["predicted_delta_log10"] for o in pruned.meta["pruning"]["orders"].values()))
        measured.append(np.log10(perplexity(pruned, test_lines)) - base)
    assert predicted[0] < predicted[1] and measured[0] < measured[1]
    assert 0.1 < measured[1] / predicted[1] < 10


def test_bad_threshold(gt3):
    with pytest.raises(NlpkitError, match="threshold must be a number >= 0"):
        prune_entropy(gt3, -1)
