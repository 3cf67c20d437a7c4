"""Queries and evaluation against gensim's KeyedVectors on the same vectors."""
import numpy as np
import pytest
from gensim.models import KeyedVectors as GKV

from nlpkit.embed import KeyedVectors, UnknownWordError
from nlpkit.errors import NlpkitError


@pytest.fixture(scope="module")
def pair(data_dir):
    """Random vectors over the words of the evaluation files (some left out: OOV)."""
    words = set()
    for name in ("wordsim353.tsv", "questions-words-small.txt"):
        for line in (data_dir / "embed" / name).read_text().splitlines():
            if line and not line.startswith(("#", ":")):
                words.update(line.split()[:4] if name.endswith(".txt") else line.split("\t")[:2])
    words = sorted(w for w in words if not w[0].isdigit())
    words = list(dict.fromkeys(w.lower() for w in words))
    words = [w for i, w in enumerate(words) if i % 7]  # drop 1/7: OOV pairs and questions
    rng = np.random.default_rng(3)
    base = rng.standard_normal((len(words), 20)).astype(np.float32)
    ours = KeyedVectors(words, base)
    g = GKV(20)
    g.add_vectors(words, base)
    return ours, g


def test_most_similar_matches_gensim(pair):
    ours, g = pair
    w = ours.index_to_key
    for pos, neg in [([w[5]], []), ([w[1], w[2]], [w[3]]), ([w[10]], [w[20]])]:
        a = ours.most_similar(positive=pos, negative=neg, topn=8)
        b = g.most_similar(positive=pos, negative=neg, topn=8)
        assert [w for w, _ in a] == [w for w, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
        a = ours.most_similar_cosmul(positive=pos, negative=neg, topn=5)
        b = g.most_similar_cosmul(positive=pos, negative=neg, topn=5)
        assert [w for w, _ in a] == [w for w, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-4)


def test_similarity_and_doesnt_match(pair):
    ours, g = pair
    w = ours.index_to_key
    assert abs(ours.similarity(w[0], w[1]) - float(g.similarity(w[0], w[1]))) < 1e-6
    assert ours.doesnt_match(w[:6]) == g.doesnt_match(w[:6])


def test_word_pairs_match_gensim(pair, data_dir):
    ours, g = pair
    for name in ("wordsim353.tsv", "simlex999.txt"):
        path = data_dir / "embed" / name
        p, s, oov = ours.evaluate_word_pairs(path)
        gp, gs, goov = g.evaluate_word_pairs(str(path))
        assert abs(p - gp[0]) < 1e-6 and abs(s - gs[0]) < 1e-6 and abs(oov - goov) < 1e-9
        assert oov > 0


def test_analogies_match_gensim(pair, data_dir):
    ours, g = pair
    path = data_dir / "embed" / "questions-words-small.txt"
    acc, sections = ours.evaluate_word_analogies(path)
    gacc, gsections = g.evaluate_word_analogies(str(path))
    assert abs(acc - gacc) < 1e-12
    assert [(s["section"], s["correct"], s["incorrect"]) for s in sections] == \
        [(s["section"], len(s["correct"]), len(s["incorrect"])) for s in gsections]


def test_analogies_over_several_blocks_match_gensim(pair, data_dir, tmp_path):
    # the questions are answered 2048 at a time as the file is read: thrice over, with its
    # sections repeated, the counts are gensim's on the same file
    ours, g = pair
    path = tmp_path / "questions.txt"
    path.write_text((data_dir / "embed" / "questions-words-small.txt").read_text() * 3)
    acc, sections = ours.evaluate_word_analogies(path, restrict_vocab=100_000)
    gacc, gsections = g.evaluate_word_analogies(str(path), restrict_vocab=100_000)
    assert sum(s["correct"] + s["incorrect"] for s in sections[:-1]) > 2048
    assert abs(acc - gacc) < 1e-12
    assert [(s["section"], s["correct"], s["incorrect"]) for s in sections] == \
        [(s["section"], len(s["correct"]), len(s["incorrect"])) for s in gsections]


def test_unknown_word(pair):
    ours, _ = pair
    with pytest.raises(UnknownWordError, match="not in the vocabulary"):
        ours.most_similar("qqqqzz")
    with pytest.raises(NlpkitError):
        ours.most_similar()
