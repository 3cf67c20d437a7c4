"""TextClassifier: learning, scikit-learn API, estimator checks, bad input, quality on kjv-genre.

scikit-learn's estimator checks
-------------------------------
TextClassifier takes text, so it sets the tag ``input_tags.two_d_array=False``
(and ``string=True``); ``check_estimator`` then skips everything, so the checks
that apply to text input are run one by one below (``API_CHECKS``).  Checks
that can only feed numeric feature matrices are listed in ``NUMERIC_ONLY`` with
the reason; what they check is covered by a text version in this file:

- check_fit_score_takes_y, check_estimators_fit_returns_self
  -> test_fit_returns_self_and_score_takes_y
- check_estimators_overwrite_params, check_dont_overwrite_parameters, check_dict_unchanged
  -> test_fit_does_not_change_params
- check_estimators_pickle, check_readonly_memmap_input -> test_pickle_round_trip
- check_pipeline_consistency, check_fit_idempotent -> test_reproducible_with_random_state
- check_classifiers_train, check_classifiers_classes, check_classifier_data_not_an_array,
  check_estimators_dtypes, check_f_contiguous_array_estimator -> test_learns_keyword_task,
  test_string_and_token_input_agree, test_any_label_types
- check_methods_sample_order_invariance, check_methods_subset_invariance
  -> test_predict_batch_invariance
- check_estimators_partial_fit_n_features -> test_partial_fit
- check_class_weight_classifiers -> test_class_weight
- check_estimators_empty_data_messages, check_estimators_nan_inf, check_dtype_object,
  check_fit2d_1feature, check_positive_only_tag_during_fit, check_supervised_y_2d,
  check_fit2d_predict1d, check_n_features_in, check_fit_check_is_fitted -> test_bad_input
  (numbers are not text: every numeric X is refused with one clear ValueError)
- check_array_api_input: array-API namespaces hold numbers, not text.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import estimator_checks as ec

from nlpkit import nn

from nlpkit import corpora
from nlpkit.models import TextClassifier

API_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_estimators_unfitted",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_n_features_in_after_fitting",
    "check_mixin_order",
    "check_complex_data",
    "check_estimator_sparse_tag",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_classifiers_one_label",
    "check_classifiers_one_label_sample_weights",
    "check_classifiers_regression_target",
    "check_supervised_y_no_nan",
    "check_non_transformer_estimators_n_iter",
    "check_decision_proba_consistency",
    "check_parameters_default_constructible",
    "check_fit2d_1sample",
    "check_get_params_invariance",
    "check_set_params",
    "check_fit1d",
    "check_requires_y_none",
]

NUMERIC_ONLY = {
    "check_fit_score_takes_y": "fits on a numeric matrix",
    "check_estimators_overwrite_params": "fits on a numeric matrix",
    "check_dont_overwrite_parameters": "fits on a numeric matrix",
    "check_estimators_fit_returns_self": "fits on a numeric matrix",
    "check_readonly_memmap_input": "memory-mapped numeric arrays",
    "check_positive_only_tag_during_fit": "negative numbers in X",
    "check_estimators_dtypes": "numeric dtypes of X",
    "check_dtype_object": "object array of numbers",
    "check_estimators_empty_data_messages": "expects the '0 feature(s)' message of a (n, 0) matrix",
    "check_pipeline_consistency": "fits on a numeric matrix",
    "check_estimators_nan_inf": "NaN/inf inside a numeric X",
    "check_estimators_pickle": "fits on a numeric matrix",
    "check_array_api_input": "array-API arrays hold numbers",
    "check_f_contiguous_array_estimator": "Fortran-ordered numeric X",
    "check_classifier_data_not_an_array": "wraps a numeric matrix",
    "check_classifiers_classes": "fits on a numeric matrix",
    "check_estimators_partial_fit_n_features": "changes the number of numeric features",
    "check_classifiers_train": "fits on a numeric matrix",
    "check_supervised_y_2d": "fits on a numeric matrix",
    "check_class_weight_classifiers": "fits on a numeric matrix",
    "check_methods_sample_order_invariance": "fits on a numeric matrix",
    "check_methods_subset_invariance": "fits on a numeric matrix",
    "check_fit2d_1feature": "a one-column numeric matrix",
    "check_dict_unchanged": "fits on a numeric matrix",
    "check_fit_idempotent": "fits on a numeric matrix",
    "check_fit_check_is_fitted": "fits on a numeric matrix",
    "check_n_features_in": "counts numeric features",
    "check_fit2d_predict1d": "a 1-D numeric sample",
}

SMALL = dict(embedding_dim=16, hidden_size=16, max_epochs=1, random_state=0)


def keyword_task(n=240, seed=0):
    """Label = which keyword the sentence holds; filler words are noise."""
    rng = np.random.default_rng(seed)
    keys = {"sports": "goal", "money": "bank", "food": "bread"}
    filler = (
        "the a of and to in is it that was he for on are with as his they be at one have".split()
    )
    X, y = [], []
    for i in range(n):
        label = list(keys)[i % 3]
        words = list(rng.choice(filler, size=rng.integers(3, 10)))
        words.insert(int(rng.integers(0, len(words) + 1)), keys[label])
        X.append(" ".join(words))
        y.append(label)
    return X, y


@pytest.fixture(scope="module")
def task():
    return keyword_task()


@pytest.fixture(scope="module")
def fitted(task):
    X, y = task
    return TextClassifier(
        embedding_dim=16,
        hidden_size=16,
        max_epochs=8,
        lr=0.01,
        random_state=0,
        early_stopping=False,
    ).fit(X, y)


def test_estimator_check_lists_cover_every_check():
    """Every check scikit-learn would run is either run here or listed with its reason."""

    class Numeric(TextClassifier):
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.two_d_array = True
            return tags

    names = {getattr(c, "func", c).__name__ for c in ec._yield_all_checks(Numeric(), legacy=True)}
    names.add("check_estimator_cloneable")
    assert names == set(API_CHECKS) | set(NUMERIC_ONLY)
    assert not set(API_CHECKS) & set(NUMERIC_ONLY)


@pytest.mark.parametrize("check_name", API_CHECKS)
def test_sklearn_check(check_name):
    getattr(ec, check_name)("TextClassifier", TextClassifier(**SMALL))


@pytest.mark.parametrize("encoder", ["lstm", "gru", "rnn", "bilstm", "cnn", "transformer"])
def test_every_encoder_learns_keyword_task(task, encoder):
    X, y = task
    clf = TextClassifier(
        encoder=encoder,
        embedding_dim=16,
        hidden_size=16,
        max_epochs=12,
        lr=0.01,
        random_state=0,
        early_stopping=False,
        batch_size=16,
    )
    clf.fit(X, y)
    Xt, yt = keyword_task(60, seed=1)
    assert clf.score(Xt, yt) >= 0.9, clf.history_
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


def test_learns_keyword_task(fitted):
    Xt, yt = keyword_task(90, seed=2)
    assert fitted.score(Xt, yt) >= 0.95
    proba = fitted.predict_proba(Xt)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(fitted.classes_) == ["food", "money", "sports"]
    np.testing.assert_array_equal(fitted.predict(Xt), fitted.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(fitted.predict_log_proba(Xt), np.log(proba), rtol=1e-4, atol=1e-6)


def test_string_and_token_input_agree(fitted):
    Xt, _ = keyword_task(30, seed=3)
    np.testing.assert_array_equal(
        fitted.predict_proba(Xt), fitted.predict_proba([s.split() for s in Xt])
    )
    assert fitted.predict(["the bank of it"])[0] == "money"


def test_predict_batch_invariance(fitted):
    """Order and batch composition do not change any document's prediction."""
    Xt, _ = keyword_task(300, seed=4)
    full = fitted.predict_proba(Xt)
    perm = np.random.default_rng(0).permutation(len(Xt))
    np.testing.assert_allclose(fitted.predict_proba([Xt[i] for i in perm]), full[perm], atol=1e-6)
    np.testing.assert_allclose(fitted.predict_proba(Xt[:7]), full[:7], atol=1e-6)


