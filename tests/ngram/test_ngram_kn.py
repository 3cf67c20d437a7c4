"""lmplz-exact interpolated modified Kneser-Ney (LMPLZ-KN.md), checked against lmplz's own files."""
import gzip
import random
import re

import kenlm
import numpy as np
import pytest

from nlpkit import corpora
from nlpkit.errors import NlpkitError
from nlpkit.ngram import build
from nlpkit.ngram.estimation import kn_kernels
from nlpkit.ngram.estimation.kn import log10f
from nlpkit.ngram.formats.arpa_lmplz import format_float32
from nlpkit.ngram.reading import encode
from nlpkit.ngram.reading.encode import LMPLZ_SPECIALS, WordTable, encode_lmplz, read_lmplz_text

KJV = "kjv"


def estimate_kn(lines, order, **kw):
    return build(lines, order, "kn", **kw)


@pytest.fixture(scope="module")
def kjv_text():
    return corpora.path("kjv", "train")


@pytest.mark.parametrize("order", [3, 5])
def test_kjv_is_byte_identical_to_lmplz(kjv_text, tmp_path, data_dir, order):
    out = tmp_path / f"kn{order}.arpa"
    build(kjv_text, order, "kn", output=out)
    with gzip.open(data_dir / "ngram" / "kjv" / f"lmplz.kn{order}.arpa.gz", "rb") as fh:
        expected = fh.read()
    assert out.read_bytes() == expected


def test_kenlm_scores_of_our_kn3_equal_the_reference(kjv_text, tmp_path, data_dir):
    out = tmp_path / "kn3.arpa"
    build(kjv_text, 3, "kn", output=out)
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
    text = ["a b c", "a b", "b c a"]
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
    from nlpkit.ngram.formats.numfmt import PRINTF_G, spell_strings
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



# ----------------------------------------------------------------------------- reading as lmplz
def _lmplz_reference(data: bytes, skip=False):
    """lmplz's reading of ``data`` (LMPLZ-KN.md §1) in plain Python: vocab, ids, offsets, words."""
    index = {b"<unk>": 0, b"<s>": 1, b"</s>": 2}
    lines = data.split(b"\n")
    ends_in_newline = lines[-1] == b""  # (or the file is empty)
    if ends_in_newline:
        lines.pop()
    ids, offsets, words = [], [0], 0
    for lineno, line in enumerate(lines, 1):
        sentence = [1]
        for token in re.split(rb"[ \t\r\x00]+", line):
            if token:
                wid = index.setdefault(token, len(index))
                if wid < 3 and not skip:
                    raise ValueError(f"{lineno}: {token.decode()}")
                if wid >= 3:
                    sentence.append(wid)
                    words += 1
        if lineno < len(lines) or ends_in_newline:
            sentence.append(2)
        ids += sentence
        offsets.append(len(ids))
    return [w.decode("utf-8", "surrogateescape") for w in index], ids, offsets, words


def _fields(text):
    return text.vocab, text.ids.tolist(), text.offsets.tolist(), text.n_words_read


EDGE_CASES = [b"", b"\n", b"\n\n\n", b"a", b"a\n", b"a b\nb a", b" \t\r\x00 \n", b"a\r\nb\r\n",
              b"a\x0bb c\x0cd\n", b"\x0b\n\x0c", b"\xc3\xa9 \xff\xfe\n\xff", b"a\x00b\x00\x00c\n",
              b"a  b\n\n  ", b"\xc2\xa0 x\xc2\xa0\n", b"\tb\ta\t\n\r", b"x" * 5000 + b" y\n"]


@pytest.mark.parametrize("data", EDGE_CASES)
def test_byte_tokenizer_reads_as_lmplz(tmp_path, data):
    """Whitespace set (space TAB CR LF NUL; not VT, FF or NBSP), empty and blank lines,
    a last line without LF, bytes that are not UTF-8: the kernel path equals the reference."""
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    assert _fields(read_lmplz_text(path)) == _lmplz_reference(data)


def test_literal_specials_are_dropped_with_skip_symbols(tmp_path):
    data = b"<s> a </s>\n<unk>\nx<s> <s>x </s>\n<s>"
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    assert _fields(read_lmplz_text(path, skip_symbols=True)) == _lmplz_reference(data, skip=True)
    path.write_bytes(b"a b\nb a\nc </s> d\n")
    with pytest.raises(NlpkitError, match=r"t\.txt:3: the text contains the symbol </s>"):
        read_lmplz_text(path)


