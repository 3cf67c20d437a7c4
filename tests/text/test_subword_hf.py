"""Parity with Hugging Face ``tokenizers``: its files load and encode to the same ids,
its trainer learns the same merges, and nlpkit's files load there."""
import json

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers.implementations import (BertWordPieceTokenizer, ByteLevelBPETokenizer,
                                        CharBPETokenizer, SentencePieceBPETokenizer)

from nlpkit import corpora
from nlpkit.errors import NlpkitError
from nlpkit.text.subword import BPE, SubwordTokenizer, WordPiece

TRICKY = [
    "Héllo, WÖRLD!! naïve café — 東京タワー test\tTab",
    "ΣΑΣ ὅτι Ⅻ ½ ² x\u00a0y\u3000z\u2009w",
    "emoji 🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and Ⓐ",
    "  leading   and trailing  ",
    "don't it's we'll I'm they've",
    "a\u0301 combining e\u0308 and İstanbul",
    "control\x07char, \ufeffbom and \x1cfile-separator",
    "",
    "CamelCase snake_case 3.14 0x1F foo->bar() [i] {j}",
    "[CLS] literal [SEP] and <|endoftext|> markers",
    "a text\nwith  line feeds\n\n in it\n",
]


def kjv():
    with open(corpora.path("kjv", "test"), encoding="utf-8") as fh:
        return fh.read().split("\n")


TRAIN = kjv()[:400] + TRICKY * 3 + [line.upper() for line in kjv()[:50]]
TEXT = kjv()[400:] + TRICKY + ["".join(reversed(line)) for line in kjv()[:40]]


def hf_ids(tok, lines, add=True):
    return [e.ids for e in tok.encode_batch(lines, add_special_tokens=add)]


def nk_ids(tok, lines, add=True):
    return [x.tolist() for x in tok.encode_batch(lines, add_special_tokens=add)]


def save_hf(tok, tmp_path, name="hf.json"):
    path = tmp_path / name
    tok.save(str(path))
    return str(path)


def _hf_configs():
    def bert():
        t = BertWordPieceTokenizer()
        t.train_from_iterator(TRAIN, vocab_size=700, min_frequency=1)
        t.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
        return t

    def bytelevel():
        t = ByteLevelBPETokenizer(add_prefix_space=True)
        t.train_from_iterator(TRAIN, vocab_size=700, special_tokens=["<|endoftext|>"])
        return t

    def metaspace():
        t = SentencePieceBPETokenizer()
        t.train_from_iterator(TRAIN, vocab_size=700)
        return t

    def char_bpe():
        t = CharBPETokenizer()
        t.train_from_iterator(TRAIN, vocab_size=700)
        return t

    def whitespace_suffix():
        t = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
        t.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        t.decoder = decoders.BPEDecoder()
        t.train_from_iterator(TRAIN, trainers.BpeTrainer(
            vocab_size=700, special_tokens=["<unk>"], end_of_word_suffix="</w>",
            show_progress=False))
        return t

    def whitespace_template():
        t = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        t.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=True)
        t.pre_tokenizer = pre_tokenizers.Whitespace()
        t.decoder = decoders.WordPiece()
        t.train_from_iterator(TRAIN, trainers.WordPieceTrainer(
            vocab_size=600, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False))
        t.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
        return t

    return {"bert-wordpiece": bert, "bytelevel-bpe": bytelevel, "metaspace-bpe": metaspace,
            "char-bpe": char_bpe, "whitespace-suffix-bpe": whitespace_suffix,
            "whitespace-template-wordpiece": whitespace_template}


HF_CONFIGS = _hf_configs()


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_tokenizers_files_encode_and_decode_identically(name, tmp_path):
    hf = HF_CONFIGS[name]()
    path = save_hf(hf, tmp_path)
    tok = Tokenizer.from_file(path)
    nk = SubwordTokenizer.load(path)
    for add in (True, False):
        assert nk_ids(nk, TEXT, add) == hf_ids(tok, TEXT, add)
    assert [nk.decode(i) for i in nk_ids(nk, TEXT)] == tok.decode_batch(hf_ids(tok, TEXT))
    # and nlpkit writes the same pipeline back
    again = tmp_path / "again.json"
    nk.save(again)
    assert hf_ids(Tokenizer.from_file(str(again)), TEXT) == hf_ids(tok, TEXT)


def _hf_bpe(style, vocab_size):
    if style == "metaspace":
        t = Tokenizer(models.BPE(unk_token="<unk>"))
        t.pre_tokenizer = pre_tokenizers.Metaspace()
        extra = dict(special_tokens=["<unk>"])
    else:
        t = Tokenizer(models.BPE())
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        extra = dict(special_tokens=["<|endoftext|>"],
                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    t.train_from_iterator(TRAIN, trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                                     **extra))
    return t


@pytest.mark.parametrize("style", ["metaspace", "bytelevel"])
def test_merges_equal_bpe_trainer(style, tmp_path):
    hf = _hf_bpe(style, 900)
    nk = BPE(vocab_size=900, style=style).fit(TRAIN)
    data = json.loads(hf.to_str())["model"]
    assert nk.merges_ == [tuple(m) for m in data["merges"]]
    assert nk.vocab_.stoi == data["vocab"]
    assert len(nk.merges_) > 300


