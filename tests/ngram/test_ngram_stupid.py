"""Stupid back-off (Brants et al. 2007): ``smoothing='stupid'``, built by the n-gram pipeline.

The scores are checked against a plain-Python stupid back-off over dict counts,
word by word; the ARPA file against KenLM's scores of it; the spilled build
against the in-memory one, byte for byte.
"""
import math
import warnings
from collections import Counter

import kenlm  # a test dependency (pip install .[test]): parity needs it
import numpy as np
import pytest
from click.testing import CliRunner

import nlpkit.ngram as ng
from nlpkit.cli.main import cli, main
from nlpkit.errors import NlpkitError
from nlpkit.ngram.counting import runs
from nlpkit.ngram.formats.binary import load
from nlpkit.ngram.lm import NGramLM
from nlpkit.ngram.scoring.scorer import NGramScorer

TRAIN = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
         "the cat saw the dog", "on the mat the cat sat", "dog and cat"]
# new text over the same words: back-offs from contexts seen in training, and from some
# never seen ("mat dog", "sat sat"), where ARPA's rule and Brants et al.'s recursion part
HELD_OUT = ["the cat sat on the log", "a dog sat on the mat", "the mat saw a cat",
            "cat dog the", "sat sat on a mat dog", "the log and the cat saw on"]


# ---------------------------------------------------------------- the reference
def counts_of(lines, order):
    """Counts of every n-gram of orders 1..order, sentences in <s> ... </s>."""
    c = Counter()
    for line in lines:
        toks = ["<s>", *line.split(), "</s>"]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                c[tuple(toks[i:i + n])] += 1
    return c


def reference_score(c, ctx, w, alpha, unseen_context_costs=True):
    """log10 S(w | ctx), straight from the definition.  ``unseen_context_costs=False``:
    backing off from a context the counts never held costs nothing (ARPA's rule)."""
    if not ctx:
        total = sum(v for g, v in c.items() if len(g) == 1 and g != ("<s>",))
        return math.log10(c[(w,)] / total)
    if c[ctx + (w,)] > 0:
        return math.log10(c[ctx + (w,)] / c[ctx])
    cost = math.log10(alpha) if (unseen_context_costs or c[ctx] > 0) else 0.0
    return cost + reference_score(c, ctx[1:], w, alpha, unseen_context_costs)


def reference_words(c, line, order, alpha, unseen_context_costs=True):
    toks = ["<s>", *line.split(), "</s>"]
    return [reference_score(c, tuple(toks[max(0, i - order + 1):i]), toks[i], alpha,
                            unseen_context_costs) for i in range(1, len(toks))]


def contexts_all_seen(c, line, order):
    """Per word: was every context it could back off from seen in training?"""
    toks = ["<s>", *line.split(), "</s>"]
    return [all(c[tuple(toks[j:i])] > 0 for j in range(max(0, i - order + 1), i))
            for i in range(1, len(toks))]


def ours(model, line):
    return [p for p, _, _ in NGramScorer(model).full_scores(line)]


# ---------------------------------------------------------------- scores
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("alpha", [0.4, 1.0])
def test_scores_are_stupid_backoff_word_by_word(order, alpha):
    model = ng.build(TRAIN, order, "stupid", alpha=alpha)
    assert model.meta["smoothing"] == "stupid" and model.meta["alpha"] == alpha
    c = counts_of(TRAIN, order)
    exact = backed_off = parted = 0
    for line in TRAIN + HELD_OUT:
        got = ours(model, line)
        brants = reference_words(c, line, order, alpha)
        arpa = reference_words(c, line, order, alpha, unseen_context_costs=False)
        np.testing.assert_allclose(got, arpa, rtol=0, atol=2e-6, err_msg=line)
        toks = ["<s>", *line.split(), "</s>"]
        for i, (g, b, a, seen) in enumerate(zip(got, brants, arpa,
                                                contexts_all_seen(c, line, order)), 1):
            if seen:  # then the ARPA model is Brants et al.'s recursion exactly
                assert abs(g - b) < 2e-6, line
                exact += 1
                backed_off += c[tuple(toks[max(0, i - order + 1):i + 1])] == 0
            parted += abs(a - b) > 1e-3
    assert exact > 40
    if order >= 2:
        assert backed_off > 5  # (not only n-grams seen in training)
    if order >= 3 and alpha < 1:  # the one difference (see the module) happens: "sat sat"
        assert parted > 0


