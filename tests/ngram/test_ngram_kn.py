"""lmplz-exact interpolated modified Kneser-Ney (LMPLZ-KN.md), checked against lmplz's own files."""
import gzip

import kenlm
import numpy as np
import pytest

from nlpkit import corpora
from nlpkit.errors import NlpkitError
from nlpkit.ngram.kn import estimate_kn, log10f, read_lmplz_text
from nlpkit.ngram.lmplz_format import format_float32, write_arpa_lmplz

KJV = "kjv"


@pytest.fixture(scope="module")
def kjv_text():
    return read_lmplz_text(corpora.path("kjv", "train"))


@pytest.mark.parametrize("order", [3, 5])
def test_kjv_is_byte_identical_to_lmplz(kjv_text, tmp_path, data_dir, order):
    model = estimate_kn(kjv_text, order)
    out = tmp_path / f"kn{order}.arpa"
    write_arpa_lmplz(model, out)
    with gzip.open(data_dir / "ngram" / "kjv" / f"lmplz.kn{order}.arpa.gz", "rb") as fh:
        expected = fh.read()
    assert out.read_bytes() == expected


def test_kenlm_scores_of_our_kn3_equal_the_reference(kjv_text, tmp_path, data_dir):
    out = tmp_path / "kn3.arpa"
    write_arpa_lmplz(estimate_kn(kjv_text, 3), out)
    lm = kenlm.Model(str(out))
    rows = (data_dir / "ngram" / "kjv" / "kenlm_scores.tsv").read_text().splitlines()
    col = rows[0].split("\t").index("lmplz.kn3")
    test = (data_dir / "ngram" / "kjv" / "test.txt").read_text().splitlines()
    got = np.array([lm.score(line, bos=True, eos=True) for line in test])
    want = np.array([float(r.split("\t")[col]) for r in rows[1:]])
    assert np.abs(got - want).max() < 1e-4


def test_tokens_lines_and_ids_as_lmplz():
    text = read_lmplz_text(["b a\tc", "", "a\x0bb"])
    assert text.vocab == ["<unk>", "<s>", "</s>", "b", "a", "c", "a\x0bb"]  # \v is part of a token
    assert text.ids.tolist() == [1, 3, 4, 5, 2, 1, 2, 1, 6, 2]  # the empty line is a sentence
    assert text.offsets.tolist() == [0, 5, 7, 10]


def test_last_line_without_newline_gets_no_end_of_sentence(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"a b\nb a")
    text = read_lmplz_text(path)
    assert text.ids.tolist() == [1, 3, 4, 2, 1, 4, 3]


def test_literal_sentence_marks_are_refused_or_skipped():
    with pytest.raises(NlpkitError, match="contains the symbol <s>"):
        read_lmplz_text(["a <s> b"])
    assert read_lmplz_text(["a <s> b"], skip_symbols=True).vocab[3:] == ["a", "b"]


def test_bad_discounts_need_the_fallback():
    # LMPLZ-KN.md §3: here unigram n_1 = 0, so lmplz refuses to build the model
    text = read_lmplz_text(["a b c", "a b", "b c a"])
    with pytest.raises(NlpkitError, match="Kneser-Ney discounts of order 1"):
        estimate_kn(text, 3)
    model = estimate_kn(text, 3, discount_fallback=True)
    assert model.meta["discounts"][0] == [0.5, 1.0, 1.5]
    model = estimate_kn(text, 3, discount_fallback=[0.4])
    assert np.allclose(model.meta["discounts"][0], [0.4, 0.4, 0.4])
    with pytest.raises(NlpkitError, match=r"D2 must lie in \[0, 2\]"):
        estimate_kn(text, 3, discount_fallback=[0.5, 2.5])


