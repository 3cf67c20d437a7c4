"""``report.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched)
with the table of every family's figure and the run's plots."""
from __future__ import annotations

import platform
import time
from html import escape

from ..._version import __version__
from ...text import atomic_write
from ..svg import line_plot

#: Training-loss plots: title -> the curves (named as the steps name their models) drawn
#: together; a curve in no group gets a plot of its own.
CURVE_GROUPS = {
    "genre classifiers: training loss": ["CNN classifier", "LSTM classifier",
                                         "fine-tuned classifier"],
    "name tagger: training loss": ["BiLSTM tagger"],
    "language models: training loss": ["LSTM language model", "MaskedLM pretraining"],
    "seq2seq (spelling backwards): training loss": ["seq2seq LSTM + attention",
                                                    "seq2seq transformer"],
}

_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.value { text-align: right; font-weight: bold; white-space: nowrap; }
td.detail { font-size: 12px; color: #555; }
tr.failed td { background: #fde8e8; }
figure { display: inline-block; margin: 1em 1em 1em 0; vertical-align: top; }
figcaption { font-size: 12px; color: #555; max-width: 560px; }
"""


def curve_plots(curves):
    """``(title, svg, caption)`` of the training-loss plots of ``curves`` (name -> (x, y))."""
    groups = {t: [n for n in names if n in curves] for t, names in CURVE_GROUPS.items()}
    grouped = {n for names in groups.values() for n in names}
    groups.update({f"{n}: training loss": [n] for n in curves if n not in grouped})
    caption = "Mean training loss over windows of about a twentieth of an epoch."
    return [(title, line_plot([(n, *curves[n]) for n in names], title=title, xlabel="epoch",
                              ylabel="training loss", width=560, markers=False), caption)
            for title, names in groups.items() if names]


def render(run, steps, seconds):
    """The page as a string. ``steps``: ``(title, error or "")`` of every step run."""
    failed = [(t, e) for t, e in steps if e]
    rows = []
    for r in run.rows:
        status = "ok" if r.ok else f"failed: {r.error}"
        rows.append(
            f'<tr class="{"ok" if r.ok else "failed"}"><td>{escape(r.family)}</td>'
            f"<td>{escape(r.figure)}</td><td class=\"value\">{escape(r.value)}</td>"
            f'<td class="detail">{escape(r.detail)}</td><td>{r.seconds:.1f}</td>'
            f"<td>{escape(status)}</td></tr>")
    figures = [(p.title, p.svg, p.caption) for p in run.plots] + curve_plots(run.curves)
    figs = "\n".join(f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"
                     for _, svg, caption in figures)
    summary = (f"{len(steps) - len(failed)} of {len(steps)} steps ran"
               + (f"; failed: {', '.join(t for t, _ in failed)}" if failed else "")
               + f"; {seconds:.0f} s in all."
               + (f" Training stopped at the time guard ({run.n['max_time']} s a model; a "
                  f"busy machine): {', '.join(run.cut)}." if run.cut else ""))
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>nlpkit quickstart</title><style>{_CSS}</style></head>
<body>
<h1>nlpkit quickstart</h1>
<p>Every model family of nlpkit {escape(__version__)}, trained and scored on the bundled King
James Bible corpora (size <code>{escape(run.size)}</code>), Python {escape(platform.python_version())},
{escape(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))}. {escape(summary)}</p>
<h2>Figures</h2>
<table>
<tr><th>family</th><th>measure</th><th>value</th><th>details</th><th>seconds</th><th>status</th></tr>
{chr(10).join(rows)}
</table>
<h2>Plots</h2>
{figs}
</body>
</html>
"""


def write(run, path, steps, seconds):
    with atomic_write(path) as fh:
        fh.write(render(run, steps, seconds))
