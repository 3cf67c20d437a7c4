"""The ARPA writer: SRILM's layout and order, .gz by name, atomic writes, and files KenLM reads."""
import gzip
import math
import pathlib

import numpy as np
import pytest

from nlpkit.ngram.formats import arpa_srilm as arpa_writer
from nlpkit.ngram.formats.arpa_srilm import arpa_order, write_arpa
from nlpkit.ngram.backoff import BackoffModel
from nlpkit.ngram import build

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "ngram"


def tiny_model():
    vocab = ["<unk>", "<s>", "</s>", "-pau-", "b", "B", "é", "a"]
    ngrams = [np.array([[2], [1], [4], [5], [6], [7]]),
              np.array([[1, 7], [7, 4], [4, 7], [1, 5], [5, 6], [7, 6]]),
              np.array([[1, 7, 4], [7, 4, 7]])]
    logprob = [np.array([-0.5, -np.inf, -1, -1.25, -2.0000001, -0.123456789]),
               np.array([-0.3, -0.2, -0.1, -0.4, -0.5, -0.6]),
               np.array([-0.01, -0.02])]
    backoff = [np.array([0, 0.5, -0.25, 0, 0, -np.inf]), np.array([0, -0.1, 0, 0, 0, 0]),
               np.zeros(2)]
    has_bo = [np.array([False, True, True, False, False, True]),
              np.array([False, True, False, False, False, False]), np.zeros(2, bool)]
    return BackoffModel(vocab, ngrams, logprob, backoff, has_bo)


EXPECTED = (
    "\n\\data\\\nngram 1=6\nngram 2=6\nngram 3=2\n"
    "\n\\1-grams:\n"
    "-0.5\t</s>\n-99\t<s>\t0.5\n-1.25\tB\n-0.1234568\ta\t-99\n-1\tb\t-0.25\n-2\t\u00e9\n"
    "\n\\2-grams:\n"
    "-0.4\t<s> B\n-0.3\t<s> a\n-0.5\tB \u00e9\n-0.2\ta b\t-0.1\n-0.6\ta \u00e9\n-0.1\tb a\n"
    "\n\\3-grams:\n"
    "-0.01\t<s> a b\n-0.02\ta b a\n"
    "\n\\end\\\n"
)


def test_layout_numbers_and_srilm_order(tmp_path):
    # byte-wise order: '<' < 'B' < 'a' < 'b' < 0xC3 (é); bigrams by context, then word;
    # trigrams by (w2, w1, w3); -inf prints as -99, %.7g of the float32 value
    out = tmp_path / "m.arpa"
    write_arpa(tiny_model(), out)
    assert out.read_text(encoding="utf-8") == EXPECTED


def test_gz_by_name_and_stdout(tmp_path, capsysbinary):
    out = tmp_path / "m.arpa.gz"
    write_arpa(tiny_model(), out)
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        assert fh.read() == EXPECTED
    write_arpa(tiny_model(), "-")
    assert capsysbinary.readouterr().out.decode("utf-8") == EXPECTED


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    out = tmp_path / "m.arpa"
    calls = []

    def boom(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted half-way through
        return original(*a, **k)

    original = arpa_writer.assemble_lines
    monkeypatch.setattr(arpa_writer, "assemble_lines", boom)
    with pytest.raises(KeyboardInterrupt):
        write_arpa(tiny_model(), out)
    assert list(tmp_path.iterdir()) == []
    # an old model at that path survives a failed overwrite
    out.write_text("old")
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        write_arpa(tiny_model(), out)
    assert out.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_order_key_packed_and_lexsort_agree():
    rng = np.random.default_rng(0)
    words = rng.integers(0, 50, (2000, 4))
    words = np.unique(words, axis=0)
    small = arpa_order(words, np.arange(50))
    big_rank = np.arange(50) * (1 << 20)  # ranks too wide to pack 4 into 64 bits
    big = arpa_order(words, big_rank)
    np.testing.assert_array_equal(small, big)
    keyed = sorted(range(len(words)), key=lambda i: (*words[i][:-1][::-1], words[i][-1]))
    np.testing.assert_array_equal(small, keyed)


def _score_bo(tab, toks):
    total = 0.0
    for i in range(1, len(toks)):
        h, w = toks[max(0, i - 2):i], toks[i]
        bow = 0.0
        for j in range(len(h), -1, -1):
            ctx = tuple(h[len(h) - j:])
            if ctx + (w,) in tab:
                total += tab[ctx + (w,)][0] + bow
                break
            if j and ctx in tab:
                bow += tab[ctx][1]
    return total


def test_kenlm_reads_what_we_write(tmp_path):
    import kenlm
    lines = (DATA / "toy" / "zipf400.txt").read_text().splitlines()
    lines += ["Grüße aus Köln w01", "W01 w02 ÄÖ"]  # non-ASCII and case: byte-wise order
    model = build(lines, 3)
    out = tmp_path / "m.arpa"
    write_arpa(model, out)
    lm = kenlm.Model(str(out))
    assert lm.order == 3
    tab = {}
    for k in range(model.order):
        rows = zip(model.ngrams[k].tolist(), model.logprob[k].tolist(), model.backoff[k].tolist())
        for row, lp, bo in rows:
            tab[tuple(model.vocab[i] for i in row)] = (lp if lp > -math.inf else -99.0, bo)
    for sent in ["w01 w07 w00", "Grüße aus Köln w01", "w05 w05 w05 w05", "W01 w02 ÄÖ"]:
        toks = ["<s>"] + sent.split() + ["</s>"]
        assert lm.score(sent, bos=True, eos=True) == pytest.approx(_score_bo(tab, toks), abs=1e-4)
