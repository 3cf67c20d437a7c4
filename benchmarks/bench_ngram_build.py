"""Benchmark: 3-gram builds end to end, nlpkit beside KenLM's lmplz and SRILM's ngram-count.

Each build is a fresh process, as users run it: ``nlpkit ngram build`` (Katz and
Kneser-Ney, on ``--threads``), ``lmplz`` (Kneser-Ney) and ``ngram-count`` (Katz), on
the same corpus file, one after another (interleaved, so a busy machine hits all of
them alike).  Reported per run: wall seconds, CPU seconds (user + system), and the
process's peak resident memory (``os.wait4``); medians of ``--repeat`` runs.
nlpkit runs twice more per corpus: in memory (the default) and with ``--memory``
(300M by default, its tables sorted on disk), beside ``lmplz -S`` with the same
memory.  The script checks that the bounded build wrote the same file as the one in
memory, and nlpkit's files against lmplz's and SRILM's.

Numba compiles nlpkit's kernels on first use and caches them on disk: one run of each
nlpkit configuration with an empty cache (``NUMBA_CACHE_DIR``, a fresh directory) is
reported apart ("cold"); the timed runs share a cache that an untimed run of each filled.
lmplz runs in memory with ``-S 2G`` (as in the baseline measurements of issue 16).

Corpora: the bundled KJV (30k verses, 13k word types) and the realistic linux-doc corpus
at K = 1, 4, 16 (issue 16: about 6M, 24M and 100M tokens; K copies of the documentation
text with the rarer words renamed per copy, so types and n-grams grow K-fold): the files
``linuxdoc.x2.txt``, ``linuxdoc.x8.txt`` and ``linuxdoc.x32.txt`` in ``--linuxdoc``
(default ``$NLPKIT_LINUXDOC`` or /work/data/linuxdoc), made from ``linuxdoc.txt`` by
``benchmarks/scale_corpus.py linuxdoc.txt K -o linuxdoc.xK.txt`` (3.1M tokens per copy).
Peers come from the ``LMPLZ`` and ``NGRAM_COUNT`` environment variables (built from
source; see benchmarks/PEERS.md); a missing peer is skipped.

Run (nothing else running; the OpenBLAS variables only slow NumPy's BLAS down):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ngram_build.py \\
        [--corpora kjv k1 k4 k16] [--memory 300M] [--repeat 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import machine

LINUXDOC = {"k1": "linuxdoc.x2.txt", "k4": "linuxdoc.x8.txt", "k16": "linuxdoc.x32.txt"}


def run(cmd, env=None, stdin=None):
    """``(wall s, CPU s, peak RSS MB)`` of one child process; a failure stops the benchmark."""
    t = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fin:
        p = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def tokens_of(path):
    words = lines = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            words += len(block.split())
            lines += block.count(b"\n")
    return words, lines


def kjv_file(tmp):
    sys.path.insert(0, os.path.join(HERE, ".."))
    from nlpkit import corpora
    path = os.path.join(tmp, "kjv.train.txt")
    with gzip.open(corpora.path("kjv", "train"), "rb") as fh, open(path, "wb") as out:
        out.write(fh.read())
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", nargs="+", default=["kjv", "k1", "k4", "k16"],
                    choices=["kjv", "k1", "k4", "k16"])
    ap.add_argument("--linuxdoc", default=os.environ.get("NLPKIT_LINUXDOC", "/work/data/linuxdoc"))
    ap.add_argument("--memory", default="300M", help="nlpkit --memory and lmplz -S for the "
                                                     "bounded runs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--no-memory-runs", action="store_true", help="skip the unbounded runs "
                    "(for the largest corpus, whose in-memory build needs gigabytes)")
    args = ap.parse_args()
    lmplz, ngram_count = os.environ.get("LMPLZ"), os.environ.get("NGRAM_COUNT")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    env["PYTHONPATH"] = os.path.join(HERE, "..") + os.pathsep + env.get("PYTHONPATH", "")
    env["NUMBA_NUM_THREADS"] = str(args.threads)
    tmp = tempfile.mkdtemp(prefix="bench_ngram_build_")
    cache = os.path.join(tmp, "numba-cache")
    env["NUMBA_CACHE_DIR"] = cache
    nlpkit = [sys.executable, "-c", "from nlpkit.cli.main import main; main()", "--quiet",
              "--threads", str(args.threads), "ngram", "build"]
    print(f"# machine: {machine()}")
    print(f"# {args.order}-gram builds, {args.threads} threads, medians of {args.repeat} runs; "
          f"bounded runs: nlpkit --memory {args.memory}, lmplz -S {args.memory}")
    print(f"# lmplz: {lmplz or 'not found (LMPLZ)'}; ngram-count: "
          f"{ngram_count or 'not found (NGRAM_COUNT)'}")
    rows, checks = [], []
    try:
        for name in args.corpora:
            corpus = kjv_file(tmp) if name == "kjv" else os.path.join(args.linuxdoc, LINUXDOC[name])
            if not os.path.exists(corpus):
                print(f"# {name}: {corpus} is missing; make it with benchmarks/scale_corpus.py")
                continue
            words, _ = tokens_of(corpus)
            label = f"{name} ({words / 1e6:.1f}M tokens)"
            out = {k: os.path.join(tmp, f"{name}.{k}.arpa") for k in
                   ("katz", "katz-b", "kn", "kn-b", "lmplz", "lmplz-b", "srilm")}
            temp = os.path.join(tmp, "runs")
            os.makedirs(temp, exist_ok=True)
            jobs = []
            for sm in ("katz", "kn"):
                base = nlpkit + [corpus, "--order", str(args.order), "--smoothing", sm]
                if not args.no_memory_runs:
                    jobs.append((f"nlpkit {sm}", sm, base + ["-o", out[sm]], True))
                jobs.append((f"nlpkit {sm} --memory {args.memory}", sm,
                             base + ["-o", out[sm + "-b"], "--memory", args.memory, "--temp-dir",
                                     temp], True))
            if lmplz:
                lm = [lmplz, "-o", str(args.order), "-T", temp, "--text", corpus]
                if not args.no_memory_runs:
                    jobs.append(("lmplz", "kn", lm + ["-S", "2G", "--arpa", out["lmplz"]], False))
                jobs.append((f"lmplz -S {args.memory}", "kn",
                             lm + ["-S", args.memory, "--arpa", out["lmplz-b"]], False))
            if ngram_count and not args.no_memory_runs:
                jobs.append(("SRILM ngram-count", "katz", [ngram_count, "-order", str(args.order),
                                                           "-text", corpus, "-lm", out["srilm"]],
                             False))
            cold = {}
            for title, sm, cmd, ours in jobs:
                if ours:  # an empty compile cache: the run compiles every kernel it uses
                    fresh = dict(env, NUMBA_CACHE_DIR=tempfile.mkdtemp(dir=tmp))
                    cold[title] = run(cmd, fresh)
                    shutil.rmtree(fresh["NUMBA_CACHE_DIR"], ignore_errors=True)
                    run(cmd, env)  # (fills the shared cache; untimed)
            results = {title: [] for title, *_ in jobs}
            for _ in range(args.repeat):  # interleaved
                for title, sm, cmd, ours in jobs:
                    results[title].append(run(cmd, env))
            lm_wall = (statistics.median(r[0] for r in results["lmplz"])
                       if "lmplz" in results else None)
            for title, sm, cmd, ours in jobs:
                rs = results[title]
                wall = statistics.median(r[0] for r in rs)
                cpu = statistics.median(r[1] for r in rs)
                rss = max(r[2] for r in rs)
                c = cold.get(title)
                rows.append((label, title, sm, wall, cpu, rss,
                             wall / lm_wall if lm_wall else None, c[0] if c else None))
            checks += _checks(name, out, ngram_count is not None, lmplz is not None)
            for k in out.values():
                if os.path.exists(k):
                    os.remove(k)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| corpus | tool | smoothing | wall s | CPU s | peak RSS MB | wall / lmplz | "
          "cold wall s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for label, title, sm, wall, cpu, rss, ratio, cold_wall in rows:
        print(f"| {label} | {title} | {sm} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | "
              f"{'-' if ratio is None else f'{ratio:.2f}x'} | "
              f"{'-' if cold_wall is None else f'{cold_wall:.2f}'} |")
    print()
    for line in checks:
        print(line)


def _checks(name, out, srilm, lmplz):
    def same(a, b):
        if not (os.path.exists(out[a]) and os.path.exists(out[b])):
            return "not run"
        with open(out[a], "rb") as fa, open(out[b], "rb") as fb:
            return "byte-identical" if fa.read() == fb.read() else "DIFFERENT"
    lines = [f"# {name}: nlpkit katz, in memory vs --memory: {same('katz', 'katz-b')}",
             f"# {name}: nlpkit kn, in memory vs --memory: {same('kn', 'kn-b')}"]
    if lmplz:
        lines.append(f"# {name}: nlpkit kn vs lmplz: {same('kn-b', 'lmplz-b')}")
    if srilm:
        lines.append(f"# {name}: nlpkit katz vs SRILM: {same('katz-b', 'srilm')}")
    return lines


if __name__ == "__main__":
    main()
