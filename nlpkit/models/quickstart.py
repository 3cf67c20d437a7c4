"""The neural step of ``nlpkit quickstart``: a small LSTM genre classifier on kjv-genre."""

from __future__ import annotations

import os
import time

import numpy as np

from .. import corpora

N_TRAIN = 4000  # verses: big enough to learn something, small enough for well under a minute


def quickstart_step(outdir, echo):
    """Train a small classifier on part of kjv-genre, score it on the test verses, save it."""
    from .classifier import TextClassifier
    from .io import save_model

    X, y = corpora.load("kjv-genre", "train")
    Xt, yt = corpora.load("kjv-genre", "test")
    idx = np.random.default_rng(0).choice(len(X), N_TRAIN, replace=False)
    X, y = [X[i] for i in idx], [y[i] for i in idx]
    echo(f"  TextClassifier(encoder='lstm') on {len(X)} of the kjv-genre training verses, 8 genres")
    t0 = time.perf_counter()
    clf = TextClassifier(
        encoder="lstm",
        embedding_dim=64,
        hidden_size=64,
        max_epochs=4,
        lr=5e-3,
        early_stopping=False,
        random_state=0,
    )
    clf.fit(
        X,
        y,
        callback=lambda r: (
            r["event"] == "epoch"
            and echo(
                f"  epoch {r['epoch']}: loss {r['loss']:.3f}, training accuracy {r['accuracy']:.3f}"
            )
        ),
    )
    acc = clf.score(Xt, yt)
    path = os.path.join(outdir, "genre-classifier.nlpkit")
    save_model(clf, path)
    verse = "blessed are the meek for they shall inherit the earth"
    echo(
        f"  test accuracy {acc:.3f} on {len(Xt)} verses ({time.perf_counter() - t0:.0f} s); "
        f"'{verse}' -> {clf.predict([verse])[0]}"
    )
    return f"genre classifier, test accuracy {acc:.3f} -> {path}"
