"""Every command that writes a file, stopped by SIGINT or SIGTERM at five points of its run,
and run out of room (a file-size limit), leaves nothing behind: no partial output, no
temporary file, and a previous output untouched.

The commands run in children forked from one warm process (tests/signals_util.py); the
points are events the child counts (its first read of an input, a progress update, the
output's temporary file opened, the rename that would publish it) or moments between
them, chosen from an uninterrupted run of the same command.
"""
from __future__ import annotations

import gzip
import shutil
import signal
from pathlib import Path

import pytest
from signals_util import CliServer, files_under  # tests/signals_util.py

CORPORA = Path(__file__).resolve().parents[2] / "corpora"
TRAIN = ("--epochs", 2, "--embedding-dim", 8, "--hidden-size", 8, "--batch-size", 16)

# command -> (arguments after `nlpkit -q`, the file it writes); {i}: the inputs' folder
COMMANDS = {
    "corpus vocab": (("corpus", "vocab", "{i}/s.txt", "-o", "v.txt"), "v.txt"),
    "corpus tokenize": (("corpus", "tokenize", "{i}/s.txt", "-o", "t.txt.gz"), "t.txt.gz"),
    "ngram count": (("ngram", "count", "{i}/s.txt", "-o", "c.txt"), "c.txt"),
    "ngram build": (("ngram", "build", "{i}/s.txt", "-o", "m.arpa"), "m.arpa"),
    "ngram prune": (("ngram", "prune", "{i}/m.arpa", "-o", "p.arpa", "--threshold", "1e-6"),
                    "p.arpa"),
    "ngram mix": (("ngram", "mix", "{i}/m.arpa", "{i}/m.arpa", "--lambda", "0.6", "-o",
                   "x.arpa.gz"), "x.arpa.gz"),
    "ngram filter": (("ngram", "filter", "{i}/m.arpa", "--vocab", "{i}/v.txt", "-o", "f.arpa"),
                     "f.arpa"),
    "ngram convert": (("ngram", "convert", "{i}/m.arpa", "-o", "m.nlpkit"), "m.nlpkit"),
    "embed train": (("embed", "train", "{i}/s.txt", "-o", "e.vec", "--dim", 8, "--epochs", 3,
                     "--min-count", 2), "e.vec"),
    "embed plot": (("embed", "plot", "{i}/e.vec", "the", "lord", "-o", "p.png"), "p.png"),
    "subword train": (("subword", "train", "{i}/s.txt", "-o", "tok.json", "--vocab-size", 200),
                      "tok.json"),
    "subword encode": (("subword", "encode", "{i}/tok.json", "{i}/s.txt", "-o", "ids.txt"),
                       "ids.txt"),
    "subword decode": (("subword", "decode", "{i}/tok.json", "{i}/ids.txt", "-o", "d.txt"),
                       "d.txt"),
    "classify train": (("classify", "train", "{i}/l.tsv", "-o", "c.model", *TRAIN), "c.model"),
    "tag train": (("tag", "train", "{i}/t.conll", "-o", "t.model", *TRAIN), "t.model"),
    "lm train": (("lm", "train", "{i}/s.txt", "-o", "lm.model", *TRAIN), "lm.model"),
    "seq2seq train": (("seq2seq", "train", "{i}/p.tsv", "-o", "s.model", *TRAIN), "s.model"),
}
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
LAST_LINE = {signal.SIGINT: "Aborted.", signal.SIGTERM: "Terminated."}


@pytest.fixture(scope="module")
def server():
    srv = CliServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, server):
    """Small inputs; the outputs of some commands are the inputs of others."""
    root = tmp_path_factory.mktemp("interrupt")
    i = root / "in"
    i.mkdir()
    with gzip.open(CORPORA / "kjv" / "train.txt.gz", "rt") as fh:
        lines = [next(fh) for _ in range(600)]
    (i / "s.txt").write_text("".join(lines[:300]))
    (i / "s2.txt").write_text("".join(lines[300:]))
    with gzip.open(CORPORA / "kjv-genre" / "train.tsv.gz", "rt") as fh:
        (i / "l.tsv").write_text("".join(line for n, line in enumerate(fh) if n % 150 == 0))
    with gzip.open(CORPORA / "kjv-names" / "train.conll.gz", "rt") as fh:
        conll = [next(fh) for _ in range(800)]
    while conll and conll[-1].strip():  # end on a sentence boundary
        conll.pop()
    (i / "t.conll").write_text("".join(conll))
    pairs = [ws for ws in (line.split() for line in lines) if 2 <= len(ws) <= 12][:120]
    (i / "p.tsv").write_text("".join(" ".join(ws) + "\t" + " ".join(reversed(ws)) + "\n"
                                     for ws in pairs))
    for args in (("ngram", "build", "s.txt", "-o", "m.arpa"),
                 ("corpus", "vocab", "s2.txt", "-o", "v.txt"),
                 ("embed", "train", "s.txt", "-o", "e.vec", "--dim", 8, "--epochs", 1,
                  "--min-count", 2),
                 ("subword", "train", "s.txt", "-o", "tok.json", "--vocab-size", 200),
                 ("subword", "encode", "tok.json", "s.txt", "-o", "ids.txt")):
        r = server.run("-q", *args, cwd=i, watch=root)
        assert r.status == 0, (args, r)
    return root


