"""Mixing: dynamic interpolation, static mixing, best-mix EM (SRILM -mix-lm, compute-best-mix)."""
import numpy as np
import pytest

from nlpkit.errors import NlpkitError
from nlpkit.ngram.editing import mix
from nlpkit.ngram.formats.arpa_reader import read_arpa
from nlpkit.ngram.backoff import BackoffModel
from nlpkit.ngram.editing.index import ModelIndex


@pytest.fixture(scope="module")
def models(data_dir):
    kjv = data_dir / "ngram" / "kjv"
    return read_arpa(kjv / "srilm.gt3.arpa.gz"), read_arpa(kjv / "lmplz.kn3.arpa.gz")


@pytest.fixture(scope="module")
def lines(data_dir):
    return (data_dir / "ngram" / "kjv" / "test.txt").read_text().splitlines()


def reference_prob(model, table, hist, w):
    """p(w | hist) by SRILM's back-off rule, written out with dicts (an independent path)."""
    hist = hist[-(model.order - 1):] if model.order > 1 else ()
    for j in range(len(hist), -1, -1):
        h = tuple(hist[len(hist) - j:])
        if h + (w,) in table[0]:
            bow = sum(table[1].get(tuple(hist[len(hist) - i:]), 0.0) for i in range(j + 1, len(hist) + 1)
                      if all(tuple(hist[len(hist) - x:]) in table[0] for x in range(1, i + 1)))
            return 10.0 ** (table[0][h + (w,)] + bow)
    return 0.0


def tables(model):
    lp, bo = {}, {}
    for k in range(model.order):
        for g, p, b in zip(model.ngrams[k].tolist(), model.logprob[k].tolist(), model.backoff[k].tolist()):
            key = tuple(model.vocab[i] for i in g)
            lp[key], bo[key] = p, b
    return lp, bo


def test_dynamic_mix_is_the_weighted_sum_word_by_word(models, lines):
    a, b = models
    ta, tb = tables(a), tables(b)
    sentences = [line.split() for line in lines[:15]]
    mixed, _ = mix._component_probs([a, b], sentences)
    i = 0
    for toks in sentences:
        seq = ["<s>"] + toks + ["</s>"]
        for t in range(1, len(seq)):
            hist = tuple(seq[max(0, t - 2):t])
            pa = reference_prob(a, ta, hist, seq[t])
            hb = tuple("<unk>" if x not in b.vocab else x for x in hist)
            pb = reference_prob(b, tb, hb, seq[t] if seq[t] in b.vocab else "<unk>")
            want = 0.3 * pa + 0.7 * pb
            assert abs(0.3 * mixed[0, i] + 0.7 * mixed[1, i] - want) <= 1e-9 * want
            i += 1


def test_dynamic_mix_perplexity_lies_between_and_improves(models, lines):
    a, b = models
    pa, pb = mix.perplexity(a, lines), mix.perplexity(b, lines)
    assert round(pa["ppl"], 4) == 71.9838 and pa["oovs"] == 93  # SRILM's figure for srilm.gt3
    both = mix.mix_perplexity([a, b], [0.3], lines)
    assert both["oovs"] == 0  # the KN model reads unknown words as <unk>
    assert both["ppl"] < max(pa["ppl"], pb["ppl"])


