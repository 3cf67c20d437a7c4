"""``nlpkit lm``: neural language models: train, perplexity, generation.

CORPUS and TEXT files hold one sentence a line (plain, .gz, .bz2, .xz or '-'),
tokens separated by spaces, as for ``nlpkit ngram``; perplexities count the
same tokens as ``nlpkit ngram ppl`` (``</s>`` included, OOVs left out).
"""

from __future__ import annotations

import json

import click

from .common import echo, settings


@click.group(name="lm")
def lm():
    """Neural language models (LSTM, GRU, RNN, causal transformer)."""


@lm.command("train")
@click.argument("corpus")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option(
    "--cell",
    type=click.Choice(["lstm", "gru", "rnn", "transformer"]),
    default="lstm",
    show_default=True,
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Maximum epochs."
)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--num-layers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True
)
@click.option(
    "--bptt",
    type=click.IntRange(min=1),
    default=35,
    show_default=True,
    help="Steps per truncated back-propagation chunk.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Sentences per batch.",
)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--max-vocab",
    type=click.IntRange(min=1),
    default=None,
    help="Keep the most frequent words only.",
)
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
    corpus,
    output,
    cell,
    epochs,
    embedding_dim,
    hidden_size,
    num_layers,
    dropout,
    bptt,
    batch_size,
    lr,
    min_count,
    max_vocab,
    validation_fraction,
    seed,
    plot,
):
    """Train a language model on CORPUS and write it to OUTPUT."""
    import math

    from ..models.io import save_model
    from ..models.neural_lm import NeuralLM
    from ..models.report import EpochProgress, plot_history
    from ..text import iter_lines

    lines = list(iter_lines(corpus))
    model = NeuralLM(
        cell=cell,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        bptt=bptt,
        batch_size=batch_size,
        lr=lr,
        min_count=min_count,
        max_vocab=max_vocab,
        max_epochs=epochs,
        early_stopping=validation_fraction > 0,
        validation_fraction=validation_fraction,
        random_state=seed,
        n_jobs=settings().threads,
        device=settings().device,
    )
    sentences = model._sentences(lines, what=corpus)
    n_tokens = sum(len(s) + 1 for s in sentences)
    echo(f"{corpus}: {len(sentences)} sentences, {n_tokens} tokens with </s>")
    n_train = n_tokens - math.ceil(n_tokens * validation_fraction)  # what the bars count (about)
    progress = EpochProgress(n_train, epochs, echo, unit="tokens")
    try:
        model.fit(sentences, callback=progress)
    finally:
        progress.close()
    save_model(model, output)
    echo(f"wrote {output} ({model.n_epochs_} epochs, vocabulary {len(model.vocab_)})")
    if plot:
        plot_history(model.history_, plot)
        echo(f"wrote {plot}")


def _load(path):
    from ..models.io import load_model

    return load_model(path, kind="NeuralLM")


@lm.command("ppl")
@click.argument("model")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def ppl_cmd(model, text, as_json):
    """Perplexity of MODEL on TEXT (SRILM's ngram -ppl summary)."""
    from ..text import iter_lines

    st = _load(model).perplexity_stats(list(iter_lines(text)))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "sentences": st.sentences,
                    "words": st.words,
                    "oovs": st.oovs,
                    "logprob": st.logprob,
                    "ppl": st.ppl,
                    "ppl1": st.ppl1,
                }
            )
        )
        return
    click.echo(f"file {text}: {st.sentences} sentences, {st.words} words, {st.oovs} OOVs")
    click.echo(f"0 zeroprobs, logprob= {st.logprob:.6g} ppl= {st.ppl:.6g} ppl1= {st.ppl1:.6g}")


@lm.command("generate")
@click.argument("model")
@click.option("--prompt", default="", help="Words to continue.")
@click.option(
    "-n", "--num", type=click.IntRange(min=1), default=1, show_default=True, help="How many texts."
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=30, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="0 decodes greedily.",
)
@click.option(
    "--top-k", type=click.IntRange(min=1), default=None, help="Sample among the k best words."
)
@click.option("--seed", type=int, default=0, show_default=True)
def generate_cmd(model, prompt, num, max_tokens, temperature, top_k, seed):
    """Continue --prompt with words drawn from MODEL, one text a line."""
    import numpy as np

    lm_ = _load(model)
    rng = np.random.default_rng(seed)
    for _ in range(num):
        cont = lm_.generate(
            prompt, max_tokens=max_tokens, temperature=temperature, top_k=top_k, random_state=rng
        )
        click.echo(" ".join(w for w in (prompt.strip(), cont) if w))
