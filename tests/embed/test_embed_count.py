"""Count-based vectors: co-occurrence counts against a Python reference of Stanford's
cooccur, PPMI against a dense numpy computation, GloVe's AdaGrad step against numpy,
GloVe text files against gensim."""
import pickle
from collections import defaultdict

import numpy as np
import pytest
from gensim.models import KeyedVectors as GKV
from sklearn.base import clone

from nlpkit import corpora
from nlpkit.embed import PPMI, GloVe, count_cooccurrences, formats, load
from nlpkit.embed.count_estimators import init_params
from nlpkit.embed.glove import glove_epoch_cpu, record_terms
from nlpkit.embed.ppmi import ppmi_matrix
from nlpkit.errors import NlpkitError


def _random_corpus(seed=0, n=1500, types=600):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(types)]
    p = 1 / np.arange(1, types + 1)
    p /= p.sum()
    return [" ".join(rng.choice(words, rng.integers(0, 30), p=p)) for _ in range(n)]


def stanford_cooccur(sentences, vocab, window, weight):
    """Stanford's cooccur.c, symmetric: out-of-vocabulary words are skipped before the
    window, which never crosses a line; each (context, target) pair adds to both
    (w1, w2) and (w2, w1)."""
    X = defaultdict(float)
    for s in sentences:
        history = [vocab[w] for w in s.split() if w in vocab]
        for j, w2 in enumerate(history):
            for k in range(j - 1, max(j - window, 0) - 1, -1):
                w1 = history[k]
                X[w1, w2] += weight(j - k)
                X[w2, w1] += weight(j - k)
    return X


def _dense(co):
    return co.to_csr().toarray()


@pytest.mark.parametrize("weighting, weight", [
    ("harmonic", lambda d: 1.0 / d), ("uniform", lambda d: 1.0),
    ("linear", lambda d: (4 - d + 1) / 4)])
@pytest.mark.parametrize("n_jobs, memory", [(1, 2.0), (2, 2.0), (2, 0.0002)])
def test_cooccurrences_match_stanford_reference(weighting, weight, n_jobs, memory):
    text = _random_corpus()
    co = count_cooccurrences(text, window=4, weighting=weighting, min_count=4, n_jobs=n_jobs,
                             memory=memory)   # 0.0002 GB: the tables spill sorted runs
    vocab = {w: i for i, w in enumerate(co.words)}
    assert len(vocab) < 600                        # some words are out of the vocabulary
    ref = np.zeros((len(vocab), len(vocab)))
    for (a, b), v in stanford_cooccur(text, vocab, 4, weight).items():
        ref[a, b] = v
    np.testing.assert_allclose(_dense(co), ref, rtol=1e-12, atol=1e-12)
    assert (co.rows <= co.cols).all() and co.nnz == np.count_nonzero(np.triu(ref))


def test_cooccurrence_vocabulary_and_edges():
    co = count_cooccurrences(["a b a", "c", "a b"], window=2, min_count=1)
    assert co.words == ["a", "b", "c"] and list(co.counts) == [3, 2, 1]
    m = _dense(co)
    # "a b a": (a,b)@1 twice, (a,a)@2 both directions; "a b": (a,b)@1
    np.testing.assert_allclose(m, [[1.0, 3.0, 0], [3.0, 0, 0], [0, 0, 0]])
    assert list(co.doc_freq) == [2, 2, 1] and co.n_docs == 3
    with pytest.raises(NlpkitError, match="window"):
        count_cooccurrences(["a b"], window=0)
    with pytest.raises(NlpkitError, match="weighting"):
        count_cooccurrences(["a b"], window=2, weighting="gaussian", min_count=1)
    with pytest.raises(NlpkitError, match="empty"):
        count_cooccurrences([], window=2)


