"""CLI: Kneser-Ney builds, pruning, mixing and filtering."""
import gzip
import json
import subprocess
import sys

from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli
from nlpkit.errors import NlpkitError


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def test_kn_build_is_lmplz_and_options_are_checked(tmp_path, data_dir):
    out = tmp_path / "kn3.arpa"
    r = run("ngram", "build", corpora.path("kjv"), "-o", str(out), "--smoothing", "kn")
    assert r.exit_code == 0, r.output
    with gzip.open(data_dir / "ngram" / "kjv" / "lmplz.kn3.arpa.gz", "rb") as fh:
        assert out.read_bytes() == fh.read()
    r = run("ngram", "build", corpora.path("kjv"), "-o", str(tmp_path / "x.arpa"), "--prune", "0 1")
    assert r.exit_code != 0 and "--smoothing kn" in str(r.exception)
    assert not (tmp_path / "x.arpa").exists()


def test_prune_mix_bestmix_filter(tmp_path, data_dir):
    kjv = data_dir / "ngram" / "kjv"
    gt3, kn3, test = str(kjv / "srilm.gt3.arpa.gz"), str(kjv / "lmplz.kn3.arpa.gz"), str(kjv / "test.txt")
    pruned = tmp_path / "p.arpa"
    assert run("ngram", "prune", gt3, "-o", str(pruned), "--threshold", "1e-7").exit_code == 0
    r = run("ngram", "ppl", str(pruned), test, "--json")
    assert 71.98 < json.loads(r.output)["ppl"] < 71.98 * 1.05
    r = run("ngram", "ppl", gt3, test, "--mix", kn3, "--lambda", "0.3", "--json")
    mixed = json.loads(r.output)
    assert mixed["oovs"] == 0 and mixed["ppl"] < 71.98
    r = run("ngram", "best-mix", gt3, kn3, "--dev", test, "--json")
    best = json.loads(r.output)
    assert abs(sum(best["lambdas"]) - 1) < 1e-9 and best["ppl"] <= mixed["ppl"]
    out = tmp_path / "mix.arpa.gz"
    assert run("ngram", "mix", gt3, kn3, "--lambda", "0.3", "-o", str(out)).exit_code == 0
    r = run("ngram", "ppl", str(out), test, "--json")
    assert abs(json.loads(r.output)["ppl"] / mixed["ppl"] - 1) < 0.02
    (tmp_path / "v.txt").write_text("in\nthe\nbeginning\n")
    out = tmp_path / "f.arpa"
    assert run("ngram", "filter", kn3, "--vocab", str(tmp_path / "v.txt"), "-o", str(out)).exit_code == 0
    assert "ngram 1=6" in out.read_text()
    r = run("ngram", "ppl", gt3, test, "--mix", kn3, "--lambda", "0.7 0.7")
    assert r.exit_code != 0 and "sum to 1" in str(r.exception)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, data_dir):
    """Issue 8's bad inputs: each a one-line error naming the problem, and no output file
    (nor a temporary one) left behind."""
    kjv = data_dir / "ngram" / "kjv"
    gt3, kn3 = str(kjv / "srilm.gt3.arpa.gz"), str(kjv / "lmplz.kn3.arpa.gz")
    toy = tmp_path / "toy.txt"
    toy.write_text("a b c\na b\nb c a\n")  # unigram n1 = 0: lmplz refuses (LMPLZ-KN.md §3)
    models = tmp_path / "models"
    models.mkdir()
    toy3, kjv2 = str(models / "toy3.arpa"), str(models / "kjv2.arpa")
    assert run("ngram", "build", str(toy), "-o", toy3, "--smoothing", "kn",
               "--discount-fallback", "default").exit_code == 0
    assert run("ngram", "build", corpora.path("kjv"), "-o", kjv2, "--order", "2",
               "--smoothing", "kn").exit_code == 0
    out = tmp_path / "out" / "model.arpa"
    out.parent.mkdir()
    cases = [
        (["ngram", "build", str(toy), "--smoothing", "kn"], "discounts of order 1"),
        (["ngram", "build", str(toy), "--smoothing", "kn", "--prune", "0 2 1"], "must not decrease"),
        (["ngram", "mix", gt3, kn3, "--lambda", "0.7 0.7"], "sum to 1"),
        (["ngram", "mix", gt3, kn3, "--lambda", "0.2 0.3"], "sum to 1"),
        (["ngram", "mix", gt3, kjv2, "--lambda", "0.5"], "same order"),
        (["ngram", "mix", gt3, toy3, "--lambda", "0.5"], "different vocabulary"),
    ]
    for args, message in cases:
        r = run(*args, "-o", str(out))
        assert r.exit_code != 0 and isinstance(r.exception, NlpkitError), (args, r.output)
        assert message in str(r.exception) and "\n" not in str(r.exception), str(r.exception)
        assert list(out.parent.iterdir()) == [], args
    # as a user sees it: one line on stderr, exit status 1
    p = subprocess.run([sys.executable, "-c", "from nlpkit.cli import main; main()", "ngram",
                        "build", str(toy), "--smoothing", "kn", "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith("Error: cannot estimate the Kneser-Ney discounts of order 1")
    assert p.stderr.count("\n") == 1 and list(out.parent.iterdir()) == []
