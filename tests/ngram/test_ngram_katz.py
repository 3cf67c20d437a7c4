"""Good-Turing discounting + Katz back-off: byte-for-byte parity with SRILM 1.7.3 ``ngram-count``.

The reference files in tests/data/ngram were made by SRILM (tests/data/ngram/README.md);
SRILM-KATZ.md is the spec the implementation follows.
"""
import gzip
import math
import pathlib
import random

import numpy as np
import pytest

from nlpkit.errors import InputFileError, NlpkitError
from nlpkit.ngram import build, count, pipeline
from nlpkit.ngram.estimation import katz
from nlpkit.ngram.plan import Plan
from nlpkit.ngram.formats.arpa_srilm import write_arpa
from nlpkit.ngram.reading.vocab_file import read_vocab_file

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "ngram"
TOY = DATA / "toy"
KJV = DATA / "kjv"


def arpa_of(model, tmp_path, name="m.arpa"):
    out = tmp_path / name
    write_arpa(model, out)
    return out.read_bytes()


# ---------------------------------------------------------------- toy vectors

@pytest.mark.parametrize("ref,kwargs", [
    ("toy0.gt3.arpa", dict(source=TOY / "toy0.txt", order=3)),
    ("toy1.vocab.arpa", dict(source=TOY / "toy1.txt", order=2, vocab=TOY / "voc.txt")),
    ("toy1.unk.arpa", dict(source=TOY / "toy1.txt", order=2, vocab=TOY / "voc.txt", unk=True)),
    ("zipf.gt3.arpa", dict(source=TOY / "zipf400.txt", order=3)),
])
def test_toy_models_byte_identical(tmp_path, ref, kwargs):
    assert arpa_of(build(**kwargs), tmp_path) == (TOY / ref).read_bytes()


def test_float32_bows_of_toy1_unk(tmp_path):
    # back-off weights only SRILM's float32 arithmetic produces
    text = arpa_of(build(TOY / "toy1.txt", 2, vocab=TOY / "voc.txt", unk=True), tmp_path)
    assert b"<s>\t6.087703e-09" in text and b"a\t1.21754e-08" in text


def test_good_turing_coefficients_match_srilm_gt_files():
    gts = []
    with Plan() as plan:
        pipeline.katz(TOY / "zipf400.txt", 3, plan, discounts_out=gts)
    for n, gt in enumerate(gts, 1):
        assert gt.to_srilm() == (TOY / f"gt{n}.txt").read_text()


def test_good_turing_edge_cases():
    gt = katz.good_turing([0, 0, 5, 3], 1, 1)  # n1 = 0: K = 0, no discounting
    assert gt.gtmax == 0 and gt.no_discount
    gt = katz.good_turing([0, 10, 0, 0], 1, 7)  # n2 = 0: K decreases to 0
    assert gt.gtmax == 0
    gt = katz.good_turing([0, 10, 8, 1, 9, 0], 1, 3)  # d_r > 1 allowed when common > 1
    assert gt.gtmax == 3 and gt.discount(0) == 1.0 and gt.discount(4) == 1.0
    gt2 = katz.good_turing([0, 4, 2, 1], 2, 2)
    assert gt2.discount(1) == 0.0  # below gtmin: cut off


# ---------------------------------------------------------------- KJV models

@pytest.fixture(scope="module")
def kjv_counts5():
    return count(KJV / "train.txt.gz", 5)


def _ref(name):
    with gzip.open(KJV / name, "rb") as fh:
        return fh.read()


@pytest.mark.parametrize("name,order,unk", [("srilm.gt3.arpa.gz", 3, False),
                                            ("srilm.gt5.arpa.gz", 5, False),
                                            ("srilm.gt3.unk.arpa.gz", 3, True)])
def test_kjv_models_byte_identical(kjv_counts5, tmp_path, name, order, unk):
    # the 5-gram counts serve every order (the estimate reads the orders it needs)
    out = tmp_path / "m.arpa.gz"
    build(counts=kjv_counts5, order=order, unk=unk, output=out)
    with gzip.open(out, "rb") as fh:
        assert fh.read() == _ref(name)


def test_kjv_gt3_from_srilm_count_file(tmp_path):
    model = build(counts=KJV / "counts3.txt.gz", order=3)
    assert arpa_of(model, tmp_path) == _ref("srilm.gt3.arpa.gz")


