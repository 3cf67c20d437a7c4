"""One parameter contract (nlpkit.params): every estimator declares what each of its
parameters may be, and fit checks them all in one place, naming the estimator, the
parameter, the value and what is allowed."""
import importlib
import inspect
import math
import pkgutil
from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

import nlpkit
from nlpkit.embed import PPMI, FastText, GloVe, Word2Vec
from nlpkit.errors import NlpkitError
from nlpkit.models import MaskedLM, NeuralLM, Seq2Seq, SequenceTagger, TextClassifier
from nlpkit.models.io import save_model
from nlpkit.ngram.lm import NGramLM
from nlpkit.params import (
    HasMethods,
    Interval,
    Options,
    ParameterError,
    check_param,
    undeclared,
    validate_params,
)
from nlpkit.text.subword import BPE, WordPiece

SMALL = {"embedding_dim": 8, "hidden_size": 8, "max_epochs": 1, "early_stopping": False}


def _estimators():
    """Every public estimator class of nlpkit, found by walking the package (a new one
    is covered without being listed here)."""
    found = set()
    for mod in pkgutil.walk_packages(nlpkit.__path__, "nlpkit."):
        if any(part in mod.name for part in ("cuda", "distributed", ".cli")):
            continue
        for name, obj in vars(importlib.import_module(mod.name)).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseEstimator)
                    and obj.__module__.startswith("nlpkit") and not name.startswith("_")
                    and "__init__" in vars(obj)):
                found.add(obj)
    return sorted(found, key=lambda c: c.__name__)


ESTIMATORS = _estimators()


def test_the_walk_finds_the_estimators():
    names = {c.__name__ for c in ESTIMATORS}
    assert {"NGramLM", "Word2Vec", "FastText", "PPMI", "GloVe", "BPE", "WordPiece",
            "TextClassifier", "SequenceTagger", "NeuralLM", "MaskedLM", "Seq2Seq"} <= names


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_init_parameter_is_declared(cls):
    assert undeclared(cls) == []
    extra = set(cls._parameter_constraints) - set(inspect.signature(cls).parameters)
    assert not extra, f"constraints for parameters {cls.__name__} does not have: {extra}"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_defaults_meet_the_contract_and_any_odd_value_is_named(cls):
    est = cls()
    validate_params(est)  # the defaults are valid
    assert clone(est).get_params() == est.get_params()
    for name in cls._parameter_constraints:
        bad = clone(est).set_params(**{name: object()})
        with pytest.raises(ParameterError) as exc:
            validate_params(bad)
        assert str(exc.value).startswith(f"{cls.__name__}: {name} must be ")
        assert "\n" not in str(exc.value) and ", got <object" in str(exc.value)


FITS = {
    "TextClassifier": (["a b", "b c"], [0, 1]),
    "SequenceTagger": ([["a", "b"]], [["X", "Y"]]),
    "Seq2Seq": ([["a"]], [["b"]]),
}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_fit_checks_the_contract_first(cls):
    """Every estimator has n_jobs; 0 is never valid.  fit refuses it before reading X."""
    args = FITS.get(cls.__name__, (["a b c", "b c a"],))
    with pytest.raises(ParameterError, match=rf"^{cls.__name__}: n_jobs must be None, an int "
                                             r">= 1 or an int <= -1, got 0$"):
        cls(n_jobs=0).fit(*args)


@pytest.mark.parametrize("est,message", [
    (TextClassifier(max_epochs=0), "TextClassifier: max_epochs must be an int >= 1, got 0"),
    (TextClassifier(dropout=1.0), "TextClassifier: dropout must be a number in [0, 1), got 1.0"),
    (TextClassifier(lr=-1.0), "TextClassifier: lr must be a number > 0, got -1.0"),
    (TextClassifier(word_ngrams=True), "TextClassifier: word_ngrams must be one of 1, 2, got True"),
    (TextClassifier(class_weight="auto"),
     "TextClassifier: class_weight must be None, 'balanced' or a dict, got 'auto'"),
    (SequenceTagger(char_dim=-1), "SequenceTagger: char_dim must be an int >= 0, got -1"),
    (NeuralLM(cell="lstmm"),
     "NeuralLM: cell must be one of 'lstm', 'gru', 'rnn', 'transformer', got 'lstmm'"),
    (MaskedLM(mask_prob=1.0), "MaskedLM: mask_prob must be a number in (0, 1), got 1.0"),
    (Seq2Seq(attention="luong"),
     "Seq2Seq: attention must be one of 'dot', 'additive' or None, got 'luong'"),
    (Word2Vec(window=2.5), "Word2Vec: window must be an int >= 1, got 2.5"),
    (FastText(bucket=-1), "FastText: bucket must be an int >= 0, got -1"),
    (PPMI(shift=0.5), "PPMI: shift must be a number >= 1, got 0.5"),
    (GloVe(x_max=0), "GloVe: x_max must be a number > 0, got 0"),
    (NGramLM(order=17), "NGramLM: order must be an int in [1, 16], got 17"),
    (BPE(style="char"),
     "BPE: style must be one of 'suffix', 'metaspace', 'bytelevel', got 'char'"),
    (WordPiece(vocab_size=0), "WordPiece: vocab_size must be an int >= 1, got 0"),
])
def test_messages(est, message):
    with pytest.raises(ParameterError) as exc:
        validate_params(est)
    assert str(exc.value) == message
    assert isinstance(exc.value, NlpkitError) and isinstance(exc.value, ValueError)


