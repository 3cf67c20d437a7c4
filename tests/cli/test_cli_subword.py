import subprocess
import sys

from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli
from nlpkit.text import load_tokenizer


def invoke(*args, input=None):
    return CliRunner().invoke(cli, ["--quiet", *args], input=input, catch_exceptions=False)


def test_train_encode_decode(tmp_path):
    out = tmp_path / "tok.json"
    r = invoke("subword", "train", corpora.path("kjv", "test"), "--vocab-size", "400",
               "--style", "metaspace", "-o", str(out))
    assert r.exit_code == 0, r.output
    tok = load_tokenizer(str(out))
    assert len(tok.vocab_) == 400
    r = invoke("subword", "encode", str(out), "-", input="in the beginning\n\ngod said\n")
    rows = r.output.split("\n")
    assert rows[:3] == [" ".join(map(str, tok.encode("in the beginning").tolist())), "",
                        " ".join(map(str, tok.encode("god said").tolist()))]
    r = invoke("subword", "encode", str(out), "-", "--tokens", input="god said\n")
    assert r.output.split() == tok.encode("god said", as_tokens=True)
    ids = tmp_path / "ids.txt"
    invoke("subword", "encode", str(out), corpora.path("kjv", "test"), "-o", str(ids))
    r = invoke("subword", "decode", str(out), str(ids))
    with open(corpora.path("kjv", "test"), encoding="utf-8") as fh:
        assert r.output.split("\n")[:5] == fh.read().split("\n")[:5]


def test_wordpiece_train(tmp_path):
    out = tmp_path / "wp.json"
    r = invoke("subword", "train", corpora.path("kjv", "test"), "--model", "wordpiece",
               "--vocab-size", "300", "-o", str(out))
    assert r.exit_code == 0
    assert load_tokenizer(str(out)).encode("god", as_tokens=True) == ["god"]


def run(*args, input=None):
    return subprocess.run([sys.executable, "-c", "from nlpkit.cli import main; main()", *args],
                          capture_output=True,
                          text=True, input=input)


def test_errors_are_one_line_and_non_zero(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for args in (["subword", "encode", str(bad), "-"],
                 ["subword", "train", str(tmp_path / "none.txt"), "-o", str(tmp_path / "x.json")],
                 ["subword", "train", corpora.path("kjv", "test"), "--training", "bpe",
                  "-o", str(tmp_path / "x.json")]):
        r = run(*args, input="")
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "x.json").exists()
