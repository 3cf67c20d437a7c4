"""The embedding step: SGNS, CBOW, fastText, PPMI and GloVe vectors of the KJV verses, scored
on word pairs; a map of the SGNS vectors."""
from __future__ import annotations

import numpy as np

from ..svg import scatter_plot
from .text import train_lines

#: Pairs of related words: a model scores the share of pairs whose second word is, of all
#: the pairs' second words, the one nearest the first (chance: one in len(PAIRS)).
PAIRS = [("father", "mother"), ("son", "daughter"), ("brother", "sister"), ("husband", "wife"),
         ("king", "queen"), ("sun", "moon"), ("heaven", "earth"), ("gold", "silver"),
         ("sheep", "goats"), ("bread", "wine"), ("day", "night"), ("north", "south"),
         ("two", "three"), ("hand", "foot"), ("horses", "chariots"), ("priest", "levites")]

#: The words of the embedding map, by theme.
MAP = {
    "family": "father mother son daughter brother sister wife husband",
    "rule": "king queen prince princes throne crown kingdom servant",
    "nature": "sun moon stars heaven earth sea water fire",
    "animals": "sheep goats oxen camels horses lambs lion cattle",
    "numbers": "two three four five seven ten twelve hundred",
    "body": "hand eye head heart feet mouth face ear",
}


def pair_score(wv):
    """``(share of PAIRS matched, pairs used)``, the pairs with both words known."""
    known = wv.key_to_index  # (fastText: not words made up from n-grams)
    pairs = [(a, b) for a, b in PAIRS if a in known and b in known]
    if not pairs:
        return float("nan"), 0
    first = np.array([wv.get_vector(a, norm=True) for a, _ in pairs])
    second = np.array([wv.get_vector(b, norm=True) for _, b in pairs])
    sims = first @ second.T
    return float(np.mean(sims.argmax(axis=1) == np.arange(len(pairs)))), len(pairs)


def embed_step(run):
    from ...embed import PPMI, FastText, GloVe, Word2Vec

    lines = [line.split() for line in train_lines(run.n["embed_lines"])]
    epochs = run.n["embed_epochs"]
    models = [
        ("word2vec SGNS", "sgns", Word2Vec(64, model="sgns", epochs=epochs, seed=1)),
        ("word2vec CBOW", "cbow", Word2Vec(64, model="cbow", epochs=epochs, seed=1)),
        ("fastText", "fasttext", FastText(64, epochs=epochs, bucket=200_000, seed=1)),
        ("PPMI + SVD", "ppmi", PPMI(64)),
        ("GloVe", "glove", GloVe(64, epochs=run.n["glove_epochs"], seed=1)),
    ]
    for family, name, model in models:
        model.fit(lines)
        path = run.path(f"kjv-{name}.vec")
        model.save(path, "word2vec")
        wv = model.wv
        score, used = pair_score(wv)
        near = ", ".join(w for w, _ in wv.most_similar("king", topn=5))
        extra = ""
        if name == "fasttext":  # a word it never saw still gets a vector from its n-grams
            unseen = "kingliness"
            extra = (f"; unseen '{unseen}' -> "
                     f"{', '.join(w for w, _ in wv.most_similar(unseen, topn=3))}")
        run.row(family, f"word pairs matched (of {used})", f"{score:.2f}",
                f"{len(wv)} words x {wv.vector_size}; king -> {near}{extra}; -> {path}")
        if name == "sgns":
            run.plot("embedding map", embedding_map(wv),
                     "The first two principal components of the SGNS vectors (unit length) "
                     "of a few words by theme.")


def embedding_map(wv):
    words, groups = [], []
    for group, ws in MAP.items():
        for w in ws.split():
            if w in wv.key_to_index:
                words.append(w)
                groups.append(group)
    if len(words) < 3:
        return scatter_plot([], title="SGNS vectors")
    X = np.array([wv.get_vector(w, norm=True) for w in words], np.float64)
    X -= X.mean(axis=0)
    u, s, _ = np.linalg.svd(X, full_matrices=False)
    xy = u[:, :2] * s[:2]
    return scatter_plot([(w, x, y) for w, (x, y) in zip(words, xy)], groups=groups,
                        title="SGNS word vectors, first two principal components",
                        width=640, height=480)
