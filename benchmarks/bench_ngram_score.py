"""Loading and scoring n-gram models: nlpkit beside the ``kenlm`` Python module.

Measures, on the same files in one run (medians of ``--repeat`` runs):

* ARPA load time (runs in turns) and the peak memory of a process that loads
  the file: ``nlpkit.ngram.load`` vs ``kenlm.Model`` on lmplz.kn5 (69 MB
  uncompressed) and on a ~150 MB ARPA file (a Kneser-Ney 5-gram built by nlpkit
  from KJV train plus two partly renamed copies, see :func:`big_arpa`; cached
  under the temp dir);
* with ``--memory``, only the peak RSS of fresh processes loading that file
  (and scoring one sentence), nlpkit's next to kenlm's, and of the baselines
  (imports, and nlpkit's kernels loaded on a tiny model): a minute, no timing;
* binary load time (``.nlpkit``) for the same models;
* batch scoring throughput: nlpkit's one-call corpus scorer (1 thread and all
  threads) vs ``kenlm.Model.score`` called per sentence from Python.

Run as users do:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_ngram_score.py
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KJV = ROOT / "tests" / "data" / "ngram" / "kjv"


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved_times(fn_a, fn_b, repeat):
    """Median times of ``fn_a`` and ``fn_b`` run in turns (fair to both on a busy machine)."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(median_time(fn_a, 1))
        tb.append(median_time(fn_b, 1))
    return statistics.median(ta), statistics.median(tb)