def test_sentences_given_as_strings_read_as_their_lines():
    lines = ["b a\tc", "", "a\x0bb", "é \x00 <s>x", "  "]
    want = _lmplz_reference(("\n".join(lines) + "\n").encode())
    assert _fields(read_lmplz_text(lines)) == want
    assert _fields(read_lmplz_text(iter([["b", "a"], ["c"]]))) == _lmplz_reference(b"b a\nc\n")


def test_byte_tokenizer_random_corpora(tmp_path, monkeypatch):
    """Random bytes over lmplz's separators and look-alikes, read in tiny blocks into a
    tiny word table (so the kernel stops, the table grows and reading resumes)."""
    monkeypatch.setattr(encode, "_BLOCK", 37)
    rng = random.Random(3)
    pieces = [b"a", b"b", b"ab", b"\xc3\xa9", b"\xff", b"\x0b", b"\x0c", b" ", b" ", b"\t", b"\r",
              b"\n", b"\n", b"\x00", b"\r\n", b"\xc2\xa0", b"<s>", b"</s>", b"<unk>", b"<s>x"]
    path = tmp_path / "t.txt"
    for trial in range(150):
        words = [b"w%d" % i for i in range(rng.choice([5, 3000]))]
        data = b"".join(rng.choice(pieces) if rng.random() < 0.4 else rng.choice(words) + b" "
                        for _ in range(rng.randint(0, 600)))
        path.write_bytes(data)
        skip = trial % 3 > 0
        try:
            want = _lmplz_reference(data, skip=skip)
        except ValueError as exc:
            lineno, word = str(exc).split(": ")
            with pytest.raises(NlpkitError, match=f":{lineno}: the text contains the symbol {word}"):
                encode_lmplz(path, WordTable(LMPLZ_SPECIALS, capacity=16))
            continue
        table = WordTable(LMPLZ_SPECIALS, capacity=16)
        ids, offsets, n_words = encode_lmplz(path, table, skip_specials=skip)
        assert (table.words(), ids.tolist(), offsets.tolist(), n_words) == want, data


def test_largest_padded_ngram_kernel():
    """The last left-padded N-gram in suffix order (LMPLZ-KN.md §3), against brute force."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 6))
        lengths = rng.integers(1, 6, size=int(rng.integers(1, 6)))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = rng.integers(3, 3 + int(rng.integers(1, 5)), size=offsets[-1]).astype(np.int32)
        ids[offsets[:-1]] = 1
        windows = [tuple(int(ids[q]) if q >= st else 1 for q in range(p - n + 1, p + 1))
                   for st, en in zip(offsets[:-1], offsets[1:]) for p in range(st + 1, en)]
        want = max(windows, key=lambda w: w[::-1], default=(1,) * n)
        got = np.empty(n, np.int64)
        kn_kernels.largest_padded(ids, offsets, np.int64(n), np.int64(1), got)
        assert tuple(got.tolist()) == want


@pytest.mark.cuda
def test_counting_on_the_gpu_gives_the_same_model():
    """The CUDA counting twin (simulated) feeds the estimator the same rows: same model."""
    text = ["a b c a b", "b c", "c a b c c", "", "a b b a", "c c a"]
    cpu = estimate_kn(text, 3, discount_fallback=True, device="cpu")
    gpu = estimate_kn(text, 3, discount_fallback=True, device="cuda")
    for k in range(3):
        assert np.array_equal(cpu.ngrams[k], gpu.ngrams[k])
        assert np.array_equal(cpu.logprob[k], gpu.logprob[k])
        assert np.array_equal(cpu.backoff[k], gpu.backoff[k])


@pytest.mark.parametrize("prune", [None, [0, 0]])
def test_zero_prune_thresholds_pair_back_offs_as_unpruned(data_dir, tmp_path, prune):
    """A last line without a newline shifts lmplz's back-off pairing; thresholds of 0 prune
    nothing and keep that one-by-one pairing (only a threshold above 0 pairs by key)."""
    toy = data_dir / "ngram" / "toy"
    out = tmp_path / "m.arpa"
    build(toy / "nofinalnl.txt", 3, "kn", discount_fallback=True, prune=prune, output=out)
    assert out.read_bytes() == (toy / "nofinalnl.kn3.arpa").read_bytes()
