"""Training: quality against gensim on the bundled KJV, reproducibility, estimators, errors."""
import gzip
import pickle

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from nlpkit import corpora
from nlpkit.embed import FastText, Word2Vec, trainer
from nlpkit.errors import NlpkitError

RELATED = [("god", "lord"), ("king", "prince"), ("water", "drink"), ("love", "mercy"),
           ("father", "son"), ("brother", "sister"), ("gold", "silver"), ("sword", "spear"),
           ("bread", "wine"), ("heaven", "earth"), ("sheep", "goats"), ("moses", "aaron"),
           ("priest", "levites"), ("camels", "asses")]
UNRELATED = [("king", "water"), ("gold", "brother"), ("sword", "mercy"), ("bread", "prince"),
             ("sheep", "heaven"), ("moses", "silver"), ("priest", "wine"), ("camels", "love")]
PAIRS = RELATED + UNRELATED


@pytest.fixture(scope="module")
def kjv():
    with gzip.open(corpora.path("kjv"), "rt", encoding="utf-8") as fh:
        return [line.split() for line in fh]


@pytest.fixture(scope="module")
def models(kjv):
    from gensim.models import Word2Vec as GW
    ours = Word2Vec(epochs=3, n_jobs=2, seed=1).fit(kjv)
    theirs = GW(kjv, vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, epochs=3,
                workers=2, seed=1, alpha=0.025, sg=1)
    return ours, theirs


def test_vocabulary_matches_gensim(models):
    ours, theirs = models
    assert set(ours.wv.index_to_key) == set(theirs.wv.index_to_key)
    assert ours.wv.index_to_key[:50] == theirs.wv.index_to_key[:50]


def test_sgns_quality_comparable_to_gensim(models):
    ours, theirs = models
    a = [ours.wv.similarity(x, y) for x, y in PAIRS]
    b = [theirs.wv.similarity(x, y) for x, y in PAIRS]
    assert stats.spearmanr(a, b)[0] > 0.75
    # related pairs beat unrelated ones in both models
    for sims in (a, b):
        assert np.mean(sims[:len(RELATED)]) > np.mean(sims[len(RELATED):]) + 0.15
    words = ours.wv.index_to_key[40:400:6]
    overlap = np.mean([len({w for w, _ in ours.wv.most_similar(q, topn=10)}
                           & {w for w, _ in theirs.wv.most_similar(q, topn=10)}) / 10
                       for q in words])
    assert overlap > 0.4   # gensim vs gensim with another seed: about 0.6


@pytest.fixture(scope="module")
def cbow_models(kjv):
    from gensim.models import Word2Vec as GW
    kw = {"window": 5, "negative": 5, "sample": 1e-3, "min_count": 5, "epochs": 3,
          "alpha": 0.05}
    ours = Word2Vec(model="cbow", n_jobs=2, seed=1, **kw).fit(kjv)
    theirs = GW(kjv, vector_size=100, sg=0, cbow_mean=1, workers=2, seed=1, **kw)
    return ours, theirs


def test_cbow_matches_gensim(cbow_models):
    # gensim's cbow_mean=1 (word2vec.c's CBOW): the context rows' mean predicts the centre
    # and every context row then gets the whole error, not a share of it.  The vectors'
    # lengths show a wrong scale at once (the error divided by the window's size leaves
    # them far shorter); the pairs' similarities show the geometry (gensim against gensim
    # with another seed: Spearman 0.87, norms within 1%).
    ours, theirs = cbow_models
    words = ours.wv.index_to_key
    assert set(words) == set(theirs.wv.index_to_key)
    g = theirs.wv.vectors[[theirs.wv.key_to_index[w] for w in words]]
    o = np.asarray(ours.wv.vectors)
    counts = ours.vocab_.counts
    for lo, hi in ((5, 20), (20, 100), (100, 1000), (1000, None)):
        rows = (counts >= lo) & (counts < (hi or np.inf))
        ratio = np.linalg.norm(o[rows], axis=1).mean() / np.linalg.norm(g[rows], axis=1).mean()
        assert 0.9 < ratio < 1.1, (lo, hi, ratio)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 3000, (2, 20000))
    cos = [(v[i] * v[j]).sum(1) / np.linalg.norm(v[i], axis=1) / np.linalg.norm(v[j], axis=1)
           for v in (o, g)]
    assert stats.spearmanr(*cos)[0] > 0.8


