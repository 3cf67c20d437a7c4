"""The failures the fuzzer found in the readers (issue 21), each as a plain test.

Every damaged file here once crashed the interpreter, allocated tens of GB, or
raised something other than an error naming the file.  Loading only: nothing
here scores a damaged model (test_readers_fuzz.py does that, in a child process).
"""
import gzip
import json
import os
import struct
import sys
import zipfile

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fuzz import targets  # noqa: E402
from nlpkit.errors import InputFileError  # noqa: E402


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


# --------------------------------------------------------------- binary n-gram models
@pytest.fixture(scope="module")
def binary_model():
    return targets._binary_seeds()[0]


def _with_header(data, edit):
    """``data`` with its JSON header edited in place, written compact and padded with
    spaces to its old length (so the arrays stay where they were)."""
    hlen = struct.unpack("<I", data[12:16])[0]
    header = json.loads(data[16:16 + hlen])
    edit(header)
    new = json.dumps(header, separators=(",", ":")).encode()
    assert len(new) <= hlen
    return data[:16] + new + b" " * (hlen - len(new)) + data[16 + hlen:]


def test_binary_model_seed_loads_and_scores(tmp_path, binary_model):
    from nlpkit.ngram.formats.binary import load
    scorer = load(_write(tmp_path, "m.nlpkit", binary_model))
    assert scorer.score("a b a") == pytest.approx(load(_write(
        tmp_path, "m.arpa", targets.ARPA[0])).score("a b a"))


@pytest.mark.parametrize("array", ["uni", "grams", "slots", "tab_off", "row_off", "vocab"])
def test_binary_array_offset_moved_by_one_byte(tmp_path, binary_model, array):
    from nlpkit.ngram.formats.binary import load

    def edit(h):
        h["arrays"][array]["offset"] += 1
    path = _write(tmp_path, "m.nlpkit", _with_header(binary_model, edit))
    with pytest.raises(InputFileError, match=f"{path}: damaged header.*offset"):
        load(path)


@pytest.mark.parametrize("field,value", [("dtype", "<i0"), ("dtype", "<f8"), ("shape", [3, 3]),
                                         ("shape", [-1]), ("offset", -64)])
def test_binary_array_spec_damaged(tmp_path, binary_model, field, value):
    from nlpkit.ngram.formats.binary import load

    def edit(h):
        h["arrays"]["grams"][field] = value
    with pytest.raises(InputFileError, match="damaged header"):
        load(_write(tmp_path, "m.nlpkit", _with_header(binary_model, edit)))


