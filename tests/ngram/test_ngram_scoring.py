"""Scoring parity: SRILM's ppl lines, KenLM's scores (file and live module), binary format, sampling, CUDA twin."""
import csv
import re

import kenlm  # a test dependency (pip install .[test]): parity needs it
import numpy as np
import pytest

from nlpkit import backend
from nlpkit.errors import InputFileError
from nlpkit.ngram.formats import binary
from nlpkit.ngram.formats.arpa_reader import read_arpa
from nlpkit.ngram.scoring.scorer import NGramScorer

MODELS = {  # model -> -order used for ppl_srilm.txt
    "srilm.gt3": 3, "srilm.gt5": 5, "srilm.gt3.unk": 3, "srilm.kn3": 3,
    "lmplz.kn3": 3, "lmplz.kn5": 5,
}


@pytest.fixture(scope="module")
def kjv(data_dir):
    return data_dir / "ngram" / "kjv"


@pytest.fixture(scope="module")
def test_lines(kjv):
    return (kjv / "test.txt").read_text().splitlines()


@pytest.fixture(scope="module")
def scorers(kjv):
    return {name: binary.load(kjv / f"{name}.arpa.gz", max_order=order)
            for name, order in MODELS.items()}


def _ppl_reference(kjv):
    text = (kjv / "ppl_srilm.txt").read_text()
    out = {}
    for block in text.split("== ")[1:]:
        head, l1, l2 = block.strip().splitlines()[:3]
        name = head.split()[0]
        out[name] = (re.sub(r"^file \S+: ", "", l1), l2)
    return out


def test_srilm_ppl_lines_reproduced_to_every_digit(scorers, kjv, test_lines):
    ref = _ppl_reference(kjv)
    assert set(ref) == set(MODELS)
    for name, (l1, l2) in ref.items():
        ours = scorers[name].perplexity_stats(test_lines).srilm_lines("test.txt").splitlines()
        assert ours[0] == f"file test.txt: {l1}", name
        assert ours[1] == l2, name


def test_kenlm_scores_file_reproduced(scorers, kjv, test_lines):
    with open(kjv / "kenlm_scores.tsv") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    header, rows = rows[0], rows[1:]
    assert len(rows) == len(test_lines)
    for col, name in enumerate(header[1:], 1):
        ref = np.array([float(r[col]) for r in rows])
        ids, offsets, _ = scorers[name].encode(test_lines)
        ours, _, _ = scorers[name].sentence_scores(ids, offsets)
        assert np.abs(ours - ref).max() < 1e-4, name
        # one sentence at a time gives the same numbers as the batch
        assert abs(scorers[name].score(test_lines[5]) - ours[5]) < 1e-9


def test_live_kenlm_full_scores_agree(scorers, kjv, test_lines):
    for name in ("srilm.gt3", "lmplz.kn5"):
        km = kenlm.Model(str(kjv / f"{name}.arpa.gz"))
        for line in test_lines[:40] + ["unknownword the zzyzx lord", ""]:
            ours = scorers[name].full_scores(line)
            theirs = list(km.full_scores(line))
            assert len(ours) == len(theirs)
            for (p, n, o), (tp, tn, to) in zip(ours, theirs):
                assert abs(p - tp) < 1e-4 and n == tn and o == to, (name, line)
            assert abs(scorers[name].score(line, bos=False, eos=False)
                       - km.score(line, bos=False, eos=False)) < 1e-4


def test_toy_vectors_from_readme(data_dir):
    toy = data_dir / "ngram" / "toy"
    z = NGramScorer(read_arpa(toy / "zipf.gt3.arpa"))
    st = z.perplexity_stats((toy / "zipftest.txt").read_text().splitlines())
    assert (st.sentences, st.words, st.oovs) == (30, 128, 0)
    assert ("%.7g %.7g %.7g" % (st.logprob, st.ppl, st.ppl1)) == "-195.6722 17.31537 33.7823"
    t0 = NGramScorer(read_arpa(toy / "toy0.gt3.arpa"))
    words = [round(p, 7) for p, _, _ in t0.full_scores("a b b a")]
    assert words == [-0.4771213, -0.39794, -0.60206, -0.30103, -0.69897]
    st = t0.perplexity_stats(["a b b a"])
    assert "%.7g %.7g" % (st.logprob, st.ppl) == "-2.477121 3.129135"