def test_fit_returns_self_and_score_takes_y(task):
    X, y = task
    clf = TextClassifier(**SMALL)
    assert clf.fit(X, y) is clf
    assert 0.0 <= clf.score(X, y) <= 1.0


def test_fit_does_not_change_params(task):
    X, y = task
    clf = TextClassifier(**SMALL, class_weight={"food": 2.0})
    before = clf.get_params()
    clf.fit(X, y)
    assert clf.get_params() == before


def test_any_label_types(task):
    X, y = task
    ints = np.array([{"food": 3, "money": 7, "sports": -1}[v] for v in y])
    clf = TextClassifier(**SMALL).fit(X, ints)
    assert clf.classes_.dtype.kind == "i" and set(clf.predict(X)) <= {3, 7, -1}
    tuples_ok = TextClassifier(**SMALL).fit(X, [v == "food" for v in y])
    assert set(tuples_ok.classes_.tolist()) == {False, True}


def test_reproducible_with_random_state(task):
    X, y = task
    a = TextClassifier(**SMALL).fit(X, y).predict_proba(X[:20])
    b = TextClassifier(**SMALL).fit(X, y).predict_proba(X[:20])
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = TextClassifier(**{**SMALL, "random_state": 1}).fit(X, y).predict_proba(X[:20])
    assert not np.allclose(a, c)


