"""The failures the fuzzer found in the readers (issue 21), each as a plain test.

Every damaged file here once crashed the interpreter, allocated tens of GB, or
raised something other than an error naming the file.  Loading only: nothing
here scores a damaged model (test_readers_fuzz.py does that, in a child process).
"""
import gzip
import json
import os
import re
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


# ------------------------------------------------------------------- gzip-compressed
# A .gz file inflates to at most 1032 times its size (deflate's limit): what a header's
# counts are checked against (most_content_bytes), and a gzip bomb -- a small .gz of
# 100 MB of junk -- must end in an error without the reader holding what it inflates.
BOMB_BYTES = 100 << 20
# what a reader may grow by reading a bomb (its peak resident memory past what it held
# after reading a good file of the same format): well under the bomb's 100 MB
BOMB_GROWTH_MB = 40

_CHILD = r"""
import json, re, sys, warnings
sys.path.insert(0, sys.argv[1])
from nlpkit.errors import NlpkitError

def kb(field):
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1))

def reader(name):
    if name == "arpa":
        from nlpkit.ngram.formats.arpa_reader import read_arpa
        return read_arpa
    if name == "fasttext":
        from nlpkit.embed.formats import read_fasttext_bin
        return read_fasttext_bin
    if name == "glove":
        from nlpkit.embed.formats import read_glove
        return read_glove
    from nlpkit.embed.formats import read_word2vec
    return lambda p: read_word2vec(p, binary=name == "w2v-binary")

out = {}
for name, good, path in json.loads(sys.argv[2]):
    warnings.simplefilter("ignore")
    reader(name)(good)  # warm up: compiles what the reader runs
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak (VmHWM) starts again from here
    before = kb("VmRSS")
    try:
        reader(name)(path)
        outcome = "loaded"
    except NlpkitError as exc:
        outcome = str(exc)
    out[path] = [outcome, (kb("VmHWM") - before) / 1024]
print(json.dumps(out))
"""


