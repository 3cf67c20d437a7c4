"""Neural estimators with tokenizer=: subword tokens instead of whitespace words."""
import numpy as np
import pytest
from sklearn.base import clone

from nlpkit import corpora
from nlpkit.models import NeuralLM, Seq2Seq, SequenceTagger, TextClassifier
from nlpkit.text import BPE, WordPiece


def kjv(n):
    with open(corpora.path("kjv", "test"), encoding="utf-8") as fh:
        return fh.read().split("\n")[:n]


@pytest.fixture(scope="module")
def bpe():
    return BPE(vocab_size=300, style="metaspace").fit(kjv(600))


@pytest.fixture(scope="module")
def bpe_path(bpe, tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tok.json"
    bpe.save(path)
    return str(path)


def small(cls, **kw):
    return cls(embedding_dim=16, hidden_size=16, max_epochs=1, batch_size=16, random_state=0,
               early_stopping=False, **kw)


def test_classifier_reads_subword_tokens(bpe, bpe_path):
    X = kjv(200)
    y = np.array(["long" if len(x.split()) > 25 else "short" for x in X])
    for tok in (bpe, bpe_path):
        clf = small(TextClassifier, tokenizer=tok).fit(X, y)
        words = set(clf.vocab_.itos[2:])
        assert words <= set(bpe.vocab_.itos) and any(w.startswith("▁") for w in words)
        assert clf.predict(["in the beginning god created"]).shape == (1,)
    # clone (GridSearchCV, cross_val_score) keeps the fitted tokenizer
    again = clone(small(TextClassifier, tokenizer=bpe)).fit(X, y)
    assert again.vocab_.itos == small(TextClassifier, tokenizer=bpe).fit(X, y).vocab_.itos


def test_language_model_and_seq2seq_on_subwords(bpe_path):
    lm = small(NeuralLM, cell="gru", tokenizer=bpe_path).fit(kjv(100))
    assert all(t in lm.vocab_.itos for t in ["▁the", "▁and"])
    assert np.isfinite(lm.perplexity(kjv(110)[100:]))
    X = kjv(60)
    s2s = small(Seq2Seq, tokenizer=bpe_path).fit(X, [" ".join(x.split()[::-1]) for x in X])
    out = s2s.predict(["and god said"])
    assert isinstance(out[0], list)
    assert set(s2s.src_vocab_.itos) - {"<pad>", "<unk>"} <= set(BPE.load(bpe_path).vocab_.itos)


def test_tagger_keeps_one_tag_per_word_and_reads_subwords_in_its_character_encoder():
    docs = [line.split() for line in kjv(150) if line]
    tags = [["LONG" if len(w) > 4 else "SHORT" for w in d] for d in docs]
    wp = WordPiece(vocab_size=200, lowercase=False).fit(kjv(600))
    tagger = small(SequenceTagger, char_dim=8, char_filters=8, tokenizer=wp).fit(docs, tags)
    assert set(tagger.char_vocab_.itos[2:]) <= set(wp.vocab_.itos)
    assert any(p.startswith("##") for p in tagger.char_vocab_.itos)
    pred = tagger.predict([["in", "the", "beginning"]])
    assert len(pred[0]) == 3


def test_an_unusable_tokenizer_is_named(tmp_path):
    from nlpkit.errors import NlpkitError
    with pytest.raises(NlpkitError, match="no such file"):
        small(TextClassifier, tokenizer=str(tmp_path / "none.json")).fit(["a b", "c d"], [0, 1])
    with pytest.raises(NlpkitError, match="tokenizer must be"):
        small(TextClassifier, tokenizer=3).fit(["a b", "c d"], [0, 1])


def test_masked_lm_on_subwords_and_a_classifier_fine_tuned_from_it(bpe, tmp_path):
    """MaskedLM(tokenizer=): its vocabulary is subword tokens; a classifier fine-tuned from
    it splits text with the same tokenizer (and refuses one of its own)."""
    from nlpkit.models import MaskedLM
    from nlpkit.models.io import save_model

    X = kjv(200)
    mlm = small(MaskedLM, num_layers=1, tokenizer=bpe).fit(X)
    assert set(mlm.vocab_.itos[3:]) <= set(bpe.vocab_.itos)
    n_pieces = len(bpe.encode("in the beginning god created", add_special_tokens=False))
    assert mlm.transform(["in the beginning god created"])[0].shape == (n_pieces, 16)
    path = tmp_path / "mlm.model"
    save_model(mlm, path)
    y = np.array(["long" if len(x.split()) > 25 else "short" for x in X])
    clf = small(TextClassifier, pretrained=str(path)).fit(X, y)
    assert clf.vocab_.itos == mlm.vocab_.itos
    assert clf._tokenizer()("in the beginning") == mlm._tokenizer()("in the beginning")
    with pytest.raises(ValueError, match="own tokenizer applies"):
        small(TextClassifier, pretrained=str(path), tokenizer=bpe).fit(X, y)
    with pytest.raises(ValueError, match="lowercase=True has no effect"):
        small(TextClassifier, pretrained=str(path), lowercase=True).fit(X, y)
    with pytest.raises(ValueError, match="cannot start a tagger"):
        small(SequenceTagger, pretrained=str(path)).fit([["a", "b"]], [["X", "Y"]])
