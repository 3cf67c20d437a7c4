"""The merge kernel against the plain-Python reference learner (tests/text/subword_reference.py)."""
import gzip
import re
from collections import Counter

import numpy as np
import pytest
from tokenizers import pre_tokenizers

from nlpkit import corpora
from nlpkit.text import DecodeWarning
from nlpkit.text.corpus import Encoder
from nlpkit.text.subword import BPE, WordPiece, pipeline, pretokenize_kernels

from subword_reference import learn  # tests/text is on sys.path (pytest rootdir-relative import)


def random_lines(seed, n_lines=300, alphabet="abcdeé"):
    """Words over a tiny alphabet (many repeated letters, many ties), Zipf-ish counts."""
    rng = np.random.default_rng(seed)
    types = ["".join(rng.choice(list(alphabet), rng.integers(1, 9))) for _ in range(120)]
    weights = 1.0 / np.arange(1, len(types) + 1)
    weights /= weights.sum()
    return [" ".join(rng.choice(types, rng.integers(1, 12), p=weights)) for _ in range(n_lines)]


def kjv_lines(n=1500):
    with open(corpora.path("kjv", "test"), encoding="utf-8") as fh:
        return fh.read().split("\n")[:n]


def word_counts(lines, mark=lambda w: w):
    return Counter(mark(w) for line in lines for w in line.split())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suffix_bpe_merges_equal_reference_on_random_corpora(seed):
    lines = random_lines(seed)
    tok = BPE(vocab_size=90, style="suffix").fit(lines)
    itos, merges = learn(word_counts(lines), vocab_size=90, specials=("<unk>",), suffix="</w>")
    assert tok.merges_ == merges
    assert tok.vocab_.itos == itos
    assert len(merges) > 40


@pytest.mark.parametrize("unit_separator", [False, True], ids=["bytes", "strings"])
def test_suffix_bpe_from_a_file_equals_reference(unit_separator, tmp_path):
    # A file is counted from its UTF-8 blocks (no lines, no strings) unless a block holds
    # \x1c-\x1f: either way the words are tokenizers' WhitespaceSplit's of the lines the
    # text readers give (CRLF, non-ASCII whitespace, a byte that is not UTF-8)
    lines = kjv_lines(300) + random_lines(8, 100) + [
        "a\u3000b\u00a0c \u2028 d\te", "x \ufeffy", "caf\xe9 na\xefve", "  "]
    if unit_separator:
        lines.append("p\x1fq \x1cr")
    path = tmp_path / "corpus.txt"
    path.write_bytes("\r\n".join(lines).encode("utf-8").replace(b"na", b"n\xffa") + b"\r\n")
    read = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    split = pre_tokenizers.WhitespaceSplit()
    words = Counter(w for line in read for w, _ in split.pre_tokenize_str(line))
    with pytest.warns(DecodeWarning, match="were not valid UTF-8"):
        tok = BPE(vocab_size=300, style="suffix").fit(str(path))
    itos, merges = learn(words, vocab_size=300, specials=("<unk>",), suffix="</w>")
    assert tok.merges_ == merges and tok.vocab_.itos == itos
    assert ("p\x1fq" in words) == unit_separator and "n\ufffda\xefve" in words


@pytest.mark.parametrize("seed", [3, 4])
def test_metaspace_bpe_merges_equal_reference_on_random_corpora(seed):
    lines = random_lines(seed)
    tok = BPE(vocab_size=80, style="metaspace", min_frequency=3).fit(lines)
    itos, merges = learn(word_counts(lines, lambda w: "▁" + w), vocab_size=80,
                         specials=("<unk>",), min_frequency=3)
    assert tok.merges_ == merges and tok.vocab_.itos == itos


def test_bpe_merges_equal_reference_on_real_text():
    lines = kjv_lines()
    tok = BPE(vocab_size=600, style="suffix").fit(lines)
    itos, merges = learn(word_counts(lines), vocab_size=600, specials=("<unk>",), suffix="</w>")
    assert tok.merges_ == merges and tok.vocab_.itos == itos
    assert len(merges) > 500