@pytest.mark.parametrize("style", ["metaspace", "bytelevel", "wordpiece"])
def test_held_out_tokens_per_word_equal_tokenizers(style):
    # issue 20: trained on the same text with the same vocabulary size, nlpkit's tokenizer
    # cuts held-out text into as many tokens per word as tokenizers' (within 1%).
    # WordPiece trained by count as WordPieceTrainer is (by likelihood, the default, it
    # gives 1.4-1.7% more on KJV at vocab 1000-3000, 0.1% at 32k on linux-doc)
    if style == "wordpiece":
        hf = BertWordPieceTokenizer()
        hf.train_from_iterator(TRAIN, vocab_size=800)
        nk = WordPiece(vocab_size=800, training="bpe").fit(TRAIN)
    else:
        hf = _hf_bpe(style, 900)
        nk = BPE(vocab_size=900, style=style).fit(TRAIN)
    words = sum(len(line.split()) for line in TEXT)
    ours = sum(map(len, nk_ids(nk, TEXT, False))) / words
    theirs = sum(map(len, hf_ids(hf, TEXT, False))) / words
    assert theirs > 1.05 and abs(ours / theirs - 1) < 0.01


def test_wordpiece_bpe_training_equals_wordpiece_trainer():
    hf = BertWordPieceTokenizer()
    hf.train_from_iterator(TRAIN, vocab_size=800)
    nk = WordPiece(vocab_size=800, training="bpe").fit(TRAIN)
    # tokenizers numbers the '##' forms in hash-map order, so its ties between
    # equal counts differ from run to run (and from nlpkit's documented order):
    # the early merges agree as a set, the vocabularies all but a few tied ones
    vocab = hf.get_vocab()
    merged = [t for t in sorted(vocab, key=vocab.get) if len(t.replace("##", "", 1)) > 1
              and not t.startswith("[")]
    ours = [t for t in nk.vocab_.itos if len(t.replace("##", "", 1)) > 1 and not t.startswith("[")]
    assert len(ours) == len(merged) > 600
    assert set(ours[:200]) == set(merged[:200])
    assert len(set(nk.vocab_.itos) & set(vocab)) >= 0.98 * 800


@pytest.mark.parametrize("make", [
    lambda: BPE(500, style="suffix"), lambda: BPE(500, style="metaspace"),
    lambda: BPE(500, style="bytelevel"), lambda: BPE(500, pre_tokenizer="bert", lowercase=True),
    lambda: WordPiece(500), lambda: WordPiece(500, training="bpe", lowercase=False)],
    ids=["suffix", "metaspace", "bytelevel", "bert-suffix", "wordpiece", "wordpiece-cased"])
def test_nlpkit_files_load_in_tokenizers(make, tmp_path):
    nk = make().fit(TRAIN)
    path = tmp_path / "nk.json"
    nk.save(path)
    hf = Tokenizer.from_file(str(path))
    assert hf_ids(hf, TEXT) == nk_ids(nk, TEXT)
    assert hf.decode_batch(hf_ids(hf, TEXT)) == [nk.decode(i) for i in nk_ids(nk, TEXT)]
    assert hf.get_vocab() == nk.vocab_.stoi


def _edit(tmp_path, change):
    hf = BertWordPieceTokenizer()
    hf.train_from_iterator(TRAIN[:50], vocab_size=200)
    data = json.loads(hf.to_str())
    change(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, named", [
    (lambda d: d.update(pre_tokenizer={"type": "Digits", "individual_digits": True}), "Digits"),
    (lambda d: d.update(normalizer={"type": "Precompiled", "precompiled_charsmap": ""}),
     "Precompiled"),
    (lambda d: d.update(truncation={"max_length": 8}), "truncation"),
    (lambda d: d["model"].update(type="Unigram"), "Unigram"),
    (lambda d: d.update(decoder={"type": "CTC"}), "CTC"),
])
def test_configurations_nlpkit_cannot_honour_are_named(tmp_path, change, named):
    with pytest.raises(NlpkitError, match=named):
        SubwordTokenizer.load(_edit(tmp_path, change))


def test_bpe_byte_fallback_is_refused(tmp_path):
    hf = ByteLevelBPETokenizer()
    hf.train_from_iterator(TRAIN[:50], vocab_size=300)
    data = json.loads(hf.to_str())
    data["model"]["byte_fallback"] = True
    path = tmp_path / "bf.json"
    path.write_text(json.dumps(data))
    with pytest.raises(NlpkitError, match="byte_fallback"):
        SubwordTokenizer.load(path)


def test_string_merges_of_older_files_load(tmp_path):
    hf = CharBPETokenizer()
    hf.train_from_iterator(TRAIN, vocab_size=400)
    data = json.loads(hf.to_str())
    data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert nk_ids(SubwordTokenizer.load(path), TEXT) == hf_ids(hf, TEXT)
