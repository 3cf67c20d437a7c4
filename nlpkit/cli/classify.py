"""``nlpkit classify``: train, apply and evaluate neural text classifiers.

DATA files hold one labelled document a line, in fastText's supervised format
(``__label__sports the match was ...``) or as ``label<TAB>text``.
"""

from __future__ import annotations

import json
import math

import click

from .common import echo, settings

ENCODERS = ["lstm", "gru", "rnn", "bilstm", "cnn", "transformer"]


@click.group(name="classify")
def classify():
    """Neural text classifiers (LSTM, GRU, RNN, BiLSTM, CNN, transformer)."""


@classify.command("train")
@click.argument("data")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option("--encoder", type=click.Choice(ENCODERS), default="lstm", show_default=True)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Maximum epochs."
)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--num-layers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate.")
@click.option(
    "--optimizer", type=click.Choice(["adam", "adamw", "sgd"]), default="adam", show_default=True
)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lowercase", is_flag=True, help="Lowercase the text first.")
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Held out for early stopping (0: no early stopping).",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Epochs without validation improvement before stopping.",
)
@click.option(
    "--class-weight", type=click.Choice(["none", "balanced"]), default="none", show_default=True
)
@click.option(
    "--pretrained", default=None, help="Word vectors (word2vec/fastText file) for the embeddings."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--plot", default=None, metavar="PNG", help="Draw the training curves (needs matplotlib)."
)
def train_cmd(
    data,
    output,
    encoder,
    epochs,
    embedding_dim,
    hidden_size,
    num_layers,
    dropout,
    batch_size,
    lr,
    optimizer,
    min_count,
    lowercase,
    validation_fraction,
    patience,
    class_weight,
    pretrained,
    seed,
    plot,
):
    """Train a classifier on DATA and write it to OUTPUT."""
    from ..models.classifier import TextClassifier
    from ..models.data import read_labelled
    from ..models.io import save_model
    from ..models.report import EpochProgress, plot_history

    texts, labels = read_labelled(data)
    echo(f"{data}: {len(texts)} documents, {len(set(labels))} labels")
    clf = TextClassifier(
        encoder=encoder,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        pretrained=pretrained,
        max_epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        min_count=min_count,
        lowercase=lowercase,
        early_stopping=validation_fraction > 0,
        validation_fraction=validation_fraction,
        n_iter_no_change=patience,
        class_weight=None if class_weight == "none" else class_weight,
        random_state=seed,
        n_jobs=settings().threads,
        device=settings().device,
    )
    n_train = len(texts) - math.ceil(len(texts) * validation_fraction)  # what the bars count
    progress = EpochProgress(n_train, epochs, echo)
    try:
        clf.fit(texts, labels, callback=progress)
    finally:
        progress.close()
    save_model(clf, output)
    echo(
        f"wrote {output} ({clf.n_epochs_} epochs, vocabulary {len(clf.vocab_)}, "
        f"{len(clf.classes_)} labels)"
    )
    if plot:
        plot_history(clf.history_, plot)
        echo(f"wrote {plot}")


def _load(model):
    from ..models.io import load_model

    return load_model(model, kind="TextClassifier")


@classify.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@click.option(
    "-i",
    "--input",
    "input_file",
    default=None,
    help="Read documents from this file, one a line ('-' for stdin).",
)
@click.option("--proba", is_flag=True, help="Also print the probability of the predicted label.")
def predict_cmd(model, text, input_file, proba):
    """Print the predicted label of each TEXT (or of each line of --input)."""
    from ..errors import NlpkitError
    from ..text import iter_lines

    if bool(text) == bool(input_file):
        raise NlpkitError("give the documents as TEXT arguments or with --input FILE (one of them)")
    docs = list(text) if text else [line for line in iter_lines(input_file)]
    clf = _load(model)
    p = clf.predict_proba(docs)
    for row in p:
        label = clf.classes_[row.argmax()]
        click.echo(f"{label}\t{row.max():.4f}" if proba else str(label))


@classify.command("eval")
@click.argument("model")
@click.argument("data")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_cmd(model, data, as_json):
    """Accuracy, macro-F1, per-label scores and the confusion matrix of MODEL on DATA."""
    import numpy as np

    from ..models.data import read_labelled
    from ..models.report import classification_report

    clf = _load(model)
    texts, labels = read_labelled(data)
    pred = clf.predict(texts)
    gold = np.asarray(labels, dtype=object)
    known = [str(c) for c in clf.classes_]
    extra = sorted(set(labels) - set(known))
    if extra:
        echo(f"note: {len(extra)} label(s) in {data} the model never saw: {', '.join(extra[:5])}")
    metrics, table = classification_report(
        gold, np.asarray([str(x) for x in pred], dtype=object), known + extra
    )
    click.echo(json.dumps(metrics, indent=2) if as_json else table)