def test_relative_frequencies_and_weights_as_written(tmp_path):
    """The 2-gram file of TRAIN: c(h w)/c(h), N without <s>, log10(0.4) on every context."""
    out = tmp_path / "m.arpa"
    ng.build(TRAIN, 2, "stupid", output=out)
    text = out.read_text()
    assert text.startswith("# nlpkit-smoothing: stupid alpha=0.4\n")
    lines = {ln.split("\t")[1]: ln.split("\t") for ln in text.splitlines() if "\t" in ln}
    c = counts_of(TRAIN, 2)
    n = sum(v for g, v in c.items() if len(g) == 1) - len(TRAIN)
    assert float(lines["the"][0]) == pytest.approx(math.log10(c[("the",)] / n), abs=1e-6)
    # "the" 8 times, followed by "cat" 3 times (lines 1, 4, 5)
    assert float(lines["the cat"][0]) == pytest.approx(math.log10(3 / 8), abs=1e-6)
    assert lines["<s>"][0] == "-99"
    weight = "%.7g" % np.float32(math.log10(0.4))
    assert {ln[2] for ln in lines.values() if len(ln) == 3} == {weight}
    assert "</s>" in lines and len(lines["</s>"]) == 2  # never a context: no weight
    assert len(lines["the cat"]) == 2  # the highest order has no weights


def test_counts_give_the_same_model(tmp_path):
    counts = ng.count(TRAIN, 3)
    a, b = tmp_path / "a.arpa", tmp_path / "b.arpa"
    ng.build(TRAIN, 3, "stupid", output=a)
    ng.build(None, 3, "stupid", counts=counts, output=b)
    assert a.read_bytes() == b.read_bytes()


def test_a_closed_vocabulary_scores_unk_as_a_word(tmp_path):
    """Words outside ``vocab`` are counted as <unk>, which is then scored like any word (the
    same file as from the text with those words written <unk>)."""
    vocab = ["the", "cat", "sat", "on", "mat", "dog", "a"]
    a, b = tmp_path / "a.arpa", tmp_path / "b.arpa"
    ng.build(TRAIN, 3, "stupid", vocab=vocab, output=a)
    ng.build([" ".join(w if w in vocab else "<unk>" for w in ln.split()) for ln in TRAIN], 3,
             "stupid", output=b)
    assert a.read_bytes() == b.read_bytes()
    assert "\t<unk>\t" in a.read_text().replace("\n", "\t")
    scorer = load(a)
    assert scorer.score("the zebra sat") == pytest.approx(scorer.score("the <unk> sat"), abs=1e-6)


# ---------------------------------------------------------------- the same pipeline
@pytest.fixture(scope="module")
def corpus(tmp_path_factory, noisy_kjv_lines):
    """The noisy KJV lines (conftest) as a file."""
    lines = noisy_kjv_lines
    path = tmp_path_factory.mktemp("stupid") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("order", [3, 4])
def test_spilled_build_is_byte_identical(corpus, tmp_path, monkeypatch, order):
    made = []
    original = runs.TempSpace.new_path
    monkeypatch.setattr(runs.TempSpace, "new_path",
                        lambda self, stem: made.append(stem) or original(self, stem))
    temp = tmp_path / "temp"
    temp.mkdir()
    a, b = tmp_path / "memory.arpa", tmp_path / "spilled.arpa"
    ng.build(corpus, order, "stupid", output=a)
    assert not made
    ng.build(corpus, order, "stupid", output=b, memory="1M", temp_dir=temp)
    assert len(made) > 10, "the build did not spill"
    assert list(temp.iterdir()) == []
    assert a.read_bytes() == b.read_bytes()


def test_kenlm_reads_the_file_and_scores_as_we_do(corpus, tmp_path):
    out = tmp_path / "m.arpa"
    ng.build(corpus, 3, "stupid", output=out)
    km = kenlm.Model(str(out))
    mine = load(out)
    assert mine.model.meta["smoothing"] == "stupid" and mine.model.meta["alpha"] == 0.4
    lines = HELD_OUT + corpus.read_text().splitlines()[:300:7] + ["unto the lord thy god zzz"]
    for line in lines:
        want = list(km.full_scores(line))
        got = mine.full_scores(line)
        np.testing.assert_allclose([p for p, _, _ in got], [p for p, _, _ in want], rtol=0,
                                   atol=2e-5, err_msg=line)
        assert [n for _, n, _ in got] == [n for _, n, _ in want], line