def load_rss(code: str) -> float:
    """Peak RSS (MB) of a fresh interpreter running ``code`` (imports included)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import peak_rss_mb
    return peak_rss_mb([sys.executable, "-c", code])[1]


def plain_copy(src: Path, dst: Path) -> Path:
    if not dst.exists():
        with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
    return dst


def big_arpa(cache: Path, copies: int = 3) -> Path:
    """A ~150 MB Kneser-Ney 5-gram ARPA (no pruning), built by nlpkit as lmplz would: KJV
    train, then ``copies - 1`` copies of it in which each token outside the 200 most
    frequent words is renamed ``word_k`` with probability 1/2 (so n-grams multiply while
    the count statistics stay those of text; plain renamed copies make the 5-gram
    discounts out of range).  Cached under the temp dir."""
    path = cache / f"kjv-x{copies}.kn5.arpa"
    if path.exists():
        return path
    import collections

    from nlpkit.ngram import build
    from nlpkit.text import iter_lines
    lines = list(iter_lines(KJV / "train.txt.gz"))
    counts = collections.Counter(w for s in lines for w in s.split())
    frequent = {w for w, _ in counts.most_common(200)}
    rng = np.random.default_rng(0)
    text = list(lines)
    for k in range(1, copies):
        for s in lines:
            toks = s.split()
            flip = rng.random(len(toks)) < 0.5
            text.append(" ".join(f"{w}_{k}" if f and w not in frequent else w
                                 for w, f in zip(toks, flip)))
    build(text, 5, smoothing="kn", output=str(path))
    return path


def memory_figures(path: Path, tiny: Path) -> list[tuple]:
    """Peak RSS of fresh processes: loading ``path`` as ``nlpkit ngram ppl`` does (the
    loader, then one sentence scored), ``kenlm.Model`` doing the same, and the baselines
    (the interpreter with nlpkit + Numba and its loading and scoring kernels, on the tiny
    model ``tiny``; the interpreter with the kenlm module)."""
    nl = ("from nlpkit.ngram.formats import binary; "
          "s = binary.load({!r}); s.score('in the beginning')")
    kl = "import kenlm; m = kenlm.Model({!r}); m.score('in the beginning')"
    base_nl = load_rss(nl.format(str(tiny)))
    base_kl = load_rss("import kenlm")
    rss_nl = load_rss(nl.format(str(path)))
    rss_kl = load_rss(kl.format(str(path)))
    size = f"{path.stat().st_size / 1e6:.0f} MB"
    return [
        (f"peak RSS, load ARPA ({size}) + score", f"{rss_nl:.0f} MB", f"{rss_kl:.0f} MB",
         f"{rss_nl / rss_kl:.2f}x (nlpkit / kenlm)"),
        ("peak RSS, baseline (imports; nlpkit: its kernels loaded on a tiny model)",
         f"{base_nl:.0f} MB", f"{base_kl:.0f} MB", "-"),
        (f"peak RSS above the baseline, ARPA ({size})", f"{rss_nl - base_nl:.0f} MB",
         f"{rss_kl - base_kl:.0f} MB", f"{(rss_nl - base_nl) / (rss_kl - base_kl):.2f}x"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-big", action="store_true", help="skip the ~150 MB ARPA file")
    ap.add_argument("--memory", action="store_true",
                    help="only the peak-RSS figures of loading the ~150 MB ARPA file")
    args = ap.parse_args()

    import kenlm

    from nlpkit.ngram.formats import binary
    from nlpkit.text import iter_lines

    cache = Path(tempfile.gettempdir()) / "nlpkit-bench-ngram"
    cache.mkdir(exist_ok=True)
    if args.memory:
        rows = memory_figures(big_arpa(cache), KJV.parent / "toy" / "toy1.vocab.arpa")
        print("| task | nlpkit | kenlm | ratio |")
        print("| --- | --- | --- | --- |")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    files = {"lmplz.kn5 (69 MB)": plain_copy(KJV / "lmplz.kn5.arpa.gz", cache / "lmplz.kn5.arpa")}
    if not args.no_big:
        p = big_arpa(cache)
        files[f"KJV 5-gram ({p.stat().st_size / 1e6:.0f} MB)"] = p

    threads = numba.get_num_threads()
    print(f"# n-gram loading and scoring ({threads} threads, python {sys.version.split()[0]}, "
          f"kenlm module)\n")
    rows = []
    binary.load(files["lmplz.kn5 (69 MB)"])  # compile / load the kernel caches once
    for label, path in files.items():
        t_nl, t_kl = interleaved_times(lambda: binary.load(path), lambda: kenlm.Model(str(path)),
                                       args.repeat)
        bpath = cache / (path.stem + ".nlpkit")
        binary.save(binary.load(path), bpath)
        t_bin = median_time(lambda: binary.load(bpath), args.repeat)
        rss_nl = load_rss(f"from nlpkit.ngram import binary; binary.load({str(path)!r})")
        rss_kl = load_rss(f"import kenlm; kenlm.Model({str(path)!r})")
        rows.append((f"load ARPA {label}", f"{t_nl:.2f} s", f"{t_kl:.2f} s", f"{t_kl / t_nl:.2f}x"))
        rows.append((f"peak RSS of a process loading ARPA {label}", f"{rss_nl:.0f} MB",
                     f"{rss_kl:.0f} MB", "-"))
        rows.append((f"load binary {label}", f"{t_bin:.3f} s", f"{t_kl:.2f} s (ARPA)",
                     f"{t_kl / t_bin:.0f}x"))

    # scoring: KJV train (x4) with a 3-gram (SRILM gt3) and the 5-gram (lmplz kn5) model
    lines = list(iter_lines(KJV / "train.txt.gz")) * 4
    models = {"3-gram": plain_copy(KJV / "srilm.gt3.arpa.gz", cache / "srilm.gt3.arpa"),
              "5-gram": files["lmplz.kn5 (69 MB)"]}
    for label, path in models.items():
        scorer = binary.load(path)
        km = kenlm.Model(str(path))
        ids, offsets, _ = scorer.encode(lines)
        n_tok = int(ids.shape[0]) + len(lines)  # words + </s>, as both score them
        scorer.sentence_scores(ids[:offsets[10]], offsets[:11])  # warm up
        t_all = median_time(lambda: scorer.sentence_scores(ids, offsets), args.repeat)
        t_one = median_time(lambda: scorer.sentence_scores(ids, offsets, n_jobs=1), args.repeat)
        score = km.score
        t_kl = median_time(lambda: [score(s) for s in lines], max(1, args.repeat - 1))
        ours = scorer.sentence_scores(ids, offsets)[0][:200]
        theirs = np.array([score(s) for s in lines[:200]])
        assert np.abs(ours - theirs).max() < 1e-4
        for th, t in ((threads, t_all), (1, t_one)):
            rows.append((f"score {label}, {n_tok / 1e6:.1f}M tokens, {th} thread(s)",
                         f"{n_tok / t / 1e6:.1f}M tok/s", f"{n_tok / t_kl / 1e6:.1f}M tok/s (1 thread)",
                         f"{t_kl / t:.1f}x"))
    t_enc = median_time(lambda: scorer.encode(lines), 1)
    rows.append(("encode text to ids (Python dict)", f"{n_tok / t_enc / 1e6:.1f}M tok/s", "-", "-"))

    print("| task | nlpkit | kenlm | kenlm time / nlpkit time |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
