"""BPE and WordPiece as estimators: fit, encode/decode, files, Pipelines, errors."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.pipeline import Pipeline

from nlpkit import corpora
from nlpkit.errors import NlpkitError
from nlpkit.text import BPE, WordPiece, load_tokenizer


def lines():
    with open(corpora.path("kjv", "test"), encoding="utf-8") as fh:
        return fh.read().split("\n")


@pytest.fixture(scope="module")
def bpe():
    return BPE(vocab_size=500).fit(lines())


@pytest.mark.parametrize("style", ["bytelevel", "metaspace"])
def test_decode_inverts_encode(style):
    tok = BPE(vocab_size=400, style=style).fit(lines())
    for text in ["in the beginning god created", "unseen wörds ünd 東京"] if style == "bytelevel" \
            else ["in the beginning god created"]:
        assert tok.decode(tok.encode(text)) == text


def test_suffix_style_marks_word_ends_and_unknown_characters(bpe):
    toks = bpe.encode("the lord Ω", as_tokens=True)
    assert toks[:2] == ["the</w>", "lord</w>"] and toks[-1] == "<unk>"
    assert bpe.decode(bpe.encode("the  lord\tsaid")) == "the lord said"


def test_batch_corpus_and_single_encodings_agree(bpe, tmp_path):
    text = lines()[:50]
    batch = bpe.encode_batch(text)
    assert [bpe.encode(t).tolist() for t in text] == [b.tolist() for b in batch]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(text) + "\n")
    ids, offsets = bpe.encode_corpus(str(path))
    assert ids.dtype == np.int32 and offsets.dtype == np.int64
    assert np.array_equal(ids, np.concatenate(batch))
    assert np.array_equal(np.diff(offsets), [len(b) for b in batch])


def test_save_load_and_pickle_round_trip(bpe, tmp_path):
    path = tmp_path / "tok.json"
    bpe.save(path)
    again = load_tokenizer(str(path))
    assert again.merges_ == bpe.merges_ and again.vocab_.itos == bpe.vocab_.itos
    text = lines()[-20:]
    assert [a.tolist() for a in again.encode_batch(text)] == \
        [b.tolist() for b in bpe.encode_batch(text)]
    copy = pickle.loads(pickle.dumps(bpe))
    assert copy.encode("the lord").tolist() == bpe.encode("the lord").tolist()


def test_estimator_contract_and_pipeline():
    tok = BPE(vocab_size=300, style="metaspace", lowercase=True)
    assert clone(tok).get_params() == tok.get_params()
    pipe = Pipeline([("bpe", tok), ("bag", CountVectorizer(analyzer=lambda toks: toks))])
    X = pipe.fit_transform(lines()[:200])
    assert X.shape[0] == 200 and X.shape[1] > 100
    assert all(t.startswith("▁") or t for t in pipe.named_steps["bag"].vocabulary_)


def test_added_tokens_in_text_keep_their_id():
    tok = BPE(vocab_size=300, style="bytelevel").fit(lines())
    eot = tok.token_to_id("<|endoftext|>")
    ids = tok.encode("and god said<|endoftext|>let there").tolist()
    assert eot in ids
    assert tok.decode(ids, skip_special_tokens=False) == "and god said<|endoftext|>let there"
    assert tok.decode(ids) == "and god saidlet there"


def test_wordpiece_greedy_longest_match_and_long_words():
    tok = WordPiece(vocab_size=400, max_input_chars_per_word=12).fit(lines())
    toks = tok.encode("Beginning abcdefghijklmnop", as_tokens=True)
    assert toks[-1] == "[UNK]"  # longer than 12 characters
    assert all(t.startswith("##") for t in toks[1:-1])
    assert tok.decode(tok.encode("In the Beginning god")) == "in the beginning god"


@pytest.mark.parametrize("make, message", [
    (lambda: BPE(vocab_size=0), "vocab_size"),
    (lambda: BPE(style="unigram"), "style"),
    (lambda: BPE(style="bytelevel", pre_tokenizer="bert"), "pre_tokenizer"),
    (lambda: WordPiece(training="em"), "training"),
    (lambda: BPE(min_frequency=-1), "min_frequency"),
])
def test_bad_parameters_are_named(make, message):
    with pytest.raises(NlpkitError, match=message):
        make().fit(["a b c"])


def test_user_errors(bpe, tmp_path):
    with pytest.raises(NlpkitError, match="no words"):
        BPE().fit(["", "   "])
    with pytest.raises(NlpkitError, match="one string"):
        bpe.encode(["a list"])
    with pytest.raises(NlpkitError, match="not in the vocabulary"):
        bpe.decode([10 ** 6])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(NlpkitError, match="bad.json: not a tokenizer.json"):
        load_tokenizer(str(bad))
    with pytest.raises(NlpkitError, match="no such file"):
        load_tokenizer(str(tmp_path / "missing.json"))
    with pytest.raises(NlpkitError, match="tokenizer must be"):
        load_tokenizer(42)
