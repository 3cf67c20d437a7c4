"""NGramLM: SRILM parity through the estimator, scikit-learn contracts (clone, pickle, Pipeline, GridSearchCV)."""
import pickle

import kenlm  # a test dependency (pip install .[test]): parity needs it
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from nlpkit.errors import NlpkitError
from nlpkit.ngram.lm import NGramLM
from nlpkit.text import iter_lines


@pytest.fixture(scope="module")
def kjv(data_dir):
    return data_dir / "ngram" / "kjv"


@pytest.fixture(scope="module")
def test_lines(kjv):
    return (kjv / "test.txt").read_text().splitlines()


@pytest.fixture(scope="module")
def train_lines(kjv):
    return list(iter_lines(kjv / "train.txt.gz"))


@pytest.fixture(scope="module")
def lm3(kjv):
    return NGramLM(order=3).fit(kjv / "train.txt.gz")


def test_fit_on_kjv_reproduces_srilm_ppl(lm3, kjv, test_lines):
    ref = (kjv / "ppl_srilm.txt").read_text().split("== srilm.gt3 ")[1].splitlines()[2]
    want = dict(zip(ref.split()[2::2], ref.split()[3::2]))  # logprob, ppl, ppl1
    assert "%.7g" % lm3.perplexity(test_lines) == want["ppl="]
    assert lm3.score(test_lines) == pytest.approx(-np.log10(lm3.perplexity(test_lines)))
    assert lm3.order_ == 3 and lm3.vocabulary_size_ > 12000


def test_fit_from_sentences_equals_fit_from_path(lm3, train_lines, test_lines):
    lm = NGramLM(order=3).fit(train_lines)
    assert lm.perplexity(test_lines) == lm3.perplexity(test_lines)
    tokens = NGramLM(order=3).fit([s.split() for s in train_lines[:2000]])
    strings = NGramLM(order=3).fit(train_lines[:2000])
    assert tokens.perplexity(test_lines) == strings.perplexity(test_lines)


def test_transform_features(lm3, test_lines):
    X = lm3.transform(test_lines[:5] + ["zzqx the lord"])
    assert X.shape == (6, 3) and X.dtype == np.float64
    scorer = lm3.scorer_
    st = scorer.perplexity_stats([test_lines[0]])
    assert X[0, 0] == pytest.approx(st.logprob) and X[0, 1] == pytest.approx(st.ppl)
    assert X[5, 2] == pytest.approx(1 / 3)  # one OOV of three words
    assert list(lm3.get_feature_names_out()) == ["log10_prob", "perplexity", "oov_rate"]


def test_clone_pickle_and_arpa_round_trip(lm3, tmp_path, test_lines):
    c = clone(lm3)
    assert c.get_params() == lm3.get_params() and not hasattr(c, "model_")
    with pytest.raises(NotFittedError):
        c.perplexity(test_lines)
    again = pickle.loads(pickle.dumps(lm3))
    assert "_scorer" not in pickle.loads(pickle.dumps(lm3)).__dict__ or again._scorer is None
    assert again.perplexity(test_lines) == lm3.perplexity(test_lines)
    path = tmp_path / "lm.arpa.gz"
    lm3.to_arpa(path)
    back = NGramLM.from_arpa(path)
    # the ARPA holds %.7g values, so the reloaded model differs in the last float32 bits only
    assert back.order == 3
    assert "%.7g" % back.perplexity(test_lines) == "%.7g" % lm3.perplexity(test_lines)
    km = kenlm.Model(str(path))
    for line in test_lines[:20]:
        assert abs(back.scorer_.score(line) - km.score(line)) < 1e-4


def test_grid_search_and_pipeline(train_lines):
    data = train_lines[:3000]
    grid = GridSearchCV(NGramLM(), {"order": [1, 2, 3]}, cv=2).fit(data)
    scores = grid.cv_results_["mean_test_score"]
    assert grid.best_params_["order"] in (2, 3) and scores[0] < scores[1]
    # a Pipeline: LM features feed a classifier that tells real verses from shuffled ones
    rng = np.random.default_rng(0)
    real = train_lines[3000:3400]
    fake = [" ".join(rng.permutation(s.split())) for s in train_lines[3400:3800]]
    pipe = Pipeline([("lm", NGramLM(order=2)), ("clf", LogisticRegression(max_iter=1000))])
    pipe.fit(train_lines[:3000] + real + fake, [1] * 3000 + [1] * 400 + [0] * 400)
    assert pipe.score(real + fake, [1] * 400 + [0] * 400) > 0.6


def test_vocab_list_unk_and_bad_params(train_lines, test_lines, tmp_path):
    words = sorted({w for s in train_lines[:500] for w in s.split()})
    closed = NGramLM(order=2, vocab=words).fit(train_lines[:500])
    assert closed.vocabulary_size_ >= len(words)
    openv = NGramLM(order=2, unk=True).fit(train_lines[:500])
    assert openv.scorer_.has_unk and openv.scorer_.perplexity_stats(test_lines[:50]).oovs == 0
    with pytest.raises(NlpkitError):
        NGramLM(smoothing="kneser-ney").fit(train_lines[:10])
    with pytest.raises(NlpkitError):
        NGramLM(order=0).fit(train_lines[:10])
    with pytest.raises(NlpkitError):
        NGramLM().fit([])
    assert len(NGramLM(order=2).fit(train_lines[:500]).sample(3, seed=1)) == 3
