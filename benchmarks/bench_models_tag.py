"""Sequence tagging on kjv-names (tag NAME vs O): nlpkit's SequenceTagger (BiLSTM with a
character CNN) against the most-frequent-tag baseline, same data.

NAME F1 on the test split (token level) and training wall time.  Acceptance:
NAME F1 at least 0.92 (the most-frequent-tag baseline scores 0.874).

BLAS is not set here: the estimators run it on one thread themselves (see
``nlpkit.backend.blas_threads``), so these are the figures users get.

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        /work/venv/bin/python benchmarks/bench_models_tag.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--char-dim", type=int, default=16)
    ap.add_argument(
        "--subset", type=int, default=None, help="Train on this many verses only (quick runs)."
    )
    args = ap.parse_args()

    from sklearn.metrics import f1_score

    from nlpkit import corpora
    from nlpkit.models import SequenceTagger

    X, y = corpora.load("kjv-names", "train")
    Xt, yt = corpora.load("kjv-names", "test")
    if args.subset:
        X, y = X[: args.subset], y[: args.subset]
    gold = [t for s in yt for t in s]
    rows = []

    t0 = time.perf_counter()
    counts = defaultdict(Counter)
    for toks, tags in zip(X, y):
        for w, t in zip(toks, tags):
            counts[w][t] += 1
    best = {w: c.most_common(1)[0][0] for w, c in counts.items()}
    pred = [best.get(w, "O") for s in Xt for w in s]
    rows.append(
        (
            "most frequent tag per word (unseen: O)",
            f1_score(gold, pred, pos_label="NAME"),
            sum(p == g for p, g in zip(pred, gold)) / len(gold),
            time.perf_counter() - t0,
        )
    )

    t0 = time.perf_counter()
    tagger = SequenceTagger(
        embedding_dim=100,
        hidden_size=128,
        char_dim=args.char_dim,
        char_filters=50,
        max_epochs=args.epochs,
        lr=3e-3,
        validation_fraction=0.05,
        n_iter_no_change=2,
        random_state=0,
        n_jobs=args.threads,
        verbose=1,
    ).fit(X, y)
    t = time.perf_counter() - t0
    rep = tagger.report(Xt, yt)
    rows.append(
        (
            f"nlpkit SequenceTagger BiLSTM + char CNN, {tagger.n_epochs_} epochs",
            rep["NAME"]["f1"],
            rep["accuracy"],
            t,
        )
    )

    print(f"\n# {machine()}; threads={args.threads}; train {len(X)} verses, test {len(Xt)}")
    print("| model | NAME F1 | token accuracy | train s |")
    print("|---|---|---|---|")
    for name, f1, acc, t in rows:
        print(f"| {name} | {f1:.3f} | {acc:.4f} | {t:.0f} |")


if __name__ == "__main__":
    main()