def test_bytelevel_bpe_merges_equal_reference():
    # GPT-2's style: words as tokenizers' ByteLevel pre-tokenizer cuts them (each UTF-8
    # byte a printable character; 'é' is two), all 256 byte symbols in the alphabet
    # whether the text has them or not
    lines = kjv_lines(400) + random_lines(6, 100)
    split = pre_tokenizers.ByteLevel(add_prefix_space=False)
    words = Counter(w for line in lines for w, _ in split.pre_tokenize_str(line))
    tok = BPE(vocab_size=600, style="bytelevel").fit(lines)
    itos, merges = learn(words, vocab_size=600, specials=("<|endoftext|>",),
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    assert tok.merges_ == merges and tok.vocab_.itos == itos
    assert len(merges) > 250


@pytest.mark.parametrize("ours, theirs, unit_separators", [
    (pipeline.ByteLevel(add_prefix_space=False), pre_tokenizers.ByteLevel(add_prefix_space=False),
     "all"),
    (pipeline.ByteLevel(add_prefix_space=True), pre_tokenizers.ByteLevel(add_prefix_space=True),
     "all"),
    (pipeline.BertPreTokenizer(), pre_tokenizers.BertPreTokenizer(), "all"),
    (pipeline.WhitespaceSplit(), pre_tokenizers.WhitespaceSplit(), "all"),
    (pipeline.WhitespaceSplit(), pre_tokenizers.WhitespaceSplit(), "last"),
], ids=["bytelevel", "bytelevel-prefix-space", "bert", "whitespace-split-strings",
        "whitespace-split-kernel"])
def test_word_counts_equal_tokenizers_pre_tokenizer(ours, theirs, unit_separators):
    # ASCII lines are split by a kernel, the others by the regex: both must cut what
    # tokenizers' pre-tokenizer cuts, on text full of corner cases (GPT-2's contractions,
    # runs of mixed whitespace before words and at line ends, control characters,
    # punctuation runs holding apostrophes), documents holding line feeds and non-ASCII.
    # WhitespaceSplit's blocks go to the byte kernel unless they hold \x1c-\x1f (where
    # str.split() splits and Rust does not): with unit_separators="last" only the last
    # block holds one, so the kernel's blocks and a string block share the encoder.
    rng = np.random.default_rng(7)
    alphabet = list("ab Z09'srtvelmd  \t\r\x0b\x0c.,-_'\x00\x1f\x7f") + [
        "é", "\n", "\u3000", "\u00a0", "\u0085", "\u2028", "\u202f", "\x1c"]
    lines = ["".join(rng.choice(alphabet, rng.integers(0, 40))) for _ in range(3000)]
    lines += ["it's 'll 'S  x\t\ty  ", " \t a", "a \n b", "", "   ", "x'll've'd"] + kjv_lines(50)
    if unit_separators == "last":
        lines = [re.sub("[\x1c-\x1f]", "", line) for line in lines] + ["a\x1fb \x1c c"]
    encoder = Encoder()
    ids = np.concatenate([ours.encode_pieces(lines[i:i + 700], encoder)
                          for i in range(0, len(lines), 700)])
    words = ours.words(encoder.first_seen)
    got = Counter({words[i]: c for i, c in enumerate(np.bincount(ids).tolist())})
    want = Counter(w for line in lines for w, _ in theirs.pre_tokenize_str(line))
    assert got == want
    assert sum(want.values()) > 15000


@pytest.mark.parametrize("replacement", ["none", "some-blocks"])
def test_metaspace_word_counts_equal_tokenizers_pre_tokenizer(replacement):
    # Lines without the replacement or a line feed are cut at spaces by a kernel, as
    # UTF-8 bytes; the others (in some blocks, or every block) by split_lines, after
    # them: both must give tokenizers' Metaspace words, with runs of spaces at the start,
    # inside and at the end of lines, empty lines, other whitespace (not a cut here),
    # non-ASCII text, a lone surrogate and an empty block.
    rng = np.random.default_rng(11)
    alphabet = list("ab Z09 .,  \t\r\x0b\x00\x1f") + ["é", "\n", "\u3000", "\u00a0", "ß", "€"]
    lines = ["".join(rng.choice(alphabet, rng.integers(0, 30))) for _ in range(3000)]
    lines += ["", " ", "  ", " a", "a ", "a  b", "  a  ", "\ud800x y"] + kjv_lines(50)
    if replacement == "some-blocks":
        lines[5] += " ▁x"
        lines[2500] = "▁ ▁▁a b▁"
    blocks = [lines[i:i + 700] for i in range(0, len(lines), 700)] + [[]]
    ours, theirs, encoder = pipeline.Metaspace(), pre_tokenizers.Metaspace(), Encoder()
    ids = np.concatenate([ours.encode_pieces(block, encoder) for block in blocks])
    words = ours.words(encoder.first_seen)
    got = Counter()  # (a block holding the replacement keeps its pieces with the ▁: a
    for i, c in enumerate(np.bincount(ids).tolist()):  # word may come twice, summed here)
        got[words[i]] += c
    want = Counter(w for line in lines if "\ud800" not in line
                   for w, _ in theirs.pre_tokenize_str(line))
    want.update(["▁\ud800x", "▁y"])  # (tokenizers takes no lone surrogate)
    assert got == want
    assert got["▁"] > 1000 and sum(want.values()) > 10000
    # the kernel alone, on the corner cases
    pieces, ends = pretokenize_kernels.split_spaces(np.frombuffer(b" a  b \n\n  \nc", np.uint8))
    cut = [pieces[a:b].tobytes() for a, b in zip([0, *ends[:-1]], ends)]
    assert cut == [b"a", b"", b"b", b"", b"", b"", b"c"]


@pytest.mark.parametrize("training", ["bpe", "likelihood"])
def test_wordpiece_vocabulary_equals_reference(training):
    lines = kjv_lines(600) + random_lines(5, 100)
    tok = WordPiece(vocab_size=400, training=training, limit_alphabet=None).fit(lines)
    # the words as BERT's normalizer and pre-tokenizer give them (checked against
    # tokenizers elsewhere); the reference learns from their counts
    words = Counter(w for line in lines for w in tok.pre_tokenizer_.split(tok.normalizer_(line)))
    itos, _ = learn(words, vocab_size=400, specials=tok.special_tokens, prefix="##",
                    min_frequency=2, likelihood=training == "likelihood")
    assert tok.vocab_.itos == itos


def test_limit_alphabet_keeps_the_most_frequent_characters():
    lines = ["aaaa bbb cc d", "aaaa bbb cc", "aaaa"]
    tok = BPE(vocab_size=10, limit_alphabet=2).fit(lines)
    assert [t for t in tok.vocab_.itos if len(t) == 1] == ["a", "b"]
    # characters left out of the alphabet become <unk>
    assert tok.encode("dab", as_tokens=True) == ["<unk>", "a", "b</w>"]


def test_training_streams_a_compressed_file(tmp_path):
    lines = kjv_lines(300)
    path = tmp_path / "c.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\r\n".join(lines))  # CRLF and no final line end
    a = BPE(vocab_size=300).fit(str(path))
    b = BPE(vocab_size=300).fit(lines)
    assert a.merges_ == b.merges_ and a.vocab_.itos == b.vocab_.itos