def test_ppmi_matches_dense_reference():
    co = count_cooccurrences(_random_corpus(1), window=3, min_count=3)
    C = _dense(co)
    for alpha, shift in ((0.75, 1.0), (1.0, 1.0), (0.75, 5.0)):
        got = ppmi_matrix(co.to_csr(), alpha, shift, dtype=np.float64).toarray()
        rows = C.sum(axis=1, keepdims=True)
        cols = C.sum(axis=0, keepdims=True) ** alpha
        with np.errstate(divide="ignore"):
            pmi = np.log(C * cols.sum() / (rows * cols)) - np.log(shift)
        ref = np.where(C > 0, np.maximum(pmi, 0), 0)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_ppmi_estimator_is_the_svd_of_the_ppmi_matrix():
    text = _random_corpus(2)
    m = PPMI(dim=8, window=3, min_count=3, eig=0.5, dynamic_window=False, n_jobs=1).fit(text)
    co = count_cooccurrences(text, window=3, min_count=3, weighting="uniform")
    P = ppmi_matrix(co.to_csr(), 0.75, 1.0, dtype=np.float64).toarray()
    u, s, _ = np.linalg.svd(P)
    ref = u[:, :8] * np.sqrt(s[:8])
    got = m.wv.vectors.astype(np.float64)
    # singular vectors are defined up to sign
    signs = np.sign((got * ref).sum(axis=0))
    np.testing.assert_allclose(got, ref * signs, atol=2e-4)
    np.testing.assert_allclose(m.singular_values_, s[:8], rtol=1e-4)
    assert m.wv.index_to_key == co.words


def _numpy_glove_step(w, bw, gw, gbw, c, bc, gc, gbc, x, x_max, alpha, eta, clip):
    """glove.c's update for one record, in float64."""
    diff = w @ c + bw + bc - np.log(x)
    fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
    t1 = np.clip(fdiff * c, -clip, clip) * eta
    t2 = np.clip(fdiff * w, -clip, clip) * eta
    w2, c2 = w - t1 / np.sqrt(gw), c - t2 / np.sqrt(gc)
    gw2, gc2 = gw + t1 ** 2, gc + t2 ** 2
    bw2, bc2 = bw - fdiff / np.sqrt(gbw), bc - fdiff / np.sqrt(gbc)
    return w2, bw2, gw2, gbw + fdiff ** 2, c2, bc2, gc2, gbc + fdiff ** 2, 0.5 * fdiff * diff


