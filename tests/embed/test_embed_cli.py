"""`nlpkit embed` commands end to end on a small corpus."""
import numpy as np
from click.testing import CliRunner
from gensim.models import KeyedVectors as GKV

from nlpkit import corpora
from nlpkit.cli.main import cli, main
from nlpkit.embed import load


def invoke(*args):
    return CliRunner().invoke(cli, ["--quiet", *args], catch_exceptions=False)


def test_train_query_eval(tmp_path, data_dir):
    out = tmp_path / "v.bin"
    r = invoke("embed", "train", corpora.path("kjv", "test"), "-o", str(out), "--dim", "16",
               "--epochs", "2", "--min-count", "3", "--format", "word2vec-binary")
    assert r.exit_code == 0, r.output
    kv = load(out)
    assert kv.vector_size == 16 and "god" in kv.key_to_index
    r = invoke("embed", "similar", str(out), "god", "king", "--topn", "3")
    assert r.exit_code == 0 and r.output.count("\n") == 8
    r = invoke("embed", "analogy", str(out), "man", "woman", "king")
    assert r.exit_code == 0 and len(r.output.splitlines()) == 5
    r = invoke("embed", "eval", str(out), "--pairs", str(data_dir / "embed" / "wordsim353.tsv"),
               "--analogies", str(data_dir / "embed" / "questions-words-small.txt"))
    assert r.exit_code == 0 and "spearman" in r.output and "accuracy" in r.output


def test_count_models_write_glove_files_the_commands_read(tmp_path, data_dir):
    for model, extra in (("glove", ["--epochs", "3", "--x-max", "10"]),
                         ("ppmi", ["--eig", "0", "--dynamic-window", "--context-vectors"])):
        out = tmp_path / f"{model}.txt"
        r = invoke("embed", "train", corpora.path("kjv", "test"), "-o", str(out), "--model", model,
                   "--dim", "12", "--window", "4", "--min-count", "3", "--format", "glove",
                   *extra)
        assert r.exit_code == 0, r.output
        assert len(out.read_text().split("\n", 1)[0].split()) == 13      # GloVe: no header
        # the file gensim reads as GloVe text holds exactly the vectors nlpkit reads back
        g, kv = GKV.load_word2vec_format(str(out), no_header=True), load(out)
        assert g.index_to_key == kv.index_to_key and len(kv) > 100
        np.testing.assert_array_equal(g.vectors, kv.vectors)
        for cmd in (["similar", str(out), "god"], ["analogy", str(out), "man", "woman", "king"],
                    ["eval", str(out), "--pairs", str(data_dir / "embed" / "wordsim353.tsv")],
                    ["plot", str(out), "god", "-o", str(tmp_path / f"{model}.png")]):
            r = invoke("embed", *cmd)
            assert r.exit_code == 0, (cmd, r.output)


def test_fasttext_bin(tmp_path):
    out = tmp_path / "m.bin"
    r = invoke("embed", "train", corpora.path("kjv", "test"), "-o", str(out), "--model",
               "fasttext", "--dim", "8", "--epochs", "1", "--bucket", "5000", "--format",
               "fasttext-bin")
    assert r.exit_code == 0, r.output
    from gensim.models.fasttext import load_facebook_vectors
    g = load_facebook_vectors(str(out))
    kv = load(out)
    assert abs(g["kingz"] - kv["kingz"]).max() < 1e-5


def test_errors_exit_nonzero_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "v.txt"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    for args in (["embed", "train", str(empty), "-o", str(out)],
                 ["embed", "train", corpora.path("kjv", "test"), "-o", str(out), "--window", "0"],
                 ["embed", "train", str(tmp_path / "missing.txt"), "-o", str(out)]):
        try:
            main(["--quiet", *args])
        except SystemExit as exc:
            assert exc.code == 1
        else:
            raise AssertionError("expected an exit")
        err = capsys.readouterr().err
        assert err.startswith("Error: ") and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [empty]


def test_plot(tmp_path):
    vec = tmp_path / "v.txt"
    assert invoke("embed", "train", corpora.path("kjv", "test"), "-o", str(vec), "--dim", "8",
                  "--epochs", "1", "--min-count", "3").exit_code == 0
    png = tmp_path / "map.png"
    r = invoke("embed", "plot", str(vec), "god", "king", "-o", str(png), "--neighbours", "3")
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_encoding_of_a_fasttext_bin(data_dir, capsys):
    """`--encoding` reads a .bin whose words are not UTF-8 (gensim's encoding=)."""
    path = str(data_dir / "embed" / "cp852_fasttext.bin")
    r = invoke("embed", "similar", path, "který", "--topn", "2", "--encoding", "cp852")
    assert r.exit_code == 0, r.output
    kv = load(path, encoding="cp852")
    best = kv.most_similar("který", topn=1)[0][0]
    assert r.output.splitlines()[1].split("\t")[0].strip() == best
    capsys.readouterr()
    try:
        main(["embed", "similar", path, "který", "--encoding", "nope"])
    except SystemExit as exc:
        assert exc.code == 1
    else:
        raise AssertionError("expected an exit")
    assert capsys.readouterr().err == "Error: --encoding: unknown encoding 'nope'\n"
