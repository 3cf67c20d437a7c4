"""fastText's n-grams and hash against the fastText tool itself (fasttext-wheel)."""
import numpy as np
import pytest

from nlpkit.embed.subwords import fnv1a, ngram_hashes, subword_rows

WORDS = ["the", "where", "king", "été", "naïve", "日本語", "ßü", "x"]


def test_hash_check_values():
    assert fnv1a("<th") == 1619151151          # values read from fastText's dictionary.cc
    assert fnv1a("é") == 1023043777            # a byte >= 0x80 is sign-extended first
    off, h = ngram_hashes(["<th"[1:]], 3, 3)
    assert fnv1a("<th") in h.tolist()


def test_ngram_counts():
    off, _ = ngram_hashes(["the", "where", "</s>"], 3, 6)
    assert np.diff(off).tolist() == [6, 14, 0]


@pytest.fixture(scope="module")
def ft_model(tmp_path_factory):
    import fasttext
    path = tmp_path_factory.mktemp("ft") / "c.txt"
    line = "the king where été naïve 日本語 ßü x " * 5
    path.write_text((line + "\n") * 20, encoding="utf-8")
    return fasttext.train_unsupervised(str(path), model="skipgram", dim=4, epoch=1, minCount=1,
                                       minn=2, maxn=5, bucket=5003, thread=1, verbose=0)


@pytest.mark.parametrize("word", WORDS + ["unseen", "ünseen", "ОЧЕНЬ"])
def test_hash_matches_fasttext(ft_model, word):
    _, ids = ft_model.get_subwords(word)
    nwords = len(ft_model.words)
    theirs = sorted(int(i) - nwords for i in ids if i >= nwords)
    _, h = ngram_hashes([word], 2, 5)
    ours = sorted((h.astype(np.int64) % 5003).tolist())
    assert ours == theirs and len(ours) > 0


def test_subword_rows_layout():
    off, rows = subword_rows(["ab", "c"], 1, 2, 10)
    assert rows[off[0]] == 0 and rows[off[1]] == 1          # own row first
    assert (rows[off[0] + 1:off[1]] >= 2).all() and (rows < 12).all()
