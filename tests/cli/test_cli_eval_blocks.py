"""``classify``, ``tag`` and ``seq2seq`` ``eval`` and ``predict --input`` read their file a
block at a time and sum the scores' statistics: on the bundled corpora's test splits, read
twice over (more than one block, 4096 lines), they print what the whole lists give:
scikit-learn's figures, corpus BLEU/chrF and WER, the model's predictions in one call."""
import json
import pathlib

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from nlpkit import corpora, metrics
from nlpkit.cli.main import cli
from nlpkit.cli.model_common import BLOCK
from nlpkit.text.readers import iter_pairs, read_conll, read_labelled
from nlpkit.models.io import load_model
from nlpkit.text import iter_lines

TINY = ["--epochs", "1", "--embedding-dim", "8", "--hidden-size", "8",
        "--validation-fraction", "0"]


def run(*args):
    r = CliRunner().invoke(cli, ["--quiet", *map(str, args)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """Small models, and the test splits twice over (a seq2seq set: KJV lines reversed)."""
    d = tmp_path_factory.mktemp("blocks")
    genre = list(iter_lines(corpora.path("kjv-genre")))[::40]
    (d / "genre-train.tsv").write_text("\n".join(genre) + "\n")
    for name, file in (("kjv-names", "names.conll"), ("kjv-genre", "genre.tsv")):
        (d / file).write_text(pathlib.Path(corpora.path(name, "test")).read_text() * 2)
    lines = [line.split()[:6] for line in iter_lines(corpora.path("kjv")) if line.strip()]
    pairs = ["{}\t{}".format(" ".join(w), " ".join(reversed(w))) for w in lines[:BLOCK + 900]]
    (d / "pairs.tsv").write_text("\n".join(pairs) + "\n")
    run("classify", "train", d / "genre-train.tsv", "-o", d / "c.nlpkit", "--encoder", "cnn",
        *TINY)
    run("tag", "train", d / "names.conll", "-o", d / "t.nlpkit", "--encoder", "cnn", *TINY)
    run("seq2seq", "train", d / "pairs.tsv", "-o", d / "s.nlpkit", "--max-output-length", "8",
        "--max-time", "3", *TINY)
    return d


def test_classify_eval_and_predict_equal_the_whole_lists(d):
    texts, gold = read_labelled(d / "genre.tsv")
    assert len(texts) > BLOCK
    clf = load_model(d / "c.nlpkit", kind="TextClassifier")
    pred = [str(x) for x in clf.predict(texts)]
    labels = [str(c) for c in clf.classes_] + sorted(set(gold) - {str(c) for c in clf.classes_})
    m = json.loads(run("classify", "eval", d / "c.nlpkit", d / "genre.tsv", "--json"))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    assert m["accuracy"] == float(np.mean(np.asarray(gold) == np.asarray(pred)))
    assert m["macro_f1"] == f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
    assert m["per_label"] == {lab: {"precision": p[i], "recall": r[i], "f1": f[i],
                                    "support": int(s[i])} for i, lab in enumerate(labels)}
    assert m["confusion_matrix"] == confusion_matrix(gold, pred, labels=labels).tolist()
    assert len(set(pred)) > 1  # a model that tells labels apart
    (d / "docs.txt").write_text("\n".join(texts) + "\n")
    proba = clf.predict_proba(texts)
    want = [f"{clf.classes_[row.argmax()]}\t{row.max():.4f}" for row in proba]
    assert run("classify", "predict", d / "c.nlpkit", "-i", d / "docs.txt",
               "--proba").splitlines() == want


def test_tag_eval_and_predict_equal_the_whole_lists(d):
    tokens, tags = read_conll(d / "names.conll")
    assert len(tokens) > BLOCK
    tagger = load_model(d / "t.nlpkit", kind="SequenceTagger")
    pred = tagger.predict(tokens)
    gold_flat = [t for sentence in tags for t in sentence]
    pred_flat = [t for sentence in pred for t in sentence]
    labels = sorted(set(gold_flat) | set(pred_flat))
    m = json.loads(run("tag", "eval", d / "t.nlpkit", d / "names.conll", "--json"))
    p, r, f, s = precision_recall_fscore_support(gold_flat, pred_flat, labels=labels,
                                                 zero_division=0)
    want = {lab: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
            for i, lab in enumerate(labels)}
    want["accuracy"] = float(np.mean(np.asarray(gold_flat) == np.asarray(pred_flat)))
    assert m == want
    (d / "sentences.txt").write_text("\n".join(" ".join(t) for t in tokens) + "\n")
    out = run("tag", "predict", d / "t.nlpkit", "-i", d / "sentences.txt").splitlines()
    assert out == [" ".join(f"{w}/{t}" for w, t in zip(ws, ts)) for ws, ts in zip(tokens, pred)]


def test_seq2seq_eval_and_predict_equal_the_whole_lists(d):
    src, tgt = map(list, zip(*iter_pairs(d / "pairs.tsv")))
    assert len(src) > BLOCK
    model = load_model(d / "s.nlpkit", kind="Seq2Seq")
    outputs = model.predict(src)
    hyps, refs = [" ".join(o) for o in outputs], [" ".join(t) for t in tgt]
    m = json.loads(run("seq2seq", "eval", d / "s.nlpkit", d / "pairs.tsv", "--json"))
    assert m == {"pairs": len(src), "bleu": metrics.corpus_bleu(hyps, [refs]).score,
                 "chrf": metrics.corpus_chrf(hyps, [refs]).score,
                 "wer": metrics.wer(outputs, tgt),
                 "exact_match": sum(o == t for o, t in zip(outputs, tgt)) / len(tgt)}
    assert m["bleu"] > 0
    (d / "sources.txt").write_text("\n".join(" ".join(s) for s in src) + "\n")
    assert run("seq2seq", "predict", d / "s.nlpkit", "-i", d / "sources.txt").splitlines() == hyps
