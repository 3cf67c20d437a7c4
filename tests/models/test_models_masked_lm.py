"""MaskedLM (BERT's masking recipe, tied output, transform, save/load), fine-tuning a
TextClassifier and a SequenceTagger from a MaskedLM or a NeuralLM (freeze_layers; word
vectors still read as before), NeuralLM(unit='char') and transform, positions in the
models, and the CLI (lm train --objective mlm, classify train --pretrained)."""
import numpy as np
import pytest
from click.testing import CliRunner

from nlpkit import nn
from nlpkit.cli.main import cli
from nlpkit.models import MaskedLM, NeuralLM, SequenceTagger, TextClassifier
from nlpkit.models.io import is_model_file, load_model, save_model
from nlpkit.models.masked_lm import IGNORE, MASK_ID, bert_mask

ANIMALS = ["the cat sat on the mat", "a dog ran in the park", "the cat likes milk",
           "dogs bark at the cat", "the bird sang in the tree", "a cat and a dog play",
           "birds fly over the park", "the dog likes the bird"]
CORPUS = ANIMALS * 30


def test_bert_masking_recipe():
    """15% of each sequence's tokens (at least one) are targets; of those 80% [MASK],
    10% random words (never specials), 10% unchanged; nothing else changes."""
    rng = np.random.default_rng(0)
    n, t, v = 4000, 40, 50
    ids = rng.integers(3, v, (n, t))
    lengths = rng.integers(1, t + 1, n)
    for r, k in enumerate(lengths):
        ids[r, k:] = 0
    inputs, targets = bert_mask(ids, lengths, rng, 0.15, v)
    chosen = targets != IGNORE
    assert np.all(chosen.sum(1) == np.maximum(1, np.round(0.15 * lengths)))
    assert np.all(targets[chosen] == ids[chosen])
    assert np.all(inputs[~chosen] == ids[~chosen])  # padding included
    assert not np.any(chosen & (np.arange(t)[None] >= lengths[:, None]))
    masked = inputs[chosen] == MASK_ID
    same = inputs[chosen] == ids[chosen]
    assert abs(masked.mean() - 0.8) < 0.01
    # random words: 10%, plus a 1-in-47 chance of drawing the word itself
    assert abs(same.mean() - (0.1 + 0.1 / 47)) < 0.01
    assert np.all(inputs[chosen][~masked] >= 3)


@pytest.fixture(scope="module")
def mlm(tmp_path_factory):
    m = MaskedLM(embedding_dim=32, hidden_size=64, num_layers=2, nhead=2, dropout=0.0,
                 max_epochs=25, lr=3e-3, warmup_steps=20, batch_size=16, random_state=0,
                 early_stopping=False).fit(CORPUS)
    path = tmp_path_factory.mktemp("mlm") / "mlm.model"
    save_model(m, path)
    return m, path


def test_masked_lm_learns_and_ties_its_output(mlm):
    m, path = mlm
    assert m.history_[-1]["loss"] < 0.5 * m.history_[0]["loss"]
    assert m.score(ANIMALS * 4) > 0.5
    assert m.predict_masked("the cat [MASK] on the mat") == ["sat"]
    names = [n for n, _ in m.net_.named_parameters()]
    assert "embedding.weight" in names and "output_bias" in names
    assert not any(n.startswith("output.") or n == "decoder.weight" for n in names)
    assert is_model_file(path) and load_model(path, "MaskedLM").predict_masked(
        "the cat [MASK] on the mat") == ["sat"]


def test_transform_gives_contextual_vectors(mlm):
    m, _ = mlm
    docs = ["the cat sat on the mat", "the cat likes milk"]
    v = m.transform(docs)
    assert [a.shape for a in v] == [(6, 32), (4, 32)]
    # 'the cat' at the start of both: different contexts, different vectors
    assert not np.allclose(v[0][1], v[1][1])
    # the same document alone or in a batch: the same vectors (padding changes nothing)
    np.testing.assert_allclose(m.transform(docs[1:])[0], v[1], rtol=1e-5, atol=1e-6)
    # a document longer than max_length is read in pieces
    long = " ".join(["the cat sat"] * 60)
    assert m.transform([long])[0].shape == (180, 32)


