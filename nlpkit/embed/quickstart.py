"""The embedding step of ``nlpkit quickstart``: SGNS on the bundled KJV corpus."""
from __future__ import annotations

import os
import time

WORDS = ("god", "king", "water", "love")


def quickstart_step(outdir, echo=print) -> str:
    """Train skip-gram vectors on KJV train (fast settings), save them to
    ``outdir/kjv-sgns.vec`` (word2vec text), print the neighbours of a few words
    and return a one-line summary."""
    from .. import corpora
    from .estimators import Word2Vec

    t0 = time.perf_counter()
    model = Word2Vec(vector_size=64, window=5, negative=5, min_count=5, epochs=3, seed=1)
    model.fit(corpora.path("kjv"))
    path = os.path.join(os.fspath(outdir), "kjv-sgns.vec")
    model.save(path, "word2vec")
    stats = model.train_stats_
    echo(f"  {len(model.wv)} words x 64 trained on KJV in {time.perf_counter() - t0:.1f} s "
         f"({stats['words'] / max(stats['seconds'], 1e-9):,.0f} words/s); wrote {path}")
    for w in WORDS:
        near = ", ".join(n for n, _ in model.wv.most_similar(w, topn=6))
        echo(f"  {w:6s} -> {near}")
    return (f"word2vec SGNS: {len(model.wv)} words, neighbours of 'god': "
            f"{', '.join(n for n, _ in model.wv.most_similar('god', topn=3))}")
