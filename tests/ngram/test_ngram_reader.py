"""ARPA reader: the 25 arpa-edge files (outcomes from tests/data/ngram/README.md), errors, numbers."""
import gzip
import re
import warnings

import numpy as np
import pytest

from nlpkit.errors import InputFileError
from nlpkit.ngram.formats import arpa_reader
from nlpkit.ngram.formats.arpa_reader import ArpaWarning, read_arpa
from nlpkit.ngram.scoring.scorer import NGramScorer

EDGE_FILES = 25


def _edge_table(data_dir):
    """{file: ('loads', logprob) or ('error', None)} from the README's SRILM column."""
    text = (data_dir / "ngram" / "README.md").read_text()
    section = text[text.index("## arpa-edge/"):]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| (\w+) \| (.*?) \| (.*?) \|$", line)
        if not m or m.group(1) == "file":
            continue
        srilm = m.group(2)
        lm = re.search(r"logprob (-?[\d.]+)", srilm)
        rows[m.group(1)] = ("loads", lm.group(1)) if srilm.startswith("loads") else ("error", None)
    return rows


# files where SRILM prints a warning (README), and the words our warning contains
WARNS = {
    "duplicate_ngram": "duplicated",
    "missing_bow_prefix": "no back-off weight",
    "missing_prefix_ngram": "no back-off weight",
    "nonzero_bow_top": "highest order",
    "positive_prob": "above 1",
    "wrong_count_hi": "expected 4",
    "wrong_count_lo": "expected 2",
}


def test_readme_lists_every_edge_file(data_dir):
    table = _edge_table(data_dir)
    files = sorted(p.stem for p in (data_dir / "ngram" / "arpa-edge").glob("*.arpa"))
    assert len(files) == EDGE_FILES
    assert sorted(table) == files


@pytest.mark.parametrize("name", sorted(
    p.stem for p in __import__("pathlib").Path(__file__).parent.joinpath("../data/ngram/arpa-edge").glob("*.arpa")))
def test_edge_file_outcome(data_dir, name):
    outcome, logprob = _edge_table(data_dir)[name]
    path = data_dir / "ngram" / "arpa-edge" / f"{name}.arpa"
    if outcome == "error":
        with pytest.raises(InputFileError) as err:
            read_arpa(path)
        assert str(path) in str(err.value) and "\\end\\" in str(err.value)
        assert err.value.line is not None
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = read_arpa(path, max_order=3)
    ours = [str(w.message) for w in caught if issubclass(w.category, ArpaWarning)]
    if name in WARNS:
        assert any(WARNS[name] in m for m in ours), ours
    else:
        assert not ours, ours
    stats = NGramScorer(model).perplexity_stats(["a b a"])
    assert "%.7g" % stats.logprob == logprob
    assert stats.sentences == 1 and stats.words == 3


def test_edge_error_names_file_and_line(tmp_path, data_dir):
    ok = (data_dir / "ngram" / "arpa-edge" / "ok.arpa").read_text().splitlines()
    cases = {
        "bad_prob": (lambda L: L[:8] + ["-0.3x1\ta\t-0.2"] + L[9:], 9, "cannot parse the number"),
        "bad_bow": (lambda L: L[:8] + ["-0.30103\ta\tnan"] + L[9:], 9, "cannot parse the number"),
        "few_fields": (lambda L: L[:13] + ["-0.39794\ta"] + L[14:], 14, "expected a probability"),
        "many_fields": (lambda L: L[:8] + ["-0.3\ta\t-0.2\t7"] + L[9:], 9, "too many fields"),
        "bad_header": (lambda L: L[:2] + ["ngram two=3"] + L[3:], 3, "ngram N=count"),
        "section_order": (lambda L: [x.replace("\\2-grams:", "\\3-grams:") for x in L], 12,
                          "unexpected section"),
        "no_data": (lambda L: L[1:], None, "no \\data\\"),
    }
    for name, (edit, line, words) in cases.items():
        p = tmp_path / f"{name}.arpa"
        p.write_text("\n".join(edit(list(ok))) + "\n")
        with pytest.raises(InputFileError) as err:
            read_arpa(p)
        assert words in str(err.value), (name, str(err.value))
        if line is not None:
            assert err.value.line == line, (name, str(err.value))