def test_pickle_round_trip(fitted, task):
    X, _ = task
    clone_ = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone_.predict_proba(X[:50]), fitted.predict_proba(X[:50]))
    # the restored optimizer still drives the restored parameters
    before = clone_.net_.output.weight.numpy().copy()
    clone_.partial_fit(X[:32], np.array(["food"] * 32))
    assert not np.array_equal(before, clone_.net_.output.weight.numpy())
    np.testing.assert_array_equal(before, fitted.net_.output.weight.numpy())  # the original is untouched


def test_clone_and_nested_params():
    clf = TextClassifier(encoder="gru", hidden_size=7)
    c = clone(clf)
    assert c.get_params() == clf.get_params() and c is not clf
    pipe = Pipeline([("clf", clf)])
    pipe.set_params(clf__hidden_size=9, clf__encoder="cnn")
    assert pipe.get_params()["clf__hidden_size"] == 9 and clf.encoder == "cnn"


def test_pipeline_gridsearch_cross_val(task):
    X, y = task
    grid = GridSearchCV(
        TextClassifier(**{**SMALL, "max_epochs": 6, "lr": 0.01}), {"encoder": ["cnn", "gru"]}, cv=2
    )
    grid.fit(X, y)
    assert grid.best_params_["encoder"] in ("cnn", "gru") and grid.best_score_ > 0.5
    scores = cross_val_score(TextClassifier(**{**SMALL, "max_epochs": 6, "lr": 0.01}), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6


def test_partial_fit(task):
    X, y = task
    clf = TextClassifier(embedding_dim=16, hidden_size=16, lr=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes="):
        clf.partial_fit(X[:10], y[:10])
    for _ in range(10):
        clf.partial_fit(X, y, classes=["food", "money", "sports"])
    assert clf.n_epochs_ == 10
    assert clf.score(*keyword_task(60, seed=5)) >= 0.9
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(["bank"], ["weather"])


def test_early_stopping_keeps_best(task):
    X, y = task
    clf = TextClassifier(
        embedding_dim=16,
        hidden_size=16,
        max_epochs=40,
        lr=0.02,
        random_state=0,
        validation_fraction=0.2,
        n_iter_no_change=2,
    )
    snapshots = []  # the probabilities on X after every epoch

    def record(info):
        if info["event"] == "epoch":
            snapshots.append(clf.predict_proba(X[:20]))

    clf.fit(X, y, callback=record)
    acc = [r["val_accuracy"] for r in clf.history_]
    assert len(acc) < 40  # it stopped
    # it stopped after two epochs that did not improve on the best accuracy
    assert max(acc[-2:]) < max(acc[:-2]) + 1e-4
    # and kept the weights of the first epoch with the best accuracy, not the last ones
    best = int(np.argmax(acc))
    np.testing.assert_allclose(clf.predict_proba(X[:20]), snapshots[best], rtol=1e-6)
    assert best < len(acc) - 1


def test_class_weight(task):
    """A heavy weight on one class makes the model predict it more often."""
    X, y = task
    Xt, _ = keyword_task(60, seed=6)
    plain = TextClassifier(**SMALL).fit(X, y).predict(Xt)
    heavy = TextClassifier(**SMALL, class_weight={"food": 50.0}).fit(X, y).predict(Xt)
    assert (heavy == "food").sum() > (plain == "food").sum()
    TextClassifier(**SMALL, class_weight="balanced").fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        TextClassifier(**SMALL, class_weight={"nope": 1.0}).fit(X, y)


def test_pretrained_vectors(task):
    X, y = task
    vectors = {"bank": np.full(16, 0.5, np.float32), "goal": np.full(16, -0.5, np.float32)}
    # a size the vectors set is theirs: another one is refused, not silently replaced
    with pytest.raises(ValueError, match="embedding_dim=99 conflicts with the pretrained word "
                                         "vectors, whose embedding_dim is 16"):
        TextClassifier(**{**SMALL, "embedding_dim": 99}, pretrained=vectors).fit(X, y)
    clf = TextClassifier(**{**SMALL, "lr": 1e-12}, pretrained=vectors)  # (SMALL's 16: theirs)
    clf.fit(X, y)
    assert clf.embedding_dim_ == 16 and clf.n_pretrained_ == 2
    np.testing.assert_allclose(
        clf.net_.embedding.weight[clf.vocab_["bank"]], vectors["bank"], atol=1e-6
    )


def test_pretrained_keyed_vectors(task):
    from nlpkit.embed.keyedvectors import KeyedVectors

    X, y = task
    kv = KeyedVectors(["bread", "zzz"], np.arange(16, dtype=np.float32).reshape(2, 8))
    clf = TextClassifier(**{**SMALL, "embedding_dim": 8}, pretrained=kv).fit(X, y)
    assert clf.n_pretrained_ == 1 and clf.net_.embedding.weight.shape[1] == 8


@pytest.mark.parametrize(
    "X, y, match",
    [
        (["a b", "c d"], ["x", "x"], "2 classes"),
        (["a b", ""], ["x", "y"], r"X\[1\] is an empty document"),
        (["a b", "c"], ["x", "y", "z"], "different lengths"),
        ([], [], "0 samples"),
        ("a b c", ["x", "y"], "not a single string"),
        (np.ones((2, 3)), ["x", "y"], "numeric array"),
        ([["a", 1], ["b"]], ["x", "y"], "X\\[0\\] must be a string or a list of string tokens"),
        (["a b", "c d"], [[1, 2], [3, 4]], "1d array"),
        (["a b", "c d"], [0.5, 1.5], "Unknown label type"),
        (["a b", "c d"], None, "requires y"),
    ],
)
def test_bad_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        TextClassifier(**SMALL).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"encoder": "svm"}, "encoder must be one of"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"lr": -1.0}, "lr"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"word_dropout": 1.0}, "word_dropout"),
        ({"adversarial": -1.0}, "adversarial must be a number >= 0"),
        ({"adversarial": "big"}, "adversarial must be a number >= 0"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_params(task, params, match):
    X, y = task
    with pytest.raises(ValueError, match=match):
        TextClassifier(**{**SMALL, **params}).fit(X, y)


def test_word_dropout_replaces_real_tokens_by_unk():
    from nlpkit.models import data

    ids = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], np.int64)
    rng = np.random.default_rng(0)
    assert data.drop_words(ids, 0.0, rng) is ids
    np.testing.assert_array_equal(
        data.drop_words(ids, 1.0 - 1e-12, rng), np.where(ids > 0, data.UNK_ID, 0)
    )
    big = np.full((200, 50), 7, np.int64)
    share = (data.drop_words(big, 0.25, rng) == data.UNK_ID).mean()
    assert abs(share - 0.25) < 0.01


