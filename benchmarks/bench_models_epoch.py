"""Seconds per training epoch of every neural estimator, wall and CPU, and the same in
another checkout of nlpkit (``--compare DIR``, e.g. the commit before a change) run
alternately with it, so that load from other processes falls on both alike.

Each run is a fresh process that fits one estimator for ``--epochs`` epochs on a fixed
subset (early stopping off, default sizes, ``n_jobs`` threads; the estimators set BLAS to
one thread themselves) and reports the last epoch (the first one compiles the kernels).
Figures are medians over ``--repeats`` runs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models_epoch.py \\
        [--compare /path/to/other/checkout] [--only lstm-clf s2s-additive] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (estimator, constructor arguments, data)
CASES = {
    "cnn-clf": ("TextClassifier", dict(encoder="cnn"), "classify"),
    "lstm-clf": ("TextClassifier", dict(encoder="lstm"), "classify"),
    "gru-clf": ("TextClassifier", dict(encoder="gru"), "classify"),
    "bilstm-clf": ("TextClassifier", dict(encoder="bilstm"), "classify"),
    "transformer-clf": ("TextClassifier", dict(encoder="transformer"), "classify"),
    "bilstm-tagger": ("SequenceTagger", dict(char_dim=16), "tag"),
    "lstm-lm": ("NeuralLM", dict(cell="lstm"), "lm"),
    "gru-lm": ("NeuralLM", dict(cell="gru"), "lm"),
    "rnn-lm": ("NeuralLM", dict(cell="rnn"), "lm"),
    "transformer-lm": ("NeuralLM", dict(cell="transformer"), "lm"),
    "s2s-dot": ("Seq2Seq", dict(attention="dot"), "seq2seq"),
    "s2s-additive": ("Seq2Seq", dict(attention="additive"), "seq2seq"),
    "s2s-transformer": ("Seq2Seq", dict(encoder="transformer"), "seq2seq"),
}
SIZES = dict(classify=4000, tag=3000, lm=3000, seq2seq=4000)


def data(kind):
    import numpy as np

    import nlpkit

    n = SIZES[kind]
    if kind == "classify":
        texts, labels = nlpkit.corpora.load("kjv-genre")
        step = len(texts) // n  # the file is sorted by genre: take every step-th verse
        return (texts[::step][:n], labels[::step][:n])
    if kind == "tag":
        sents, tags = nlpkit.corpora.load("kjv-names")
        return (sents[:n], tags[:n])
    if kind == "lm":
        return (nlpkit.corpora.load("kjv")[:n],)
    rng = np.random.default_rng(0)  # reverse sequences of digits
    src = [[str(v) for v in rng.integers(0, 10, rng.integers(3, 11))] for _ in range(n)]
    return (src, [s[::-1] for s in src])


def child(name, epochs, threads):
    """One fit in this process; prints JSON with the last epoch's wall and CPU seconds."""
    import time

    import nlpkit

    cls, kwargs, kind = CASES[name]
    est = getattr(nlpkit, cls)(max_epochs=epochs, early_stopping=False, random_state=0,
                               n_jobs=threads, **kwargs)
    marks = []

    def callback(info):
        if info["event"] == "epoch":
            marks.append((time.perf_counter(), time.process_time()))

    args = data(kind)
    marks.append((time.perf_counter(), time.process_time()))
    est.fit(*args, callback=callback)
    (w0, c0), (w1, c1) = marks[-2], marks[-1]
    print(json.dumps({"wall": w1 - w0, "cpu": c1 - c0}))


def run(tree, name, epochs, threads):
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name,
                          "--epochs", str(epochs), "--threads", str(threads)],
                         env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", help="another nlpkit checkout, run alternately")
    ap.add_argument("--only", nargs="*", choices=sorted(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.epochs, args.threads)
        return
    trees = [os.path.dirname(HERE)] + ([os.path.abspath(args.compare)] if args.compare else [])
    print(f"# load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"# last of {args.epochs} epochs, {args.threads} threads, median of {args.repeats}; "
          f"this checkout: {trees[0]}" + (f"; compared: {trees[1]}" if args.compare else ""))
    head = "| estimator | wall s | CPU s |" + (" other wall s | other CPU s | wall ratio | "
                                               "CPU ratio |" if args.compare else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name in args.only or list(CASES):
        results = [[] for _ in trees]
        for _ in range(args.repeats):
            for tree, res in zip(trees, results):
                res.append(run(tree, name, args.epochs, args.threads))
        med = [(statistics.median(r["wall"] for r in res), statistics.median(r["cpu"] for r in res))
               for res in results]
        row = f"| {name} | {med[0][0]:.2f} | {med[0][1]:.2f} |"
        if args.compare:
            row += (f" {med[1][0]:.2f} | {med[1][1]:.2f} | {med[0][0] / med[1][0]:.2f} | "
                    f"{med[0][1] / med[1][1]:.2f} |")
        print(row, flush=True)
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