def test_kjv_unk_leftover_goes_to_unk(kjv_counts5):
    model = build(counts=kjv_counts5, order=3, unk=True)
    i = model.word_id("<unk>")
    row = np.flatnonzero(model.ngrams[0][:, 0] == i)[0]
    assert "%.7g" % model.logprob[0][row] == "-5.426816"


# ---------------------------------------------------------------- invariants on random corpora

def _model_tables(model):
    tab = {}
    for k in range(model.order):
        for row, lp, bo, hb in zip(model.ngrams[k].tolist(), model.logprob[k].tolist(),
                                   model.backoff[k].tolist(), model.has_backoff[k].tolist()):
            tab[tuple(row)] = (lp, bo if hb else None)
    return tab


def _bo(tab, w, h):
    """log10 p(w | h) by the ARPA back-off rule, in double."""
    bow = 0.0
    for j in range(len(h), -1, -1):
        ctx = tuple(h[len(h) - j:])
        if ctx + (w,) in tab:
            return tab[ctx + (w,)][0] + bow
        if j and ctx in tab and tab[ctx][1] is not None:
            bow += tab[ctx][1]
    return -math.inf


@pytest.mark.parametrize("seed", range(4))
def test_context_distributions_sum_to_one(seed, tmp_path):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(rng.randint(15, 40))]
    lines = [" ".join(rng.choice(words[: rng.randint(3, len(words))])
                      for _ in range(rng.randint(1, 12)))
             for _ in range(300)]
    unk = seed % 2 == 1
    model = build(lines, 3, unk=unk)
    tab = _model_tables(model)
    events = [i for i, w in enumerate(model.vocab)
              if w not in ("<s>", "-pau-") and (unk or w != "<unk>")]
    # With tiny vocabularies Good-Turing can give d_r > 1; when every word was
    # seen after a context SRILM cannot renormalize and gives it bow -99
    # (SRILM-KATZ.md §5, num < 0).  Such contexts, and longer ones backing off
    # through them, are checked for that instead.
    broken = {ctx for ctx, (lp, bo) in tab.items() if bo == -math.inf}
    checked = 0
    for ctx, (lp, bo) in tab.items():
        if bo is None or len(ctx) >= model.order:
            continue
        explicit = sum(10 ** tab[ctx + (w,)][0] for w in events if ctx + (w,) in tab)
        if bo == -math.inf:
            assert explicit > 1 - 3e-6
            continue
        if any(ctx[j:] in broken for j in range(1, len(ctx))):
            continue
        total = sum(10 ** _bo(tab, w, list(ctx)) for w in events)
        assert abs(total - 1) < 2e-4, (ctx, total)
        checked += 1
    assert checked > 20
    # and the unigrams
    assert abs(sum(10 ** _bo(tab, w, []) for w in events) - 1) < 2e-4


def test_higher_orders_and_cutoffs(tmp_path):
    lines = (TOY / "zipf400.txt").read_text().splitlines()
    m6 = build(lines, 6)
    assert m6.order == 6 and all(c > 0 for c in m6.counts())
    # gtNmin is the count cut-off: raising it for bigrams drops the singletons
    full = build(lines, 2)
    cut = build(lines, 2, gt_min={2: 3})
    same = build(lines, 2, cutoffs=[None, 3])
    assert cut.counts()[1] < full.counts()[1]
    assert arpa_of(cut, tmp_path, "a") == arpa_of(same, tmp_path, "b")
    # gtmax 0: no discounting for that order (only the retry loop's T+1 when it applies)
    nod = build(lines, 2, gt_max=[1, 0])
    assert nod.meta["gt_max"] == [1, 0]


def test_fixups_store_missing_prefixes(tmp_path):
    # a mid-line <s> makes "a <s>" a context without a probability of its own:
    # SRILM stores it as -99 (SRILM-KATZ.md §6)
    lines = ["a <s> b c", "a <s> b c", "x y"]
    model = build(lines, 3, gt_min=1)
    text = arpa_of(model, tmp_path).decode()
    assert "-99\ta <s>" in text
    assert model.meta["fixups"] >= 1


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("lines", [[], ["", "   ", "\t"], ["## only a comment"]])
def test_empty_corpus_is_an_error(lines):
    with pytest.raises(NlpkitError, match="empty"):
        build(lines, 3)


