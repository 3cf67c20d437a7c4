"""``nlpkit tag``: train, apply and evaluate neural sequence taggers.

DATA files are CoNLL-style: one ``token<TAB>tag`` a line, a blank line between sentences.
"""

from __future__ import annotations

import json

import click

from ..errors import NlpkitError
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

ENCODERS = ["bilstm", "lstm", "gru", "rnn", "cnn", "transformer"]


@click.group(name="tag", cls=CommandGroup)
def tag():
    """Neural sequence taggers (BiLSTM with an optional character CNN, or transformer)."""


@tag.command("train")
@click.argument("data")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option("--encoder", type=click.Choice(ENCODERS), default="bilstm", show_default=True)
@click.option(
    "--char-dim",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Character embedding size (0: no character encoder).",
)
@click.option("--char-filters", type=click.IntRange(min=1), default=50, show_default=True)
@training_options(epochs=10, embedding_dim=100, hidden_size=128, dropout=0.3, lr=1e-3)
@encoder_input_options(
    "Word vectors (word2vec/fastText file) for the embeddings, or a model file of "
    "'nlpkit lm train': fine-tune its embeddings and encoder."
)
@click.option(
    "--word-dropout",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.05,
    show_default=True,
    help="Share of training tokens read as <unk> in each batch.",
)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lowercase", is_flag=True, help="Lowercase the words first.")
def train_cmd(data, output, encoder, char_dim, char_filters, pretrained, freeze_layers, positions,
              word_dropout, min_count, lowercase, **common):
    """Train a tagger on the CoNLL file DATA and write it to OUTPUT."""
    from ..models.tagger import SequenceTagger
    from ..text.readers import iter_conll
    from ..text.spill import spill_dir

    tagger = SequenceTagger(
        encoder=encoder,
        char_dim=char_dim,
        char_filters=char_filters,
        pretrained=pretrained,
        freeze_layers=freeze_layers,
        positions=positions,
        word_dropout=word_dropout,
        min_count=min_count,
        lowercase=lowercase,
        **estimator_params(common),
    )
    # the file is read once, encoded to files that training gathers its batches from
    with spill_dir("nlpkit-tag-") as directory:
        text = tagger.read_text(iter_conll(data), directory, what=data)
        n_tokens = text.text.n_tokens
        echo(f"{data}: {len(text)} sentences, {n_tokens} tokens, {len(text.labels.words)} tags")
        fit_and_save(
            tagger,
            output,
            text,
            n_items=n_tokens,
            unit="tokens",
            common=common,
            describe=lambda m: f"vocabulary {len(m.vocab_)}, {len(m.tags_)} tags",
        )


@tag.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@input_option("sentences (tokens split on whitespace)")
@click.option(
    "--conll", is_flag=True, help="Write token<TAB>tag lines (blank line between sentences)."
)
def predict_cmd(model, text, input_file, conll):
    """Tag each TEXT sentence (or each line of --input); prints token/TAG pairs."""
    blocks = input_blocks(text, input_file, "sentences")
    tagger = load(model, "SequenceTagger")
    tagged = 0
    for block in blocks:  # printed a block at a time: memory holds one block
        sentences = [s for s in (line.split() for line in block) if s]
        tagged += len(sentences)
        for toks, tags in zip(sentences, tagger.predict(sentences) if sentences else []):
            if conll:
                click.echo("".join(f"{w}\t{t}\n" for w, t in zip(toks, tags)))
            else:
                click.echo(" ".join(f"{w}/{t}" for w, t in zip(toks, tags)))
    if not tagged:
        raise NlpkitError("no sentences to tag (every line is blank)")


@tag.command("eval")
@click.argument("model")
@click.argument("data")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_cmd(model, data, as_json):
    """Token accuracy and per-tag precision/recall/F1 of MODEL on the CoNLL file DATA."""
    from ..metrics import ConfusionCounts
    from ..models.tagger import tag_scores
    from ..text.readers import batched, iter_conll

    tagger = load(model, "SequenceTagger")
    counts = ConfusionCounts()  # all the figures need; the sentences go block by block
    for block in batched(iter_conll(data), BLOCK):  # (an empty file: an error)
        tagger.count(*zip(*block), counts=counts)
    report = tag_scores(counts)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"token accuracy {report['accuracy']:.4f}   ({counts.n} tokens)\n")
    width = max(8, *(len(k) for k in report if k != "accuracy"))
    click.echo(f"{'tag':<{width}}  precision  recall      f1  support")
    for name, m in report.items():
        if name != "accuracy":
            click.echo(
                f"{name:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  "
                f"{m['support']:7d}"
            )
