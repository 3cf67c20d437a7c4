import bz2
import gzip
import lzma
import subprocess
import sys
import warnings

import pytest

from nlpkit.errors import InputFileError
from nlpkit.text import DecodeWarning, atomic_write, iter_lines
from nlpkit.text.readers import iter_chunks

LINES = ["the cat sat", "", "  spaced\tout  ", "ünïcödé wörds ✓", "x" * 200_000, "last"]


def _write(path, opener, text):
    with opener(path, "wb") as fh:
        fh.write(text.encode("utf-8"))


@pytest.mark.parametrize("suffix,opener", [("", open), (".gz", gzip.open), (".bz2", bz2.open),
                                           (".xz", lzma.open)])
def test_reads_plain_and_compressed(tmp_path, suffix, opener):
    path = tmp_path / f"c.txt{suffix}"
    _write(path, opener, "\n".join(LINES) + "\n")
    assert list(iter_lines(path)) == LINES
    assert "".join(iter_chunks(path, size=1000)) == "\n".join(LINES) + "\n"


def test_last_line_without_newline_and_crlf(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"a b\r\nc\rd\nlast")
    # CRLF ends a line; a lone CR stays inside the line (as SRILM reads it)
    assert list(iter_lines(path)) == ["a b", "c\rd", "last"]


def test_bad_bytes_are_replaced_with_one_warning(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok line\nbad \xff\xfe here\nmore \xc3\n")
    with pytest.warns(DecodeWarning, match=r"3 byte\(s\) were not valid UTF-8") as record:
        lines = list(iter_lines(path))
    assert len(record) == 1
    assert lines == ["ok line", "bad \ufffd\ufffd here", "more \ufffd"]


def test_no_warning_for_clean_text(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_text("fine\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(iter_lines(path)) == ["fine"]


def test_stdin(tmp_path):
    code = "from nlpkit.text import iter_lines; print(list(iter_lines('-')))"
    out = subprocess.run([sys.executable, "-c", code], input=b"a b\n\nc\n", capture_output=True,
                         check=True).stdout.decode()
    assert out.strip() == "['a b', '', 'c']"


def test_missing_and_directory_and_truncated(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        list(iter_lines(tmp_path / "nope.txt"))
    with pytest.raises(InputFileError, match="is a directory"):
        list(iter_lines(tmp_path))
    path = tmp_path / "t.txt.gz"
    _write(path, gzip.open, "word " * 100_000)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputFileError, match=r"t\.txt\.gz: cannot read or decompress"):
        list(iter_lines(path))


@pytest.mark.parametrize("name", ["out.txt", "out.txt.gz", "out.txt.xz"])
def test_atomic_write_round_trip(tmp_path, name):
    path = tmp_path / name
    with atomic_write(path) as fh:
        fh.write("héllo\nworld\n")
    assert list(iter_lines(path)) == ["héllo", "world"]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("partial")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.txt"]
    with pytest.raises(InputFileError, match="folder does not exist"):
        with atomic_write(tmp_path / "no" / "x.txt"):
            pass
