"""Shared helpers for the benchmark scripts: timing medians, the machine, test corpora."""
from __future__ import annotations

import gzip
import os
import platform
import statistics
import subprocess
import tempfile
import time


def median_time(fn, repeat=5, warmup=1):
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs; also returns the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def machine() -> str:
    """One line describing the machine, for RESULTS.md."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    blas = "OPENBLAS_CORETYPE set" if os.environ.get("OPENBLAS_CORETYPE") else "default OpenBLAS kernel"
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"{blas}")


def kjv_repeated(times: int, directory=None) -> str:
    """A plain-text corpus of the bundled KJV train split repeated ``times`` times (cached in /tmp)."""
    from nlpkit import corpora
    directory = directory or tempfile.gettempdir()
    path = os.path.join(directory, f"nlpkit-bench-kjv-x{times}.txt")
    if not os.path.exists(path):
        with gzip.open(corpora.path("kjv", "train"), "rb") as fh:
            text = fh.read()
        tmp = path + ".tmp"
        with open(tmp, "wb") as out:
            for _ in range(times):
                out.write(text)
        os.replace(tmp, path)
    return path


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` as a child process; return (wall seconds, peak RSS in MB)."""
    wall, _, mb = run_measured(cmd)
    return wall, mb


def run_measured(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd`` as a child process; return (wall seconds, CPU seconds user + system, peak RSS
    in MB), via GNU time if present.  CPU time says more than wall time on a busy machine."""
    t0 = time.perf_counter()
    if os.path.exists("/usr/bin/time"):
        out = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *cmd], capture_output=True,
                             text=True, check=True)
        user, system, kb = out.stderr.strip().splitlines()[-1].split()
        return time.perf_counter() - t0, float(user) + float(system), int(kb) / 1024
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - t0, cpu, after.ru_maxrss / 1024


def bench_corpus(times: int = 8, noise: float = 0.05, directory=None) -> str:
    """About 6M tokens of text with natural-looking counts: the KJV train split ``times``
    times, each copy with a share ``noise`` of its tokens replaced by words drawn from the
    unigram distribution (a plain repetition makes every count a multiple of ``times``,
    which Good-Turing and Kneser-Ney discounting cannot estimate from)."""
    import numpy as np
    from nlpkit import corpora
    from nlpkit.text import Corpus
    directory = directory or tempfile.gettempdir()
    path = os.path.join(directory, f"nlpkit-bench-kjv-x{times}-noise{noise:g}.txt")
    if os.path.exists(path):
        return path
    corpus = Corpus.from_text(corpora.path("kjv", "train"))
    words = np.array(corpus.vocab.itos, dtype=object)
    freq = corpus.vocab.counts / corpus.vocab.counts.sum()
    bounds = corpus.offsets.tolist()
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for copy in range(times):
            rng = np.random.default_rng(copy)
            ids = corpus.ids.copy()
            swap = rng.random(ids.shape[0]) < noise
            ids[swap] = rng.choice(len(words), int(swap.sum()), p=freq)
            toks = words[ids].tolist()
            out.write("\n".join(" ".join(toks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])))
            out.write("\n")
    os.replace(tmp, path)
    return path
