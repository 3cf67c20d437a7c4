"""The training loop every estimator shares: time limit, cosine schedule, NaN/inf losses,
and the vocabulary cut of NeuralLM that keeps scoring the n-gram model's tokens."""

import math

import numpy as np
import pytest

from nlpkit import corpora
from nlpkit.models import MaskedLM, NeuralLM, Seq2Seq, SequenceTagger, TextClassifier
from nlpkit.models.neural_lm import LM_SPECIALS
from nlpkit.ngram.lm import NGramLM

TEXTS = ["the goal was late", "my bank is open", "fresh bread today", "a goal again"] * 6
LABELS = ["sports", "money", "food", "sports"] * 6
TAGS = [["O", "N", "O", "O"], ["O", "N", "O", "O"], ["O", "N", "O"], ["O", "N", "O"]] * 6
TINY = dict(embedding_dim=8, hidden_size=8, batch_size=4, random_state=0)


def _fit(cls, **params):
    if cls is TextClassifier:
        return TextClassifier(**TINY, **params).fit(TEXTS, LABELS)
    if cls is SequenceTagger:
        return SequenceTagger(**TINY, **params).fit(TEXTS, TAGS)
    if cls is NeuralLM:
        return NeuralLM(**TINY, **params).fit(TEXTS)
    if cls is MaskedLM:
        return MaskedLM(**TINY, num_layers=1, **params).fit(TEXTS)
    return Seq2Seq(**TINY, **params).fit(TEXTS, [t[::-1] for t in TEXTS])


ESTIMATORS = [TextClassifier, SequenceTagger, NeuralLM, Seq2Seq, MaskedLM]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_nan_loss_stops_with_message(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: the training loss became .*NaN or inf"):
        _fit(cls, lr=1e30, clip=None, optimizer="sgd", max_epochs=5, early_stopping=False)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_max_time_cuts_the_epoch_short_and_keeps_the_best(cls):
    m = _fit(cls, max_time=1e-9, max_epochs=50)
    assert len(m.history_) == 1 and m.history_[0]["stopped"] == "max_time"
    assert m.n_epochs_ == 1 and "val_loss" in m.history_[0]  # validated before stopping


def test_cosine_schedule_decays_then_restores_lr():
    seen = []
    clf = TextClassifier(**TINY, max_epochs=3, lr=0.01, lr_schedule="cosine", early_stopping=False)
    clf.fit(TEXTS, LABELS, callback=lambda r: seen.append(clf._optimizer.lr))
    assert seen[0] == pytest.approx(0.01) and seen[-2] < 0.001
    assert all(a >= b - 1e-12 for a, b in zip(seen, seen[1:]))
    assert clf._optimizer.lr == 0.01 and len(seen) > 6


@pytest.mark.parametrize(
    "params, match",
    [
        ({"max_time": 0}, "max_time must be None or a number > 0, got 0"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of"),
    ],
)
def test_bad_training_params(params, match):
    with pytest.raises(ValueError, match=match):
        _fit(TextClassifier, **params)


def test_vocabulary_cut_still_scores_the_ngram_tokens():
    """With max_vocab, a cut training word gets P(<unk>) x its share of <unk>'s count:
    the same words and OOVs as NGramLM, every in-vocabulary word scored."""
    train, test = corpora.load("kjv", "train")[:300], corpora.load("kjv", "test")[:100]
    lm = NeuralLM(**TINY, max_vocab=60, max_epochs=1, early_stopping=False).fit(train)
    assert len(lm.vocab_) == 60 + len(LM_SPECIALS)
    a = NGramLM(order=3).fit(train).scorer_.perplexity_stats(test)
    b = lm.perplexity_stats(test)
    assert (b.sentences, b.words, b.oovs) == (a.sentences, a.words, a.oovs) and b.oovs > 0
    # one cut word by hand: log10 P(<unk> | context) + log10(count / count of all cut words)
    counts = {}
    for s in train:
        for w in s.split():
            counts[w] = counts.get(w, 0) + 1
    cut = {w: c for w, c in counts.items() if w not in lm.vocab_.stoi}
    sent = next(s for s in test if any(w in cut for w in s.split()))
    words = sent.split()
    j = next(i for i, w in enumerate(words) if w in cut)
    unk_only = NeuralLM.__new__(NeuralLM)
    unk_only.__dict__.update(lm.__dict__, unk_share_={})
    p_unk = unk_only.token_logprobs([sent])[0][j]
    assert np.isnan(p_unk)  # without the shares the cut word would be an OOV
    lp, _ = lm._target_logprobs(lm._encode([words]))
    expected = (lp[0][j] + math.log(cut[words[j]] / sum(cut.values()))) / math.log(10)
    assert lm.token_logprobs([sent])[0][j] == pytest.approx(expected, rel=1e-9)
