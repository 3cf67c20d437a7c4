"""What the training commands show: per-epoch progress bars, metric tables, training curves.

Presentation lives here, with the command line; the estimators only report numbers (their
``callback`` events, ``history_``, :class:`nlpkit.metrics.ConfusionCounts`)."""

from __future__ import annotations

import numpy as np

from ..errors import NlpkitError
from ..models.training import format_record
from .common import Progress


class EpochProgress:
    """A training ``callback``: one progress bar per epoch, then its loss/accuracy line."""

    def __init__(self, n_items, max_epochs, echo, unit="docs"):
        self.n_items, self.max_epochs, self.echo, self.unit = n_items, max_epochs, echo, unit
        self.bar = None

    def __call__(self, info):
        if info["event"] == "batch":
            if self.bar is None:
                self.bar = Progress(
                    self.n_items, f"epoch {info['epoch']}/{self.max_epochs}", self.unit
                )
                self.bar.__enter__()
            self.bar.update(info["items"])
        else:
            self.close()
            self.echo(format_record(info))

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def classification_report(counts, labels):
    """``(metrics dict, text table)``: accuracy, macro-F1, per-label P/R/F1 and the confusion
    matrix over ``labels`` from ``counts`` (a :class:`nlpkit.metrics.ConfusionCounts`)."""
    labels = list(labels)
    p, r, f, s = counts.scores(labels)
    cm = counts.matrix(labels)
    metrics = {
        "n": int(counts.n),
        "accuracy": counts.accuracy(),
        "macro_f1": float(np.mean(f)),
        "per_label": {str(lab): m for lab, m in counts.per_label(labels).items()},
        "labels": [str(x) for x in labels],
        "confusion_matrix": cm.tolist(),
    }
    width = max(8, *(len(str(x)) for x in labels))
    lines = [
        f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}"
        f"   (n={counts.n})",
        "",
        f"{'label':<{width}}  precision  recall      f1  support",
    ]
    for i, lab in enumerate(labels):
        lines.append(f"{str(lab):<{width}}  {p[i]:9.4f}  {r[i]:6.4f}  {f[i]:6.4f}  {s[i]:7d}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    short = [str(x)[:6] for x in labels]
    lines.append(" " * width + "  " + " ".join(f"{x:>6}" for x in short))
    for i, lab in enumerate(labels):
        lines.append(f"{str(lab):<{width}}  " + " ".join(f"{v:6d}" for v in cm[i]))
    return metrics, "\n".join(lines)


def plot_history(history, path):
    """Draw loss and accuracy per epoch into ``path`` (needs matplotlib, the plot extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NlpkitError("--plot needs matplotlib: pip install 'nlpkit[plot]'") from None
    from ..text import atomic_write

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["loss"] for r in history], marker="o", label="train")
    if all("val_loss" in r for r in history):
        ax1.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.legend()
    ax2.plot(epochs, [r["accuracy"] for r in history], marker="o")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("training accuracy")
    fig.tight_layout()
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else "png"
    with atomic_write(path, "wb", compress="") as fh:
        fig.savefig(fh, format=fmt)
    plt.close(fig)
    return np.array(epochs)
