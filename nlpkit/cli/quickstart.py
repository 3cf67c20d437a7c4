"""``nlpkit quickstart``: everything nlpkit does, end to end, on the bundled KJV corpus.

Each capability contributes one step, a function ``quickstart_step(outdir, echo)``
that does its work, writes its outputs into ``outdir`` and returns a one-line
summary.  Steps whose module is not part of this version are left out.
"""
from __future__ import annotations

import importlib
import os
import time

import click

from .. import corpora
from ..text import Corpus
from .common import echo as status
from .common import runtime_options

# (title, module holding quickstart_step); the corpus step is below.
STEPS = [
    ("n-gram language model", "nlpkit.ngram.quickstart"),
    ("word embeddings", "nlpkit.embed.quickstart"),
    ("neural model", "nlpkit.models.quickstart"),
]


def corpus_step(outdir, echo):
    """Encode the bundled corpus, write its vocabulary, report its size."""
    train = Corpus.from_text(corpora.path("kjv", "train"))
    path = os.path.join(outdir, "kjv.vocab")
    train.vocab.save(path)
    echo(f"  {train.n_sentences} sentences, {train.n_tokens} tokens, "
         f"{len(train.vocab) - len(train.vocab.specials)} word types")
    echo(f"  most frequent: {' '.join(train.vocab.itos[3:13])}")
    return f"vocabulary of {len(train.vocab)} entries -> {path}"


def _available_steps():
    steps = [("corpus and vocabulary", corpus_step)]
    for title, module in STEPS:
        try:
            steps.append((title, importlib.import_module(module).quickstart_step))
        except ModuleNotFoundError as exc:
            if not module.startswith(exc.name or "\0"):
                raise
    return steps


@click.command()
@runtime_options
@click.option("-o", "--output", "outdir", default="nlpkit-quickstart", show_default=True,
              metavar="DIR", help="Folder for the outputs (created if missing).")
def quickstart(outdir):
    """Run every nlpkit capability end to end on the bundled KJV corpus."""
    os.makedirs(outdir, exist_ok=True)
    steps = _available_steps()
    summary = []
    with click.progressbar(steps, label="quickstart", show_eta=True, show_pos=True,
                           item_show_func=lambda s: s[0] if s else "", file=_bar_file()) as bar:
        for title, step in bar:
            status(f"\n== {title}")
            t0 = time.perf_counter()
            result = step(outdir, status)
            summary.append(f"{title}: {result} ({time.perf_counter() - t0:.1f} s)")
    click.echo(f"\nquickstart outputs are in {os.path.abspath(outdir)}/")
    for line in summary:
        click.echo(f"  {line}")


def _bar_file():
    import sys
    return sys.stderr