def test_binary_table_pointing_outside_its_rows(tmp_path, binary_model):
    """A slot whose row lies beyond its order's rows: the scoring kernel would read the
    n-gram ids past the end of ``grams``."""
    from nlpkit.ngram.formats.binary import _ALIGN, load
    hlen = struct.unpack("<I", binary_model[12:16])[0]
    spec = json.loads(binary_model[16:16 + hlen])["arrays"]["slots"]
    start = -(-(16 + hlen) // _ALIGN) * _ALIGN + spec["offset"]
    slots = np.frombuffer(binary_model, "<u8", spec["shape"][0], start).copy()
    used = np.flatnonzero(slots[1::3] & 0xFFFFFFFF)
    slots[3 * used[0] + 1] = (slots[3 * used[0] + 1] & ~np.uint64(0xFFFFFFFF)) | np.uint64(999)
    data = binary_model[:start] + slots.tobytes() + binary_model[start + slots.nbytes:]
    with pytest.raises(InputFileError, match="damaged model tables"):
        load(_write(tmp_path, "m.nlpkit", data))


def test_binary_vocabulary_not_utf8(tmp_path, binary_model):
    from nlpkit.ngram.formats.binary import load
    data = binary_model.replace(b"</s>\n<s>", b"</s>\n\xff\xfe\xfd")
    with pytest.raises(InputFileError, match="not UTF-8"):
        load(_write(tmp_path, "m.nlpkit", data))


def test_binary_header_not_an_object(tmp_path, binary_model):
    from nlpkit.ngram.formats.binary import load
    data = binary_model[:16] + b"[" * 10 + b"]" * 10 + b" " * (
        struct.unpack("<I", binary_model[12:16])[0] - 20) + binary_model[16 + struct.unpack(
            "<I", binary_model[12:16])[0]:]
    with pytest.raises(InputFileError, match="damaged header"):
        load(_write(tmp_path, "m.nlpkit", data))


# ------------------------------------------------------------------------------ ARPA
@pytest.mark.parametrize("count", [b"2147483647", b"9223372036854775808"])
def test_arpa_header_count_beyond_the_file(tmp_path, count):
    """A header count the file cannot hold sizes no allocation: the file loads with
    SRILM's warning about a wrong count, and scores as the undamaged one."""
    from nlpkit.ngram.formats.arpa_reader import ArpaWarning
    from nlpkit.ngram.formats.binary import load
    ok = load(_write(tmp_path, "ok.arpa", targets.ARPA[0]))
    for line in (b"ngram 1=4", b"ngram 3=1"):
        text = targets.ARPA[0].replace(line, line[:8] + count)
        for name, data in (("m.arpa", text), ("m.arpa.gz", gzip.compress(text))):
            with pytest.warns(ArpaWarning, match="expected"):
                scorer = load(_write(tmp_path, name, data))
            assert scorer.score("a b a") == ok.score("a b a")


# ------------------------------------------------------------------------ word vectors
@pytest.mark.parametrize("header", [b"2147483648 8", b"4 2147483648", b"4 9223372036854775808",
                                    b"4294967296 3"])
def test_word2vec_binary_header_beyond_the_file(tmp_path, header):
    from nlpkit.embed.formats import read_word2vec
    data = targets._w2v_binary_seeds()[0]
    path = _write(tmp_path, "v.bin", header + data[data.index(b"\n"):])
    with pytest.raises(InputFileError, match=f"{path}:1: .*header says"):
        read_word2vec(path, binary=True)


@pytest.mark.parametrize("header", [b"3 2147483648", b"3 9223372036854775807"])
def test_word2vec_text_dimension_beyond_the_rows(tmp_path, header):
    from nlpkit.embed.formats import read_word2vec
    data = targets.W2V_TEXT[0]
    path = _write(tmp_path, "v.txt", header + data[data.index(b"\n"):])
    with pytest.raises(InputFileError, match=path):
        read_word2vec(path, binary=False)


def test_fasttext_bin_dictionary_disagreeing_with_its_header(tmp_path):
    """Fewer words in the dictionary than its header says (a kind byte damaged)."""
    from nlpkit.embed.formats import read_fasttext_bin
    data = targets._fasttext_seeds()[0]
    at = data.index(b"cat\x00") + 4 + 8  # the entry's kind byte, after its count
    path = _write(tmp_path, "m.bin", data[:at] + b"\x01" + data[at + 1:])
    with pytest.raises(InputFileError, match=f"{path}: the dictionary holds 3 words"):
        read_fasttext_bin(path)


def test_fasttext_bin_matrix_shape_overflowing(tmp_path):
    from nlpkit.embed.formats import read_fasttext_bin
    data = targets._fasttext_seeds()[1]
    # the output matrix header: quant flag, rows, cols -- the last 17 + 4*4*3 bytes
    at = len(data) - 4 * 4 * 3 - 16
    path = _write(tmp_path, "m.bin", data[:at] + struct.pack("<qq", 0, 2 ** 62) + data[at + 16:])
    with pytest.raises(InputFileError, match="bad matrix shape"):
        read_fasttext_bin(path)


# ---------------------------------------------------------------------- vocabularies
@pytest.mark.parametrize("count", ["100000000000000000000", "-9223372036854775809"])
def test_vocabulary_count_out_of_range(tmp_path, count):
    from nlpkit.text.vocab import Vocabulary
    path = _write(tmp_path, "v.txt", f"a\t5\nb\t{count}\n".encode())
    with pytest.raises(InputFileError, match=f"{path}:2: count .* out of range"):
        Vocabulary.load(path)


# ------------------------------------------------------------------------ tokenizers
def _tokenizer(edit):
    data = json.loads(targets._tokenizer_seeds()[0])
    edit(data)
    return json.dumps(data).encode()


def test_wordpiece_max_chars_beyond_int64(tmp_path):
    """Found by atheris: the encoding kernel takes it as an int64."""
    from nlpkit.text.subword.model import SubwordTokenizer
    data = json.loads(targets._tokenizer_seeds()[1])
    assert data["model"]["type"] == "WordPiece"
    data["model"]["max_input_chars_per_word"] = 2 ** 64
    path = _write(tmp_path, "tok.json", json.dumps(data).encode())
    with pytest.raises(InputFileError, match=f"{path}: max_input_chars_per_word .* out of range"):
        SubwordTokenizer.load(path)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["model"]["vocab"].update({"a": 10 ** 20}), "no token has id"),
    (lambda d: d["model"]["vocab"].update({"a": -1}), "out of range"),
    (lambda d: d["added_tokens"][0].update({"id": 2 ** 31}), "added token"),
    (lambda d: d["model"]["merges"].append("lonely"), "merges are not pairs"),
    (lambda d: d["model"]["vocab"].update({"a": "1"}), "not a map of tokens to ids"),
    # a number where a string belongs: refused here, not at the first encode or decode
    (lambda d: d["decoder"].update({"suffix": 5}), "'suffix' should be a str"),
    (lambda d: d["model"].update({"end_of_word_suffix": []}), "should be a str"),
    (lambda d: d["added_tokens"][0].update({"content": 1.5}), "should be a str"),
    (lambda d: d["model"].update({"unk_token": "<nope>"}), "unknown token"),
])
def test_tokenizer_json_damaged_entries_name_the_file(tmp_path, edit, match):
    from nlpkit.text.subword.model import SubwordTokenizer
    path = _write(tmp_path, "tok.json", _tokenizer(edit))
    with pytest.raises(InputFileError, match=f"{path}: .*{match}"):
        SubwordTokenizer.load(path)


# --------------------------------------------------------------------------- corpora
def test_corpus_npz_damaged(tmp_path):
    from nlpkit.text.corpus import Corpus
    good = targets._corpus_seeds()[0]
    path = _write(tmp_path, "c.npz", good)
    assert Corpus.load(path).n_sentences == 2  # (the blank line is no sentence)
    cut = _write(tmp_path, "cut.npz", good[:len(good) // 2])
    with pytest.raises(InputFileError, match=cut):
        Corpus.load(cut)
    # ids beyond the vocabulary: kernels would index past their tables
    c = Corpus.load(path)
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        for name, a in (("ids", c.ids + 1000), ("offsets", c.offsets),
                        ("words", np.array(c.vocab.itos, str)), ("counts", c.vocab.counts),
                        ("specials", np.array(c.vocab.specials, str))):
            with zf.open(name + ".npy", "w") as fh:
                np.lib.format.write_array(fh, a)
    with pytest.raises(InputFileError, match="ids outside the vocabulary"):
        Corpus.load(str(tmp_path / "bad.npz"))
