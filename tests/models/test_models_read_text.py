"""``read_text``: the train commands' streaming route (documents encoded once to spilled ids,
vocabularies from the counts, batches gathered from the ids) trains the same model as the
lists, and its pieces agree with the list-based functions they replace."""
import numpy as np
import pytest

from nlpkit.models import MaskedLM, Seq2Seq, SequenceTagger, TextClassifier, data
from nlpkit.text.spill import EncodedText

WORDS = ["the", "Cat", "sat", "on", "a", "mat", "dog", "ran", "x", "y", "zz", "q"]


def sentences(n, seed, low=1, high=9):
    rng = np.random.default_rng(seed)
    return [list(rng.choice(WORDS, int(rng.integers(low, high)))) for _ in range(n)]


def same_weights(a, b):
    pa, pb = dict(a.net_.named_parameters()), dict(b.net_.named_parameters())
    assert pa.keys() == pb.keys()
    for name in pa:
        np.testing.assert_array_equal(pa[name].data, pb[name].data, err_msg=name)
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]


def test_pairs_and_vocabularies_agree_with_the_token_lists(tmp_path):
    docs = sentences(300, 0)
    text = EncodedText.read(docs, str(tmp_path), skip_empty=False)
    pairs = data.pair_counts(text)
    vocab = data.pair_vocab(text, pairs)
    expected = data.build_vocab((data.bigrams(d) for d in docs), min_count=2)
    assert vocab.itos == expected.itos and vocab.counts.tolist() == expected.counts.tolist()
    encoded = data.SentenceIds(data.encode_pairs(text, vocab, pairs))
    for i, d in enumerate(docs):
        np.testing.assert_array_equal(encoded[i], data.encode_bigrams(vocab, d))
    words = data.vocab_from_counts(text.count_dict(), min_count=2)
    assert words.itos == data.build_vocab(docs, min_count=2).itos


def test_cut_gives_the_pieces_of_each_sentence(tmp_path):
    docs = sentences(50, 1, high=30)
    corpus = EncodedText.read(docs, str(tmp_path), skip_empty=False).corpus
    pieces = data.SentenceIds(corpus.cut(7))
    whole = data.SentenceIds(corpus)
    expected = [whole[i][j:j + 7] for i in range(len(whole)) for j in range(0, len(whole[i]), 7)]
    assert len(pieces) == len(expected)
    for i, e in enumerate(expected):
        np.testing.assert_array_equal(pieces[i], e)


@pytest.mark.parametrize("word_ngrams", [1, 2])
def test_classifier_read_text_trains_as_the_lists(tmp_path, word_ngrams):
    X = [" ".join(d) for d in sentences(120, 2)]
    y = ["cat" if "Cat" in x else "other" for x in X]
    kw = dict(encoder="cnn", embedding_dim=8, hidden_size=4, max_epochs=2, batch_size=16,
              word_ngrams=word_ngrams, word_dropout=0.1, random_state=0, n_jobs=1)
    a = TextClassifier(**kw).fit(X, y)
    b = TextClassifier(**kw)
    b.fit(b.read_text(list(zip(X, y)), str(tmp_path)))
    same_weights(a, b)
    assert b.classes_.tolist() == ["cat", "other"]
    np.testing.assert_array_equal(a.predict_proba(X[:20]), b.predict_proba(X[:20]))


def test_tagger_read_text_trains_as_the_lists(tmp_path):
    X = sentences(120, 3)
    y = [["UP" if w[0].isupper() else "O" for w in s] for s in X]
    kw = dict(encoder="cnn", embedding_dim=8, hidden_size=4, char_dim=4, char_filters=3,
              lowercase=True, max_epochs=2, batch_size=16, random_state=0, n_jobs=1)
    a = SequenceTagger(**kw).fit(X, y)
    b = SequenceTagger(**kw)
    b.fit(b.read_text(list(zip(X, y)), str(tmp_path)))
    same_weights(a, b)
    assert b.vocab_.itos == data.build_vocab([[w.lower() for w in s] for s in X]).itos


def test_seq2seq_read_text_trains_as_the_lists(tmp_path):
    X = sentences(80, 4)
    y = [list(reversed(s)) + ["end"] for s in X]
    kw = dict(encoder="transformer", decoder="transformer", share_embeddings=True, nhead=2,
              embedding_dim=8, hidden_size=8, max_epochs=2, batch_size=16, random_state=0,
              n_jobs=1)
    a = Seq2Seq(**kw).fit(X, y)
    b = Seq2Seq(**kw)
    b.fit(b.read_text(list(zip(X, y)), str(tmp_path)))
    same_weights(a, b)
    assert b.src_vocab_.itos == data.build_vocab(X + y, specials=b.src_vocab_.specials).itos


def test_masked_lm_read_text_trains_as_the_lists(tmp_path):
    X = [" ".join(d) for d in sentences(80, 5, high=20)]
    kw = dict(embedding_dim=8, hidden_size=8, nhead=2, max_length=6, max_epochs=2,
              batch_size=16, random_state=0, n_jobs=1)
    a = MaskedLM(**kw).fit(X)
    b = MaskedLM(**kw)
    b.fit(b.read_text(iter(X), str(tmp_path)))
    same_weights(a, b)


def test_read_text_names_an_empty_document(tmp_path):
    clf = TextClassifier()
    with pytest.raises(ValueError, match=r"X\[1\] is an empty document"):
        clf.read_text([("a b", "x"), ("   ", "y")], str(tmp_path))
