"""CLI: Kneser-Ney builds, pruning, mixing and filtering."""
import gzip
import json

from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def test_kn_build_is_lmplz_and_options_are_checked(tmp_path, data_dir):
    out = tmp_path / "kn3.arpa"
    r = run("ngram", "build", corpora.path("kjv"), "-o", str(out), "--smoothing", "kn")
    assert r.exit_code == 0, r.output
    with gzip.open(data_dir / "ngram" / "kjv" / "lmplz.kn3.arpa.gz", "rb") as fh:
        assert out.read_bytes() == fh.read()
    r = run("ngram", "build", corpora.path("kjv"), "-o", str(tmp_path / "x.arpa"), "--prune", "0 1")
    assert r.exit_code != 0 and "go with --smoothing kn" in str(r.exception)
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
