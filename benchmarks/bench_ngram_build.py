"""Benchmark: build a 3-gram Good-Turing/Katz ARPA file end to end from a ~6M-token corpus.

The corpus is the bundled KJV training text repeated 7 times (5.4M words +
0.2M sentence ends; 6.0M counting SRILM's ``</s>``) in a temporary plain-text file.
Each tool runs as a fresh process, as users run it (interpreter start-up,
imports and Numba's cached kernels included), on 2 threads; wall time is the
median of the repeats and peak memory is the process's maximum resident set
(``os.wait4``).

SRILM ``ngram-count`` and KenLM ``lmplz`` are timed too when they are on PATH;
otherwise the figures measured on the reference 2-core machine are printed
(SRILM 6.9 s / 285 MB, lmplz 5.0 s / 1.07 GB; SRILM's output is the same file
nlpkit writes, lmplz builds a Kneser-Ney model instead).

Run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ngram_build.py
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

PUBLISHED = {"SRILM ngram-count": (6.9, 285, None), "KenLM lmplz": (5.0, 1070, None)}

NLPKIT = """
import sys
from nlpkit.ngram import build
from nlpkit.ngram.formats.arpa_srilm import write_arpa
write_arpa(build(sys.argv[1], 3, n_jobs=2), sys.argv[2])
"""


def run(cmd, stdin=None, env=None):
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one child process."""
    t = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fin:
        p = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def median_run(cmd, repeats, **kw):
    runs = [run(cmd, **kw) for _ in range(repeats)]
    return (statistics.median(r[0] for r in runs), max(r[1] for r in runs),
            statistics.median(r[2] for r in runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from nlpkit import corpora

    with gzip.open(corpora.path("kjv"), "rb") as fh:
        text = fh.read()
    tmp = tempfile.mkdtemp(prefix="bench_ngram_")
    try:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "wb") as fh:
            for _ in range(args.copies):
                fh.write(text)
        words = len(text.split()) * args.copies
        lines = text.count(b"\n") * args.copies
        env = dict(os.environ, NUMBA_NUM_THREADS="2", OMP_NUM_THREADS="2")
        out = os.path.join(tmp, "nlpkit.arpa")
        nl_cmd = [sys.executable, "-c", NLPKIT, corpus, out]
        run(nl_cmd, env=env)  # warm Numba's on-disk cache; not timed
        print(f"corpus: KJV train x{args.copies}: {words:,} words, {lines:,} sentences "
              f"({words + lines:,} tokens with </s>); 2 threads; median of {args.repeats}")
        results = {"nlpkit build_model + write_arpa": median_run(nl_cmd, args.repeats, env=env)}
        peers = {}
        if shutil.which("ngram-count"):
            peers["SRILM ngram-count"] = median_run(
                ["ngram-count", "-order", "3", "-text", corpus,
                 "-lm", os.path.join(tmp, "srilm.arpa")],
                args.repeats)
        if shutil.which("lmplz"):
            peers["KenLM lmplz"] = median_run(
                ["lmplz", "-o", "3", "-T", tmp, "-S", "50%",
                 "--arpa", os.path.join(tmp, "kenlm.arpa")],
                args.repeats, stdin=corpus)
        for name, figures in PUBLISHED.items():
            if name not in peers and args.copies == 7:  # the published runs used this corpus
                peers[name + " (published, not on PATH)"] = figures
        results.update(peers)
        nl_sec = results["nlpkit build_model + write_arpa"][0]
        print()
        # CPU seconds help to read a run on a busy machine: wall time there is
        # inflated by waiting for a core, CPU time much less.
        print("| task | tool | wall s | CPU s | tokens/s | peak RSS MB | nlpkit speed-up |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for name, (sec, mb, cpu) in results.items():
            cpu_s = "-" if cpu is None else f"{cpu:.2f}"
            task = f"3-gram Katz ARPA from {(words + lines) / 1e6:.1f}M tokens"
            print(f"| {task} | {name} | {sec:.2f} | {cpu_s} | {(words + lines) / sec / 1e6:.2f}M | "
                  f"{mb:.0f} | {sec / nl_sec:.2f}x |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
