"""Builds larger than their memory budget: spilled to sorted runs on disk, byte-identical.

A tiny ``memory=`` forces small corpora through every spilling path (counting
chunks merged from runs on disk, estimation tables in files read in small
blocks, external sorts of back-off weights and output orders); the results
must be the files the in-memory build writes, and the temporary directory
must be empty afterwards, whether the build succeeds, fails or is stopped.
"""
import gzip
import os
import signal
import time

import pytest

import nlpkit.ngram as ng
from nlpkit.errors import NlpkitError
from nlpkit.ngram.counting import runs
from nlpkit.ngram.plan import Plan, parse_size
from signals_util import spawn

TINY = "1M"  # with the corpora below: several chunks, blocks of a few hundred rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, noisy_kjv_lines):
    """The noisy KJV lines (conftest) as a file."""
    lines = noisy_kjv_lines
    d = tmp_path_factory.mktemp("spill")
    katz = d / "katz.txt"
    katz.write_text("\n".join(lines) + "\n")
    kn = d / "kn.txt"  # lmplz refuses the literal marks
    kn.write_text("\n".join(l for l in lines if "<" not in l and "-pau-" not in l))  # no final LF
    return katz, kn


@pytest.fixture
def spills(monkeypatch):
    """Counts the temporary files the builds create."""
    made = []
    original = runs.TempSpace.new_path

    def new_path(self, stem):
        made.append(stem)
        return original(self, stem)
    monkeypatch.setattr(runs.TempSpace, "new_path", new_path)
    return made


def _same_both_ways(tmp_path, spills, build, **kw):
    temp = tmp_path / "temp"
    temp.mkdir()
    a, b = tmp_path / "memory.arpa", tmp_path / "spilled.arpa"
    build(output=a, **kw)
    assert not spills
    build(output=b, memory=TINY, temp_dir=temp, **kw)
    assert len(spills) > 10, "the build did not spill"
    assert list(temp.iterdir()) == []
    assert a.read_bytes() == b.read_bytes()
    return a.read_bytes()


@pytest.mark.parametrize("kw", [
    dict(order=3),
    dict(order=5, gt_min=1, gt_max=[1, 3, 4, 5, 6]),
    dict(order=4, unk=True),
    dict(order=3, vocab=["the", "and", "of", "lord", "a", "b", "<s>", "-pau-"]),
    dict(order=3, gt_min={2: 2, 3: 1}),
    dict(order=2, limit_vocab=["the", "and", "of", "a", "b"]),
], ids=["gt3", "gt5", "unk4", "vocab3", "cutoffs", "limit"])
def test_katz_spilled_is_byte_identical(corpus, tmp_path, spills, kw):
    _same_both_ways(tmp_path, spills, lambda **k: ng.build(corpus[0], **k), **kw)


@pytest.mark.parametrize("kw", [
    dict(order=3, discount_fallback=True),
    dict(order=4, discount_fallback=True, prune=[0, 1, 1]),
    dict(order=3, discount_fallback=[0.4], interpolate_unigrams=False),
], ids=["kn3", "prune4", "fallback"])
def test_kn_spilled_is_byte_identical(corpus, tmp_path, spills, kw):
    _same_both_ways(tmp_path, spills, lambda **k: ng.build(corpus[1], smoothing="kn", **k), **kw)


def test_count_file_spilled_is_byte_identical(corpus, tmp_path, spills):
    text = _same_both_ways(tmp_path, spills, lambda **k: ng.count(corpus[0], 4, **k))
    assert text.count(b"\n") == sum(len(v) for v in [ng.count(corpus[0], 4).as_dict()])


