"""``nlpkit classify train/predict/eval`` on small files in both input formats."""

import json
import os

import pytest
from click.testing import CliRunner

from nlpkit.cli.main import cli, main
from nlpkit.text.readers import read_labelled
from nlpkit.models.io import load_model, save_model

LINES = [
    ("sports", "the goal was fine"),
    ("money", "the bank is open"),
    ("food", "fresh bread today"),
    ("sports", "a late goal again"),
    ("money", "my bank account"),
    ("food", "bread and butter"),
]


def invoke(*args):
    return CliRunner().invoke(cli, ["--quiet", *args], catch_exceptions=False)


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", *args])
    return exc.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("classify")
    tsv, ft = d / "train.tsv", d / "train.ft"
    tsv.write_text("".join(f"{lab}\t{text}\n" for lab, text in LINES * 20))
    ft.write_text("".join(f"__label__{lab} {text}\n" for lab, text in LINES * 20) + "\n")
    return d, tsv, ft


@pytest.fixture(scope="module")
def model(files):
    d, tsv, _ = files
    out = d / "model.pkl.gz"
    r = invoke(
        "classify",
        "train",
        str(tsv),
        "-o",
        str(out),
        "--encoder",
        "gru",
        "--epochs",
        "15",
        "--embedding-dim",
        "16",
        "--hidden-size",
        "16",
        "--lr",
        "0.02",
        "--validation-fraction",
        "0",
    )
    assert r.exit_code == 0, r.output
    return out


def test_readers_agree(files):
    _, tsv, ft = files
    assert read_labelled(tsv) == read_labelled(ft)
    texts, labels = read_labelled(ft)
    assert texts[0] == "the goal was fine" and labels[:3] == ["sports", "money", "food"]


def test_train_writes_a_loadable_model(model, files):
    clf = load_model(model, kind="TextClassifier")
    assert clf.encoder == "gru" and clf.n_epochs_ == 15
    assert set(clf.classes_) == {"sports", "money", "food"}
    assert not [f for f in os.listdir(files[0]) if ".tmp" in f]  # no temp file left behind


def test_train_passes_pooling_word_dropout_word_ngrams_and_adversarial(files, tmp_path):
    _, tsv, _ = files
    out = tmp_path / "m.pkl"
    r = invoke("classify", "train", str(tsv), "-o", str(out), "--encoder", "cnn", "--epochs", "1",
               "--embedding-dim", "8", "--hidden-size", "4", "--pooling", "max+mean",
               "--word-dropout", "0.1", "--optimizer", "adamw", "--word-ngrams", "2",
               "--adversarial", "0.5")
    assert r.exit_code == 0, r.output
    clf = load_model(out, kind="TextClassifier")
    assert (clf.pooling, clf.word_dropout, clf.optimizer) == ("max+mean", 0.1, "adamw")
    assert clf.word_ngrams == 2 and clf.bigram_vocab_ is not None and clf.adversarial == 0.5
    r = CliRunner().invoke(cli, ["--quiet", "classify", "train", str(tsv), "-o", str(out),
                                 "--word-dropout", "1"])
    assert r.exit_code != 0 and "--word-dropout" in r.output
    r = CliRunner().invoke(cli, ["--quiet", "classify", "train", str(tsv), "-o", str(out),
                                 "--word-ngrams", "3"])
    assert r.exit_code != 0 and "--word-ngrams" in r.output
    r = CliRunner().invoke(cli, ["--quiet", "classify", "train", str(tsv), "-o", str(out),
                                 "--adversarial", "-1"])
    assert r.exit_code != 0 and "--adversarial" in r.output


def test_predict(model):
    r = invoke("classify", "predict", str(model), "what a goal", "the bank", "--proba")
    rows = [line.split("\t") for line in r.output.strip().splitlines()]
    assert [lab for lab, _ in rows] == ["sports", "money"]
    assert all(0 < float(p) <= 1 for _, p in rows)


def test_predict_from_file(model, tmp_path):
    f = tmp_path / "docs.txt"
    f.write_text("bread please\nthe goal\n")
    r = invoke("classify", "predict", str(model), "-i", str(f))
    assert r.output.split() == ["food", "sports"]


def test_predict_from_file_names_a_blank_line(model, tmp_path, capsys):
    f = tmp_path / "docs.txt"
    f.write_text("bread please\n\nthe goal\n")
    code, err = run_main(["classify", "predict", str(model), "-i", str(f)], capsys)
    assert code != 0 and err.strip() == f"Error: {f}:2: an empty line: no document"
    f.write_text("")
    code, err = run_main(["classify", "predict", str(model), "-i", str(f)], capsys)
    assert code != 0 and err.strip() == f"Error: {f}: no documents"


def test_eval_json_and_table(model, files):
    _, _, ft = files
    r = invoke("classify", "eval", str(model), str(ft), "--json")
    m = json.loads(r.output)
    assert m["n"] == 120 and m["accuracy"] == 1.0 and m["macro_f1"] == 1.0
    assert sum(map(sum, m["confusion_matrix"])) == 120
    table = invoke("classify", "eval", str(model), str(ft)).output
    assert "macro-F1 1.0000" in table and "confusion matrix" in table


def test_progress_lines_show_loss_and_accuracy(files, tmp_path):
    _, tsv, _ = files
    r = CliRunner().invoke(
        cli,
        [
            "classify",
            "train",
            str(tsv),
            "-o",
            str(tmp_path / "m"),
            "--epochs",
            "2",
            "--embedding-dim",
            "8",
            "--hidden-size",
            "8",
        ],
        catch_exceptions=False,
    )
    assert "epoch 2: loss" in r.output and "accuracy" in r.output and "val_loss" in r.output


def test_plot(files, tmp_path):
    import matplotlib  # noqa: F401  (the test extra installs it: fail, never skip)
    _, tsv, _ = files
    png = tmp_path / "curve.png"
    invoke(
        "classify",
        "train",
        str(tsv),
        "-o",
        str(tmp_path / "m"),
        "--epochs",
        "2",
        "--embedding-dim",
        "8",
        "--hidden-size",
        "8",
        "--plot",
        str(png),
    )
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_bad_input_is_one_line(files, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("sports\tok line\nno label here\n")
    code, err = run_main(["classify", "train", str(bad), "-o", str(tmp_path / "m")], capsys)
    assert (
        code == 1
        and err.strip() == f"Error: {bad}:2: expected '__label__X text' or 'label<TAB>text'"
    )
    one = tmp_path / "one.txt"
    one.write_text("sports\ta\nsports\tb\n")
    code, err = run_main(["classify", "train", str(one), "-o", str(tmp_path / "m")], capsys)
    assert code == 1 and "at least 2 classes" in err and len(err.strip().splitlines()) == 1
    code, err = run_main(["classify", "predict", str(files[1]), "x"], capsys)
    assert code == 1 and "not an nlpkit model file" in err
    code, err = run_main(["classify", "eval", str(tmp_path / "missing"), str(files[1])], capsys)
    assert code == 1 and "no such file" in err


def test_model_kind_is_checked(tmp_path):
    from nlpkit import nn

    with pytest.raises(ValueError, match="cannot save a dict"):
        save_model({"not": "a classifier"}, tmp_path / "dict.nlpkit")
    path = tmp_path / "m.nlpkit"
    nn.Linear(2, 3).save(path)
    with pytest.raises(ValueError, match="holds a Linear, not a TextClassifier"):
        load_model(path, kind="TextClassifier")