@pytest.mark.parametrize("freeze", [None, 1])
def test_classifier_fine_tunes_a_masked_lm(mlm, freeze):
    m, path = mlm
    X, y = ANIMALS * 4, [int("cat" in d) for d in ANIMALS] * 4
    clf = TextClassifier(pretrained=str(path), freeze_layers=freeze, max_epochs=8, lr=3e-3,
                         early_stopping=False, random_state=0, dropout=0.0).fit(X, y)
    assert clf.vocab_.itos == m.vocab_.itos and clf.embedding_dim_ == 32
    assert clf.score(X, y) >= 0.85
    enc, pre = clf.net_.encoder, m.net_.encoder
    layer0 = dict(enc.layer0.named_parameters())
    for name, p in pre.layer0.named_parameters():
        assert np.array_equal(layer0[name].data, p.data) == (freeze is not None), name
    assert np.array_equal(clf.net_.embedding.weight.data,
                          m.net_.embedding.weight.data) == (freeze is not None)
    assert not np.array_equal(dict(enc.layer1.named_parameters())["linear1.weight"].data,
                              dict(pre.layer1.named_parameters())["linear1.weight"].data)


def test_documents_longer_than_the_learned_positions_are_cut(mlm, tmp_path):
    """The MaskedLM learned 128 positions (its max_length); the classifier's default 200
    gives way to them (a longer document made the fit fail half way), a set 150 is refused."""
    from nlpkit.params import ParameterError

    m, path = mlm
    assert m.max_length == 128 and m.positions == "learned"
    X = [" ".join([d] * 40) for d in ANIMALS]  # 200-280 tokens
    y = [int("cat" in d) for d in ANIMALS]
    clf = TextClassifier(pretrained=str(path), max_epochs=1, random_state=0).fit(X, y)
    assert clf._max_tokens() == 128 and len(clf.predict(X)) == len(X)
    saved = tmp_path / "clf.model"
    save_model(clf, saved)
    assert load_model(saved)._max_tokens() == 128
    with pytest.raises(ParameterError, match=r"^TextClassifier: max_length=150 is more than "
                                             r"the 128 positions the pretrained language model"):
        TextClassifier(pretrained=str(path), max_length=150, max_epochs=1).fit(X, y)


def test_tagger_fine_tunes_a_masked_lm_with_character_features(mlm):
    _, path = mlm
    X = [d.split() for d in ANIMALS] * 3
    y = [["ANIMAL" if w.rstrip("s") in ("cat", "dog", "bird") else "O" for w in d] for d in X]
    tagger = SequenceTagger(pretrained=str(path), char_dim=8, char_filters=6, max_epochs=10,
                            lr=3e-3, early_stopping=False, random_state=0, dropout=0.0,
                            word_dropout=0.0).fit(X, y)
    assert tagger.score(X, y) == 1.0
    assert tagger.net_.output.in_features == 32 + 6  # encoder output and character vectors
    # sentences longer than the MaskedLM's 128 positions: training cuts them, prediction tags
    # them in pieces of 128 words, each piece as it is tagged alone
    long = [w for d in ANIMALS * 40 for w in d.split()][:300]
    tags = tagger.predict([long])[0]
    assert len(tags) == 300
    assert tags == [t for s in (0, 128, 256) for t in tagger.predict([long[s:s + 128]])[0]]
    long_y = ["ANIMAL" if w.rstrip("s") in ("cat", "dog", "bird") else "O" for w in long]
    SequenceTagger(pretrained=str(path), char_dim=8, char_filters=6, max_epochs=1,
                   early_stopping=False, random_state=0).fit(X + [long], y + [long_y])


@pytest.mark.parametrize("cell", ["lstm", "transformer"])
def test_classifier_fine_tunes_a_neural_lm(tmp_path, cell):
    lm = NeuralLM(cell=cell, embedding_dim=16, hidden_size=16, max_epochs=2, random_state=0,
                  early_stopping=False).fit(CORPUS)
    path = tmp_path / "lm.model"
    save_model(lm, path)
    X, y = ANIMALS * 4, [int("cat" in d) for d in ANIMALS] * 4
    clf = TextClassifier(pretrained=str(path), freeze_layers=0, max_epochs=10, lr=5e-3,
                         early_stopping=False, random_state=0, dropout=0.0).fit(X, y)
    assert clf.score(X, y) >= 0.9
    np.testing.assert_array_equal(clf.net_.embedding.weight.data, lm.net_.embedding.weight.data)
    ours = clf.net_.encoder.rnn if cell == "lstm" else clf.net_.encoder
    want = lm.net_.body.state_dict()
    assert set(ours.state_dict()) == set(want)