def test_kjv_references_through_disk(data_dir, tmp_path):
    """SRILM's and lmplz's own KJV files, built with the counts and tables on disk."""
    kjv = data_dir / "ngram" / "kjv"
    temp = tmp_path / "temp"
    temp.mkdir()
    for out, ref, kw in ((tmp_path / "gt3.arpa", "srilm.gt3.arpa.gz", {}),
                         (tmp_path / "kn3.arpa", "lmplz.kn3.arpa.gz", {"smoothing": "kn"})):
        ng.build(kjv / "train.txt.gz", 3, output=out, memory="4M", temp_dir=temp, **kw)
        with gzip.open(kjv / ref, "rb") as fh:
            assert out.read_bytes() == fh.read(), ref
    ng.count(kjv / "train.txt.gz", 3, output=tmp_path / "c.txt", memory="4M", temp_dir=temp)
    with gzip.open(kjv / "counts3.txt.gz", "rb") as fh:
        assert (tmp_path / "c.txt").read_bytes() == fh.read()
    assert list(temp.iterdir()) == []


def test_estimator_with_a_budget(corpus, tmp_path):
    from nlpkit import NGramLM
    temp = tmp_path / "temp"
    temp.mkdir()
    lines = corpus[0].read_text().splitlines()
    a = NGramLM(order=3).fit(corpus[0])
    b = NGramLM(order=3, memory=TINY, temp_dir=temp).fit(corpus[0])
    assert a.perplexity(lines[:50]) == b.perplexity(lines[:50])
    assert list(temp.iterdir()) == []


def test_temp_files_go_when_the_build_fails(tmp_path, spills):
    """lmplz refuses these discounts: the error comes after the counts were spilled."""
    text = tmp_path / "bad.txt"
    text.write_text("a b c\na b\nb c a\n" * 20000)
    temp = tmp_path / "temp"
    temp.mkdir()
    with pytest.raises(NlpkitError, match="Kneser-Ney discounts"):
        ng.build(text, 3, "kn", memory="1M", temp_dir=temp, output=tmp_path / "m.arpa")
    assert spills and list(temp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "temp"]


@pytest.mark.parametrize("text,size", [("500M", 500 << 20), ("4G", 4 << 30), ("1.5g", 3 << 29),
                                       ("800K", 800 << 10), ("123456", 123456), (2048, 2048)])
def test_memory_sizes(text, size):
    assert parse_size(text) == size
    assert 0 < parse_size("25%") < parse_size("50%")


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "150%", "12Q"])
def test_bad_memory_sizes(bad):
    with pytest.raises(NlpkitError, match="--memory"):
        parse_size(bad)


# ---------------------------------------------------------------- as users meet it: the CLI
nlpkit = spawn


