import numpy as np
import pytest

from nlpkit.errors import InputFileError, NlpkitError
from nlpkit.text import Tokenizer, Vocabulary

SENTS = [["b", "a", "c"], ["a", "b"], ["a", "d"]]


def test_ids_are_stable_specials_then_count_then_first_seen():
    v = Vocabulary.build(SENTS)
    assert v.itos == ["<s>", "</s>", "<unk>", "a", "b", "c", "d"]
    assert v.counts.tolist() == [0, 0, 0, 3, 2, 1, 1]
    assert (v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2)
    assert v["zzz"] == v.unk_id and v["a"] == 3
    assert v.encode(["a", "zzz", "d"]).tolist() == [3, 2, 6]
    assert v.decode([3, 6]) == ["a", "d"]


def test_min_count_and_max_size_move_mass_to_unk():
    v = Vocabulary.build(SENTS, min_count=2)
    assert v.itos == ["<s>", "</s>", "<unk>", "a", "b"]
    assert v.counts[v.unk_id] == 2
    v = Vocabulary.build(SENTS, max_size=1)
    assert v.itos[3:] == ["a"] and v.counts[v.unk_id] == 4
    with pytest.raises(NlpkitError, match="min_count"):
        Vocabulary.build(SENTS, min_count=0)
    with pytest.raises(NlpkitError, match="max_size"):
        Vocabulary.build(SENTS, max_size=0)


def test_save_load_round_trip(tmp_path):
    v = Vocabulary.build(SENTS + [["ünï", "tab\u00a0word"]])
    v.save(tmp_path / "v.txt")
    assert Vocabulary.load(tmp_path / "v.txt") == v
    v.save(tmp_path / "v.txt.gz")
    assert Vocabulary.load(tmp_path / "v.txt.gz") == v


def test_plain_word_list_and_duplicates(tmp_path):
    (tmp_path / "w.txt").write_text("a\nb 7\n\n# comment\nc\n")
    v = Vocabulary.load(tmp_path / "w.txt", specials=())
    # as in SRILM's -vocab files: the first token of every non-blank line is a word
    assert v.itos == ["a", "b", "#", "c"] and v.counts.tolist() == [0, 7, 0, 0]
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(InputFileError, match=r"dup\.txt:3: the word 'a' is listed twice \(first on line 1\)"):
        Vocabulary.load(tmp_path / "dup.txt")
    (tmp_path / "bad.txt").write_text("a\tx\n")
    with pytest.raises(InputFileError, match=r"bad\.txt:1: count 'x' is not an integer"):
        Vocabulary.load(tmp_path / "bad.txt")


def test_extend_keeps_old_ids():
    v = Vocabulary.build(SENTS)
    before = list(v.itos)
    added = v.extend({"e": 5, "a": 1, "f": 9})
    assert added == 2 and v.itos[:len(before)] == before and v.itos[-2:] == ["f", "e"]
    assert v.counts[v.stoi["a"]] == 4


def test_grow_appends_by_count_and_remaps():
    """What word2vec's continued training does with a new text's words (nlpkit.embed uses
    this vocabulary, without special tokens)."""
    v = Vocabulary(specials=())
    remap = v.grow(["x", "y", "z", "w"], np.array([2, 5, 1, 5]), min_count=2)
    assert v.itos == ["y", "w", "x"] and v.counts.tolist() == [5, 5, 2]
    assert remap.dtype == np.int32 and remap.tolist() == [2, 0, -1, 1]
    remap = v.grow(["z", "x", "q"], np.array([3, 1, 1]), min_count=2)
    assert v.itos == ["y", "w", "x", "z"] and v.counts.tolist() == [5, 5, 3, 3]
    assert remap.tolist() == [3, 2, -1] and v.unk_id == -1


def test_tokenizers():
    assert Tokenizer()("  A b\tc\n") == ["A", "b", "c"]
    assert Tokenizer(lower=True)("A B") == ["a", "b"]
    kjv = Tokenizer(r"[a-z0-9]+('[a-z]+)?", lower=True)
    assert kjv("And God's Word, 3 times!") == ["and", "god's", "word", "3", "times"]
    with pytest.raises(NlpkitError, match="invalid tokenizer pattern"):
        Tokenizer("(")
    with pytest.raises(NlpkitError, match="matches the empty string"):
        Tokenizer("a*")


def test_pickle():
    import pickle
    v = Vocabulary.build(SENTS)
    assert pickle.loads(pickle.dumps(v)) == v
    t = Tokenizer("[a-z]+", lower=True)
    assert pickle.loads(pickle.dumps(t))("Ab c") == ["ab", "c"]
    assert np.array_equal(pickle.loads(pickle.dumps(v)).counts, v.counts)
