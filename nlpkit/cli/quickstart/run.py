"""What the quickstart steps share: the run (output folder, size, results) and its records.

A step is a function ``step(run)``: it trains and scores one group of model families, writes
its outputs into ``run.outdir`` and reports each family as one :class:`Row` (the figure the
report tabulates) with :meth:`Run.row`; it hands plots to the report with :meth:`Run.plot`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ..report import EpochProgress

#: The sizes of a run.  ``small`` is what ``nlpkit quickstart`` runs (a few minutes on two
#: cores, first-run compilation included); ``tiny`` only shows that every step works (the
#: tests run it).  Numbers of lines, documents, pairs and epochs per step.
SIZES = {
    "small": {
        "ngram_lines": None,     # all 30,480 training verses
        "heldout": 1500,         # verses held out of the mixed models, to choose the weights
        "subword_lines": None,
        "subword_vocab": 4000,
        "embed_lines": None,
        "embed_epochs": 3,
        "glove_epochs": 10,
        "clf_docs": 3000,        # kjv-genre training verses (of 27,900)
        "clf_epochs": 3,
        "test_docs": 1500,       # kjv-genre and kjv-names test verses (of 3,110)
        "tag_sents": 2000,
        "tag_epochs": 2,
        "lm_lines": 2000,
        "lm_epochs": 2,
        "lm_vocab": 2000,
        "s2s_pairs": 2500,
        "s2s_test": 300,
        "s2s_epochs": 5,
        # a guard for a slow or busy machine: no neural model trains longer (the epoch under
        # way is cut short); on two idle cores none comes near it
        "max_time": 60,
    },
    "tiny": {
        "ngram_lines": None, "heldout": 300, "subword_lines": 3000, "subword_vocab": 300,
        "embed_lines": 3000, "embed_epochs": 1, "glove_epochs": 2, "clf_docs": 300,
        "clf_epochs": 1, "test_docs": 200, "tag_sents": 200, "tag_epochs": 1, "lm_lines": 300,
        "lm_epochs": 1, "lm_vocab": 500, "s2s_pairs": 300, "s2s_test": 50, "s2s_epochs": 1,
        "max_time": None,
    },
}


@dataclass
class Row:
    """One model family's line in the report: its figure, and where it came from."""

    family: str
    figure: str = ""      # what is measured, e.g. "test perplexity"
    value: str = ""       # the figure, formatted
    detail: str = ""      # anything else worth a glance (neighbours, a sample, a file)
    seconds: float = 0.0
    error: str = ""       # why the family has no figure: its step failed

    @property
    def ok(self):
        return not self.error


@dataclass
class Plot:
    title: str
    svg: str
    caption: str = ""


@dataclass
class Run:
    """One quickstart run: where its outputs go, how big it is, and what it found."""

    outdir: str
    size: str = "small"
    echo: object = print
    rows: list = field(default_factory=list)
    plots: list = field(default_factory=list)
    curves: dict = field(default_factory=dict)  # training loss curves: name -> (x, y)
    cut: list = field(default_factory=list)  # models whose training the time guard cut short

    def __post_init__(self):
        self.n = SIZES[self.size]
        self._t = time.perf_counter()

    def path(self, name):
        return os.path.join(self.outdir, name)

    def row(self, family, figure, value, detail=""):
        """Report one family (one line on the terminal, one row of the report); the time
        is the time since the previous row (or since the step began)."""
        now = time.perf_counter()
        r = Row(family, figure, value, detail, now - self._t)
        self._t = now
        self.rows.append(r)
        self.echo(f"  {family:<30} {figure} {value}   ({r.seconds:.1f} s)"
                  + (f"\n  {'':<30} {detail}" if detail else ""))
        return r

    def restart_clock(self):
        self._t = time.perf_counter()

    def plot(self, title, svg, caption=""):
        self.plots.append(Plot(title, svg, caption))

    def trainer(self, name, n_items, max_epochs, unit="docs"):
        """A training ``callback`` (use as ``with run.trainer(...) as callback:``) that shows a progress bar per epoch (rate, ETA) and
        records the loss of every batch as the curve ``name``."""
        return _LossCurve(self, name, EpochProgress(n_items, max_epochs, self._status, unit))

    def _status(self, line):
        self.echo(f"  {line}")


class _LossCurve:
    """Collects ``(epoch, batch loss)`` from a training callback; on the epoch's end, turns
    the batches into x = fractional epoch and smooths y over a window of batches (single
    batch losses are noisy: a window of about a twentieth of an epoch)."""

    def __init__(self, run, name, progress):
        self.run, self.name, self.progress = run, name, progress
        self.epoch_losses, self.xs, self.ys = [], [], []

    def __call__(self, info):
        self.progress(info)
        if info["event"] == "batch":
            self.epoch_losses.append(info["loss"])
            return
        losses, e = self.epoch_losses, info["epoch"]
        self.epoch_losses = []
        w = max(1, len(losses) // 20)
        for i in range(0, len(losses), w):
            chunk = losses[i:i + w]
            self.xs.append(e - 1 + (i + len(chunk)) / len(losses))
            self.ys.append(sum(chunk) / len(chunk))
        self.run.curves[self.name] = (self.xs, self.ys)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.progress.close()
