"""``nlpkit seq2seq``: train and apply encoder-decoder models with attention.

DATA files hold one pair a line: ``source<TAB>target``, tokens separated by
spaces (use ``--chars`` to read each side as characters, e.g. spelling tasks).
"""

from __future__ import annotations

import click

from .common import echo, settings


@click.group(name="seq2seq")
def seq2seq():
    """Encoder-decoder models with attention (greedy and beam-search decoding)."""


def read_pairs(path, chars=False):
    """``(sources, targets)`` as token lists from ``source<TAB>target`` lines."""
    from ..errors import InputFileError
    from ..text import iter_lines

    src, tgt = [], []
    for lineno, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        a, sep, b = line.partition("\t")
        if not sep or not a.strip() or not b.strip():
            raise InputFileError(path, "expected 'source<TAB>target'", lineno)
        src.append(list(a.strip()) if chars else a.split())
        tgt.append(list(b.strip()) if chars else b.split())
    if not src:
        raise InputFileError(path, "no pairs")
    return src, tgt


@seq2seq.command("train")
@click.argument("data")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option(
    "--encoder", type=click.Choice(["bilstm", "transformer"]), default="bilstm", show_default=True
)
@click.option(
    "--attention", type=click.Choice(["dot", "additive"]), default="dot", show_default=True
)
@click.option("--chars", is_flag=True, help="Read source and target as characters.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=2), default=128, show_default=True)
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Held out for early stopping (0: no early stopping).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--plot", default=None, metavar="PNG", help="Draw the training curves (needs matplotlib)."
)
def train_cmd(
    data,
    output,
    encoder,
    attention,
    chars,
    epochs,
    embedding_dim,
    hidden_size,
    dropout,
    batch_size,
    lr,
    validation_fraction,
    seed,
    plot,
):
    """Train on the pairs of DATA and write the model to OUTPUT."""
    import math

    from ..models.io import save_model
    from ..models.report import EpochProgress, plot_history
    from ..models.seq2seq import Seq2Seq

    src, tgt = read_pairs(data, chars)
    echo(f"{data}: {len(src)} pairs")
    model = Seq2Seq(
        encoder=encoder,
        attention=attention,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        dropout=dropout,
        batch_size=batch_size,
        lr=lr,
        max_epochs=epochs,
        early_stopping=validation_fraction > 0,
        validation_fraction=validation_fraction,
        random_state=seed,
        n_jobs=settings().threads,
        device=settings().device,
    )
    n_tokens = sum(len(t) + 1 for t in tgt)
    progress = EpochProgress(
        n_tokens - math.ceil(n_tokens * validation_fraction), epochs, echo, unit="tokens"
    )
    try:
        model.fit(src, tgt, callback=progress)
    finally:
        progress.close()
    model.chars_ = chars
    save_model(model, output)
    echo(f"wrote {output} ({model.n_epochs_} epochs)")
    if plot:
        plot_history(model.history_, plot)
        echo(f"wrote {plot}")


@seq2seq.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@click.option(
    "-i", "--input", "input_file", default=None, help="Read sources from this file, one a line."
)
@click.option(
    "--beam",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Beam size (1: greedy).",
)
def predict_cmd(model, text, input_file, beam):
    """Print the output for each TEXT (or each line of --input)."""
    from ..errors import NlpkitError
    from ..models.io import load_model
    from ..text import iter_lines

    if bool(text) == bool(input_file):
        raise NlpkitError("give the sources as TEXT arguments or with --input FILE (one of them)")
    m = load_model(model, kind="Seq2Seq")
    chars = getattr(m, "chars_", False)
    lines = [s for s in (text or iter_lines(input_file)) if s.strip()]
    sources = [list(s.strip()) if chars else s.split() for s in lines]
    for out in m.predict(sources, beam_size=beam):
        click.echo(("" if chars else " ").join(out))
