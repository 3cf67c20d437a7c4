"""Bad input to the model commands: one ``Error:`` line on stderr and exit status 1."""

import pytest

from nlpkit.cli.main import main


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("Error: ") and "Traceback" not in err
    return err


def test_tag_train_with_one_tag(tmp_path, capsys):
    data = tmp_path / "one.conll"
    data.write_text("a\tO\nb\tO\n\nc\tO\n")
    err = run_main(["tag", "train", str(data), "-o", str(tmp_path / "m")], capsys)
    assert "at least 2 distinct tags" in err


def test_lm_train_on_a_corpus_without_tokens(tmp_path, capsys):
    data = tmp_path / "empty.txt"
    data.write_text("\n  \n")
    err = run_main(["lm", "train", str(data), "-o", str(tmp_path / "m")], capsys)
    assert "no sentences" in err


def test_seq2seq_pair_without_target(tmp_path, capsys):
    data = tmp_path / "pairs.tsv"
    data.write_text("a b\tb a\nc d\t \n")
    err = run_main(["seq2seq", "train", str(data), "-o", str(tmp_path / "m")], capsys)
    assert err.strip() == f"Error: {data}:2: expected 'source<TAB>target'"


def test_classify_predict_needs_text_or_input(tmp_path, capsys):
    err = run_main(["classify", "predict", str(tmp_path / "m")], capsys)
    assert "give the documents as TEXT arguments or with --input FILE" in err


@pytest.mark.parametrize("group", ["classify", "tag", "lm", "seq2seq"])
def test_bad_max_time_option(group, tmp_path, capsys):
    data = tmp_path / "d.txt"
    data.write_text("x\ty\n")
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", group, "train", str(data), "-o", str(tmp_path / "m"), "--max-time", "0"])
    assert exc.value.code == 2 and "--max-time" in capsys.readouterr().err