def test_glove_adagrad_steps_match_numpy():
    V, d = 4, 7
    params, half = init_params(V, d, np.random.default_rng(3))
    rng = np.random.default_rng(4)
    params[:, :d + 1] = rng.normal(0, 0.5, (2 * V, d + 1))      # large enough to clip
    params[:, half:half + d + 1] = rng.uniform(1, 3, (2 * V, d + 1))
    ref = params.astype(np.float64)
    # records (i, j, x): a word with itself, a pair trained both ways, a count above x_max
    recs = [(0, 0, 2.0), (1, 3, 0.5), (2, 1, 150.0)]
    rows = np.array([r[0] for r in recs], np.int32)
    cols = np.array([r[1] for r in recs], np.int32)
    x = np.array([r[2] for r in recs], np.float32)
    log_x, fx = record_terms(x, 100.0, 0.75)
    cost, upd = np.zeros(1), np.zeros(1, np.int64)
    glove_epoch_cpu(rows, cols, log_x, fx, params, d, half, V, 0.05, 0.8, 1, cost, upd)
    total = 0.0
    for i, j, xv in recs:
        for a, b in ((i, j), (j, i)) if i != j else ((i, j),):
            W, C = ref[a], ref[V + b]
            out = _numpy_glove_step(W[:d], W[d], W[half:half + d], W[half + d], C[:d], C[d],
                                    C[half:half + d], C[half + d], float(np.float32(xv)), 100.0,
                                    0.75, 0.05, 0.8)
            W[:d], W[d], W[half:half + d], W[half + d] = out[:4]
            C[:d], C[d], C[half:half + d], C[half + d] = out[4:8]
            total += out[8]
    assert upd[0] == 5
    np.testing.assert_allclose(params, ref, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(cost[0], total, rtol=1e-5)


@pytest.fixture(scope="module")
def kjv_small():
    return corpora.load("kjv", "test")[:1500]


def test_glove_loss_decreases_and_is_reproducible(kjv_small):
    a = GloVe(vector_size=16, window=5, epochs=6, min_count=3, n_jobs=1, seed=3).fit(kjv_small)
    hist = a.loss_history_
    assert all(x > y for x, y in zip(hist, hist[1:])), hist
    b = GloVe(vector_size=16, window=5, epochs=6, min_count=3, n_jobs=1, seed=3).fit(kjv_small)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    np.testing.assert_array_equal(a.wv.vectors, a.word_vectors_ + a.context_vectors_)
    c = GloVe(vector_size=16, window=5, epochs=6, min_count=3, n_jobs=2, seed=3).fit(kjv_small)
    assert abs(c.loss_history_[-1] - hist[-1]) < 0.1 * hist[-1]   # Hogwild: close, not equal


def test_count_models_learn_something():
    kjv = corpora.load("kjv", "train")
    for model in (GloVe(vector_size=50, epochs=10, n_jobs=2), PPMI(dim=100, n_jobs=2)):
        model.fit(kjv)
        assert "lord" in [w for w, _ in model.wv.most_similar("god", topn=10)], model


def test_glove_text_files_round_trip_and_load_in_gensim(tmp_path, kjv_small):
    m = GloVe(vector_size=12, window=4, epochs=3, min_count=3, n_jobs=1).fit(kjv_small)
    path = tmp_path / "vectors.txt"
    m.save(path, "glove")
    first = path.read_text(encoding="utf-8").split("\n", 1)[0].split(" ")
    assert len(first) == 13 and first[0] == m.wv.index_to_key[0]     # no header line
    g = GKV.load_word2vec_format(str(path), no_header=True)
    assert g.index_to_key == m.wv.index_to_key
    np.testing.assert_array_equal(g.vectors, m.wv.vectors)
    back = load(path)                                                # format guessed
    assert back.index_to_key == m.wv.index_to_key
    np.testing.assert_array_equal(back.vectors, m.wv.vectors)
    # Stanford's own output: %lf values and the <unk> row it appends
    stanford = tmp_path / "stanford.txt"
    stanford.write_text("the 0.100000 -0.200000\nof 1.500000 2.000000\n<unk> 0.0 0.0\n")
    kv = formats.load(stanford)
    assert kv.index_to_key == ["the", "of", "<unk>"] and kv["of"].tolist() == [1.5, 2.0]
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2\nof 0.3\n")
    with pytest.raises(NlpkitError, match=r"bad.txt:2"):
        formats.load(bad)


def test_count_estimators_api(kjv_small):
    texts, labels = corpora.load("kjv-genre", "test")
    for est in (PPMI(dim=10, window=3, min_count=2), GloVe(vector_size=10, epochs=3, min_count=2)):
        assert clone(est).get_params() == est.get_params()
        est.fit(texts[:800])
        X = est.transform(["in the beginning god created", "zzzz"])
        assert X.shape == (2, 10) and X[0].any() and not X[1].any()
        back = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(back.wv.vectors, est.wv.vectors)
        np.testing.assert_array_equal(back.transform(texts[:3]), est.transform(texts[:3]))


@pytest.mark.parametrize("est, msg", [
    (PPMI(dim=0), "dim"), (PPMI(shift=0.5), "shift"), (PPMI(solver="lanczos"), "solver"),
    (PPMI(alpha=0), "alpha"), (GloVe(vector_size=0), "vector_size"), (GloVe(x_max=0), "x_max"),
    (GloVe(epochs=0), "epochs"), (GloVe(window=0), "window"), (GloVe(memory=-1), "memory")])
def test_bad_parameters(est, msg):
    with pytest.raises(NlpkitError, match=msg):
        est.fit(["a b c"] * 10)