def _args(name, root):
    args, output = COMMANDS[name]
    return [str(a).replace("{i}", str(root / "in")) for a in args], output


def _place(root, name):
    """A fresh folder for one command's runs: ``out`` (its working directory) and ``tmp``
    (its TMPDIR), both watched for leftovers."""
    case = root / name.replace(" ", "-")
    shutil.rmtree(case, ignore_errors=True)
    (case / "out").mkdir(parents=True)
    (case / "tmp").mkdir()
    return case


def _points(baseline):
    """Five points of a run, from its uninterrupted twin: the first input read, mid-work
    (half its progress updates, or a moment), a later moment, the output's temporary file
    opened (the last file opened for writing), and the rename that would publish it."""
    trace = baseline.trace
    first_read = trace["read"][0]
    span = max(trace["rename"][-1] - first_read, 0.01)
    progress = len(trace["progress"])
    last = ("rename", len(trace["rename"]))
    mid = ("progress", max(1, progress // 2)) if progress >= 2 else \
        ("time", 0.3 * span, ("read", 1), last)
    return [("read", 1), mid, ("time", 0.7 * span, ("read", 1), last),
            ("write", len(trace["write"])), last]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_interrupted_or_out_of_room_leaves_nothing_behind(server, inputs, name):
    args, output = _args(name, inputs)
    case = _place(inputs, name)
    env = {"TMPDIR": str(case / "tmp")}
    base = server.run("-q", *args, cwd=case / "out", watch=inputs, env=env)
    assert base.status == 0, base
    size = (case / "out" / output).stat().st_size
    assert base.count("read") and base.count("rename"), base.trace
    (case / "out" / output).unlink()
    assert files_under(case) == {}, "an uninterrupted run left files behind"
    _interrupted(server, inputs, case, env, name, args, output, _points(base))
    _out_of_room(server, inputs, case, env, name, args, output, size)


def _interrupted(server, inputs, case, env, name, args, output, points):
    """Stopped at each point: exit 130 (SIGINT) or 143 (SIGTERM) with one line saying so,
    nothing left; at the last two points a previous output is there and survives."""
    signals = [signal.SIGINT, signal.SIGTERM] * 3
    shift = list(COMMANDS).index(name) % 2
    for k, point in enumerate(points):
        sig = signals[k + shift]
        previous = k >= 3
        if previous:
            (case / "out" / output).write_bytes(b"previous output\n")
        before = files_under(case)
        r = server.run("-q", *args, cwd=case / "out", watch=inputs, env=env, stop=point, sig=sig)
        where = f"{name}: {sig.name} at {point}"
        assert r.status == EXIT[sig], (where, r)
        assert r.err.strip().splitlines()[-1] == LAST_LINE[sig], (where, r)
        assert files_under(case) == before, where
        if previous:
            assert (case / "out" / output).read_bytes() == b"previous output\n", where
            (case / "out" / output).unlink()


def _out_of_room(server, inputs, case, env, name, args, output, size):
    """A file-size limit below the output's size (a full disk, as the writer sees it): one
    line naming the output, exit 1, the previous output intact, no temporary file."""
    (case / "out" / output).write_bytes(b"previous output\n")
    before = files_under(case)
    r = server.run("-q", *args, cwd=case / "out", watch=inputs, env=env, fsize=size // 2)
    lines = r.err.strip().splitlines()
    assert r.status == 1 and len(lines) == 1, (name, r)
    # the file that hit the limit: the output, or the text a training command spills to
    # TMPDIR first (embed train's is larger than half its output)
    named = output in lines[0] or lines[0].startswith(f"Error: {env['TMPDIR']}")
    assert lines[0].startswith("Error: ") and named, (name, lines)
    assert "cannot write (a file grew past the size limit)" in lines[0], (name, lines)
    assert files_under(case) == before, name
    assert (case / "out" / output).read_bytes() == b"previous output\n"


@pytest.mark.parametrize("name", ["lm train", "classify train", "tag train", "seq2seq train"])
def test_resume_after_an_interruption_gives_the_same_model(server, inputs, name):
    """Trained for 3 epochs with --checkpoint, stopped while writing the second checkpoint
    (the first is kept), resumed: the model is, to the bit, the one of an uninterrupted run."""
    import numpy as np

    from nlpkit.models.io import load_model

    args, output = _args(name, inputs)
    args = [a if a != "2" or args[k - 1] != "--epochs" else "3" for k, a in enumerate(args)]
    case = _place(inputs, name)
    env = {"TMPDIR": str(case / "tmp"), "NLPKIT_THREADS": "1"}
    out = case / "out"
    whole = server.run("-q", *args, "-o", "whole.model", cwd=out, watch=inputs, env=env)
    assert whole.status == 0, whole
    ck = ["--checkpoint", "ck.model"]
    # writes counted in the output folder only: training commands also write their spilled
    # text (in TMPDIR, under ``inputs``) before the first checkpoint
    r = server.run("-q", *args, *ck, cwd=out, watch=out, env=env, stop=("write", 2),
                   sig=signal.SIGINT)
    assert r.status == 130, r
    assert sorted(files_under(case)) == ["out/ck.model", "out/whole.model"]
    assert load_model(out / "ck.model").checkpoint_state_["epoch"] == 1
    r = server.run("-q", *args, *ck, "--resume", cwd=out, watch=inputs, env=env)
    assert r.status == 0, r
    a, b = load_model(out / "whole.model"), load_model(out / output)
    assert not hasattr(b, "checkpoint_state_") and b.n_epochs_ == a.n_epochs_ == 3
    assert [h["loss"] for h in b.history_] == [h["loss"] for h in a.history_]
    sa, sb = a.net_.state_dict(), b.net_.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), key
    if name == "lm train":  # other options than the checkpoint's: refused, nothing written
        (out / output).unlink()
        r = server.run("-q", *args, *ck, "--resume", "--lr", "0.1", cwd=out, watch=inputs,
                       env=env)
        assert r.status == 1 and r.err.strip().splitlines() == [
            "Error: NeuralLM: the checkpoint was trained with other parameters (lr); resume "
            "with the same ones"], r
        assert sorted(files_under(case)) == ["out/ck.model", "out/whole.model"]
        r = server.run("-q", *args, "--checkpoint", "whole.model", "--resume", cwd=out,
                       watch=inputs, env=env)  # a model, not a checkpoint
        assert r.status == 1 and r.err.strip().splitlines() == [
            "Error: NeuralLM: the model to resume from is not a NeuralLM checkpoint"], r


def test_resume_needs_a_checkpoint(server, inputs):
    args, output = _args("lm train", inputs)
    case = _place(inputs, "lm train")
    for extra, message in ((["--resume"], "--resume needs --checkpoint FILE"),
                           (["--resume", "--checkpoint", "no.model"],
                            "no.model: no checkpoint to resume from")):
        r = server.run("-q", *args, *extra, cwd=case / "out", watch=inputs)
        assert r.status == 1 and r.err.strip().startswith(f"Error: {message}"), r
        assert len(r.err.strip().splitlines()) == 1, r
    assert files_under(case) == {}


def test_quickstart_interrupted_keeps_only_finished_steps(server, inputs):
    """quickstart -o DIR writes one output after another (minutes in all): stopped at five
    points of its first two, it leaves the outputs of the steps that finished, whole, and
    nothing else (no partial output, no temporary file)."""
    from nlpkit.text import Vocabulary

    case = _place(inputs, "quickstart")
    env = {"TMPDIR": str(case / "tmp")}
    vocab = "out/qs/kjv.vocab"
    points = [(("write", 1), set()), (("rename", 1), set()), (("write", 2), {vocab}),
              (("time", 1.0, ("rename", 1), ("rename", 2)), {vocab}), (("rename", 2), {vocab})]
    for k, (point, left) in enumerate(points):
        sig = [signal.SIGINT, signal.SIGTERM][k % 2]
        shutil.rmtree(case / "out" / "qs", ignore_errors=True)
        # (events counted in the output folder: the outputs' writes and renames, not the
        # probe of TMPDIR that tempfile makes when the compiling process's folder is made)
        r = server.run("-q", "quickstart", "-o", "qs", cwd=case / "out", watch=case / "out",
                       env=env, stop=point, sig=sig)
        where = f"quickstart: {sig.name} at {point}"
        assert r.status == EXIT[sig], (where, r)
        assert r.err.strip().splitlines()[-1] == LAST_LINE[sig], (where, r)
        assert set(files_under(case)) == left, where
        if left:
            assert len(Vocabulary.load(case / vocab)) == 12678, where
