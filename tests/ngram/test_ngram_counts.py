"""N-gram counting: SRILM's reading rules, the count kernels (CPU and CUDA twin), count files."""
import gzip
import pathlib
import random
from collections import Counter

import numpy as np
import pytest

from nlpkit import backend
from nlpkit.errors import NlpkitError
from nlpkit.ngram import count
from nlpkit.ngram.formats.countfile import read_counts, write_counts
from nlpkit.ngram.counting.memory import count_order_cpu
from nlpkit.ngram.reading.encode import WordTable, encode_text
from nlpkit.ngram.counting.trie import count_ids

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "ngram"
SPECIALS = ("<unk>", "<s>", "</s>", "-pau-")


def srilm_sentences(lines):
    """SRILM-KATZ.md §1-2 written out in plain Python: the reference for the kernels."""
    for line in lines:
        if line.startswith("##"):
            continue
        line = line.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        toks = [t for t in line.split(" ") if t]
        if not toks:
            continue
        if toks[0] != "<s>":
            toks = ["<s>"] + toks
        if toks[-1] != "</s>":
            toks = toks + ["</s>"]
        yield toks


def reference_counts(lines, order):
    c = Counter()
    for toks in srilm_sentences(lines):
        for i in range(len(toks)):
            for n in range(1, order + 1):
                if i + n <= len(toks):
                    c[tuple(toks[i:i + n])] += 1
    return dict(c)


def random_lines(rng, n_lines, n_words, specials=True):
    words = [f"w{i}" for i in range(n_words)] + ["ü", "Ab", "a\x0bb"]
    if specials:
        words += ["<s>", "</s>", "-pau-", "<unk>"]
    lines = []
    for _ in range(n_lines):
        k = rng.randint(0, 9)
        sep = rng.choice([" ", "  ", "\t", " \r "])
        line = sep.join(rng.choice(words) for _ in range(k))
        if rng.random() < 0.1:
            line = "## comment " + line
        if rng.random() < 0.1:
            line = "  \t " + line + " \r"
        lines.append(line)
    return lines


# ---------------------------------------------------------------- reading rules

def test_srilm_reading_rules():
    lines = ["a b", "", "   \t", "## not counted", "#x y", "<s> a </s>", "<s>", "</s>",
             "a\x0bb c\r", "b <s> c </s> d", " a\tb "]
    counts = count(lines, 3).as_dict()
    assert counts == reference_counts(lines, 3)
    assert counts[("<s>",)] == counts[("</s>",)] == 8 + 1  # one per counted line + one mid-line
    assert ("a\x0bb",) in counts  # \v is not a separator in SRILM
    assert ("#x", "y") in counts


def test_iterables_paths_and_token_lists_agree(tmp_path):
    lines = ["the cat sat", "", "the dog  sat down", "## skip", "a cat"]
    p = tmp_path / "c.txt"
    p.write_text("\n".join(lines) + "\n")
    pgz = tmp_path / "c.txt.gz"
    with gzip.open(pgz, "wt") as fh:
        fh.write("\n".join(lines))  # no final newline
    a = count(lines, 3).as_dict()
    assert count(str(p), 3).as_dict() == a
    assert count(pgz, 3).as_dict() == a
    toks = [line.split() for line in lines if line.strip() and not line.startswith("##")]
    assert count(toks, 3).as_dict() == a


@pytest.mark.parametrize("seed", range(6))
def test_random_corpora_match_reference(seed):
    rng = random.Random(seed)
    lines = random_lines(rng, rng.randint(1, 60), rng.randint(1, 30))
    if not any(t for t in srilm_sentences(lines)):
        lines.append("x")
    order = rng.randint(1, 7)
    assert count(lines, order).as_dict() == reference_counts(lines, order)


def test_vocabulary_ids_follow_srilm():
    cn = count(["b a", "c b"], 2)
    assert cn.vocab == list(SPECIALS) + ["b", "a", "c"]


def test_closed_vocabulary_maps_to_unk(tmp_path):
    voc = tmp_path / "voc.txt"
    voc.write_text("a\nb extra\n")
    cn = count(["a x b", "y"], 2, vocab=str(voc))
    d = cn.as_dict()
    assert d[("a", "<unk>")] == 1 and d[("<unk>", "b")] == 1 and d[("<unk>",)] == 2
    assert cn.vocab[:6] == list(SPECIALS) + ["a", "b"]