def _gz_bomb(path, head, unit, tail=b""):
    """``head``, then ``unit`` repeated to :data:`BOMB_BYTES`, then ``tail``, gzipped a
    megabyte at a time (the bomb is never whole in this process)."""
    import zlib
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = unit * ((1 << 20) // len(unit))
    with open(path, "wb") as fh:
        fh.write(c.compress(head))
        fh.writelines(c.compress(block) for _ in range(BOMB_BYTES // len(block)))
        fh.write(c.compress(tail) + c.flush())
    assert os.path.getsize(path) < BOMB_BYTES // 500
    return str(path)


ARPA_HEAD = b"\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-1\ta\n"
BOMBS = {  # name: (reader, good file, head, repeated unit, tail, expected error)
    "arpa-zeros": ("arpa", "ARPA", b"", b"\0", b"", "no line break in 1 MiB"),
    "arpa-junk-lines": ("arpa", "ARPA", b"", b"junk junk\n", b"", r"no \\data\\ line"),
    "arpa-lines-beyond-header": ("arpa", "ARPA", ARPA_HEAD, b"-1\tb\n", b"\\end\\\n",
                                 "more than its header's n-grams"),
    # a count no file this size can hold is no guide to how much text to take
    "arpa-header-count-beyond-file": ("arpa", "ARPA", ARPA_HEAD.replace(
        b"1=3", b"1=2000000000"), b"-1\tb\n", b"\\end\\\n", "more than its header's n-grams"),
    "w2v-text-zeros": ("w2v-text", "W2V_TEXT", b"3 4\na 1 2 3 4\n", b"\0", b"",
                       "more data than its header's 3 rows of 4 numbers"),
    "w2v-text-rows": ("w2v-text", "W2V_TEXT", b"3 4\n", b"a 1 2 3 4\n", b"",
                      "more data than its header's 3 rows of 4 numbers"),
    "w2v-binary-zeros": ("w2v-binary", "W2V_BINARY", b"3 4\n", b"\0", b"",
                         "more data than its header's"),
    "glove-zeros": ("glove", "GLOVE", b"a 1 2 3\n", b"\0", b"", "a line longer than"),
    # rows are parsed a block at a time as they are read: the first block ends it
    "glove-bad-rows": ("glove", "GLOVE", b"a 1 2 3\n", b"b\n", b"", ":1: expected 'word v1"),
    # nothing past the output matrix is read: the model loads
    "fasttext-trailing-zeros": ("fasttext", "FASTTEXT", None, b"\0", b"", "loaded"),
}


@pytest.fixture(scope="module")
def bomb_results(tmp_path_factory):
    """Each bomb read in one child process (its memory measured alone), after a good file
    of its format; ``{name: (outcome, growth in MB)}``."""
    import subprocess
    tmp = tmp_path_factory.mktemp("bombs")
    good = {"ARPA": ("g.arpa", targets.ARPA[0]), "W2V_TEXT": ("g.vec", targets.W2V_TEXT[0]),
            "W2V_BINARY": ("g.bin", targets._w2v_binary_seeds()[0]),
            "FASTTEXT": ("g.bin", targets._fasttext_seeds()[0]),
            "GLOVE": ("g.txt", targets.GLOVE[0])}
    cases, names = [], {}
    for name, (kind, seed, head, unit, tail, _) in BOMBS.items():
        gname, gdata = good[seed]
        gpath = _write(tmp, seed + gname, gdata)
        path = _gz_bomb(tmp / f"{name}{os.path.splitext(gname)[1]}.gz",
                        gdata if head is None else head, unit, tail)
        cases.append((kind, gpath, path))
        names[path] = name
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", _CHILD, root, json.dumps(cases)],
                          check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {names[p]: (r[0], r[1], p) for p, r in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("name", list(BOMBS))
def test_gzip_bomb_ends_without_holding_it(bomb_results, name):
    outcome, grew_mb, path = bomb_results[name]
    expected = BOMBS[name][-1]
    if expected == "loaded":
        assert outcome == "loaded"
    else:
        assert "\n" not in outcome and outcome.startswith(path + ":")
        assert re.search(expected, outcome), outcome
    assert grew_mb < BOMB_GROWTH_MB, f"{name}: the reader grew by {grew_mb:.0f} MB"


@pytest.mark.parametrize("header,binary", [(b"2000000000 300", False), (b"2000000000 300", True),
                                           (b"3 2000000000", None)])
def test_word2vec_gz_header_beyond_what_it_can_inflate_to(tmp_path, header, binary):
    """Refused from the header and the .gz's size alone, before its rows are read."""
    from nlpkit.embed.formats import read_word2vec
    data = targets.W2V_TEXT[0]
    path = _write(tmp_path, "v.vec.gz", gzip.compress(header + data[data.index(b"\n"):]))
    with pytest.raises(InputFileError, match=f"^{re.escape(path)}:1: .*header says .* can "
                                             "hold"):
        read_word2vec(path, binary=binary)


def test_fasttext_gz_matrix_beyond_what_it_can_inflate_to(tmp_path):
    """The input matrix's shape, checked against what the .gz can inflate to before its
    array is allocated."""
    from nlpkit.embed.formats import read_fasttext_bin
    data = targets._fasttext_seeds()[1]
    at = len(data) - 4 * 4 * 3 - 16
    path = _write(tmp_path, "m.bin.gz", gzip.compress(
        data[:at] + struct.pack("<qq", 10 ** 9, 4) + data[at + 16:]))
    with pytest.raises(InputFileError, match=f"^{re.escape(path)}: truncated"):
        read_fasttext_bin(path)


def test_most_content_bytes(tmp_path):
    from nlpkit.text.readers import GZIP_MAX_RATIO, most_content_bytes
    plain = _write(tmp_path, "a.txt", b"x" * 100)
    packed = gzip.compress(b"x" * 100)
    assert most_content_bytes(plain) == 100
    assert most_content_bytes(_write(tmp_path, "a.txt.gz", packed)) == GZIP_MAX_RATIO * len(packed)
    # gzip told by content too, as the ARPA reader tells it
    assert most_content_bytes(_write(tmp_path, "a.arpa", packed)) == GZIP_MAX_RATIO * len(packed)
    assert most_content_bytes("-") is None
    # the bound holds for what deflate does best
    zeros = gzip.compress(b"\0" * (50 << 20), 9)
    assert 50 << 20 <= GZIP_MAX_RATIO * len(zeros)