def test_word_dropout_trains_the_unk_vector(task):
    X, y = task
    unk = {}
    for rate in (0.0, 0.3):
        clf = TextClassifier(**SMALL, word_dropout=rate).fit(X, y)
        unk[rate] = clf.net_.embedding.weight.numpy()[1].copy()
    init = TextClassifier(**SMALL)
    init.set_params(max_epochs=1, lr=1e-12).fit(X, y)  # (almost) the initial vectors
    start = init.net_.embedding.weight.numpy()[1]
    # min_count=1: no training token is <unk> without word dropout, so its row never moves
    np.testing.assert_allclose(unk[0.0], start, atol=1e-6)
    assert np.abs(unk[0.3] - start).max() > 1e-3


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_with_message(task):
    X, y = task
    clf = TextClassifier(**{**SMALL, "lr": 1e30, "clip": None, "max_epochs": 3, "optimizer": "sgd"})
    with pytest.raises(ValueError, match="NaN or inf"):
        clf.fit(X, y)


def test_unfitted_predict():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TextClassifier().predict(["a"])


def test_kjv_genre_quality_against_tfidf_baseline():
    """A small LSTM on a 3000-verse subset, against TF-IDF(1-2)+LogisticRegression on the same
    subset, scored on every third test verse (all 8 genres)."""
    X, y = corpora.load("kjv-genre", "train")
    Xt, yt = corpora.load("kjv-genre", "test")
    idx = np.random.default_rng(0).choice(len(X), 3000, replace=False)
    Xs, ys = [X[i] for i in idx], [y[i] for i in idx]
    Xt, yt = Xt[::3], np.array(yt[::3])
    baseline = (
        make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(C=10, max_iter=2000),
        )
        .fit(Xs, ys)
        .score(Xt, yt)
    )
    majority = max(np.mean(yt == c) for c in set(yt))
    clf = TextClassifier(
        encoder="lstm",
        embedding_dim=64,
        hidden_size=64,
        max_epochs=5,
        lr=5e-3,
        random_state=0,
        early_stopping=False,
    ).fit(Xs, ys)
    acc = clf.score(Xt, yt)
    print(
        f"kjv-genre 3000 verses: lstm {acc:.3f}, tfidf+logreg {baseline:.3f}, "
        f"majority {majority:.3f}"
    )
    assert acc >= majority + 0.25
    assert acc >= baseline - 0.12


