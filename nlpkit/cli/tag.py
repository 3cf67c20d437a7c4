"""``nlpkit tag``: train, apply and evaluate neural sequence taggers.

DATA files are CoNLL-style: one ``token<TAB>tag`` a line, a blank line between sentences.
"""

from __future__ import annotations

import json
import math

import click

from .common import echo, settings

ENCODERS = ["bilstm", "lstm", "gru", "rnn", "cnn", "transformer"]


@click.group(name="tag")
def tag():
    """Neural sequence taggers (BiLSTM with an optional character CNN, or transformer)."""


@tag.command("train")
@click.argument("data")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option("--encoder", type=click.Choice(ENCODERS), default="bilstm", show_default=True)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Maximum epochs."
)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--num-layers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--char-dim",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Character embedding size (0: no character encoder).",
)
@click.option("--char-filters", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.3, show_default=True
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Held out for early stopping (0: no early stopping).",
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
    char_dim,
    char_filters,
    dropout,
    batch_size,
    lr,
    validation_fraction,
    pretrained,
    seed,
    plot,
):
    """Train a tagger on the CoNLL file DATA and write it to OUTPUT."""
    from ..models.data import read_conll
    from ..models.io import save_model
    from ..models.report import EpochProgress, plot_history
    from ..models.tagger import SequenceTagger

    tokens, tags = read_conll(data)
    echo(
        f"{data}: {len(tokens)} sentences, {sum(map(len, tokens))} tokens, "
        f"{len({t for s in tags for t in s})} tags"
    )
    tagger = SequenceTagger(
        encoder=encoder,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        char_dim=char_dim,
        char_filters=char_filters,
        dropout=dropout,
        batch_size=batch_size,
        lr=lr,
        max_epochs=epochs,
        early_stopping=validation_fraction > 0,
        validation_fraction=validation_fraction,
        pretrained=pretrained,
        random_state=seed,
        n_jobs=settings().threads,
        device=settings().device,
    )
    n_val = math.ceil(len(tokens) * validation_fraction)
    n_train_tokens = sum(map(len, tokens)) * (len(tokens) - n_val) // len(tokens)  # for the bars
    progress = EpochProgress(n_train_tokens, epochs, echo, unit="tokens")
    try:
        tagger.fit(tokens, tags, callback=progress)
    finally:
        progress.close()
    save_model(tagger, output)
    echo(
        f"wrote {output} ({tagger.n_epochs_} epochs, vocabulary {len(tagger.vocab_)}, "
        f"{len(tagger.tags_)} tags)"
    )
    if plot:
        plot_history(tagger.history_, plot)
        echo(f"wrote {plot}")


def _load(model):
    from ..models.io import load_model

    return load_model(model, kind="SequenceTagger")


@tag.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@click.option(
    "-i",
    "--input",
    "input_file",
    default=None,
    help="Read sentences from this file, one a line, tokens split on whitespace ('-': stdin).",
)
@click.option(
    "--conll", is_flag=True, help="Write token<TAB>tag lines (blank line between sentences)."
)
def predict_cmd(model, text, input_file, conll):
    """Tag each TEXT sentence (or each line of --input); prints token/TAG pairs."""
    from ..errors import NlpkitError
    from ..text import iter_lines

    if bool(text) == bool(input_file):
        raise NlpkitError("give the sentences as TEXT arguments or with --input FILE (one of them)")
    sentences = [s.split() for s in (text or iter_lines(input_file))]
    sentences = [s for s in sentences if s]
    tagger = _load(model)
    for toks, tags in zip(sentences, tagger.predict(sentences)):
        if conll:
            click.echo("".join(f"{w}\t{t}\n" for w, t in zip(toks, tags)))
        else:
            click.echo(" ".join(f"{w}/{t}" for w, t in zip(toks, tags)))


@tag.command("eval")
@click.argument("model")
@click.argument("data")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_cmd(model, data, as_json):
    """Token accuracy and per-tag precision/recall/F1 of MODEL on the CoNLL file DATA."""
    from ..models.data import read_conll

    tagger = _load(model)
    tokens, tags = read_conll(data)
    report = tagger.report(tokens, tags)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"token accuracy {report['accuracy']:.4f}   ({sum(map(len, tokens))} tokens)\n")
    width = max(8, *(len(k) for k in report if k != "accuracy"))
    click.echo(f"{'tag':<{width}}  precision  recall      f1  support")
    for name, m in report.items():
        if name != "accuracy":
            click.echo(
                f"{name:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  "
                f"{m['support']:7d}"
            )
