import gzip
import json

from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli
from nlpkit.text import Vocabulary


def invoke(*args, input=None):
    return CliRunner().invoke(cli, ["--quiet", *args], input=input, catch_exceptions=False)


def test_stats_json_and_oov(tmp_path):
    (tmp_path / "v.txt").write_text("the\ncat\n")
    src = tmp_path / "c.txt.gz"
    with gzip.open(src, "wt") as fh:
        fh.write("the cat sat\n\nthe dog\n")
    r = invoke("corpus", "stats", str(src), "--json", "--vocab", str(tmp_path / "v.txt"))
    s = json.loads(r.output)
    assert (s["sentences"], s["tokens"], s["types"], s["singletons"]) == (2, 5, 4, 3)
    assert (s["oov_tokens"], s["oov_types"]) == (2, 2) and abs(s["oov_rate"] - 0.4) < 1e-12
    assert s["type_token_curve"][-1] == {"tokens": 5, "types": 4}
    assert s["type_token_curve"][:3] == [{"tokens": 1, "types": 1}, {"tokens": 2, "types": 2},
                                         {"tokens": 5, "types": 4}]


def test_stats_on_stdin():
    r = invoke("corpus", "stats", "-", "--json", input="a b\nb c\n")
    assert json.loads(r.output)["types"] == 3


def test_vocab_matches_library(tmp_path):
    out = tmp_path / "kjv.vocab"
    r = invoke("corpus", "vocab", corpora.path("kjv", "test"), "-o", str(out), "--min-count", "2")
    assert r.exit_code == 0
    v = Vocabulary.load(out)
    from nlpkit.text import Corpus
    ref = Corpus.from_text(corpora.path("kjv", "test"), min_count=2).vocab
    assert v == ref


def test_tokenize_keeps_lines(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("The Cat, sat!\n\nA dog\n")
    r = invoke("corpus", "tokenize", str(src), "-o", "-", "--lower", "--pattern", "[a-z]+")
    assert r.output == "the cat sat\n\na dog\n"


def test_empty_corpus_vocab_fails_cleanly(tmp_path):
    src = tmp_path / "empty.txt"
    src.write_text("\n  \n")
    out = tmp_path / "v.txt"
    r = CliRunner().invoke(cli, ["corpus", "vocab", str(src), "-o", str(out)])
    assert r.exit_code != 0 and "the corpus has no tokens" in str(r.exception)
    assert not out.exists()
