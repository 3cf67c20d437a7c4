"""SequenceTagger: learning, API, bad input, quality on kjv-names; ``nlpkit tag`` commands."""

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.metrics import f1_score

from nlpkit import corpora
from nlpkit.cli.main import cli, main
from nlpkit.models import SequenceTagger
from nlpkit.text.readers import read_conll

SMALL = dict(
    embedding_dim=16, hidden_size=16, max_epochs=10, lr=0.01, random_state=0, early_stopping=False
)


def toy_task(n=150, seed=0):
    """Tag NAME on the word after 'to' (context) and on words from a name list (identity)."""
    rng = np.random.default_rng(seed)
    names = ["abram", "sarai", "lot", "moses", "aaron"]
    filler = "and he went said unto the of a land in it was".split()
    X, y = [], []
    for _ in range(n):
        toks = list(rng.choice(filler, size=rng.integers(3, 9)))
        pos = int(rng.integers(0, len(toks) + 1))
        toks.insert(pos, str(rng.choice(names)))
        X.append(toks)
        y.append(["NAME" if t in names else "O" for t in toks])
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = toy_task()
    return SequenceTagger(**SMALL).fit(X, y)


@pytest.mark.parametrize("encoder", ["bilstm", "transformer", "cnn"])
def test_encoders_learn_toy_task(encoder):
    X, y = toy_task()
    tagger = SequenceTagger(**{**SMALL, "encoder": encoder}).fit(X, y)
    Xt, yt = toy_task(40, seed=1)
    assert tagger.score(Xt, yt) >= 0.97
    assert tagger.history_[-1]["loss"] < tagger.history_[0]["loss"]


def test_predict_shapes_and_report(fitted):
    Xt, yt = toy_task(40, seed=2)
    pred = fitted.predict(Xt)
    assert [len(p) for p in pred] == [len(x) for x in Xt]
    assert all(isinstance(t, str) for p in pred for t in p)
    rep = fitted.report(Xt, yt)
    gold, flat = sum(yt, []), sum(pred, [])
    assert rep["NAME"]["f1"] == pytest.approx(f1_score(gold, flat, pos_label="NAME"))
    assert rep["NAME"]["support"] == gold.count("NAME")
    assert rep["accuracy"] == pytest.approx(fitted.score(Xt, yt))
    probs = fitted.predict_proba(Xt[:3])
    assert [p.shape for p in probs] == [(len(x), 2) for x in Xt[:3]]


def test_strings_are_split(fitted):
    assert fitted.predict(["he went unto moses"]) == fitted.predict(
        [["he", "went", "unto", "moses"]]
    )


def test_char_encoder_tags_unseen_names():
    """Names seen only in spelling patterns: the char CNN generalises to unseen '-el' names."""
    rng = np.random.default_rng(0)
    stems = [
        "abi",
        "dani",
        "sami",
        "ezeki",
        "gabri",
        "ithi",
        "joni",
        "kabi",
        "mani",
        "nathani",
        "ori",
        "peni",
    ]
    filler = "and he went said unto the of a land in it was".split()

    def make(stem_list, n):
        X, y = [], []
        for _ in range(n):
            toks = list(rng.choice(filler, size=4))
            toks.insert(int(rng.integers(0, 5)), str(rng.choice(stem_list)) + "el")
            X.append(toks)
            y.append(["NAME" if t.endswith("el") else "O" for t in toks])
        return X, y

    X, y = make(stems[:8], 200)
    Xt, yt = make(stems[8:], 40)
    # word_dropout=0: no <unk> training, so the word-only model cannot know unseen names
    params = {**SMALL, "max_epochs": 20, "word_dropout": 0.0}
    with_chars = SequenceTagger(**params, char_dim=8, char_filters=16).fit(X, y)
    without = SequenceTagger(**params).fit(X, y)
    f_chars = with_chars.report(Xt, yt)["NAME"]["f1"]
    f_words = without.report(Xt, yt).get("NAME", {"f1": 0.0})["f1"]
    print(f"unseen -el names: NAME F1 with chars {f_chars:.3f}, words only {f_words:.3f}")
    assert f_chars >= 0.9 and f_chars > f_words