def test_blank_file_is_an_error(tmp_path):
    p = tmp_path / "blank.txt"
    p.write_text("\n  \n\t\n")
    with pytest.raises(NlpkitError, match=r"blank\.txt: the corpus is empty"):
        build(str(p), 3)


@pytest.mark.parametrize("order", [0, -1, 17, 2.5, "3", True])
def test_bad_order(order):
    with pytest.raises(NlpkitError, match="order must be an integer from 1 to 16"):
        build(["a b"], order)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(gt_min=-1), "must not be negative"),
    (dict(gt_max={4: 2}), "order 4 is not between 1 and 3"),
    (dict(gt_max=[1, 2, 3, 4]), "has 4 values"),
    (dict(gt_min=True), "gt_min must be"),
    (dict(gt_min=2, cutoffs=2), "either gt_min or cutoffs"),
])
def test_bad_good_turing_settings(kwargs, msg):
    with pytest.raises(NlpkitError, match=msg):
        build(["a b c", "a b"], 3, **kwargs)


def test_missing_corpus_file(tmp_path):
    with pytest.raises(NlpkitError, match="no such file"):
        build(str(tmp_path / "nope.txt"), 3)


def test_vocab_file_with_duplicates(tmp_path):
    v = tmp_path / "voc.txt"
    v.write_text("a\nb\na 3\n")
    with pytest.raises(InputFileError,
                       match=r"voc\.txt:3: vocabulary word 'a' was already given on"):
        build(["a b"], 2, vocab=v)
    assert read_vocab_file(TOY / "voc.txt") == ["a", "b", "c", "d"]


def test_counts_and_source_together(tmp_path):
    with pytest.raises(NlpkitError, match="not both"):
        build(["a"], 2, counts=TOY / "toy0.counts")


def test_kernel_libm_matches_glibc_math():
    # SRILM-KATZ.md §9.1: P(x) = exp(x * M_LN10) and log10 from glibc; the
    # kernels' scalar calls must give the same doubles as Python's math module
    import numba

    from nlpkit.ngram.estimation import katz_kernels as kk

    @numba.njit
    def both(x, out_p, out_l):
        for i in range(x.shape[0]):
            out_p[i] = kk._P(x[i])
            out_l[i] = kk._L(out_p[i] * 0.37)

    rng = np.random.default_rng(0)
    x = (rng.random(200_000) * -12).astype(np.float32)
    p, lg = np.empty(x.shape[0]), np.empty(x.shape[0])
    both(x, p, lg)
    assert p.tolist() == [math.exp(float(v) * 2.30258509299404568402) for v in x]
    assert lg.tolist() == [math.log10(v * 0.37) for v in p.tolist()]


def test_closed_vocabulary_from_count_file(tmp_path):
    # ngram-count -read COUNTS -vocab voc.txt gives the model of -text with -vocab
    from nlpkit.ngram.formats.countfile import write_counts
    counts = tmp_path / "toy1.counts"
    write_counts(count(TOY / "toy1.txt", 2), counts)
    for unk, ref in ((False, "toy1.vocab.arpa"), (True, "toy1.unk.arpa")):
        model = build(counts=counts, order=2, vocab=TOY / "voc.txt", unk=unk)
        assert arpa_of(model, tmp_path) == (TOY / ref).read_bytes()


def test_stdin_source(tmp_path, monkeypatch):
    import io
    import sys
    data = (TOY / "toy0.txt").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert arpa_of(build("-", 3), tmp_path) == (TOY / "toy0.gt3.arpa").read_bytes()



def test_unigram_fixup_under_cutoffs_as_srilm(tmp_path):
    # the unigram cut-off 2 leaves seen-once words without a probability and the leftover
    # mass negative (nothing is spread, SRILM-KATZ.md §5); those that are contexts get
    # SRILM's fixup (§6)
    model = build(TOY / "cutoffs.txt", 3, gt_min=[2, 1, 3], gt_max=[8, 6, 5])
    assert arpa_of(model, tmp_path) == (TOY / "cutoffs.gt3.arpa").read_bytes()