def test_reproducible_with_seed_and_one_thread():
    text = corpora.load("kjv", "test")[:800]
    a = Word2Vec(vector_size=16, epochs=2, min_count=2, n_jobs=1, seed=5).fit(text)
    b = Word2Vec(vector_size=16, epochs=2, min_count=2, n_jobs=1, seed=5).fit(text)
    c = Word2Vec(vector_size=16, epochs=2, min_count=2, n_jobs=1, seed=6).fit(text)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    assert not np.array_equal(a.wv.vectors, c.wv.vectors)


@pytest.mark.parametrize("model", ["sgns", "cbow"])
def test_loss_decreases(model):
    text = corpora.load("kjv", "test")
    one = Word2Vec(vector_size=32, model=model, epochs=1, min_count=2, n_jobs=1).fit(text)
    many = Word2Vec(vector_size=32, model=model, epochs=6, min_count=2, n_jobs=1).fit(text)
    assert many.train_stats_["loss"] < one.train_stats_["loss"] - 0.01


def test_cbow_and_fasttext_neighbours(kjv):
    sub = kjv[:15000]
    cbow = Word2Vec(vector_size=50, model="cbow", epochs=3, n_jobs=2).fit(sub)
    assert "lord" in [w for w, _ in cbow.wv.most_similar("god", topn=10)]
    ft = FastText(vector_size=50, epochs=3, bucket=50_000, sample=1e-3, n_jobs=2).fit(sub)
    assert "lord" in [w for w, _ in ft.wv.most_similar("god", topn=10)]
    # an unseen spelling variant lands near its word, from its n-grams
    assert not ft.wv.has_index_for("kingz")
    assert "king" in [w for w, _ in ft.wv.most_similar("kingz", topn=5)]


def test_warm_start_extends_vocabulary():
    first = ["alpha beta gamma"] * 20
    second = ["delta epsilon alpha"] * 20
    m = Word2Vec(vector_size=8, min_count=5, epochs=1, sample=0, warm_start=True, n_jobs=1)
    m.fit(first)
    before = m.wv.vectors.copy()
    assert "delta" not in m.wv.key_to_index
    m.fit(second)
    assert m.wv.index_to_key[:3] == ["alpha", "beta", "gamma"]
    assert {"delta", "epsilon"} <= set(m.wv.key_to_index)
    assert m.vocab_.counts[0] == 40
    assert not np.array_equal(before[0], m.wv.vectors[0])  # alpha trained again
    cold = Word2Vec(vector_size=8, min_count=5, epochs=1, n_jobs=1).fit(first).fit(second)
    assert "beta" not in cold.wv.key_to_index               # without warm_start: starts over


def test_warm_start_fasttext_keeps_ngram_rows():
    m = FastText(vector_size=8, min_count=2, epochs=1, sample=0, bucket=1000, warm_start=True,
                 n_jobs=1)
    m.fit(["alpha beta"] * 5)
    ng = m.wv.ngrams.copy()
    m.fit(["gamma delta"] * 5)
    assert m.syn0_.shape == (4 + 1000, 8) and m.wv.ngrams.shape == (1000, 8)
    changed = np.abs(m.wv.ngrams - ng).sum(axis=1) > 0
    assert 0 < changed.sum() < 100   # only the new words' n-grams moved


def test_estimator_api(tmp_path):
    texts, labels = corpora.load("kjv-genre", "test")
    texts, labels = texts[:1500], labels[:1500]
    m = Word2Vec(vector_size=24, epochs=2, min_count=2, n_jobs=2)
    assert clone(m).get_params() == m.get_params()
    for weighting in ("mean", "tfidf", "sif"):
        pipe = make_pipeline(clone(m).set_params(weighting=weighting),
                             LogisticRegression(max_iter=300))
        pipe.fit(texts, labels)
        assert pipe.score(texts, labels) > 0.35
    m.fit(texts)
    X = m.transform(["in the beginning god created", "zzzz qqqq"])
    assert X.shape == (2, 24) and not X[1].any() and X[0].any()
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.transform(texts[:5]), m.transform(texts[:5]))


@pytest.mark.parametrize("kw, msg", [
    ({"vector_size": 0}, "vector_size"), ({"window": 0}, "window"), ({"epochs": 0}, "epochs"),
    ({"model": "glove"}, "model"), ({"weighting": "max"}, "weighting")])
def test_bad_parameters(kw, msg):
    with pytest.raises(NlpkitError, match=msg):
        Word2Vec(**kw).fit(["a b c"] * 10)