def test_block_boundaries_and_table_growth(tmp_path, monkeypatch):
    from nlpkit.ngram.reading import encode
    monkeypatch.setattr(encode, "_BLOCK", 64)  # many blocks, a growing word table
    rng = random.Random(7)
    lines = random_lines(rng, 300, 400)
    p = tmp_path / "c.txt"
    p.write_text("\n".join(lines) + "\n")
    assert count(str(p), 3).as_dict() == reference_counts(lines, 3)


def test_word_table_grows_and_keeps_ids():
    t = WordTable(capacity=4)
    ids = [t.add(f"w{i}") for i in range(5000)]
    assert ids == list(range(4, 5004))
    assert t.add("w17") == 21
    assert t.words()[4:7] == ["w0", "w1", "w2"]


# ---------------------------------------------------------------- kernels

def _python_count(ids, offsets, n, prev_rows):
    """(ctx, word, count) in first-occurrence order, from a dict."""
    rows = {}
    cnt = []
    for s in range(len(offsets) - 1):
        sent = ids[offsets[s]:offsets[s + 1]]
        for p in range(len(sent) - n + 1):
            key = (prev_rows[offsets[s] + p] if n > 1 else 0, sent[p + n - 1])
            if key not in rows:
                rows[key] = len(rows)
                cnt.append(0)
            cnt[rows[key]] += 1
    keys = list(rows)
    return [k[0] for k in keys], [k[1] for k in keys], cnt


def test_kernel_first_occurrence_order_on_many_threads():
    rng = np.random.default_rng(3)
    lens = rng.integers(1, 12, 3000)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = rng.integers(0, 50, offsets[-1]).astype(np.int32)
    prev, n_prev = None, 1
    with backend.threads(2):
        for n in (1, 2, 3, 4):
            ctx, word, count, cur = count_order_cpu(ids, offsets, prev, n, 50, n_prev)
            prev_list = None if prev is None else prev.tolist()
            ref = _python_count(ids.tolist(), offsets.tolist(), n, prev_list)
            assert (ctx.tolist(), word.tolist(), count.tolist()) == ref
            prev, n_prev = cur, ctx.shape[0]


def test_huge_vocabulary_and_order_8_pack_into_keys():
    # word ids up to 5 million: 23 bits each, 8 words would need 184 bits flat;
    # the trie keys (prefix row, word) always fit 64 bits
    W = 5_000_000
    rng = np.random.default_rng(1)
    base = rng.integers(0, W, 40).astype(np.int32)
    ids = np.concatenate([base, base[:20], base]).astype(np.int32)
    offsets = np.array([0, 40, 60, 100], dtype=np.int64)
    ctxs, words, counts = count_ids(ids, offsets, 8, W)
    assert [w.shape[0] for w in words] == [40, 39, 38, 37, 36, 35, 34, 33]
    assert (counts[7] == 3).sum() == 13 and counts[7].min() == 2 and counts[0].sum() == 100


def test_capacity_retry():
    # 100 words but ~9000 distinct bigrams: the first table guess (from the
    # unigram rows) is too small, so the kernel must report overflow and grow
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 100, 40_000).astype(np.int32)
    offsets = np.array([0, 20_000, 40_000], dtype=np.int64)
    with backend.threads(2):
        c1 = count_order_cpu(ids, offsets, None, 1, 100, 1)
        c2 = count_order_cpu(ids, offsets, c1[3], 2, 100, c1[0].shape[0])
    ref = _python_count(ids.tolist(), offsets.tolist(), 2, c1[3].tolist())
    assert len(ref[0]) > 4 * 100 + 1024
    assert (c2[0].tolist(), c2[1].tolist(), c2[2].tolist()) == ref


# ---------------------------------------------------------------- CUDA twin

def _need_simulator():
    if not backend.simulator_enabled():
        pytest.skip("CUDA twin tests run under NUMBA_ENABLE_CUDASIM=1")


