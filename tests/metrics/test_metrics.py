"""nlpkit.metrics against sacrebleu (BLEU, chrF: every digit, 200 random corpora), against a
plain dynamic-programming edit distance (WER, CER; the CUDA twin under the simulator), and
the language-model figures against their definitions."""
import math

import numpy as np
import pytest

from nlpkit import backend, metrics
from nlpkit.errors import NlpkitError

import sacrebleu  # the test extra has it: a missing peer fails, it does not skip

WORDS = ["the", "The", "cat", "sat", "on", "mat", "dog", "a", "A", "house", "über", "naïve",
         "3", "4.5", "1,000", "3-4", "x-ray", "&amp;", "&quot;hi&quot;", "&lt;b&gt;", "(hi)",
         "don't", "U.S.", "e-mail", "$5.00", "50%", "<skipped>", "etc.", "well,", "end.",
         "?", "!", "--", "'quoted'", "a/b", "{x}", "[y]", "~z", "#1", "@me", "Zürich", "日本"]


def _sentence(rng, lo=0, hi=12):
    n = int(rng.integers(lo, hi))
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), n)]
    s = " ".join(words)
    if rng.random() < 0.2:
        s = s + rng.choice([" ", "  ", "\t", " ."])
    if rng.random() < 0.1:
        s = s.replace(" ", "", 1)
    return s


def _corpus(rng):
    """Hypotheses and 1-3 reference streams; references sometimes None (fewer references
    for that segment), and sometimes close copies of the hypothesis (high scores)."""
    n_seg = int(rng.integers(1, 9))
    n_ref = int(rng.integers(1, 4))
    hyps = [_sentence(rng) for _ in range(n_seg)]
    refs = []
    for k in range(n_ref):
        stream = []
        for h in hyps:
            if rng.random() < 0.4:
                words = h.split()
                for _ in range(int(rng.integers(0, 3))):
                    if words:
                        words[int(rng.integers(len(words)))] = WORDS[int(rng.integers(len(WORDS)))]
                stream.append(" ".join(words))
            else:
                stream.append(_sentence(rng, 1))
        refs.append(stream)
    for j in range(n_seg):  # fewer references for some segments (never none at all)
        for k in range(1, n_ref):
            if rng.random() < 0.2:
                refs[k][j] = None
    return hyps, refs


BLEU_VARIANTS = [dict(), dict(lowercase=True), dict(tokenize="none"),
                 dict(smooth_method="floor"), dict(smooth_method="add-k"),
                 dict(smooth_method="none"), dict(use_effective_order=True)]


def test_bleu_and_chrf_equal_sacrebleu_on_200_random_corpora():
    rng = np.random.default_rng(0)
    for case in range(200):
        hyps, refs = _corpus(rng)
        kw = BLEU_VARIANTS[case % len(BLEU_VARIANTS)]
        ours = metrics.corpus_bleu(hyps, refs, **kw)
        theirs = sacrebleu.corpus_bleu(hyps, refs, **kw)
        assert ours.score == theirs.score, (case, hyps, refs, kw)
        assert str(ours) == str(theirs)
        assert (ours.counts, ours.totals, ours.sys_len, ours.ref_len) == \
            (theirs.counts, theirs.totals, theirs.sys_len, theirs.ref_len)
        ckw = [dict(), dict(word_order=2), dict(eps_smoothing=True), dict(beta=1),
               dict(remove_whitespace=False)][case % 5]
        c_ours = metrics.corpus_chrf(hyps, refs, **ckw)
        c_theirs = sacrebleu.corpus_chrf(hyps, refs, **ckw)
        assert c_ours.score == c_theirs.score, (case, hyps, refs, ckw)
        assert str(c_ours) == str(c_theirs)