def test_bad_input():
    with pytest.raises(NlpkitError, match="empty"):
        Word2Vec().fit([])
    with pytest.raises(NlpkitError, match="empty"):
        Word2Vec().fit(["", "  "])
    with pytest.raises(NlpkitError, match="min_count=5"):
        Word2Vec(min_count=5).fit(["a b c"])
    with pytest.raises(NlpkitError, match="not fitted"):
        Word2Vec().transform(["a"])
    m = Word2Vec(vector_size=4, min_count=1, epochs=1).fit(["a b c"])
    with pytest.raises(NlpkitError, match="not in the vocabulary"):
        m.wv["zzz"]


def test_tables():
    counts = np.array([100, 10, 1])
    table = trainer.noise_table(counts, 0.75, size=100_000)
    p = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(np.bincount(table, minlength=3) / table.size, p, atol=1e-4)
    keep = trainer.keep_probs(counts, 1e-2)
    f = counts / counts.sum()
    np.testing.assert_allclose(keep, np.minimum(np.sqrt(1e-2 / f) + 1e-2 / f, 1), rtol=1e-6)


def test_subsampling_total_counts_pruned_tokens():
    # fastText divides by every token read (pruned words too): more words are kept
    counts = np.array([100, 10, 1])
    keep = trainer.keep_probs(counts, 1e-2, total=1000)
    f = counts / 1000
    np.testing.assert_allclose(keep, np.minimum(np.sqrt(1e-2 / f) + 1e-2 / f, 1), rtol=1e-6)
    assert (keep >= trainer.keep_probs(counts, 1e-2)).all()


def test_fasttext_subsampling_total_counts_end_of_line_tokens(monkeypatch):
    # the fastText tool's frequencies divide by every token it reads: min_count-pruned
    # words and the </s> it reads at the end of each line included
    seen = {}

    def fake_train(kind, *args, **kw):
        seen.update(kw)
        return {"words": 0, "seconds": 0.0, "loss": 0.0}

    monkeypatch.setattr(trainer, "train", fake_train)
    lines = ["a b a c", "a b rare", "b a"]
    FastText(vector_size=4, min_count=2, bucket=10, epochs=1).fit(lines)
    assert seen["sample_total"] == 9 + 3  # 9 tokens ("rare" and "c" pruned), 3 lines


def test_doc_freq_counts_sentences():
    from nlpkit.embed.docfreq import doc_freq_cpu
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30, 2000).astype(np.int32)
    offsets = np.unique(np.concatenate([[0, 2000], rng.integers(0, 2000, 150)])).astype(np.int64)
    sent = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    expected = np.bincount(np.unique(sent * 30 + ids) % 30, minlength=30)
    np.testing.assert_array_equal(doc_freq_cpu(ids, offsets, 30), expected)


@pytest.mark.parametrize("n_slices", [1, 2, 3])
def test_thread_slices_interleave_and_schedule_learning_rate(n_slices):
    # word2vec.c/fastText: thread t of T trains the t-th T-th of the corpus, all at once,
    # and the learning rate follows the threads' joint progress
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 20, 300)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    chunks = trainer.chunk_bounds(offsets, 100)
    starts, total = offsets[chunks[:-1]], int(offsets[-1])
    sizes = np.diff(offsets[chunks])
    order, pos, scale = trainer.thread_slices(offsets, chunks, n_slices)
    assert sorted(order) == list(range(len(starts)))
    slice_of = np.minimum(starts * n_slices // total, n_slices - 1)
    if n_slices == 1:
        np.testing.assert_array_equal(order, np.arange(len(starts)))
        np.testing.assert_array_equal(pos, starts)
        np.testing.assert_array_equal(scale, 1.0)
    for t in range(n_slices):
        mine = np.flatnonzero(slice_of == t)
        # a slice's chunks come in file order, and any prefix of the order holds about
        # the same share of every slice
        seq = [c for c in order if slice_of[c] == t]
        assert seq == list(mine)
        share = np.array([np.mean(slice_of[order[:j]] == t) for j in range(1, len(order) + 1)])
        expected = len(mine) / len(starts)
        assert np.all(np.abs(share[n_slices * 2:] - expected) < 2 / np.arange(
            n_slices * 2 + 1, len(order) + 1) + 1e-9)
        # positions run from 0 to the whole corpus within each slice
        assert pos[mine[0]] == 0
        np.testing.assert_allclose(pos[mine[1:]], pos[mine[:-1]] + sizes[mine[:-1]] * scale[mine[:-1]])
        np.testing.assert_allclose(pos[mine[-1]] + sizes[mine[-1]] * scale[mine[-1]], total)