def test_pretrained_vectors_file(task, tmp_path):
    X, y = task
    path = tmp_path / "vectors.txt"
    path.write_text("2 4\nbank 1.0 2.0 3.0 4.0\ngoal -1.0 -2.0 -3.0 -4.0\n")
    clf = TextClassifier(**{**SMALL, "lr": 1e-12, "embedding_dim": 100},  # (the default)
                         pretrained=str(path)).fit(X, y)
    assert clf.embedding_dim_ == 4 and clf.n_pretrained_ == 2
    np.testing.assert_allclose(clf.net_.embedding.weight[clf.vocab_["goal"]], [-1, -2, -3, -4], atol=1e-6)


def torch_cnn_twin(net, pooling="max+mean"):
    """The torch network of a TextNet('cnn') (weights copied): ``(modules, logits_of)`` with
    ``logits_of(ids, lens, pairs=None, perturbation=None) -> (word vectors, logits)``."""
    import torch

    e = net.embedding.weight.shape[1]
    filters = getattr(net.encoder, "conv0_3").conv.weight.shape[0]
    emb = torch.nn.Embedding(*net.embedding.weight.shape, padding_idx=0)
    n_pairs = net.bigram_embedding.weight.shape[0] if net.has_bigrams else 1
    pair_emb = torch.nn.Embedding(n_pairs, e, padding_idx=0)
    convs = {w: torch.nn.Conv1d(e, filters, w, padding="same") for w in (3, 4, 5)}
    out = torch.nn.Linear(*net.output.weight.shape[::-1])
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(net.embedding.weight.numpy()))
        if net.has_bigrams:
            pair_emb.weight.copy_(torch.from_numpy(net.bigram_embedding.weight.numpy()))
        for w, c in convs.items():
            layer = getattr(net.encoder, f"conv0_{w}").conv
            c.weight.copy_(torch.from_numpy(layer.weight.numpy()))
            c.bias.copy_(torch.from_numpy(layer.bias.numpy()))
        out.weight.copy_(torch.from_numpy(net.output.weight.numpy()))
        out.bias.copy_(torch.from_numpy(net.output.bias.numpy()))

    def logits_of(ids, lens, pairs=None, perturbation=None):
        x = emb(torch.from_numpy(ids))
        if pairs is not None:
            x = x + pair_emb(torch.from_numpy(pairs))
        h = x if perturbation is None else x + perturbation
        h = h.transpose(1, 2)
        h = torch.relu(torch.cat([convs[w](h) for w in (3, 4, 5)], dim=1))  # (B, C, T)
        valid = torch.from_numpy(np.arange(ids.shape[1])[None, :] < lens[:, None])[:, None, :]
        pooled = []
        if "max" in pooling:
            pooled.append(h.masked_fill(~valid, -torch.inf).max(dim=2).values)
        if "mean" in pooling:
            pooled.append((h * valid).sum(dim=2) / torch.from_numpy(lens)[:, None])
        return x, out(torch.cat(pooled, dim=1))

    return dict(embedding=emb, bigram_embedding=pair_emb, convs=convs, output=out), logits_of