def test_models_written_by_nlpkit_load_in_kenlm(tmp_path, kjv, test_lines):
    from nlpkit.ngram import build
    from nlpkit.ngram.formats.arpa_srilm import write_arpa
    train = [line for i, line in enumerate(test_lines) if i % 3]
    for order, unk in ((2, False), (3, True), (5, False)):
        model = build(train, order, unk=unk)
        path = tmp_path / f"m{order}.arpa"
        write_arpa(model, path)
        ours = NGramScorer(model)
        km = kenlm.Model(str(path))
        for line in test_lines[::3][:60] + ["zzz unknown words"]:
            assert abs(ours.score(line) - km.score(line)) < 1e-4, (order, line)
        again = binary.load(path)
        assert again.model.counts() == model.counts()


@pytest.fixture(scope="module")
def gt3(scorers):
    return scorers["srilm.gt3"]


def test_binary_round_trip(tmp_path, scorers, test_lines):
    for name in ("srilm.gt3", "srilm.gt5"):
        s = scorers[name]
        p = tmp_path / f"{name}.nlpkit"
        binary.save(s, p)
        b = binary.load(p)
        assert b.vocab == s.vocab and b.model.counts() == s.model.counts()
        for k in range(s.order):
            assert np.array_equal(b.model.ngrams[k], s.model.ngrams[k])
            assert np.array_equal(b.model.logprob[k], s.model.logprob[k])
        assert b.perplexity_stats(test_lines).srilm_lines() == s.perplexity_stats(test_lines).srilm_lines()
    raw = p.read_bytes()
    # a file of an older format version (other table layout) is refused, by name
    old = tmp_path / "old.nlpkit"
    old.write_bytes(raw[:8] + np.array([binary.VERSION - 1], "<u4").tobytes() + raw[12:])
    with pytest.raises(InputFileError, match=f"format version {binary.VERSION - 1}.*older nlpkit"):
        binary.load(old)
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputFileError, match="truncated"):
        binary.load(p)
    with pytest.raises(Exception, match="cannot tell"):
        binary.save(scorers["srilm.gt3"], tmp_path / "x.bin")


def test_pickled_scorer_rebuilds_tables(gt3, test_lines):
    import pickle
    again = pickle.loads(pickle.dumps(gt3))
    assert again.perplexity_stats(test_lines).logprob == gt3.perplexity_stats(test_lines).logprob


def test_sampling_is_seeded_and_follows_the_model(data_dir, gt3):
    assert gt3.sample(3, seed=7) == gt3.sample(3, seed=7)
    assert gt3.sample(3, seed=7) != gt3.sample(3, seed=8)
    vocab = set(gt3.vocab)
    assert all(w in vocab for s in gt3.sample(5, seed=1) for w in s.split())
    # toy1.vocab: after <s>, a, b and </s> each have probability 1/3 (c, d are -99)
    toy = NGramScorer(read_arpa(data_dir / "ngram" / "toy" / "toy1.vocab.arpa"))
    first = [s.split()[0] if s else "</s>" for s in toy.sample(3000, seed=0, max_len=1)]
    for w in ("a", "b", "</s>"):
        assert abs(first.count(w) / 3000 - 1 / 3) < 0.04, w


# --- CUDA twin (simulator) ---------------------------------------------------------

@pytest.fixture(scope="module")
def cuda_ok():
    if not backend.simulator_enabled():
        pytest.skip("CUDA twin tests run under NUMBA_ENABLE_CUDASIM=1")


@pytest.mark.cuda
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_cuda_twin_matches_cpu(cuda_ok, scorers, test_lines):
    lines = test_lines[:3] + ["zzz the lord", ""]
    for name in ("srilm.gt3", "srilm.gt5"):
        s = scorers[name]
        ids, offsets, _ = s.encode(lines)
        for kenlm_mode in (True, False):
            for bos, eos in ((True, True), (False, True), (True, False)):
                cpu = s.token_scores(ids, offsets, bos=bos, eos=eos, kenlm=kenlm_mode, device="cpu")
                gpu = s.token_scores(ids, offsets, bos=bos, eos=eos, kenlm=kenlm_mode, device="cuda")
                assert np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1])
            cpu = s.sentence_scores(ids, offsets, kenlm=kenlm_mode, device="cpu")
            gpu = s.sentence_scores(ids, offsets, kenlm=kenlm_mode, device="cuda")
            for a, b in zip(cpu, gpu):
                assert np.array_equal(a, b)
