"""Pretraining then fine-tuning (issue 19) on kjv-genre (8 genres, 27,992 train / 3,110 test
verses): a MaskedLM pretrained on the bundled KJV text with every kjv-genre test verse
removed, then fine-tuned as a TextClassifier, beside the same classifier trained from
scratch (the same transformer encoder, sizes and training, randomly initialised) and
TF-IDF(1-2 grams) + LinearSVC (scikit-learn), in one run, same threads.

The pretraining text is the ``kjv`` corpus (train and test files: every verse) minus every
line equal to a kjv-genre test verse (duplicates of a test verse's text go too), so the
classifier's test verses were never read during pretraining.  Pretraining: BERT's masking
(15%; 80/10/10), a linear warm-up then linear decay over ``--mlm-epochs`` or
``--mlm-max-time``; fine-tuning: AdamW, a warm-up then linear decay, max+mean pooling over
the encoder's outputs.  Acceptance: the fine-tuned classifier's test accuracy above the
classifier's from scratch and at least 0.82 (LinearSVC 0.791; the project's LSTM 0.799).

BLAS is not set here: the estimators run it on one thread themselves (see
``nlpkit.backend.blas_threads``), so these are the figures users get.

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        /work/venv/bin/python benchmarks/bench_models_pretrain.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402


def pretraining_text(test_verses):
    """Every KJV verse (both files of the bundled corpus) except the kjv-genre test verses."""
    from nlpkit import corpora

    held_out = set(test_verses)
    verses = corpora.load("kjv", "train") + corpora.load("kjv", "test")
    return [v for v in verses if v not in held_out], len(verses)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--d", type=int, default=128, help="Model size (embedding_dim).")
    ap.add_argument("--ff", type=int, default=512, help="Feed-forward size.")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--positions", default="learned")
    ap.add_argument("--mlm-epochs", type=int, default=40)
    ap.add_argument("--mlm-max-time", type=float, default=2400.0)
    ap.add_argument("--mlm-lr", type=float, default=1e-3)
    ap.add_argument("--mlm-batch-size", type=int, default=64)
    ap.add_argument("--mlm-warmup", type=int, default=1000)
    ap.add_argument("--clf-epochs", type=int, default=4)
    ap.add_argument("--clf-lr", type=float, default=1e-4)
    ap.add_argument("--clf-scratch-lr", type=float, default=5e-4)
    ap.add_argument("--clf-batch-size", type=int, default=32)
    ap.add_argument("--clf-warmup", type=int, default=200)
    ap.add_argument("--clf-max-time", type=float, default=1200.0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--pooling", default="max+mean")
    ap.add_argument("--model", default=None,
                    help="Use this saved MaskedLM instead of pretraining one.")
    ap.add_argument("--skip-scratch", action="store_true")
    args = ap.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from nlpkit import corpora
    from nlpkit.models import MaskedLM, TextClassifier
    from nlpkit.models.io import save_model

    X, y = corpora.load("kjv-genre", "train")
    Xt, yt = corpora.load("kjv-genre", "test")
    text, n_all = pretraining_text(Xt)
    print(f"# {machine()}; threads={args.threads}; pretraining on {len(text)} of {n_all} KJV "
          f"verses ({n_all - len(text)} equal to a kjv-genre test verse removed); "
          f"kjv-genre train {len(X)}, test {len(Xt)}")
    rows = []

    t0 = time.perf_counter()
    svc = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                        LinearSVC()).fit(X, y)
    rows.append(("TF-IDF(1-2) + LinearSVC (scikit-learn)", svc.score(Xt, yt),
                 time.perf_counter() - t0))
    print(f"done: {rows[-1]}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        t_mlm = 0.0
        if path is None:
            path = os.path.join(tmp, "kjv-mlm.model")
            t0 = time.perf_counter()
            mlm = MaskedLM(
                embedding_dim=args.d, hidden_size=args.ff, num_layers=args.layers,
                nhead=args.heads, dropout=args.dropout, positions=args.positions,
                max_epochs=args.mlm_epochs, max_time=args.mlm_max_time, lr=args.mlm_lr,
                batch_size=args.mlm_batch_size, warmup_steps=args.mlm_warmup,
                lr_schedule="linear", early_stopping=True, validation_fraction=0.02,
                n_iter_no_change=100, random_state=0, n_jobs=args.threads, verbose=1,
            ).fit(text)
            t_mlm = time.perf_counter() - t0
            save_model(mlm, path)
            print(f"done: MaskedLM {mlm.n_epochs_} epochs, {t_mlm:.0f} s, held-out masked-word "
                  f"accuracy {mlm.history_[-1].get('val_accuracy', float('nan')):.3f}",
                  file=sys.stderr, flush=True)

        def classifier(pretrained, lr):
            return TextClassifier(
                encoder="transformer", embedding_dim=args.d, hidden_size=args.ff,
                num_layers=args.layers, positions=args.positions, pretrained=pretrained,
                pooling=args.pooling, dropout=args.dropout, optimizer="adamw", lr=lr,
                lr_schedule="linear", warmup_steps=args.clf_warmup,
                batch_size=args.clf_batch_size, max_epochs=args.clf_epochs,
                max_time=args.clf_max_time, early_stopping=False, random_state=0,
                n_jobs=args.threads, verbose=1)

        t0 = time.perf_counter()
        tuned = classifier(path, args.clf_lr).fit(X, y)
        t = time.perf_counter() - t0
        rows.append((f"nlpkit MaskedLM ({args.layers} layers, d {args.d}, {args.positions} "
                     f"positions) pretrained {t_mlm:.0f} s, fine-tuned as TextClassifier "
                     f"({tuned.n_epochs_} epochs, {t:.0f} s)", tuned.score(Xt, yt), t_mlm + t))
        print(f"done: {rows[-1]}", file=sys.stderr, flush=True)

    if not args.skip_scratch:
        t0 = time.perf_counter()
        scratch = classifier(None, args.clf_scratch_lr).fit(X, y)
        rows.append((f"nlpkit TextClassifier, the same transformer from scratch "
                     f"({scratch.n_epochs_} epochs)", scratch.score(Xt, yt),
                     time.perf_counter() - t0))
        print(f"done: {rows[-1]}", file=sys.stderr, flush=True)

    base = rows[0][1]
    print("| model | test accuracy | vs LinearSVC | train s |")
    print("|---|---|---|---|")
    for name, acc, t in rows:
        print(f"| {name} | {acc:.3f} | {acc - base:+.3f} | {t:.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
