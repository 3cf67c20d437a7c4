import numpy as np
import pytest

from nlpkit import corpora
from nlpkit.errors import NlpkitError
from nlpkit.text import Corpus, Tokenizer, Vocabulary, iter_lines

TEXT = ["the cat sat", "", "the dog", "   ", "a cat\tand a dog ran"]


@pytest.mark.parametrize("as_file", [False, True])
def test_encode_round_trip(tmp_path, as_file):
    source = TEXT
    if as_file:
        source = tmp_path / "c.txt"
        source.write_text("\n".join(TEXT) + "\n")
    c = Corpus.from_text(source)
    assert c.ids.dtype == np.int32 and c.offsets.dtype == np.int64
    assert c.n_sentences == 3 and c.n_tokens == 11
    assert [c.decode(i) for i in range(3)] == [line.split() for line in TEXT if line.split()]
    # by count desc, ties by first appearance
    assert c.vocab.itos[3:] == ["the", "cat", "dog", "a", "sat", "and", "ran"]


def test_file_fast_path_equals_line_path(tmp_path):
    lines = list(iter_lines(corpora.path("kjv", "test")))
    lines[5] = "nul\x00inside a line"  # forces the line-by-line branch for that chunk
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines) + "\n")
    a = Corpus.from_text(path)
    b = Corpus.from_text(lines)
    assert a.vocab == b.vocab
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)
    lower_pat = Corpus.from_text(path, tokenizer=Tokenizer(r"[a-z]+"))
    assert lower_pat.decode(5) == ["nul", "inside", "a", "line"]


def test_known_vocabulary_and_unk():
    v = Vocabulary.build([["the", "cat"]])
    c = Corpus.from_text(["the dog", "cat"], vocab=v)
    assert c.decode(0) == ["the", "<unk>"] and c.decode(1) == ["cat"]
    closed = Vocabulary(["the", "cat"], specials=())
    with pytest.raises(NlpkitError, match="no <unk>"):
        Corpus.from_text(["the dog"], vocab=closed)


def test_min_count_pruning_with_and_without_unk():
    c = Corpus.from_text(TEXT, min_count=2)
    assert c.decode(0) == ["the", "cat", "<unk>"]
    c = Corpus.from_text(TEXT, min_count=2, specials=("<s>", "</s>"))
    assert c.decode(0) == ["the", "cat"] and c.n_sentences == 3


def test_keep_empty_and_token_lists():
    c = Corpus.from_text(TEXT, skip_empty=False)
    assert c.n_sentences == 5 and c.lengths().tolist() == [3, 0, 2, 0, 6]
    c = Corpus.from_text([["x", "y"], ("y",)])
    assert c.decode(0) == ["x", "y"]
    with pytest.raises(NlpkitError, match="expected a sentence"):
        Corpus.from_text([3])


def test_empty_corpus_encodes_to_nothing():
    c = Corpus.from_text(["", "  "])
    assert c.n_sentences == 0 and c.n_tokens == 0


def test_save_load(tmp_path):
    c = Corpus.from_text(TEXT)
    c.save(tmp_path / "c.npz")
    d = Corpus.load(tmp_path / "c.npz")
    assert d.vocab == c.vocab and np.array_equal(d.ids, c.ids)


def test_bundled_corpora():
    assert corpora.names() == ["kjv", "kjv-genre", "kjv-names"]
    c = Corpus.from_text(corpora.path("kjv", "test"))
    assert (c.n_sentences, c.n_tokens) == (622, 16028)
    texts, labels = corpora.load("kjv-genre", "test")
    assert len(texts) == len(labels) > 3000 and "law" in set(labels)
    toks, tags = corpora.load("kjv-names", "test")
    assert len(toks) == len(tags) and all(len(a) == len(b) for a, b in zip(toks, tags))
    assert set(t for s in tags for t in s) == {"NAME", "O"}
    with pytest.raises(NlpkitError, match="unknown corpus"):
        corpora.path("nope")