def test_bleu_edge_cases_equal_sacrebleu():
    cases = [(["a b c"], [["x y z"]]),                  # no match at all: 0
             ([""], [["a b"]]),                         # empty hypothesis
             (["a b"], [["a b c d e f"]]),              # brevity penalty, orders without n-grams
             (["a"], [["a"]]),                          # one token: higher orders empty
             (["the the the the"], [["the cat"]])]      # clipping
    for hyps, refs in cases:
        assert metrics.corpus_bleu(hyps, refs).score == sacrebleu.corpus_bleu(hyps, refs).score
        assert metrics.corpus_chrf(hyps, refs).score == sacrebleu.corpus_chrf(hyps, refs).score


def test_tokenize_13a_matches_sacrebleu():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    tok = Tokenizer13a()
    rng = np.random.default_rng(1)
    for _ in range(300):
        s = _sentence(rng) + rng.choice(["", "-\nnext", "\nline", "&gt;&amp;"])
        assert metrics.tokenize_13a(s) == tok(s)


def test_reference_layout_errors():
    with pytest.raises(NlpkitError, match="segments"):
        metrics.corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(NlpkitError, match="no reference"):
        metrics.corpus_bleu(["a"], [[None]])
    # a single stream is one reference per hypothesis
    assert metrics.corpus_bleu(["a b c d"], ["a b c d"]).score == pytest.approx(100.0)


def _levenshtein(a, b):
    d = np.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        prev, d[0] = d.copy(), i
        for j, y in enumerate(b, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (x != y))
    return int(d[-1])


def _random_pairs(rng, n=60):
    alphabet = list("abcde ")
    hyps = ["".join(rng.choice(alphabet, int(rng.integers(0, 15)))) for _ in range(n)]
    refs = ["".join(rng.choice(alphabet, int(rng.integers(1, 15)))) for _ in range(n)]
    return hyps, [r if r.strip() else "a" for r in refs]


def test_wer_cer_against_dynamic_programming():
    hyps, refs = _random_pairs(np.random.default_rng(2))
    d, n = metrics.edit_distances(hyps, refs)
    assert d.tolist() == [_levenshtein(h.split(), r.split()) for h, r in zip(hyps, refs)]
    assert metrics.wer(hyps, refs) == sum(d) / sum(len(r.split()) for r in refs)
    want = sum(_levenshtein(h, r) for h, r in zip(hyps, refs)) / sum(len(r) for r in refs)
    assert metrics.cer(hyps, refs) == pytest.approx(want, rel=1e-15)
    # token lists: words as they are; characters of the tokens joined by spaces
    assert metrics.wer([["a", "b"]], [["a", "c", "d"]]) == 2 / 3
    assert metrics.cer([["ab", "c"]], ["ab d"]) == 1 / 4
    with pytest.raises(NlpkitError, match="different lengths"):
        metrics.wer(["a"], ["a", "b"])


@pytest.mark.cuda
def test_edit_distance_cuda_twin():
    if not backend.simulator_enabled() and not backend.cuda_status()[0]:
        pytest.skip("needs the CUDA simulator or a GPU")
    hyps, refs = _random_pairs(np.random.default_rng(3), n=10)
    cpu = metrics.edit_distances(hyps, refs, "char")[0]
    gpu = metrics.edit_distances(hyps, refs, "char", device="cuda")[0]
    assert gpu.tolist() == cpu.tolist()


def test_language_model_figures():
    lp = [np.log([0.5, 0.25]), np.log([0.125]), np.array([np.nan])]  # NaN: an OOV, left out
    assert metrics.perplexity(lp) == pytest.approx(2 ** 2)
    assert metrics.bits_per_token(lp) == pytest.approx(2.0)
    assert metrics.bits_per_character(lp, 3) == pytest.approx(2.0)
    assert metrics.perplexity(np.log10([0.5, 0.5]), base=10) == pytest.approx(2.0)
    assert metrics.bits_per_character([math.log(0.5)] * 4, 8) == pytest.approx(0.5)
    with pytest.raises(NlpkitError):
        metrics.perplexity([np.nan])
