"""N-gram builds on a Dask cluster: the same model, byte for byte, as one process.

One local cluster of two worker processes (one thread each) serves the module; the
corpus is cut into many small byte ranges so that vocabularies and runs from several
ranges and both workers meet.  One test starts a scheduler and two workers from the
shell, as a user would, and builds through the CLI.
"""
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc

import distributed  # the test extra installs it (dask[distributed])
import pytest
from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli
from nlpkit.errors import InputFileError, NlpkitError
from nlpkit.ngram import build, count
from nlpkit.ngram.distributed import counting
from nlpkit.ngram.lm import NGramLM

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    """Ranges of 16 KB: a few hundred lines each, dozens per corpus."""
    monkeypatch.setattr(counting, "MIN_RANGE", 16 << 10)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """2500 KJV verses in three files (the last one 500 lines), and all of them in one."""
    d = tmp_path_factory.mktemp("kjv")
    with gzip.open(corpora.path("kjv", "train"), "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(2500)]
    parts = [lines[:1200], lines[1200:2000], lines[2000:]]
    paths = []
    for i, part in enumerate(parts):
        p = d / f"part{i}.txt"
        p.write_text("".join(part), encoding="utf-8")
        paths.append(p)
    whole = d / "whole.txt"
    whole.write_text("".join(lines), encoding="utf-8")
    return whole, paths


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 1000])
def test_byte_ranges_hold_every_line_once(tmp_path, step):
    """Ranges cut anywhere (inside lines, at line ends, inside CRLF, past the end) give back
    the file's lines, each once, in order; a file without a last newline included."""
    from nlpkit.ngram.reading.ranges import ByteRange, split_files
    text = b"a b\n\nlong line " + b"x" * 150 + b"\r\nc\n\n\nd e f\r\ng"
    f = tmp_path / "t.txt"
    f.write_bytes(text)
    ranges = split_files([(str(f), len(text))], step)
    assert len(ranges) == -(-len(text) // step)
    got = [blk for r in ranges for blk in r.blocks(5)]
    assert b"".join(got) == text
    assert all(b.endswith(b"\n") for b in got[:-1])
    assert b"".join(ByteRange(str(f), 3, 10 ** 6).blocks(1 << 20)) == text[4:]


def _single(tmp_path, source, order, smoothing, **kw):
    out = tmp_path / f"single-{smoothing}{order}.arpa"
    build(source, order, smoothing, output=out, **kw)
    return out.read_bytes()


@pytest.mark.parametrize("smoothing,order", [("katz", 3), ("katz", 5), ("kn", 3), ("kn", 5),
                                             ("stupid", 4)])
def test_local_cluster_builds_the_same_arpa(tmp_path, client, corpus, smoothing, order):
    whole, _ = corpus
    out = tmp_path / "dist.arpa"
    build(whole, order, smoothing, output=out, scheduler=client)
    got = out.read_bytes()
    assert got == _single(tmp_path, whole, order, smoothing)
    assert got.count(b"\n") > 1000


def test_several_files_and_a_glob_are_the_corpus_in_order(tmp_path, client, corpus):
    whole, paths = corpus
    want = _single(tmp_path, whole, 3, "katz")
    out = tmp_path / "files.arpa"
    build([str(p) for p in paths], 3, "katz", output=out, scheduler=client)
    assert out.read_bytes() == want
    build(str(paths[0].parent / "part*.txt"), 3, "katz", output=out, scheduler=client)
    assert out.read_bytes() == want
    # a compressed file is one range, read whole
    gz = paths[0].parent / "part0.txt.gz"
    gz.write_bytes(gzip.compress(paths[0].read_bytes()))
    build([str(gz), str(paths[1]), str(paths[2])], 3, "katz", output=out, scheduler=client)
    assert out.read_bytes() == want
    gz.unlink()
    # (a different order of the same files is a different corpus: other first positions)
    build([str(p) for p in paths[::-1]], 3, "kn", output=out, scheduler=client)
    assert out.read_bytes() != _single(tmp_path, whole, 3, "kn")


def test_counts_spilled_runs_closed_vocab_and_the_estimator(tmp_path, client, corpus):
    whole, _ = corpus
    a, b = tmp_path / "a.counts", tmp_path / "b.counts"
    count(whole, 3, output=a)
    count(whole, 3, output=b, scheduler=client)
    assert a.read_bytes() == b.read_bytes()
    one, many = count(whole, 2), count(whole, 2, scheduler=client)
    assert one.vocab == many.vocab and len(one.vocab) > 1000
    for x, y in zip(one.count + one.word, many.count + many.word):
        assert x.tolist() == y.tolist()
    # a closed vocabulary, and a client whose memory plan spills the runs to disk
    vocab = ["the", "and", "of", "LORD", "God", "said", "unto"]
    want = _single(tmp_path, whole, 3, "katz", vocab=vocab)
    out = tmp_path / "v.arpa"
    build(whole, 3, "katz", vocab=vocab, output=out, scheduler=client, memory="6M",
          temp_dir=tmp_path)
    assert out.read_bytes() == want
    assert sorted(os.listdir(tmp_path)) == ["a.counts", "b.counts", "single-katz3.arpa", "v.arpa"]
    NGramLM(order=3, smoothing="kn", scheduler=client).fit(whole).to_arpa(a)
    NGramLM(order=3, smoothing="kn").fit(whole).to_arpa(b)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(NlpkitError, match="not sentences"):
        NGramLM(scheduler=client).fit(["a sentence"])


def _kill_once(marker, prefix="nlpkit-count-"):
    """A worker plugin: the first task whose key starts with ``prefix`` to start (over all
    workers: the marker file says it happened) kills its worker process."""

    class KillOnce(distributed.WorkerPlugin):
        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and str(key).startswith(prefix):
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return
                os.kill(os.getpid(), signal.SIGKILL)

    return KillOnce()


@pytest.mark.parametrize("stage,smoothing,error", [
    ("nlpkit-count-", "kn", r"nlpkit-count-"),  # the nanny brings the killed worker back
    ("nlpkit-estimate-", "katz", r"nlpkit-"),  # Dask runs the lost partitions again
])
def test_a_killed_worker_gives_the_same_model_or_one_error(tmp_path, client, corpus, stage,
                                                            smoothing, error):
    """A worker is killed as a counting (or an estimation) task starts: Dask runs it again
    on another worker and the model is the same.  When no retry is allowed, the build fails
    with one error and writes nothing."""
    whole, _ = corpus
    out = tmp_path / "k.arpa"
    scheduler = client.cluster.scheduler  # (a LocalCluster's scheduler runs in this process)
    allowed = scheduler.allowed_failures
    for retries in (allowed, 0):
        marker = str(tmp_path / f"killed-{retries}")
        scheduler.allowed_failures = retries
        client.register_plugin(_kill_once(marker, stage), name="kill-once")
        try:
            if retries:
                build(whole, 3, smoothing, output=out, scheduler=client)
            else:
                with pytest.raises(NlpkitError, match=r"Dask workers died running task "
                                                      + error + r".*no model was written"):
                    build(whole, 3, smoothing, output=tmp_path / "none.arpa", scheduler=client)
        finally:
            scheduler.allowed_failures = allowed
            client.unregister_worker_plugin("kill-once")
            client.wait_for_workers(2, timeout=60)
        assert os.path.exists(marker)  # a worker was killed
    assert out.read_bytes() == _single(tmp_path, whole, 3, smoothing)
    assert not (tmp_path / "none.arpa").exists()


@pytest.mark.parametrize("smoothing,order", [("katz", 5), ("stupid", 5), ("kn", 5)])
def test_estimation_runs_on_the_workers(tmp_path, client, corpus, monkeypatch, smoothing,
                                        order):
    """Models written to ARPA: the estimation and the formatting run on the workers (the
    scheduler's task stream shows them there), the client never gathers the n-gram
    tables, and its peak memory is well below that of the same build estimating on the
    client (the workers made to decline, as for Katz's fixups)."""
    from nlpkit.ngram import pipeline
    from nlpkit.ngram.distributed import estimation
    whole, _ = corpus
    want = _single(tmp_path, whole, order, smoothing)
    out = tmp_path / "w.arpa"
    with distributed.get_task_stream(client) as stream:
        build(whole, order, smoothing, output=out, scheduler=client)
    assert out.read_bytes() == want
    ran = {}
    for task in stream.data:
        kind = str(task["key"]).split("-")[1]
        ran.setdefault(kind, set()).add(task["worker"])
    workers = set(client.scheduler_info()["workers"])
    for kind in ("estimate", "shuffle", "arpa"):
        assert ran.get(kind) and ran[kind] <= workers, (kind, ran)

    peaks = []
    on_workers = pipeline.on_workers

    def measured(*args, **kwargs):
        tracemalloc.start()
        try:
            return on_workers(*args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(pipeline, "on_workers", measured)
    gather = counting.gather_tables

    def no_gathering(*args, **kwargs):
        raise AssertionError("the n-gram tables were brought to the client")

    monkeypatch.setattr(counting, "gather_tables", no_gathering)
    out.unlink()
    build(whole, order, smoothing, output=out, scheduler=client)
    assert out.read_bytes() == want
    # the same build with the estimation on the client
    monkeypatch.setattr(counting, "gather_tables", gather)
    monkeypatch.setattr(estimation, f"write_{smoothing}", lambda *a, **k: None)
    out.unlink()
    build(whole, order, smoothing, output=out, scheduler=client)
    assert out.read_bytes() == want
    # (the LocalCluster's scheduler, in this process, takes its share of both: about 2 MB)
    assert len(peaks) == 2 and peaks[0] < peaks[1] / 2, peaks


def test_katz_fixups_are_estimated_on_the_client(tmp_path, client, corpus):
    """``<s>`` inside lines makes context nodes without a probability, which SRILM's fixups
    give one by looking single n-grams up: the workers say so, and the client estimates
    from the gathered tables; the model is the same."""
    whole, _ = corpus
    lines = whole.read_text(encoding="utf-8").splitlines()
    marked = tmp_path / "marked.txt"
    marked.write_text("".join(" ".join(w[:2] + ["<s>"] + w[2:]) + "\n" if i % 7 == 0 else
                              " ".join(w) + "\n" for i, w in enumerate(map(str.split, lines))),
                      encoding="utf-8")
    out = tmp_path / "f.arpa"
    build(marked, 4, "katz", output=out, scheduler=client)
    assert out.read_bytes() == _single(tmp_path, marked, 4, "katz")


def test_partitions_without_rows_and_pruned_kn(tmp_path, client, corpus):
    """A corpus of four lines leaves partitions (and orders of them) empty; pruned KN is
    estimated on the client; the files are the same as one process's."""
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a b c\nb c d e\n\nc a\n", encoding="utf-8")
    out = tmp_path / "t.arpa"
    for smoothing, order, kw in [("kn", 5, {"discount_fallback": True}), ("katz", 3, {}),
                                 ("stupid", 4, {})]:
        build(tiny, order, smoothing, output=out, scheduler=client, **kw)
        assert out.read_bytes() == _single(tmp_path, tiny, order, smoothing, **kw)
    with pytest.raises(NlpkitError, match="discount fallback"):
        build(tiny, 3, "kn", output=tmp_path / "none.arpa", scheduler=client)
    assert not (tmp_path / "none.arpa").exists()
    whole, _ = corpus
    build(whole, 3, "kn", prune=[0, 1], output=out, scheduler=client)
    assert out.read_bytes() == _single(tmp_path, whole, 3, "kn", prune=[0, 1])


def test_worker_memory_is_shared_by_the_threads_of_a_host(client, monkeypatch):
    """Each task's budget is --memory divided by the worker threads of the most crowded
    host (here the two local workers)."""
    from nlpkit.ngram.distributed import tasks
    client.wait_for_workers(2, timeout=60)  # (a worker killed by a test before may be back)
    deadline = time.monotonic() + 60
    while len(client.scheduler_info()["workers"]) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counting.threads_per_host(client) == 2
    seen = []

    class Spy(Exception):
        pass

    def plan(memory, temp_dir, order):
        seen.append(memory)
        raise Spy

    monkeypatch.setattr("nlpkit.ngram.plan.Plan", plan)
    with pytest.raises(Spy):
        tasks.range_counts(None, "katz", [], 0, 3, 0, 0, [0, 0], memory="8M", share=2)
    assert seen == [4 << 20]


def test_files_the_workers_cannot_read(tmp_path, client, corpus):
    missing = tmp_path / "no" / "such.txt"
    with pytest.raises(InputFileError, match=r"such\.txt: no such file \(on the Dask worker"):
        build(missing, 3, output=tmp_path / "m.arpa", scheduler=client)
    with pytest.raises(InputFileError, match=r"nothing\*\.txt: no file matches"):
        build(str(tmp_path / "nothing*.txt"), 3, scheduler=client)
    with pytest.raises(InputFileError, match="is a directory"):
        build(tmp_path, 3, scheduler=client)
    with pytest.raises(NlpkitError, match="reads files"):
        build(["a sentence", ["token", "list"]], 3, scheduler=client)
    assert os.listdir(tmp_path) == []


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _main(*args, env=None):
    return subprocess.run([sys.executable, "-c", "from nlpkit.cli.main import main; main()",
                           *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def _one_error_line(res):
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


def test_cli_errors_are_one_line(tmp_path, corpus):
    whole, _ = corpus
    out = tmp_path / "m.arpa"
    address = f"tcp://127.0.0.1:{_free_port()}"
    line = _one_error_line(_main("ngram", "build", whole, "-o", out, "--scheduler", address,
                                 env={"NLPKIT_DASK_TIMEOUT": "2"}))
    assert f"cannot reach the Dask scheduler at {address}" in line
    line = _one_error_line(_main("ngram", "count", tmp_path / "nope.txt", "-o", out,
                                 "--scheduler", "local:1"))
    assert "nope.txt: no such file" in line
    # without Dask: one line saying what to install
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "distributed.py").write_text("raise ImportError('no distributed here')\n")
    line = _one_error_line(_main("ngram", "build", whole, "-o", out, "--scheduler", "local:1",
                                 env={"PYTHONPATH": os.pathsep.join(
                                     [str(hide), os.environ.get("PYTHONPATH", REPO)])}))
    assert line.endswith("install nlpkit[distributed]")
    assert sorted(os.listdir(tmp_path)) == ["hide"]


def _dask(command):
    """The ``dask`` command of this environment (the module behind it if not installed)."""
    exe = os.path.join(os.path.dirname(sys.executable), "dask")
    if os.path.exists(exe):
        return [exe, command]
    return [sys.executable, "-m", f"distributed.cli.dask_{command}"]


def test_scheduler_and_workers_started_from_the_shell(tmp_path, corpus):
    """``dask scheduler`` and two ``dask worker`` processes, and the CLI pointed at them."""
    whole, paths = corpus
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in [REPO, os.environ.get("PYTHONPATH")] if p)}
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(_dask("scheduler") + [
                               "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                               "--scheduler-file", str(sched_file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                _dask("worker") + [address, "--nthreads", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        out = tmp_path / "shell.arpa"
        res = CliRunner().invoke(cli, ["--quiet", "ngram", "build", str(whole), "-o", str(out),
                                       "--smoothing", "kn", "--order", "4", "--scheduler",
                                       address], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert out.read_bytes() == _single(tmp_path, whole, 4, "kn")
        counts = tmp_path / "shell.counts"
        res = CliRunner().invoke(cli, ["--quiet", "ngram", "count", str(paths[0].parent /
                                                                       "part*.txt"),
                                       "-o", str(counts), "--scheduler", address],
                                 catch_exceptions=False)
        assert res.exit_code == 0, res.output
        count(whole, 3, output=tmp_path / "single.counts")
        assert counts.read_bytes() == (tmp_path / "single.counts").read_bytes()
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs[::-1]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