def test_static_mix_holds_the_interpolated_probabilities_and_sums_to_one(models, lines,
                                                                         every_context_sums_to_one):
    a, b = models
    static = mix.mix_static([a, b], [0.4, 0.6])
    every_context_sums_to_one(static)
    ia, ib, im = ModelIndex(a), ModelIndex(b), ModelIndex(static)
    rng = np.random.default_rng(1)
    for k in (0, 1, 2):
        rows = rng.choice(static.ngrams[k].shape[0], 200, replace=False)
        g = static.ngrams[k][rows]
        words = np.array(static.vocab, dtype=object)[g]
        ida = np.vectorize(lambda w: a.word_id(w))(words)
        idb = np.vectorize(lambda w: b.word_id(w))(words)
        want = 0.4 * 10 ** ia.logprob(ida[:, :k], ida[:, k]) + 0.6 * 10 ** ib.logprob(idb[:, :k], idb[:, k])
        got = 10.0 ** static.logprob[k][rows].astype(np.float64)
        assert np.allclose(got, want, rtol=1e-6, atol=0)
    bos = static.word_id("<s>")
    vocab = np.array([w for w in range(len(static.vocab)) if w != bos])
    for r in rng.choice(static.ngrams[1].shape[0], 10, replace=False):
        h = static.ngrams[1][r]
        if static.vocab[h[-1]] == "</s>":
            continue
        total = (10.0 ** im.logprob(np.repeat(h[None, :], len(vocab), 0), vocab)).sum()
        assert abs(total - 1) < 1e-5
    dyn = mix.mix_perplexity([a, b], [0.4, 0.6], lines)["ppl"]
    assert abs(mix.perplexity(static, lines)["ppl"] / dyn - 1) < 0.02  # an approximation


def test_best_mix_finds_the_grid_optimum(models, lines):
    a, b = models
    dev = lines[:300]
    weights, summary = mix.best_mix([a, b], dev)
    sentences = mix._sentences(dev)
    probs, oov = mix._component_probs([a, b], sentences)
    grid = [mix._ppl_summary(np.array([lam, 1 - lam]) @ probs, oov, sentences)["ppl"]
            for lam in np.linspace(0.01, 0.99, 99)]
    assert summary["ppl"] <= min(grid) + 1e-6
    assert abs(weights.sum() - 1) < 1e-9


def test_bad_mixes(models):
    a, b = models
    with pytest.raises(NlpkitError, match="sum to 1"):
        mix.check_weights([a, b], [0.6, 0.6])
    with pytest.raises(NlpkitError, match="at least two models"):
        mix.check_weights([a], [1.0])
    low = BackoffModel(a.vocab, a.ngrams[:2], a.logprob[:2], a.backoff[:2],
                       [a.has_backoff[0], np.zeros_like(a.has_backoff[1])])
    with pytest.raises(NlpkitError, match="same order"):
        mix.mix_static([a, low], [0.5, 0.5])
    other = BackoffModel(["<s>", "</s>", "x"], [np.array([[0], [1], [2]])], [np.zeros(3, np.float32)],
                         [np.zeros(3, np.float32)], [np.zeros(3, bool)])
    single = BackoffModel(a.vocab, a.ngrams[:1], a.logprob[:1], a.backoff[:1], [np.zeros_like(a.has_backoff[0])])
    with pytest.raises(NlpkitError, match="different vocabulary"):
        mix.mix_static([single, other], [0.5, 0.5])


def _srilm_mixes(data_dir):
    with open(data_dir / "ngram" / "kjv" / "srilm.mix.tsv") as fh:
        next(fh)
        return [line.rstrip("\n").split("\t") for line in fh]


@pytest.mark.parametrize("which", [0, 1])
def test_mixes_are_srilms(data_dir, lines, tmp_path, which):
    """``ngram -lm A -mix-lm B [-mix-lm2 C] -write-lm``: the same ARPA, byte for byte (three
    models: merged pairwise as SRILM does); ``-bayes 0``: the same dynamic perplexity."""
    import hashlib

    from nlpkit.ngram.formats.arpa_srilm import write_arpa

    names, weights, digest, ppl_static, ppl_dynamic = _srilm_mixes(data_dir)[which]
    kjv = data_dir / "ngram" / "kjv"
    models = [read_arpa(kjv / f"{n}.arpa.gz") for n in names.split(",")]
    weights = [float(x) for x in weights.split(",")]
    static = mix.mix_static(models, weights)
    out = tmp_path / "mix.arpa"
    write_arpa(static, out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert f"{mix.perplexity(static, lines)['ppl']:.5f}" == ppl_static
    assert f"{mix.mix_perplexity(models, weights, lines)['ppl']:.5f}" == ppl_dynamic