def test_clone_pickle_reproducible(fitted):
    X, y = toy_task(40, seed=3)
    again = pickle.loads(pickle.dumps(fitted))
    assert again.predict(X) == fitted.predict(X)
    c = clone(fitted)
    assert c.get_params() == fitted.get_params() and not hasattr(c, "net_")
    Xtr, ytr = toy_task()
    p1 = SequenceTagger(**{**SMALL, "max_epochs": 2}).fit(Xtr, ytr).predict_proba(X[:5])
    p2 = SequenceTagger(**{**SMALL, "max_epochs": 2}).fit(Xtr, ytr).predict_proba(X[:5])
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize(
    "X, y, match",
    [
        ([["a", "b"]], [["O"]], r"y\[0\] has 1 tags for 2 tokens"),
        ([["a", "b"], ["c"]], [["O", "N"]], "different lengths"),
        ([["a", "b"]], [["O", "O"]], "at least 2 distinct tags"),
        ([["a", "b"], []], [["O", "N"], []], r"X\[1\] is an empty document"),
        ([["a"]], ["O"], r"y\[0\] must be a list of tags"),
        ([["a"]], None, "requires y"),
    ],
)
def test_bad_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        SequenceTagger(**SMALL).fit(X, y)


def test_kjv_names_quality_against_most_frequent_tag():
    """A small BiLSTM with a char CNN on 2000 verses beats the most-frequent-tag baseline
    trained on the same verses, on NAME F1 over every third test verse."""
    X, y = corpora.load("kjv-names", "train")
    Xt, yt = corpora.load("kjv-names", "test")
    idx = np.random.default_rng(0).choice(len(X), 2000, replace=False)
    Xs, ys = [X[i] for i in idx], [y[i] for i in idx]
    Xt, yt = Xt[::3], yt[::3]
    seen = {}
    for toks, tags in zip(Xs, ys):
        for w, t in zip(toks, tags):
            seen.setdefault(w, {}).setdefault(t, 0)
            seen[w][t] += 1
    mft = [[max(seen[w], key=seen[w].get) if w in seen else "O" for w in s] for s in Xt]
    gold = sum(yt, [])
    base = f1_score(gold, sum(mft, []), pos_label="NAME")
    tagger = SequenceTagger(
        embedding_dim=48,
        hidden_size=48,
        char_dim=16,
        char_filters=32,
        max_epochs=4,
        lr=5e-3,
        random_state=0,
        early_stopping=False,
    ).fit(Xs, ys)
    f1 = tagger.report(Xt, yt)["NAME"]["f1"]
    print(f"kjv-names 2000 verses: NAME F1 tagger {f1:.3f}, most-frequent-tag {base:.3f}")
    assert f1 >= base + 0.03


# ------------------------------------------------------------------------------ CLI
def conll(pairs_list):
    return "".join("".join(f"{w}\t{t}\n" for w, t in zip(*pairs)) + "\n" for pairs in pairs_list)


def test_cli_train_predict_eval(tmp_path):
    X, y = toy_task()
    data = tmp_path / "train.conll"
    data.write_text(conll(zip(X, y)))
    assert read_conll(data) == (X, y)
    model = tmp_path / "tagger.pkl"
    run = CliRunner().invoke
    r = run(
        cli,
        [
            "tag",
            "train",
            str(data),
            "-o",
            str(model),
            "--epochs",
            "10",
            "--embedding-dim",
            "16",
            "--hidden-size",
            "16",
            "--lr",
            "0.01",
            "--validation-fraction",
            "0",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0 and "epoch 10: loss" in r.output
    r = run(
        cli,
        ["--quiet", "tag", "predict", str(model), "and he went unto moses"],
        catch_exceptions=False,
    )
    assert r.output.strip() == "and/O he/O went/O unto/O moses/NAME"
    r = run(
        cli,
        ["--quiet", "tag", "predict", str(model), "lot said", "--conll"],
        catch_exceptions=False,
    )
    assert r.output.startswith("lot\tNAME\nsaid\tO\n")
    r = run(
        cli, ["--quiet", "tag", "eval", str(model), str(data), "--json"], catch_exceptions=False
    )
    rep = json.loads(r.output)
    assert rep["accuracy"] > 0.97 and rep["NAME"]["f1"] > 0.9
    table = run(
        cli, ["--quiet", "tag", "eval", str(model), str(data)], catch_exceptions=False
    ).output
    assert "token accuracy" in table and "NAME" in table


def test_cli_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("a\tO\nb\n")
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", "tag", "train", str(bad), "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.strip() == f"Error: {bad}:2: expected 'token<TAB>tag'"