@pytest.mark.cuda
def test_cuda_twin_equals_cpu():
    _need_simulator()
    from nlpkit.ngram.counting.memory_cuda import count_order_cuda
    rng = np.random.default_rng(5)
    lens = rng.integers(1, 9, 40)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = rng.integers(0, 12, offsets[-1]).astype(np.int32)
    prev_c = prev_g = None
    n_prev = 1
    for n in (1, 2, 3):
        c = count_order_cpu(ids, offsets, prev_c, n, 12, n_prev)
        g = count_order_cuda(ids, offsets, prev_g, n, 12, n_prev)
        for a, b in zip(c[:3], g[:3]):
            np.testing.assert_array_equal(a, b)
        valid = np.concatenate([np.arange(offsets[s], offsets[s + 1] - n + 1)
                                for s in range(len(lens))])
        np.testing.assert_array_equal(c[3][valid], g[3][valid])
        prev_c, prev_g, n_prev = c[3], g[3], c[0].shape[0]


@pytest.mark.cuda
def test_cuda_device_through_count():
    _need_simulator()
    lines = ["a b c a b", "b c", "c a b c"]
    assert count(lines, 3, device="cuda").as_dict() == reference_counts(lines, 3)


# ---------------------------------------------------------------- count files

def test_toy_counts_file_reproduced_line_for_line(tmp_path):
    out = tmp_path / "toy0.counts"
    write_counts(count(DATA / "toy" / "toy0.txt", 3), out)
    assert out.read_bytes() == (DATA / "toy" / "toy0.counts").read_bytes()


@pytest.fixture(scope="module")
def kjv_counts3():
    return count(DATA / "kjv" / "train.txt.gz", 3)


def test_kjv_counts3_reproduced_line_for_line(kjv_counts3, tmp_path):
    # ngram-count -order 3 -text train.txt -write counts3.txt: same lines, same order
    out = tmp_path / "counts3.txt.gz"
    write_counts(kjv_counts3, out)
    with gzip.open(DATA / "kjv" / "counts3.txt.gz", "rb") as fh:
        ref = fh.read()
    with gzip.open(out, "rb") as fh:
        mine = fh.read()
    assert mine.count(b"\n") == 564301
    assert mine == ref


def test_read_counts_round_trip(kjv_counts3):
    back = read_counts(DATA / "kjv" / "counts3.txt.gz")
    assert back.sizes() == kjv_counts3.sizes()
    # rows in file order, counts equal n-gram by n-gram
    a, b = kjv_counts3.as_dict(), back.as_dict()
    assert a == b


def test_read_counts_adds_missing_prefixes_and_limits_order(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("a b c\t3\n\n## comment\nb\t2\na b\t5\nx y z w\t1\n")
    cn = read_counts(p)
    assert cn.order == 4
    d = cn.as_dict()
    assert d[("a",)] == 0 and d[("a", "b")] == 5 and d[("a", "b", "c")] == 3
    assert d[("x", "y", "z", "w")] == 1
    cn2 = read_counts(p, order=2)
    assert cn2.order == 2 and ("x", "y") not in cn2.as_dict()


@pytest.mark.parametrize("text,problem", [("a b\tmany\n", "count"), ("\t4\n", "count"),
                                          ("a b\n", "count")])
def test_read_counts_errors_name_file_and_line(tmp_path, text, problem):
    p = tmp_path / "bad.counts"
    p.write_text("x\t1\n" + text)
    with pytest.raises(NlpkitError, match=r"bad\.counts:2: .*" + problem):
        read_counts(p)


def test_read_counts_empty_file(tmp_path):
    p = tmp_path / "empty.counts"
    p.write_text("\n\n")
    with pytest.raises(NlpkitError, match="no n-grams"):
        read_counts(p)


def test_encode_offsets_and_ids():
    t = WordTable()
    ids, offsets = encode_text(["x y", "<s> y </s>", "   "], t)
    assert offsets.tolist() == [0, 4, 7]
    assert ids.tolist() == [1, 4, 5, 2, 1, 5, 2]


def test_progress_reports_bytes_and_tokenizer_is_applied(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("The cat\nthe CAT sat\n")
    seen = []
    cn = count(str(p), 2, progress=seen.append)
    assert sum(seen) == p.stat().st_size
    assert cn.as_dict()[("The",)] == 1
    from nlpkit.ngram import build
    model = build(str(p), 2, tokenizer=lambda line: line.lower().split())
    assert "The" not in model.vocab and model.vocab.count("the") == 1