@pytest.mark.parametrize(
    "pooling, n_bigrams", [("max", 0), ("mean", 0), ("max+mean", 0), ("max+mean", 12)]
)
def test_cnn_text_net_matches_pytorch(pooling, n_bigrams):
    """TextNet('cnn') = nlpkit.nn's Conv1d ('same' padding, widths 3-5) + ReLU + pooling over
    the valid steps, word-pair vectors (word_ngrams=2) added to the word vectors: logits and
    the embedding gradients match the same network in torch."""
    import torch

    from nlpkit.models.classifier import TextNet

    net = TextNet(30, 3, "cnn", 6, 5, 1, 0.0, np.random.default_rng(0), pooling, n_bigrams)
    net.eval()
    ids = np.array([[3, 4, 5, 6, 7, 8], [9, 10, 11, 0, 0, 0]])
    pairs = np.array([[0, 2, 11, 0, 5, 2], [0, 7, 3, 0, 0, 0]])  # 0: first word, unknown pair
    lens = np.array([6, 3])
    if n_bigrams:
        assert not net.bigram_embedding.weight.numpy().any()  # starts as the words-only model
        net.bigram_embedding.weight[1:] = np.random.default_rng(2).standard_normal((11, 6))
    delta = nn.tensor(np.zeros(ids.shape + (6,), np.float32), requires_grad=True)
    logits = net(ids, lens, pairs if n_bigrams else None, perturbation=delta)
    g = np.random.default_rng(1).standard_normal(logits.shape).astype(np.float32)
    net.zero_grad()
    (logits * g).sum().backward()
    grad_x = delta.grad
    ref_net, logits_of = torch_cnn_twin(net, pooling)
    x, ref = logits_of(ids, lens, pairs if n_bigrams else None)
    x.retain_grad()
    ref.backward(torch.from_numpy(g))
    np.testing.assert_allclose(logits.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad_x, x.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        net.embedding.weight.grad, ref_net["embedding"].weight.grad.numpy(),
        rtol=1e-4, atol=1e-5,
    )
    if n_bigrams:
        np.testing.assert_allclose(
            net.bigram_embedding.weight.grad,
            ref_net["bigram_embedding"].weight.grad.numpy(), rtol=1e-4, atol=1e-5,
        )