def _one_error_line(p, pattern):
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1, (p.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert pattern in lines[0], lines[0]


def test_cli_errors_leave_nothing_behind(corpus, tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    model = out / "m.arpa"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        ((corpus[0], "-o", model, "--memory", "100K"), "is below what this corpus needs"),
        ((corpus[0], "-o", model, "--memory", "lots"), "--memory 'lots'"),
        ((corpus[0], "-o", model, "--temp-dir", tmp_path / "nowhere"), "does not exist"),
        ((corpus[0], "-o", model, "--temp-dir", a_file), "is not a directory"),
        ((corpus[0], "-o", model, "--temp-dir", a_file / "sub"), "does not exist"),
    ]
    for args, pattern in cases:
        for cmd in ("build", "count"):
            _one_error_line(nlpkit("ngram", cmd, *args), pattern)
            assert list(out.iterdir()) == [] and list(temp.iterdir()) == []


def test_cli_unwritable_temp_dir(corpus, tmp_path):
    """A directory the build may not create files in.  Root writes into any directory
    whatever its mode, so as root sysfs stands in (no one may create files there)."""
    model = tmp_path / "m.arpa"
    if os.geteuid() != 0:
        temp = tmp_path / "temp"
        temp.mkdir()
        temp.chmod(0o500)
    else:
        temp = "/sys"
        if not os.path.isdir(temp) or os.access(temp, os.W_OK) and _can_create(temp):
            pytest.skip("no directory here refuses root's files")
    try:
        for cmd in ("build", "count"):
            _one_error_line(nlpkit("ngram", cmd, corpus[0], "-o", model, "--temp-dir", temp),
                            f"{temp}: cannot write temporary files (permission denied)")
    finally:
        if os.geteuid() != 0:
            temp.chmod(0o700)
    assert not model.exists() and [p.name for p in tmp_path.iterdir()] in ([], ["temp"])


def _can_create(directory):
    import tempfile
    try:
        os.rmdir(tempfile.mkdtemp(dir=directory))
        return True
    except OSError:
        return False


def _warm(*args):
    """Run once without a limit and remove the output: Numba writes its cache the first time
    a kernel meets new argument types, and that write fails (EFBIG) under the limit."""
    p = nlpkit(*args)
    assert p.communicate(timeout=600) and p.returncode == 0
    output = args[args.index("-o") + 1]
    os.remove(output)


def test_cli_full_disk(corpus, tmp_path):
    """A file size limit (what a full disk looks like to the writer): one line naming the
    temporary directory, exit 1, no model, no temporary files."""
    temp = tmp_path / "temp"
    temp.mkdir()
    for smoothing, text in (("katz", corpus[0]), ("kn", corpus[1])):
        args = ("ngram", "build", text, "-o", tmp_path / "m.arpa", "--memory", TINY,
                "--temp-dir", temp, "--smoothing", smoothing, "--discount-fallback"
                if smoothing == "kn" else "--unk", *(["default"] if smoothing == "kn" else []))
        _warm(*args)
        p = nlpkit(*args, limit_fsize=64 << 10)
        _one_error_line(p, f"{temp}: cannot write temporary files (a file grew past the size "
                           "limit)")
        assert list(temp.iterdir()) == [] and not (tmp_path / "m.arpa").exists()


def test_cli_full_disk_while_writing_the_model(corpus, tmp_path):
    """No room for the output (built in memory): one line naming the output, exit 1,
    neither the model nor its temporary file left."""
    out = tmp_path / "out"
    out.mkdir()
    for cmd, smoothing, text in (("build", "katz", corpus[0]), ("build", "kn", corpus[1]),
                                 ("count", "katz", corpus[0])):
        model = out / "m.arpa"
        args = ["--smoothing", smoothing] if cmd == "build" else []
        _warm("ngram", cmd, text, "-o", model, *args)
        p = nlpkit("ngram", cmd, text, "-o", model, *args, limit_fsize=20 << 10)
        _one_error_line(p, f"{model}: cannot write (a file grew past the size limit)")
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_stopped_while_spilling(tmp_path, data_dir, sig):
    """Stopped while its runs are on disk: no model, no temporary files."""
    temp = tmp_path / "temp"
    temp.mkdir()
    model = tmp_path / "m.arpa"
    p = nlpkit("ngram", "build", data_dir / "ngram" / "kjv" / "train.txt.gz", "-o", model,
               "--order", 5, "--memory", "3M", "--temp-dir", temp)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if any(d.iterdir() for d in temp.iterdir()):
            break
        time.sleep(0.02)
    assert p.poll() is None, "the build ended before it spilled"
    p.send_signal(sig)
    p.communicate(timeout=300)
    assert p.returncode != 0
    assert list(temp.iterdir()) == [] and not model.exists()
    assert [q.name for q in tmp_path.iterdir()] == ["temp"]


def test_plan_spills_only_when_needed():
    plan = Plan("64M", order=3)
    plan.settle(10_000, 100_000)
    assert not plan.spill
    plan.settle(10_000, 10_000_000)
    assert plan.spill and plan.chunk_tokens < 10_000_000 and plan.block_rows < 10_000_000
    with pytest.raises(NlpkitError, match=r"--memory 64M is below .* 1,000,000 words"):
        plan.settle(1_000_000, 100)


def test_many_runs_merge_in_passes(corpus, tmp_path, spills, monkeypatch):
    """More runs than are merged at once (each holds files open): merged in passes."""
    from nlpkit.ngram.counting import merge
    monkeypatch.setattr(merge, "FAN_IN", 3)
    _same_both_ways(tmp_path, spills, lambda **k: ng.build(corpus[0], **k), order=3)
    assert any("pass" in s for s in spills)
