"""A parameter the estimator cannot honour in the configuration chosen is refused at fit,
by name (nlpkit.params), instead of being silently ignored."""

import pytest

from nlpkit.embed.estimators import Word2Vec
from nlpkit.errors import NlpkitError
from nlpkit.models.classifier import TextClassifier
from nlpkit.models.io import save_model
from nlpkit.models.neural_lm import NeuralLM
from nlpkit.models.seq2seq import Seq2Seq
from nlpkit.models.tagger import SequenceTagger
from nlpkit.ngram.lm import NGramLM
from nlpkit.text.subword import BPE

SENTENCES = ["a b c a b", "b c a", "c a b c"]
SMALL = dict(embedding_dim=8, hidden_size=8, max_epochs=1, early_stopping=False)


@pytest.mark.parametrize("smoothing,options,named", [
    ("kn", dict(gt_min=2), "gt_min"), ("kn", dict(gt_max={2: 5}), "gt_max"),
    ("kn", dict(unk=True), "unk"), ("kn", dict(vocab=["a", "b"]), "vocab"),
    ("katz", dict(prune=[0, 1]), "prune"),
    ("katz", dict(interpolate_unigrams=False), "interpolate_unigrams"),
    ("katz", dict(discount_fallback=False), "discount_fallback"),
    ("stupid", dict(unk=True), "unk"), ("katz", dict(alpha=0.5), "alpha"),
])
def test_ngram_lm_refuses_another_smoothings_option(smoothing, options, named):
    with pytest.raises(NlpkitError, match=rf"^{named} \(--[a-zN-]+\) goes with --smoothing"):
        NGramLM(smoothing=smoothing, **options).fit(SENTENCES)


def test_ngram_lm_takes_its_smoothings_options():
    closed = NGramLM(smoothing="katz", vocab=["a", "b"], unk=True).fit(SENTENCES)
    assert "c" not in closed.model_.vocab  # the vocabulary was honoured
    NGramLM(smoothing="kn", interpolate_unigrams=False, discount_fallback=True).fit(SENTENCES)
    NGramLM(smoothing="stupid", alpha=0.5, vocab=["a", "b"]).fit(SENTENCES)


@pytest.mark.parametrize("est,fit_args,named", [
    (TextClassifier(encoder="lstm", positions="rope", **SMALL),
     (["a b", "b c"], [0, 1]), "positions='rope'"),
    (SequenceTagger(encoder="bilstm", positions="alibi", **SMALL),
     ([["a", "b"]], [["X", "Y"]]), "positions='alibi'"),
    (SequenceTagger(char_dim=0, char_filters=20, **SMALL),
     ([["a", "b"]], [["X", "Y"]]), "char_filters=20"),
    (NeuralLM(cell="gru", positions="learned", **SMALL), (SENTENCES,), "positions='learned'"),
    (Seq2Seq(decoder="transformer", encoder="transformer", attention="additive",
             embedding_dim=8), ([["a"]], [["b"]]), "attention='additive'"),
    (Seq2Seq(nhead=2, norm_first=True, **SMALL), ([["a"]], [["b"]]),
     "nhead=2, norm_first=True have"),
    (Seq2Seq(positions="rope", **SMALL), ([["a"]], [["b"]]), "positions='rope'"),
    (Word2Vec(model="cbow", shared_negatives=False, min_count=1), (SENTENCES,),
     "shared_negatives=False"),
    (BPE(style="metaspace", end_of_word_suffix="@@"), (SENTENCES,), "end_of_word_suffix='@@'"),
])
def test_an_ignored_parameter_is_named(est, fit_args, named):
    with pytest.raises(NlpkitError, match="no effect") as exc:
        est.fit(*fit_args)
    assert named in str(exc.value) and type(est).__name__ in str(exc.value)


def test_a_pretrained_language_model_brings_its_own_architecture(tmp_path):
    lm = NeuralLM(cell="lstm", random_state=0, **SMALL).fit(SENTENCES)
    path = tmp_path / "lm.nlpkit"
    save_model(lm, path)
    X, y = ["a b", "b c", "c a", "a c"], [0, 1, 0, 1]
    for est, args in ((TextClassifier, (X, y)),
                      (SequenceTagger, ([s.split() for s in X], [["T"] * 2] * 4))):
        with pytest.raises(NlpkitError, match="encoder='cnn', min_count=2 have no effect"):
            est(pretrained=str(path), encoder="cnn", min_count=2, **SMALL).fit(*args)
    # the defaults are not refused: the model's own architecture is used
    clf = TextClassifier(pretrained=str(path), **SMALL).fit(X, y)
    assert clf.embedding_dim_ == 8