def test_truncated_gzip_is_an_error(tmp_path, data_dir):
    raw = gzip.compress((data_dir / "ngram" / "arpa-edge" / "ok.arpa").read_bytes())
    p = tmp_path / "cut.arpa.gz"
    p.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(InputFileError, match="truncated|decompress"):
        read_arpa(p)
    with pytest.raises(InputFileError, match="no such file"):
        read_arpa(tmp_path / "missing.arpa")


def test_gzip_members_and_sizes(tmp_path, data_dir):
    """Several gzip members end to end read as their concatenation, also when the text
    outgrows the size the trailer (the last member's) suggests."""
    text = gzip.decompress((data_dir / "ngram" / "kjv" / "srilm.gt3.arpa.gz").read_bytes())
    whole = read_arpa(data_dir / "ngram" / "kjv" / "srilm.gt3.arpa.gz")
    cut = text.index(b"\\3-grams:")
    p = tmp_path / "two.arpa.gz"
    p.write_bytes(gzip.compress(text[:cut], 9) + gzip.compress(text[cut:], 1))
    two = read_arpa(p)
    assert two.vocab == whole.vocab
    for k in range(3):
        assert np.array_equal(two.ngrams[k], whole.ngrams[k])
        assert np.array_equal(two.logprob[k], whole.logprob[k])
        assert np.array_equal(two.backoff[k], whole.backoff[k])
    # very compressible text, a tiny last member: the first guess of the size is far short
    # (an ARPA file's start: text that is not is refused as it is inflated)
    big = b"\\data\\\nngram 1=300000\n\n\\1-grams:\n" + b"-1\tfiller\n" * 300_000
    raw = gzip.compress(big, 9) + gzip.compress(b"x", 9)
    out = arpa_reader._inflate("x.gz", raw)
    assert len(out) == len(big) + 1 > 64 * len(raw) // 4 and out[:] == big + b"x"
    out.close()
    assert arpa_reader._inflate("x.gz", gzip.compress(b"")) == b""


def test_numbers_are_correctly_rounded_then_float32(tmp_path):
    rng = np.random.default_rng(0)
    vals = np.concatenate([-rng.random(300) * 10.0 ** rng.integers(-12, 3, 300), [0.0]])
    texts = ["%.7g" % v for v in vals[:100]] + ["%.17g" % v for v in vals[100:200]] + \
        [repr(float(v)) for v in vals[200:]] + ["-1.00000000000000000000001", "-9.9e-30"]
    words = [f"w{i}" for i in range(len(texts))]
    lines = ["\\data\\", f"ngram 1={len(texts) + 2}", "ngram 2=1", "", "\\1-grams:", "-1\t<s>\t-0.5",
             "-1\t</s>"]
    lines += [f"{t}\t{w}\t{t}" for t, w in zip(texts, words)]
    lines += ["", "\\2-grams:", "-1\t<s> </s>", "", "\\end\\", ""]
    p = tmp_path / "nums.arpa"
    p.write_text("\n".join(lines))
    m = read_arpa(p)
    idx = {w: i for i, w in enumerate(m.vocab)}
    rows = {int(r[0]): k for k, r in enumerate(m.ngrams[0])}
    for t, w in zip(texts, words):
        k = rows[idx[w]]
        want = np.float32(float(t))
        assert m.logprob[0][k] == want and m.backoff[0][k] == want, (t, m.logprob[0][k], want)


