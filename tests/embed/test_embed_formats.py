"""Vector files: gensim reads what nlpkit writes and the reverse; Facebook .bin models."""
import numpy as np
import pytest
from gensim.models import KeyedVectors as GKV
from gensim.models.fasttext import load_facebook_model, load_facebook_vectors

from nlpkit.embed import KeyedVectors, formats
from nlpkit.errors import InputFileError, NlpkitError

WORDS = ["the", "king", "été", "日本", "a.b", "x-y"]


def _kv(seed=0, n=6, d=7):
    rng = np.random.default_rng(seed)
    return KeyedVectors(WORDS[:n], rng.standard_normal((n, d)).astype(np.float32))


@pytest.mark.parametrize("binary", [False, True])
def test_nlpkit_to_gensim(tmp_path, binary):
    kv = _kv()
    p = tmp_path / "v.txt"
    formats.write_word2vec(kv, p, binary=binary)
    g = GKV.load_word2vec_format(str(p), binary=binary)
    assert g.index_to_key == kv.index_to_key
    np.testing.assert_allclose(g.vectors, kv.vectors, atol=1e-6, rtol=0)


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_to_nlpkit(tmp_path, binary):
    rng = np.random.default_rng(1)
    g = GKV(5)
    g.add_vectors(WORDS, rng.standard_normal((len(WORDS), 5)).astype(np.float32))
    p = tmp_path / "g.bin"
    g.save_word2vec_format(str(p), binary=binary)
    kv = formats.load(p)  # format guessed from the content
    assert kv.index_to_key == g.index_to_key
    np.testing.assert_allclose(kv.vectors, g.vectors, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name, encoding", [
    ("lee_fasttext.bin", "utf-8"), ("non_ascii_fasttext.bin", "utf-8"), ("toy-model.bin", "utf-8"),
    # an old-format model whose words are cp852 bytes: read as cp852, and as UTF-8 with the
    # undecodable bytes escaped (gensim's default)
    ("cp852_fasttext.bin", "cp852"), ("cp852_fasttext.bin", "utf-8")])
def test_facebook_bin_matches_gensim(data_dir, name, encoding):
    path = str(data_dir / "embed" / name)
    kv = formats.load(path, encoding=encoding)
    g = load_facebook_vectors(path, encoding=encoding)
    assert kv.index_to_key == g.index_to_key
    if name.startswith("cp852"):
        assert ("který" in kv.key_to_index) == (encoding == "cp852")
    # fastText gives </s> no n-grams (its vector is its own row); gensim adds n-grams: skip it
    words = [w for w in kv.index_to_key if w != "</s>"]
    np.testing.assert_allclose(np.array([kv[w] for w in words]), np.array([g[w] for w in words]),
                               atol=1e-5, rtol=0)
    for w in ["nonexistentword", "été", "xyzzy", "Петр", "kingdomz", "kterýx"]:
        assert not kv.has_index_for(w)
        np.testing.assert_allclose(kv[w], g[w], atol=1e-5, rtol=0)


def test_fasttext_bin_roundtrip_and_gensim(tmp_path, data_dir):
    kv, info = formats.read_fasttext_bin(data_dir / "embed" / "non_ascii_fasttext.bin", full=True)
    out = tmp_path / "m.bin"
    formats.write_fasttext_bin(kv, out, output=info["output"], args={"minn": kv.minn,
                                                                      "maxn": kv.maxn})
    back = formats.read_fasttext_bin(out)
    np.testing.assert_array_equal(back.raw, kv.raw)
    np.testing.assert_array_equal(back.ngrams, kv.ngrams)
    g = load_facebook_model(str(out))
    for w in kv.index_to_key[1:20] + ["unseenword", "ünseen"]:
        np.testing.assert_allclose(g.wv[w], kv[w], atol=1e-5, rtol=0)


def test_truncated_binary_is_an_error(tmp_path):
    p = tmp_path / "v.bin"
    formats.write_word2vec(_kv(), p, binary=True)
    data = p.read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-10])
    with pytest.raises(InputFileError, match="truncated"):
        formats.read_word2vec(tmp_path / "cut.bin", binary=True)


def test_header_disagreeing_with_rows(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(InputFileError, match="header says 3 words"):
        formats.load(p, "word2vec")
    p.write_text("2 2\na 1 2\nb 3\n")
    with pytest.raises(InputFileError, match="v.txt:3"):
        formats.load(p, "word2vec")


def test_truncated_fasttext_bin(tmp_path, data_dir):
    data = (data_dir / "embed" / "non_ascii_fasttext.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated"):
        formats.read_fasttext_bin(tmp_path / "cut.bin")


def test_failed_write_leaves_nothing(tmp_path):
    kv = KeyedVectors(["a b"], np.zeros((1, 2), np.float32))
    with pytest.raises(NlpkitError):
        formats.save(kv, tmp_path / "x.txt")
    assert list(tmp_path.iterdir()) == []
