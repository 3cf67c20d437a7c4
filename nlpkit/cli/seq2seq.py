"""``nlpkit seq2seq``: train and apply encoder-decoder models with attention.

DATA files hold one pair a line: ``source<TAB>target``, tokens separated by
spaces (use ``--chars`` to read each side as characters, e.g. spelling tasks).
"""

from __future__ import annotations

import click

from .common import echo
from .model_common import (
    arguments_or_file,
    estimator_params,
    fit_and_save,
    input_option,
    load,
    training_options,
)


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
@training_options(
    epochs=20,
    embedding_dim=64,
    hidden_size=128,
    dropout=0.1,
    lr=2e-3,
    validation_fraction=0.05,
    num_layers=False,
    min_hidden=2,
)
def train_cmd(data, output, encoder, attention, chars, **common):
    """Train on the pairs of DATA and write the model to OUTPUT."""
    from ..models.seq2seq import Seq2Seq

    src, tgt = read_pairs(data, chars)
    echo(f"{data}: {len(src)} pairs")
    model = Seq2Seq(encoder=encoder, attention=attention, **estimator_params(common))
    model.chars_ = chars  # how predict reads its inputs
    fit_and_save(
        model,
        output,
        src,
        tgt,
        n_items=sum(len(t) + 1 for t in tgt),
        unit="tokens",
        plot=common["plot"],
    )


@seq2seq.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@input_option("sources")
@click.option(
    "--beam",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Beam size (1: greedy).",
)
def predict_cmd(model, text, input_file, beam):
    """Print the output for each TEXT (or each line of --input)."""
    m = load(model, "Seq2Seq")
    chars = getattr(m, "chars_", False)
    lines = [s for s in arguments_or_file(text, input_file, "sources") if s.strip()]
    sources = [list(s.strip()) if chars else s.split() for s in lines]
    for out in m.predict(sources, beam_size=beam):
        click.echo(("" if chars else " ").join(out))