def test_minus_99_is_log_zero_and_max_order_drops_top_bows(data_dir):
    m = read_arpa(data_dir / "ngram" / "arpa-edge" / "ok.arpa", max_order=2)
    assert m.order == 2
    s = m.vocab.index("<s>")
    row = list(m.ngrams[0][:, 0]).index(s)
    assert m.logprob[0][row] == -np.inf
    assert not m.has_backoff[1].any() and (m.backoff[1] == 0).all()


@pytest.fixture(scope="module")
def gt3(data_dir):
    return read_arpa(data_dir / "ngram" / "kjv" / "srilm.gt3.arpa.gz")


def test_kjv_counts_match_header(gt3, data_dir):
    head = gzip.open(data_dir / "ngram" / "kjv" / "srilm.gt3.arpa.gz", "rt").read(200)
    want = [int(x) for x in re.findall(r"ngram \d=(\d+)", head)]
    assert gt3.counts() == want
    assert gt3.ngrams[2].shape == (want[2], 3)
    assert gt3.has_backoff[1].sum() > 0 and not gt3.has_backoff[2].any()


def test_parallel_and_single_thread_parse_agree(gt3, data_dir, monkeypatch):
    monkeypatch.setattr(arpa_reader, "_PARALLEL_BYTES", 1 << 40)
    single = read_arpa(data_dir / "ngram" / "kjv" / "srilm.gt3.arpa.gz")
    assert single.vocab == gt3.vocab
    for k in range(3):
        assert np.array_equal(single.ngrams[k], gt3.ngrams[k])
        assert np.array_equal(single.logprob[k], gt3.logprob[k])
        assert np.array_equal(single.backoff[k], gt3.backoff[k])
        assert np.array_equal(single.has_backoff[k], gt3.has_backoff[k])


def test_gz_and_plain_agree(tmp_path, data_dir):
    src = data_dir / "ngram" / "toy" / "zipf.gt3.arpa"
    p = tmp_path / "z.arpa.gz"
    p.write_bytes(gzip.compress(src.read_bytes()))
    a, b = read_arpa(src), read_arpa(p)
    assert a.vocab == b.vocab
    assert all(np.array_equal(x, y) for x, y in zip(a.logprob, b.logprob))


def test_reads_stdin(data_dir, monkeypatch):
    import io
    import sys
    src = data_dir / "ngram" / "toy" / "zipf.gt3.arpa"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(src.read_bytes())))
    a, b = read_arpa("-"), read_arpa(src)
    assert a.vocab == b.vocab
    assert all(np.array_equal(x, y) for x, y in zip(a.ngrams, b.ngrams))
    assert all(np.array_equal(x, y) for x, y in zip(a.logprob, b.logprob))


def test_well_formed_fast_build_equals_the_repair_path(gt3, monkeypatch):
    """A clean model skips the order-by-order repairs; forcing them must change nothing."""
    from nlpkit.ngram.scoring import tables as model_mod
    fast = gt3._tables
    row_off, gram_off = _cumulative_offsets(fast)
    assert not model_mod.scoring.count_broken_contexts(
        fast.slots, fast.tab_off, fast.tab_mask, fast.grams, gram_off, row_off, fast.has_bo,
        fast.uni_has_bo, fast.order, fast.bits, fast.packed_upto, True).any()
    monkeypatch.setattr(model_mod.scoring, "count_broken_contexts",
                        lambda *a: np.ones(a[-4] + 1, np.int64))
    slow, real = model_mod.NGramTables.build(gt3, drop_orphans=True)
    for name in model_mod.NGramTables.FIELDS:
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    for k in range(gt3.order):
        assert np.array_equal(real.ngrams[k], gt3.ngrams[k])
        assert np.array_equal(real.logprob[k], gt3.logprob[k])


def _cumulative_offsets(t):
    """The tables' row/gram offsets with the totals in the last entry (as the build uses)."""
    N = t.order
    row_off, gram_off = t.row_off.copy(), t.gram_off.copy()
    row_off[N + 1] = row_off[N] + t.n_real[N - 1]
    gram_off[N + 1] = gram_off[N] + t.n_real[N - 1] * N
    return row_off, gram_off