def test_binary_and_arpa_round_trips_keep_the_mark(tmp_path):
    model = ng.build(TRAIN, 3, "stupid", alpha=0.25)
    lm = NGramLM(order=3, smoothing="stupid", alpha=0.25).fit(TRAIN)
    lm.to_arpa(tmp_path / "lm.arpa")
    ng.build(TRAIN, 3, "stupid", alpha=0.25, output=tmp_path / "m.nlpkit")
    for p in ("lm.arpa", "m.nlpkit"):
        meta = load(tmp_path / p).model.meta
        assert (meta["smoothing"], meta["alpha"]) == ("stupid", 0.25), p
        assert load(tmp_path / p).score("the cat sat") == pytest.approx(
            NGramScorer(model).score("the cat sat"), abs=1e-5)
    assert (tmp_path / "lm.arpa").read_text().startswith("# nlpkit-smoothing: stupid alpha=0.25\n")


def test_ngramlm_perplexity_warns():
    lm = NGramLM(order=2, smoothing="stupid").fit(TRAIN)
    with pytest.warns(UserWarning, match="not a perplexity"):
        lm.perplexity(HELD_OUT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NGramLM(order=2).fit(TRAIN).perplexity(HELD_OUT)


# ---------------------------------------------------------------- options and the CLI
@pytest.mark.parametrize("alpha", [0, -0.4, 1.5, float("nan"), "x", True])
def test_bad_alpha(alpha):
    with pytest.raises(NlpkitError, match="alpha"):
        ng.build(TRAIN, 2, "stupid", alpha=alpha)


@pytest.mark.parametrize("kw,named", [
    (dict(discount_fallback=True), "discount_fallback"), (dict(gt_min=1), "gt_min"),
    (dict(unk=True), "unk"), (dict(prune=[0, 1]), "prune"),
    (dict(interpolate_unigrams=False), "interpolate_unigrams")])
def test_options_of_other_smoothings_are_refused_by_name(kw, named):
    with pytest.raises(NlpkitError, match=rf"{named} \(--[a-zN-]+\) goes with --smoothing .*smoothing is 'stupid'"):
        ng.build(TRAIN, 2, "stupid", **kw)


@pytest.mark.parametrize("smoothing", ["katz", "kn"])
def test_alpha_is_refused_by_other_smoothings(smoothing):
    with pytest.raises(NlpkitError, match=r"alpha \(--alpha\) goes with --smoothing stupid;"):
        ng.build(TRAIN, 2, smoothing, alpha=0.4)


def _cli(*args):
    return CliRunner().invoke(cli, ["ngram", *map(str, args)], catch_exceptions=False)


def test_cli_build_score_ppl(tmp_path):
    corpus, text = tmp_path / "train.txt", tmp_path / "test.txt"
    corpus.write_text("\n".join(TRAIN) + "\n")
    text.write_text("\n".join(HELD_OUT) + "\n")
    out = tmp_path / "m.arpa"
    res = _cli("build", corpus, "-o", out, "--order", 3, "--smoothing", "stupid", "--alpha", 0.4)
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == _built(tmp_path, 3)
    res = _cli("score", out, text)
    assert res.exit_code == 0, res.output
    scores = [float(x) for x in res.stdout.split()]
    c = counts_of(TRAIN, 3)
    want = [sum(reference_words(c, ln, 3, 0.4, unseen_context_costs=False)) for ln in HELD_OUT]
    np.testing.assert_allclose(scores, want, atol=1e-5)
    res = _cli("ppl", out, text)
    assert res.exit_code == 0 and "not a perplexity" in res.stderr and "ppl=" in res.stdout
    res = _cli("info", out)
    assert "smoothing: stupid" in res.stdout and "alpha: 0.4" in res.stdout
    katz = tmp_path / "k.arpa"
    assert _cli("build", corpus, "-o", katz).exit_code == 0
    assert "not a perplexity" not in _cli("ppl", katz, text).stderr


def _built(tmp_path, order):
    p = tmp_path / "api.arpa"
    ng.build(TRAIN, order, "stupid", alpha=0.4, output=p)
    return p.read_bytes()


@pytest.mark.parametrize("args,named", [
    (["--alpha", "0"], "alpha"), (["--alpha", "1.5"], "alpha"),
    (["--discount-fallback", "default"], "discount_fallback"), (["--gt2min", "1"], "gt_min"),
    (["--unk"], "unk"), (["--smoothing", "katz", "--alpha", "0.4"], "alpha")])
def test_cli_errors_are_one_line(tmp_path, capsys, args, named):
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(TRAIN) + "\n")
    out = tmp_path / "m.arpa"
    smoothing = [] if "--smoothing" in args else ["--smoothing", "stupid"]
    with pytest.raises(SystemExit) as exc:
        main(["ngram", "build", str(corpus), "-o", str(out), *smoothing, *args])
    assert exc.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], lines
    assert not out.exists()
