"""``nlpkit classify``: train, apply and evaluate neural text classifiers.

DATA files hold one labelled document a line, in fastText's supervised format
(``__label__sports the match was ...``) or as ``label<TAB>text``.
"""

from __future__ import annotations

import json

import click

from .common import CommandGroup, echo
from .model_common import (
    BLOCK,
    encoder_input_options,
    estimator_params,
    fit_and_save,
    input_blocks,
    input_option,
    load,
    training_options,
)

ENCODERS = ["lstm", "gru", "rnn", "bilstm", "cnn", "transformer"]


@click.group(name="classify", cls=CommandGroup)
def classify():
    """Neural text classifiers (LSTM, GRU, RNN, BiLSTM, CNN, transformer)."""


@classify.command("train")
@click.argument("data")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option("--encoder", type=click.Choice(ENCODERS), default="lstm", show_default=True)
@training_options(epochs=10, embedding_dim=100, hidden_size=128, dropout=0.2, lr=1e-3)
@click.option(
    "--pooling", type=click.Choice(["max", "mean", "max+mean"]), default="max", show_default=True
)
@click.option(
    "--word-dropout",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Share of training tokens read as <unk> in each batch.",
)
@click.option(
    "--word-ngrams",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="2 also gives each word pair seen twice a vector (fastText's -wordNgrams).",
)
@click.option(
    "--adversarial",
    type=click.FloatRange(0.0),
    default=0.0,
    show_default=True,
    help="Size of the adversarial perturbation of the word vectors (0: off; 1 is a start "
    "with word2vec vectors); doubles the training time.",
)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lowercase", is_flag=True, help="Lowercase the text first.")
@click.option("--max-length", type=click.IntRange(min=1), default=200, show_default=True,
              help="Documents are cut to this many tokens.")
@click.option(
    "--class-weight", type=click.Choice(["none", "balanced"]), default="none", show_default=True
)
@encoder_input_options(
    "Word vectors (a word2vec/fastText file) for the embeddings, or a model file of "
    "'nlpkit lm train' (--objective mlm or clm): fine-tune its embeddings and encoder."
)
def train_cmd(
    data, output, encoder, pooling, word_dropout, word_ngrams, adversarial, min_count,
    lowercase, max_length, class_weight, pretrained, freeze_layers, positions, **common,
):
    """Train a classifier on DATA and write it to OUTPUT."""
    from ..models.classifier import TextClassifier
    from ..text.readers import iter_labelled
    from ..text.spill import spill_dir

    clf = TextClassifier(
        encoder=encoder,
        pretrained=pretrained,
        freeze_layers=freeze_layers,
        positions=positions,
        pooling=pooling,
        word_dropout=word_dropout,
        word_ngrams=word_ngrams,
        adversarial=adversarial,
        min_count=min_count,
        lowercase=lowercase,
        max_length=max_length,
        class_weight=None if class_weight == "none" else class_weight,
        **estimator_params(common),
    )
    # the file is read once, encoded to files that training gathers its batches from
    with spill_dir("nlpkit-classify-") as directory:
        text = clf.read_text(iter_labelled(data), directory, what=data)
        echo(f"{data}: {len(text)} documents, {len(text.labels.words)} labels")
        fit_and_save(
            clf,
            output,
            text,
            n_items=len(text),
            unit="docs",
            common=common,
            describe=lambda m: f"vocabulary {len(m.vocab_)}, {len(m.classes_)} labels",
        )


@classify.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@input_option("documents")
@click.option("--proba", is_flag=True, help="Also print the probability of the predicted label.")
def predict_cmd(model, text, input_file, proba):
    """Print the predicted label of each TEXT (or of each line of --input)."""
    from ..errors import InputFileError

    blocks = input_blocks(text, input_file, "documents")
    clf = load(model, "TextClassifier")
    lineno = 0
    for docs in blocks:  # printed a block at a time: memory holds one block
        if input_file:  # a blank line is named by its line in the file, not in its block
            blank = next((i for i, d in enumerate(docs) if not d.strip()), None)
            if blank is not None:
                raise InputFileError(input_file, "an empty line: no document", lineno + blank + 1)
            lineno += len(docs)
        for row in clf.predict_proba(docs):
            label = clf.classes_[row.argmax()]
            click.echo(f"{label}\t{row.max():.4f}" if proba else str(label))


@classify.command("eval")
@click.argument("model")
@click.argument("data")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_cmd(model, data, as_json):
    """Accuracy, macro-F1, per-label scores and the confusion matrix of MODEL on DATA."""
    from ..metrics import ConfusionCounts
    from ..text.readers import batched, iter_labelled
    from .report import classification_report

    clf = load(model, "TextClassifier")
    counts = ConfusionCounts()  # all the figures need; the documents go block by block
    for block in batched(iter_labelled(data), BLOCK):  # (an empty file: an error)
        texts, labels = zip(*block)
        counts.update(labels, (str(x) for x in clf.predict(list(texts))))
    known = [str(c) for c in clf.classes_]
    extra = sorted(counts.gold_labels() - set(known))
    if extra:
        echo(f"note: {len(extra)} label(s) in {data} the model never saw: {', '.join(extra[:5])}")
    metrics, table = classification_report(counts, known + extra)
    click.echo(json.dumps(metrics, indent=2) if as_json else table)
