"""The neural steps: CNN and LSTM genre classifiers, the name tagger, the LSTM language model,
masked-LM pretraining and a classifier fine-tuned from it, and two seq2seq models (an LSTM with
attention and a transformer) that learn to spell KJV words backwards.  Each records its
training loss, batch by batch, for the report's curves."""
from __future__ import annotations

import numpy as np

from ... import corpora
from .text import test_lines, train_lines

#: Words a transformer reads (its learned positions): the classifier fine-tuned from the
#: MaskedLM cuts its verses there too (the longest KJV verse has 90 words).
MAX_LENGTH = 128
VERSE = "blessed are the meek for they shall inherit the earth"


def _sample(n, *lists, seed=0):
    """The same ``n`` random items of each of ``lists`` (all of them with None)."""
    if n is None or n >= len(lists[0]):
        return lists
    idx = np.sort(np.random.default_rng(seed).choice(len(lists[0]), n, replace=False))
    return tuple([x[i] for i in idx] for x in lists)


def _fit(run, name, model, X, y=None, unit="docs"):
    model.set_params(max_time=run.n["max_time"])
    with run.trainer(name, len(X), model.max_epochs, unit) as callback:
        if y is None:
            model.fit(X, callback=callback)
        else:
            model.fit(X, y, callback=callback)
    if any(r.get("stopped") for r in model.history_):
        run.cut.append(name)
        run.echo(f"  ({name}: training stopped at the {run.n['max_time']} s guard)")
    return model


def genre_data(run):
    X, y = _sample(run.n["clf_docs"], *corpora.load("kjv-genre", "train"))
    Xt, yt = _sample(run.n["test_docs"], *corpora.load("kjv-genre", "test"))
    return X, y, Xt, yt


def classify_step(run):
    from ...models import TextClassifier
    from ...models.io import save_model

    X, y, Xt, yt = genre_data(run)
    run.echo(f"  8 genres; {len(X)} training verses, {len(Xt)} test verses")
    common = {"embedding_dim": 64, "hidden_size": 64, "max_epochs": run.n["clf_epochs"],
              "lr": 5e-3, "early_stopping": False, "random_state": 0}
    for family, encoder, extra in (("CNN classifier", "cnn", {"pooling": "max+mean"}),
                                   ("LSTM classifier", "lstm", {})):
        clf = _fit(run, family, TextClassifier(encoder=encoder, **common, **extra), X, y)
        path = run.path(f"genre-{encoder}.nlpkit")
        save_model(clf, path)
        run.row(family, "test accuracy", f"{clf.score(Xt, yt):.3f}",
                f"'{VERSE}' -> {clf.predict([VERSE])[0]}; -> {path}")


def tagger_step(run):
    from ...models import SequenceTagger
    from ...models.io import save_model

    X, y = _sample(run.n["tag_sents"], *corpora.load("kjv-names", "train"))
    Xt, yt = _sample(run.n["test_docs"], *corpora.load("kjv-names", "test"))
    tagger = _fit(run, "BiLSTM tagger", SequenceTagger(
        embedding_dim=64, hidden_size=64, max_epochs=run.n["tag_epochs"], lr=5e-3,
        early_stopping=False, random_state=0), X, y, unit="sentences")
    path = run.path("names-tagger.nlpkit")
    save_model(tagger, path)
    scores = tagger.report(Xt, yt)
    name = scores.get("NAME", {"f1": 0.0})
    run.row("BiLSTM tagger", "test NAME F1", f"{name['f1']:.3f}",
            f"token accuracy {scores['accuracy']:.3f} on {len(Xt)} verses of kjv-names; "
            f"-> {path}")