@pytest.mark.parametrize("est,message", [
    (FastText(minn=5, maxn=3), "FastText: need 1 <= minn <= maxn; got minn=5, maxn=3"),
    (MaskedLM(embedding_dim=8, nhead=16), "MaskedLM: nhead must be at most embedding_dim (8)"),
    (Seq2Seq(decoder="transformer"), "Seq2Seq: decoder='transformer' needs encoder="),
    (NeuralLM(unit="char", tokenizer="t.json"), "NeuralLM: unit='char' reads characters"),
    (BPE(end_of_word_suffix=""), "BPE: style 'suffix' needs a non-empty end_of_word_suffix"),
    (BPE(style="metaspace", pre_tokenizer="whitespace"),
     "BPE: pre_tokenizer='whitespace' has no effect with style='metaspace'"),
])
def test_rules_between_parameters(est, message):
    with pytest.raises(ParameterError) as exc:
        validate_params(est)
    assert str(exc.value).startswith(message)


def test_interval_and_options():
    ints = Interval(Integral, 1, None, closed="left")
    assert 1 in ints and np.int64(3) in ints and 0 not in ints
    assert True not in ints and 1.0 not in ints  # a bool or a float is not an int
    unit = Interval(Real, 0, 1, closed="right")
    assert 1 in unit and 0.5 in unit and np.float32(0.25) in unit
    assert 0 not in unit and math.nan not in unit and False not in unit  # noqa: PLW0177
    assert str(Interval(Real, 0, 1, closed="neither")) == "a number in (0, 1)"
    assert str(Interval(Integral, None, 5)) == "an int <= 5"
    assert str(Interval(Real, None, None)) == "a number"
    assert 1 in Options(1, 2) and True not in Options(1, 2) and "a" not in Options(1, 2)
    assert str(Options("x")) == "'x'"
    assert 3 not in HasMethods("encode")
    assert check_param("f", "k", 2, [None, Interval(Integral, 1, 3)]) == 2
    with pytest.raises(ParameterError, match=r"^f: k must be None or an int in \[1, 3\], got 4$"):
        check_param("f", "k", 4, [None, Interval(Integral, 1, 3)])


def test_ints_beyond_int64_are_refused():
    """A model file's JSON can hold any int; every int parameter ends up in an int64."""
    ints = Interval(Integral, 1, None)
    assert 2 ** 63 - 1 in ints and 2 ** 63 not in ints
    assert -2 ** 63 in Interval(Integral, None, 0) and -2 ** 63 - 1 not in Interval(Integral, None, 0)
    assert 10 ** 400 not in Interval(Real, 0, None) and 10 ** 300 in Interval(Real, 0, None)
    with pytest.raises(ParameterError) as exc:
        validate_params(TextClassifier(max_length=10 ** 20))
    assert str(exc.value) == ("TextClassifier: max_length must be an int >= 1, got "
                              "100000000000000000000 (beyond 64-bit ints)")


def test_a_long_value_is_cut_in_the_message():
    with pytest.raises(ParameterError) as exc:
        validate_params(TextClassifier(encoder="x" * 500))
    assert len(str(exc.value)) < 200


def test_method_arguments_share_the_contract():
    lm = NeuralLM(cell="gru", random_state=0, **SMALL).fit(["a b c", "b c a"])
    with pytest.raises(ParameterError, match=r"^generate: top_k must be None or an int >= 1, "
                                             r"got 0$"):
        lm.generate("a", top_k=0)
    with pytest.raises(ParameterError, match=r"^generate: temperature must be a number >= 0"):
        lm.generate("a", temperature=-1)


# ------------------------------------------------------------ sizes a pretrained model sets
def test_a_size_pretrained_vectors_set_is_not_silently_replaced():
    vectors = {w: np.ones(4, np.float32) for w in "abc"}
    X, y = ["a b", "b c", "c a", "a c"], [0, 1, 0, 1]
    with pytest.raises(ParameterError) as exc:
        TextClassifier(pretrained=vectors, embedding_dim=8, max_epochs=1).fit(X, y)
    assert str(exc.value).startswith("TextClassifier: embedding_dim=8 conflicts with the "
                                      "pretrained word vectors, whose embedding_dim is 4")
    # the default, or the vectors' own size, is fine
    assert TextClassifier(pretrained=vectors, max_epochs=1).fit(X, y).embedding_dim_ == 4
    assert TextClassifier(pretrained=vectors, embedding_dim=4, max_epochs=1).fit(
        X, y).embedding_dim_ == 4


def test_a_size_a_pretrained_language_model_sets_is_not_silently_replaced(tmp_path):
    lm = NeuralLM(cell="lstm", random_state=0, **SMALL).fit(
        ["a b c a b", "b c a", "c a b c"])
    path = tmp_path / "lm.nlpkit"
    save_model(lm, path)
    X, y = ["a b", "b c", "c a", "a c"], [0, 1, 0, 1]
    tags = ([s.split() for s in X], [["T", "U"]] * 4)
    for est, args in ((TextClassifier, (X, y)), (SequenceTagger, tags)):
        for name, value, theirs in (("hidden_size", 16, 8), ("num_layers", 2, 1),
                                    ("embedding_dim", 32, 8)):
            params = {**SMALL, name: value}
            with pytest.raises(ParameterError, match=rf"^{est.__name__}: {name}={value} "
                                                     rf"conflicts with the pretrained language "
                                                     rf"model .*, whose {name} is {theirs};"):
                est(pretrained=str(path), **params).fit(*args)
        est(pretrained=str(path), **SMALL).fit(*args)  # the same sizes: fine