def test_every_context_distribution_sums_to_one(kjv_text):
    """Interpolated KN is a proper distribution: check a few contexts exactly from the arrays."""
    model = estimate_kn(kjv_text, 2)
    uni = dict(zip(model.ngrams[0][:, 0].tolist(), (10.0 ** model.logprob[0]).tolist()))
    bow = dict(zip(model.ngrams[0][:, 0].tolist(), (10.0 ** model.backoff[0]).tolist()))
    big = {}
    for (h, w), lp in zip(model.ngrams[1].tolist(), model.logprob[1].tolist()):
        big.setdefault(h, {})[w] = 10.0 ** lp
    words = [w for w in uni if w != 1]  # every word but <s> can be predicted
    for h in list(big)[:50]:
        total = sum(big[h].get(w, bow[h] * uni[w]) for w in words)
        assert abs(total - 1) < 1e-4


def test_number_spelling_is_lmplz_s():
    vals = np.float32([0, -1, -0.5, -1e-7, -8.5423784e-07, -1.5e-6, -0.30103, -12.5, -np.inf])
    assert format_float32(vals) == ["0", "-1", "-0.5", "-1e-7", "-8.5423784e-7",
                                             "-0.0000015", "-0.30103", "-12.5", "-inf"]
    rng = np.random.default_rng(0)
    x = -rng.random(5000).astype(np.float32) * 8
    spelled = format_float32(x)
    assert np.array_equal(np.array(spelled, dtype=np.float64).astype(np.float32), x)
    assert all(len(s.lstrip("-").replace(".", "").lstrip("0")) <= 9 for s in spelled)


def test_log10f_is_libm_float32():
    x = np.float32([1e-8, 0.1, 0.5, 1.0, 3.0])
    got = log10f(x)
    assert got.dtype == np.float32 and got[3] == 0
    assert np.allclose(got, np.log10(x.astype(np.float64)), atol=1e-6)


def test_exact_spellings_match_printf_and_numpy():
    """The Numba spellers against C's %.7g (SRILM) and numpy's shortest repr (lmplz), 200k values."""
    from nlpkit.ngram.numfmt import PRINTF_G, spell_strings
    rng = np.random.default_rng(7)
    x = np.concatenate([-rng.random(100_000) * 8, -rng.random(100_000) * 1e-5,
                        -(2.0 ** np.arange(-40, 8))]).astype(np.float32)
    assert spell_strings(x, PRINTF_G, 7) == ["%.7g" % float(v) for v in x]
    ref = []
    for v in x:
        sci = np.format_float_scientific(v, unique=True, trim="-")
        mantissa, _, e = sci.partition("e")
        ref.append(np.format_float_positional(v, unique=True, trim="-") if -6 <= int(e) < 21
                   else f"{mantissa}e{int(e)}")
    assert format_float32(x) == ref


def test_count_pruning_as_lmplz(kjv_text):
    full = estimate_kn(kjv_text, 3)
    pruned = estimate_kn(kjv_text, 3, prune=[0, 1])  # drop 2- and 3-grams seen once
    assert pruned.counts()[0] == full.counts()[0]
    assert pruned.counts()[1] < full.counts()[1] and pruned.counts()[2] < full.counts()[2] / 2
    assert pruned.meta["prune"] == [0, 1, 1]
    # pruned mass moves to the back-off: a context's distribution still sums to one
    uni = dict(zip(pruned.ngrams[0][:, 0].tolist(), (10.0 ** pruned.logprob[0]).tolist()))
    bow = dict(zip(pruned.ngrams[0][:, 0].tolist(), (10.0 ** pruned.backoff[0]).tolist()))
    big = {}
    for (h, w), lp in zip(pruned.ngrams[1].tolist(), pruned.logprob[1].tolist()):
        big.setdefault(h, {})[w] = 10.0 ** lp
    words = [w for w in uni if w != 1]
    for h in list(big)[:30]:
        assert abs(sum(big[h].get(w, bow[h] * uni[w]) for w in words) - 1) < 1e-4
    for bad, message in (([1], "pruning unigrams"), ([0, 2, 1], "must not decrease"),
                         ([0, 1, 1, 1], "4 prune thresholds")):
        with pytest.raises(NlpkitError, match=message):
            estimate_kn(kjv_text, 3, prune=bad)