@pytest.mark.parametrize("word_ngrams", [1, 2])
def test_adversarial_step_matches_pytorch(task, word_ngrams):
    """adversarial=eps: a training step's gradients are those of
    loss(x) + loss(x + eps * g / ||g||), g = d loss / d x over each document's word vectors
    (Miyato et al. 2017), as torch computes them."""
    import torch

    X, y = task
    X, y = X[:24], y[:24]
    eps = 0.7
    clf = TextClassifier(
        encoder="cnn", embedding_dim=6, hidden_size=5, pooling="max+mean", dropout=0.0,
        word_ngrams=word_ngrams, adversarial=eps, batch_size=64, clip=None, random_state=0,
    )
    clf.partial_fit(X, y, classes=sorted(set(y)))  # builds the network (and takes a step)
    net = clf.net_
    if word_ngrams == 2:  # pair vectors start at zero: give them values to check
        net.bigram_embedding.weight[1:] = np.random.default_rng(3).standard_normal(
            net.bigram_embedding.weight[1:].shape
        ).astype(np.float32)
    seen = {}
    clf._optimizer.step = lambda: seen.update(
        {name: p.grad.copy() for name, p in net.named_parameters()}
    )
    clf.partial_fit(X, y)  # one batch: the gradients at these weights, no update

    ref_net, logits_of = torch_cnn_twin(net)
    inputs, _ = clf._inputs([x.split() for x in X])
    ids, lens, pairs = inputs(np.arange(len(X)))
    target = torch.from_numpy(np.searchsorted(clf.classes_, y))
    x, logits = logits_of(ids, lens, pairs)
    loss = torch.nn.functional.cross_entropy(logits, target)
    (g,) = torch.autograd.grad(loss, x, retain_graph=True)
    r_adv = eps * g / g.flatten(1).norm(dim=1)[:, None, None]
    _, adv_logits = logits_of(ids, lens, pairs, perturbation=r_adv.detach())
    (loss + torch.nn.functional.cross_entropy(adv_logits, target)).backward()

    assert not np.allclose(seen["output.weight"], 0)
    np.testing.assert_allclose(
        seen["output.weight"], ref_net["output"].weight.grad.numpy(), rtol=1e-3, atol=1e-6
    )
    np.testing.assert_allclose(
        seen["encoder.conv0_4.conv.weight"], ref_net["convs"][4].weight.grad.numpy(),
        rtol=1e-3, atol=1e-6,
    )
    np.testing.assert_allclose(
        seen["embedding.weight"], ref_net["embedding"].weight.grad.numpy(), rtol=1e-3, atol=1e-6
    )
    if word_ngrams == 2:
        np.testing.assert_allclose(
            seen["bigram_embedding.weight"], ref_net["bigram_embedding"].weight.grad.numpy(),
            rtol=1e-3, atol=1e-6,
        )


def test_adversarial_training_learns_and_differs(task):
    """The perturbed pass changes what is learned, and the model still learns the task."""
    X, y = task
    kw = dict(SMALL, encoder="cnn", max_epochs=6, lr=0.01, early_stopping=False)
    plain = TextClassifier(**kw).fit(X[:200], y[:200])
    adv = TextClassifier(adversarial=0.5, **kw).fit(X[:200], y[:200])
    assert adv.score(X[200:], y[200:]) == 1.0
    assert not np.allclose(plain.net_.output.weight.numpy(), adv.net_.output.weight.numpy())


def test_word_pairs_are_encoded_on_their_second_word():
    from nlpkit.models import data

    docs = [["a", "b", "c"], ["a", "b"], ["c", "a"]]
    vocab = data.build_vocab((data.bigrams(d) for d in docs), min_count=2)
    assert [k.split(data._PAIR) for k in vocab.itos[2:]] == [["a", "b"]]  # seen twice
    ab = vocab.stoi["a" + data._PAIR + "b"]
    np.testing.assert_array_equal(data.encode_bigrams(vocab, ["x", "a", "b", "b"]), [0, 0, ab, 0])
    assert data.encode_bigrams(vocab, ["a"]).tolist() == [0]


def test_word_ngrams_learns_what_a_pair_means(task):
    """The label is the order of two words: with word pairs on, it is learned, the pair's
    vector trained and the ``<pad>`` pair's kept zero; unseen pairs predict; it pickles."""
    rng = np.random.default_rng(0)
    X, y = [], []
    for i in range(300):
        first, second = ("new", "york") if i % 2 else ("york", "new")
        words = list(rng.choice(["the", "a", "of", "to", "in"], size=4))
        words[1:1] = [first, second]
        X.append(" ".join(words))
        y.append(f"{first}-{second}")
    kw = dict(SMALL, encoder="cnn", max_epochs=6, lr=0.01, early_stopping=False)
    clf = TextClassifier(word_ngrams=2, **kw).fit(X[:240], y[:240])
    assert clf.score(X[240:], y[240:]) == 1.0
    weight = clf.net_.bigram_embedding.weight.numpy()
    assert len(clf.bigram_vocab_) > 2 and not weight[0].any()
    assert weight[clf.bigram_vocab_.stoi["new\x1fyork"]].any()
    assert clf.predict(["york new never seen pairs"]).shape == (1,)
    clone_ = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clone_.predict_proba(X[240:]), clf.predict_proba(X[240:]))
    with pytest.raises(ValueError, match="word_ngrams must be one of 1, 2"):
        TextClassifier(word_ngrams=3, **SMALL).fit(*task)
