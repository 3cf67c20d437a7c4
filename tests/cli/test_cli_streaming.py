"""Commands that read a corpus or a test set stream it: four copies of the input (the same
vocabulary) must not take much more memory than one.

Each command runs in a fresh interpreter and its peak resident memory is read from the
kernel (``os.wait4`` gives that child's own ``ru_maxrss``; see ``_MEASURE``).  The bound is
``peak(4x) <= 1.25 * peak(1x) + SLACK_MB``: the interpreter, NumPy, Numba and the
model take most of one copy's peak (about 150 MB), so a command that held its input
would add three copies' worth on top, far more than a quarter of that.  ``SLACK_MB``
covers what does not depend on the input yet varies from run to run: the allocator's
arenas and the resident share of mapped library files (a few MB each; 1x and 4x of the
streaming commands differ by 0-9 MB here).  Each input is large enough that a command
holding it in Python objects or whole arrays exceeds the bound (the code before streaming
did), small enough to run in a few seconds; see ``texts``.
"""
import gzip
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLACK_MB = 12


# Linux keeps a process's peak across exec, and a child made by fork or vfork starts from
# the parent's: a command started from pytest (hundreds of MB after building the models)
# would never report less than pytest's size.  So a small interpreter starts it and
# reports its peak.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
print(proc.returncode, usage.ru_maxrss)
"""


def peak_rss_mb(args, tmp_path):
    """Run ``nlpkit ARGS`` in a fresh process; its peak resident memory in MB."""
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as fh:
        out = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable,
                              str(ROOT / "bin" / "nlpkit"), "--quiet", *args],
                             stdout=subprocess.PIPE, stderr=fh, check=True, text=True).stdout
    code, peak_kb = map(int, out.split())
    assert code == 0, err.read_text()
    return peak_kb / 1024  # (KB on Linux)


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    """Inputs once and four times over (the same vocabulary), and small models to score them.

    ``kjv``: the KJV training text, 30k lines.  ``kjvq``: its first quarter (best-mix and
    --mix score in NumPy, not in a kernel).  ``genre``: kjv-genre's 28k labelled lines.
    ``names``: the first 40% of kjv-names's tagged tokens (300k lines).  ``toy``: 20-word
    lines over a 10-letter vocabulary; the models on it are tiny, so memory is the text's
    (``lm``: 30k lines; ``lm-train``: 15k lines of 80 tokens; ``embed``: 300k lines, 6M
    tokens, of which subsampling trains a few; ``mlm``: 80k lines; ``pairs``: 40k seq2seq
    pairs of 10 words).  ``kjvh``: the KJV text's first half, 15k lines (tag and seq2seq
    predict); ``kjvh-pairs``: two of its lines a source, each with the one-word target ``a``
    (seq2seq eval: the sources' words are what a command holding its input would keep;
    a one-word output, ``--max-output-length 1``, keeps decoding and scoring quick).  The
    tiny classifier, tagger and seq2seq models of eval and predict are trained here once,
    on a few hundred items, for a second.
    """
    d = tmp_path_factory.mktemp("streaming")
    with gzip.open(corpora.path("kjv"), "rb") as fh:
        kjv = fh.read()
    rng = np.random.default_rng(0)
    toy = np.full((300_000, 40), ord(" "), np.uint8)
    toy[:, 0::2] = rng.integers(ord("a"), ord("k"), size=(300_000, 20))
    toy[:, -1] = ord("\n")
    toy = toy.tobytes()
    long_lines = toy[:60_000 * 40].replace(b"\n", b" ")  # 80-token lines for lm train
    long_lines = b"\n".join(long_lines[i:i + 160].rstrip() for i in range(0, len(long_lines), 160))
    pairs = np.frombuffer(toy[:40_000 * 40], np.uint8).reshape(-1, 40).copy()
    pairs[:, 19] = ord("\t")  # 10 words, a tab, 10 words
    with gzip.open(corpora.path("kjv-genre"), "rb") as fh:
        genre = fh.read()
    with gzip.open(corpora.path("kjv-names"), "rb") as fh:
        names = fh.read()
    names = names[:names.index(b"\n\n", len(names) * 2 // 5) + 2]
    kjvh = kjv[:kjv.index(b"\n", len(kjv) // 2) + 1]
    verses = [line for line in kjvh.splitlines() if line.strip()]
    kjvh_pairs = b"".join(b" ".join(verses[i:i + 2]) + b"\ta\n" for i in range(0, len(verses), 2))
    inputs = {"kjvh": kjvh, "kjvh-pairs": kjvh_pairs,
              "kjv": kjv, "kjvq": kjv[:kjv.index(b"\n", len(kjv) // 4) + 1], "embed": toy,
              "genre": genre, "names": names, "pairs": pairs.tobytes(),
              "lm": toy[:30_000 * 40], "mlm": toy[:80_000 * 40], "lm-train": long_lines + b"\n"}
    for name, text in inputs.items():
        (d / f"{name}-1.txt").write_bytes(text)
        (d / f"{name}-4.txt").write_bytes(text * 4)
    # order-2 models of the KJV test text: small, so memory is the scored text's
    test = str(ROOT / "tests" / "data" / "ngram" / "kjv" / "test.txt")
    for name, smoothing in (("gt2", "katz"), ("kn2", "kn")):
        r = CliRunner().invoke(cli, ["--quiet", "ngram", "build", test, "-o", str(d / f"{name}.arpa"),
                                     "--order", "2", "--smoothing", smoothing])
        assert r.exit_code == 0, r.output
    (d / "lm-train.txt").write_bytes(toy[:2000 * 40])
    r = CliRunner().invoke(cli, ["--quiet", "lm", "train", str(d / "lm-train.txt"), "-o",
                                 str(d / "lm.nlpkit"), "--epochs", "1", "--embedding-dim", "4",
                                 "--hidden-size", "4", "--validation-fraction", "0"])
    assert r.exit_code == 0, r.output
    tiny = ["--epochs", "1", "--embedding-dim", "4", "--hidden-size", "4",
            "--validation-fraction", "0", "--max-time", "1"]
    genre_lines = genre.splitlines(keepends=True)
    (d / "genre-train.txt").write_bytes(b"".join(genre_lines[::100]))  # every label
    (d / "names-train.txt").write_bytes(names[:names.index(b"\n\n", 20_000) + 2])
    (d / "pairs-train.txt").write_bytes(pairs[:500].tobytes())
    for command, name, extra in (("classify", "genre", ["--encoder", "cnn"]),
                                 ("tag", "names", ["--encoder", "cnn"]),
                                 ("seq2seq", "pairs", ["--max-output-length", "1"])):
        r = CliRunner().invoke(cli, ["--quiet", command, "train", str(d / f"{name}-train.txt"),
                                     "-o", str(d / f"{command}.nlpkit"), *tiny, *extra])
        assert r.exit_code == 0, r.output
    return d


def check(args_of, texts, name, tmp_path):
    """``args_of(text)``: the command line reading ``text``; 1x and 4x within the bound."""
    peak1, peak4 = (peak_rss_mb(args_of(str(texts / f"{name}-{n}.txt")), tmp_path)
                    for n in (1, 4))
    assert peak4 <= 1.25 * peak1 + SLACK_MB, f"1x: {peak1:.0f} MB, 4x: {peak4:.0f} MB"


def test_ngram_ppl_streams(texts, tmp_path):
    check(lambda text: ["ngram", "ppl", str(texts / "gt2.arpa"), text], texts, "kjv", tmp_path)


def test_ngram_ppl_mix_streams(texts, tmp_path):
    check(lambda text: ["ngram", "ppl", str(texts / "gt2.arpa"), text, "--mix",
                        str(texts / "kn2.arpa")], texts, "kjvq", tmp_path)


def test_ngram_best_mix_streams(texts, tmp_path):
    check(lambda text: ["ngram", "best-mix", str(texts / "gt2.arpa"), str(texts / "kn2.arpa"),
                        "--dev", text], texts, "kjvq", tmp_path)


def test_lm_ppl_streams(texts, tmp_path):
    check(lambda text: ["lm", "ppl", str(texts / "lm.nlpkit"), text], texts, "lm", tmp_path)


def test_embed_train_streams(texts, tmp_path):
    # heavy subsampling (--sample 1e-5 keeps about 1% of these 10 frequent words): the
    # reading, encoding and spilling of all the tokens is what is measured, quickly
    check(lambda text: ["embed", "train", text, "-o", str(tmp_path / "v.txt"), "--dim", "8",
                        "--epochs", "1", "--min-count", "1", "--sample", "1e-5"],
          texts, "embed", tmp_path)


def test_lm_train_streams(texts, tmp_path):
    # --max-time 1: reading, encoding and spilling the text is what is measured; the one
    # second of training gathers its batches from the spilled ids
    check(lambda text: ["lm", "train", text, "-o", str(tmp_path / "lm.nlpkit"), "--epochs", "1",
                        "--embedding-dim", "4", "--hidden-size", "4", "--validation-fraction",
                        "0", "--max-time", "1"], texts, "lm-train", tmp_path)


def test_classify_train_streams(texts, tmp_path):
    # a tiny CNN for half a second: reading, splitting and spilling the documents is measured
    check(lambda text: ["classify", "train", text, "-o", str(tmp_path / "c.nlpkit"), "--encoder",
                        "cnn", "--epochs", "1", "--embedding-dim", "4", "--hidden-size", "4",
                        "--validation-fraction", "0", "--max-time", "0.5"],
          texts, "genre", tmp_path)


def test_tag_train_streams(texts, tmp_path):
    # a tiny CNN for half a second: reading, checking and spilling the sentences is measured
    check(lambda text: ["tag", "train", text, "-o", str(tmp_path / "t.nlpkit"), "--encoder",
                        "cnn", "--epochs", "1", "--embedding-dim", "4", "--hidden-size", "4",
                        "--validation-fraction", "0", "--max-time", "0.5"],
          texts, "names", tmp_path)


def test_seq2seq_train_streams(texts, tmp_path):
    # a tiny model for half a second: reading, splitting and spilling the pairs is measured
    check(lambda text: ["seq2seq", "train", text, "-o", str(tmp_path / "s.nlpkit"), "--epochs",
                        "1", "--embedding-dim", "4", "--hidden-size", "4",
                        "--validation-fraction", "0", "--max-time", "0.5"],
          texts, "pairs", tmp_path)


def test_lm_train_mlm_streams(texts, tmp_path):
    # a tiny transformer for half a second: reading, splitting and spilling is measured
    check(lambda text: ["lm", "train", text, "-o", str(tmp_path / "m.nlpkit"), "--objective",
                        "mlm", "--epochs", "1", "--embedding-dim", "4", "--hidden-size", "4",
                        "--nhead", "1", "--validation-fraction", "0", "--max-time", "0.5"],
          texts, "mlm", tmp_path)


def test_classify_eval_streams(texts, tmp_path):
    check(lambda text: ["classify", "eval", str(texts / "classify.nlpkit"), text], texts,
          "genre", tmp_path)


def test_classify_predict_streams(texts, tmp_path):
    # each labelled line read as a document (its label one more word)
    check(lambda text: ["classify", "predict", str(texts / "classify.nlpkit"), "-i", text],
          texts, "genre", tmp_path)


def test_tag_eval_streams(texts, tmp_path):
    check(lambda text: ["tag", "eval", str(texts / "tag.nlpkit"), text], texts, "names",
          tmp_path)


def test_tag_predict_streams(texts, tmp_path):
    check(lambda text: ["tag", "predict", str(texts / "tag.nlpkit"), "-i", text], texts,
          "kjvh", tmp_path)


def test_seq2seq_eval_streams(texts, tmp_path):
    check(lambda text: ["seq2seq", "eval", str(texts / "seq2seq.nlpkit"), text], texts,
          "kjvh-pairs", tmp_path)


def test_seq2seq_predict_streams(texts, tmp_path):
    check(lambda text: ["seq2seq", "predict", str(texts / "seq2seq.nlpkit"), "-i", text],
          texts, "kjvh", tmp_path)