def test_pretrained_word_vectors_still_work_and_errors(tmp_path, mlm):
    from nlpkit.embed.keyedvectors import KeyedVectors
    from nlpkit.embed.formats import save

    words = ["the", "cat", "dog"]
    kv = KeyedVectors(words, np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
    vec = tmp_path / "v.txt"
    save(kv, vec, "word2vec")
    assert not is_model_file(vec)
    clf = TextClassifier(pretrained=str(vec), max_epochs=1, random_state=0).fit(
        ANIMALS, [0, 1] * 4)
    assert clf.embedding_dim_ == 4 and clf.n_pretrained_ == 3
    with pytest.raises(ValueError, match="freeze_layers=1 has no effect without pretrained="):
        TextClassifier(freeze_layers=1, max_epochs=1).fit(ANIMALS, [0, 1] * 4)
    with pytest.raises(ValueError, match="freeze_layers must be"):
        TextClassifier(pretrained=str(mlm[1]), freeze_layers=5, max_epochs=1).fit(
            ANIMALS, [0, 1] * 4)


def test_char_level_language_model():
    lm = NeuralLM(unit="char", embedding_dim=16, hidden_size=32, max_epochs=10, bptt=20,
                  lr=1e-2, batch_size=16, random_state=0, early_stopping=False).fit(CORPUS)
    assert set("the cat") <= set(lm.vocab_.itos)
    st = lm.perplexity_stats(ANIMALS[:2])
    assert st.words == len(ANIMALS[0]) + len(ANIMALS[1])  # every character, spaces included
    lp = lm.token_logprobs(ANIMALS[:2])
    want = -sum(float(v.sum()) for v in lp) * np.log2(10) / (st.words + 2)
    assert lm.bits_per_character(ANIMALS[:2]) == pytest.approx(want)
    assert lm.bits_per_character(ANIMALS) < 2.0
    out = lm.generate("the c", max_tokens=3, temperature=0)
    assert 0 < len(out) <= 3  # characters, joined as they are
    vectors = lm.transform(["the cat"])
    assert vectors[0].shape == (7, 32)


@pytest.mark.parametrize("positions", ["learned", "rope", "alibi"])
def test_transformer_models_take_positions(positions):
    lm = NeuralLM(cell="transformer", positions=positions, embedding_dim=16, hidden_size=32,
                  max_epochs=2, random_state=0, early_stopping=False).fit(CORPUS)
    kinds = {type(m).__name__ for m in lm.net_.modules()}
    assert ("LearnedPositionalEncoding" in kinds) == (positions == "learned")
    attn = lm.net_.body.layer0.self_attn
    assert attn.positions == (None if positions == "learned" else positions)
    assert lm.perplexity(ANIMALS) < 20
    clf = TextClassifier(encoder="transformer", positions=positions, embedding_dim=16,
                         max_epochs=1, random_state=0).fit(ANIMALS, [0, 1] * 4)
    assert clf.net_.encoder.position_kind == positions


def test_cli_mlm_then_classifier(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n")
    model = tmp_path / "mlm.model"
    r = CliRunner().invoke(cli, ["--quiet", "lm", "train", str(corpus), "-o", str(model),
                                 "--objective", "mlm", "--embedding-dim", "16",
                                 "--hidden-size", "32", "--num-layers", "1", "--epochs", "1",
                                 "--positions", "rope"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert type(load_model(model)).__name__ == "MaskedLM"
    labelled = tmp_path / "train.tsv"
    labelled.write_text("".join(f"{int('cat' in d)}\t{d}\n" for d in ANIMALS))
    clf = tmp_path / "clf.model"
    r = CliRunner().invoke(cli, ["--quiet", "classify", "train", str(labelled), "-o", str(clf),
                                 "--pretrained", str(model), "--freeze-layers", "1",
                                 "--epochs", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert load_model(clf).net_.encoder.layer0.self_attn.positions == "rope"
    r = CliRunner().invoke(cli, ["--quiet", "lm", "train", str(corpus), "-o",
                                 str(tmp_path / "c.model"), "--unit", "char", "--epochs", "1",
                                 "--embedding-dim", "8", "--hidden-size", "8"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["lm", "ppl", str(tmp_path / "c.model"), str(corpus)],
                           catch_exceptions=False)
    assert "characters" in r.output and "bits per character=" in r.output


def test_masked_lm_is_forward_code_on_the_nn_api(mlm):
    """One gradient step of the network through autograd: every parameter gets a gradient
    (the tied embedding twice: input and output)."""
    m, _ = mlm
    ids = np.array([[4, MASK_ID, 6, 7], [5, 6, MASK_ID, 0]])
    _, logits = m.net_(ids, np.array([4, 3]))
    m.net_.zero_grad()
    nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                np.array([-100, 5, -100, -100, -100, -100, 7, -100])).backward()
    assert all(p.grad is not None for p in m.net_.parameters())
