"""``nlpkit ngram``: every command through click's CliRunner, errors through the real entry point."""
import json
import re
import subprocess
import sys

import kenlm  # a test dependency (pip install .[test]): parity needs it
import pytest
from click.testing import CliRunner

from nlpkit.cli.main import cli


def run(*args):
    res = CliRunner().invoke(cli, ["--quiet", "ngram", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def main(*args, cwd=None):
    """The console entry point in a fresh interpreter (as users run it)."""
    return subprocess.run([sys.executable, "-c", "from nlpkit.cli.main import main; main()",
                           *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def kjv(data_dir):
    return data_dir / "ngram" / "kjv"


@pytest.fixture(scope="module")
def small(tmp_path_factory, kjv):
    """A 3-gram model built from the KJV test verses (small, fast)."""
    d = tmp_path_factory.mktemp("ngram")
    corpus = d / "corpus.txt"
    corpus.write_text((kjv / "test.txt").read_text())
    run("build", corpus, "-o", d / "m.arpa", "--order", 3)
    return d


def test_build_ppl_matches_srilm(tmp_path, kjv):
    out = tmp_path / "gt3.arpa.gz"
    run("build", kjv / "train.txt.gz", "-o", out, "--order", 3)
    res = run("ppl", out, kjv / "test.txt")
    ref = (kjv / "ppl_srilm.txt").read_text().split("== srilm.gt3 ")[1].splitlines()[1:3]
    lines = res.output.strip().splitlines()
    assert re.sub(r"^file \S+: ", "", lines[0]) == re.sub(r"^file \S+: ", "", ref[0])
    assert lines[1] == ref[1]
    js = json.loads(run("ppl", out, kjv / "test.txt", "--json").output)
    assert list(js) == ["sentences", "words", "oovs", "zeroprobs", "logprob", "ppl", "ppl1"]
    assert "%.7g" % js["ppl"] == ref[1].split("ppl= ")[1].split()[0]


def test_count_then_build_from_counts_equals_build(small):
    counts = small / "c.counts.gz"
    run("count", small / "corpus.txt", "-o", counts, "--order", 3)
    run("build", "--counts", counts, "-o", small / "fromcounts.arpa", "--order", 3)
    assert (small / "fromcounts.arpa").read_text() == (small / "m.arpa").read_text()


def test_gt_options_change_the_model(small):
    run("build", small / "corpus.txt", "-o", small / "g.arpa", "--order", 3, "--gt3min", 1,
        "--gtmax", "2=5")
    run("build", small / "corpus.txt", "-o", small / "g2.arpa", "--order", 3, "--gtmin", "3=1",
        "--gt2max", 5)
    assert (small / "g.arpa").read_text() == (small / "g2.arpa").read_text()
    assert (small / "g.arpa").read_text() != (small / "m.arpa").read_text()


def test_score_matches_kenlm_and_summary_on_stderr(small):
    lines = (small / "corpus.txt").read_text().splitlines()[:30]
    text = small / "few.txt"
    text.write_text("\n".join(lines + ["", "zzz unknown"]) + "\n")
    res = CliRunner().invoke(cli, ["ngram", "score", str(small / "m.arpa"), str(text)])
    assert res.exit_code == 0
    numbers = [float(x) for x in res.stdout.split()]
    km = kenlm.Model(str(small / "m.arpa"))
    assert len(numbers) == 32
    for line, x in zip(lines + ["", "zzz unknown"], numbers):
        assert abs(x - km.score(line)) < 1e-4
    assert "32 lines" in res.stderr


def test_convert_info_generate(small):
    run("convert", small / "m.arpa", "-o", small / "m.nlpkit")
    run("convert", small / "m.nlpkit", "-o", small / "back.arpa")
    a = run("ppl", small / "m.arpa", small / "corpus.txt").output
    b = run("ppl", small / "m.nlpkit", small / "corpus.txt").output
    c = run("ppl", small / "back.arpa", small / "corpus.txt").output
    assert a.splitlines()[1] == b.splitlines()[1] == c.splitlines()[1]
    info = run("info", small / "m.nlpkit").output
    assert "order: 3" in info and "nlpkit binary" in info and re.search(r"ngram 3=\d+", info)
    g1 = run("generate", small / "m.nlpkit", "-n", 4, "--seed", 5).output
    g2 = run("generate", small / "m.arpa", "-n", 4, "--seed", 5).output
    assert g1 == g2 and len(g1.strip().splitlines()) <= 4


def _one_error_line(res):
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


def test_bad_input_gives_one_line_and_leaves_no_file(tmp_path, data_dir, small):
    corpus = small / "corpus.txt"
    out = tmp_path / "out.arpa"
    edge = data_dir / "ngram" / "arpa-edge"
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n")
    (tmp_path / "dup.vocab").write_text("a\nb\na\n")
    cases = [
        ("ppl", edge / "no_end.arpa", corpus),
        ("score", edge / "no_end.arpa", corpus),
        ("convert", edge / "no_end.arpa", "-o", out),
        ("ppl", tmp_path / "missing.arpa", corpus),
        ("ppl", small / "m.arpa", tmp_path / "missing.txt"),
        ("build", corpus, "-o", out, "--order", 0),
        ("build", corpus, "-o", out, "--order", 99),
        ("build", tmp_path / "empty.txt", "-o", out),
        ("build", tmp_path / "blank.txt", "-o", out),
        ("build", corpus, "-o", out, "--vocab", tmp_path / "dup.vocab"),
        ("build", tmp_path / "nothere.txt", "-o", out),
        ("build", corpus, "-o", tmp_path / "model.unknown"),
        ("count", corpus, "-o", tmp_path / "c.txt", "--order", 0),
    ]
    for args in cases:
        line = _one_error_line(main("ngram", *args))
        assert len(line) < 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt", "dup.vocab", "empty.txt"]


def test_bad_input_every_command_and_smoothing(tmp_path, small):
    """Issue 3's bad-input line for count and both smoothings: empty and blank-only
    corpora, orders out of range, unreadable paths (a directory), duplicated vocabulary
    words, a model that is not one: one line, exit status 1, no file left behind."""
    corpus, model = small / "corpus.txt", small / "m.arpa"
    out, counts = tmp_path / "out.arpa", tmp_path / "c.txt"
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n")
    (tmp_path / "dup.vocab").write_text("a\nb\na\n")
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)))
    (tmp_path / "adir").mkdir()
    inputs = sorted(p.name for p in tmp_path.iterdir())
    empty, blank = tmp_path / "empty.txt", tmp_path / "blank.txt"
    dup, adir = tmp_path / "dup.vocab", tmp_path / "adir"
    kn = ("--smoothing", "kn")
    cases = [
        ("count", empty, "-o", counts),
        ("count", blank, "-o", counts),
        ("count", corpus, "-o", counts, "--order", 99),
        ("count", adir, "-o", counts),
        ("count", corpus, "-o", counts, "--vocab", dup),
        ("build", empty, "-o", out, *kn),
        ("build", blank, "-o", out, *kn),
        ("build", corpus, "-o", out, *kn, "--order", 0),
        ("build", corpus, "-o", out, *kn, "--order", 99),
        ("build", corpus, "-o", out, *kn, "--limit-vocab", dup),
        ("build", adir, "-o", out, *kn),
        ("build", adir, "-o", out),
        ("build", corpus, "-o", tmp_path / "out.nlpkit", "--order", 0),
        ("ppl", adir, corpus),
        ("ppl", model, adir),
        ("score", model, adir),
        ("ppl", tmp_path / "garbage.bin", corpus),
        ("convert", tmp_path / "garbage.bin", "-o", tmp_path / "out.nlpkit"),
    ]
    for args in cases:
        line = _one_error_line(main("ngram", *args))
        assert len(line) < 300, line
        assert "Traceback" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == inputs