def lm_step(run):
    """The LSTM language model; MaskedLM pretraining, then a classifier fine-tuned from it."""
    from ...models import MaskedLM, NeuralLM, TextClassifier
    from ...models.io import save_model

    test = test_lines()
    lm = _fit(run, "LSTM language model", NeuralLM(
        cell="lstm", embedding_dim=64, hidden_size=64, max_vocab=run.n["lm_vocab"],
        max_epochs=run.n["lm_epochs"], lr=3e-3, early_stopping=False, random_state=0),
        train_lines(run.n["lm_lines"]), unit="lines")
    path = run.path("kjv-lstm-lm.nlpkit")
    save_model(lm, path)
    sample = lm.generate("and god said", max_tokens=10, random_state=0)
    run.row("LSTM language model", "test perplexity", f"{lm.perplexity(test):.2f}",
            f"{len(lm.history_)} epochs over {run.n['lm_lines'] or 'all'} verses, the "
            f"{run.n['lm_vocab']} most frequent words in the softmax; sample: {sample}; "
            f"-> {path}")

    mlm = _fit(run, "MaskedLM pretraining", MaskedLM(
        embedding_dim=64, hidden_size=128, num_layers=2, max_length=MAX_LENGTH,
        max_vocab=run.n["lm_vocab"], max_epochs=run.n["lm_epochs"], lr=1e-3,
        early_stopping=False, random_state=0), train_lines(run.n["lm_lines"]), unit="lines")
    path = run.path("kjv-mlm.nlpkit")
    save_model(mlm, path)
    run.row("MaskedLM (BERT-style pretraining)", "test masked-word accuracy",
            f"{mlm.score(test):.3f}", f"2 transformer layers of 64; -> {path}")

    X, y, Xt, yt = genre_data(run)
    clf = _fit(run, "fine-tuned classifier", TextClassifier(
        pretrained=path, max_length=MAX_LENGTH, max_epochs=run.n["clf_epochs"], lr=1e-3,
        early_stopping=False, random_state=0), X, y)
    out = run.path("genre-finetuned.nlpkit")
    save_model(clf, out)
    run.row("fine-tuned classifier (pretrained=)", "test accuracy", f"{clf.score(Xt, yt):.3f}",
            f"the MaskedLM's embeddings and encoder under a new head; -> {out}")


def reversal_data(run):
    """KJV words of 3 to 10 letters, spelled backwards: disjoint training and test words."""
    words = sorted({w for line in train_lines(run.n["ngram_lines"]) for w in line.split()
                    if w.isalpha() and 3 <= len(w) <= 10})
    words = [words[i] for i in np.random.default_rng(0).permutation(len(words))]
    n, k = run.n["s2s_pairs"], run.n["s2s_test"]
    train, test = words[k:k + n], words[:k]
    return ([list(w) for w in train], [list(w[::-1]) for w in train],
            [list(w) for w in test], [w[::-1] for w in test])


def seq2seq_step(run):
    from ...metrics import cer, corpus_bleu, corpus_chrf
    from ...models import Seq2Seq
    from ...models.io import save_model

    X, y, Xt, refs = reversal_data(run)
    run.echo(f"  spell a word backwards: {len(X)} training words, {len(Xt)} test words")
    common = {"max_epochs": run.n["s2s_epochs"], "early_stopping": False, "dropout": 0.0,
              "lr_schedule": "cosine", "random_state": 0}
    for family, name, model in (
        ("seq2seq LSTM + attention", "s2s-lstm", Seq2Seq(
            embedding_dim=32, hidden_size=64, attention="dot", lr=5e-3, **common)),
        ("seq2seq transformer", "s2s-transformer", Seq2Seq(
            encoder="transformer", decoder="transformer", embedding_dim=64, num_layers=2,
            nhead=4, dim_feedforward=128, lr=2e-3, warmup_steps=50, **common)),
    ):
        _fit(run, family, model, X, y, unit="words")
        path = run.path(f"reverse-{name}.nlpkit")
        save_model(model, path)
        hyps = ["".join(p) for p in model.predict(Xt, beam_size=4)]
        exact = float(np.mean([h == r for h, r in zip(hyps, refs)]))
        spaced = [" ".join(h) for h in hyps], [" ".join(r) for r in refs]
        bleu = corpus_bleu(spaced[0], [spaced[1]], tokenize="none").score
        chrf = corpus_chrf(hyps, [refs]).score
        run.row(family, "test exact match", f"{exact:.3f}",
                f"beam 4; character error rate {cer(hyps, refs):.3f}, chrF {chrf:.1f}, "
                f"BLEU over characters {bleu:.1f}; {''.join(Xt[0])} -> {hyps[0]}; -> {path}")
