"""``nlpkit quickstart``: every model family of nlpkit, end to end, on the bundled KJV corpora.

The steps (``STEPS``) run in turn (while a second process compiles the kernels of
the later ones, :mod:`.warm`); each trains and scores a group of families at a small size,
writes its models into the output folder and reports one figure per family (one line on the
terminal, one row of ``report.html``).  A step that fails is reported by name with its error
and the run goes on; the command then exits with status 1.  ``report.html`` (the table and the
plots, self-contained) is written last.
"""
from __future__ import annotations

import os
import time

import click

from ...errors import NlpkitError
from ..common import echo as status
from ..common import runtime_options, settings
from .run import SIZES, Row, Run
from .steps import STEPS
from .warm import Warmer


@click.command()
@runtime_options
@click.option("-o", "--output", "outdir", default="nlpkit-quickstart", show_default=True,
              metavar="DIR", help="Folder for the outputs (created if missing).")
@click.option("--size", type=click.Choice(list(SIZES)), default="small", hidden=True,
              help="tiny: every step at a toy size (the tests' run).")
def quickstart(outdir, size):
    """Run every nlpkit model family end to end on the bundled KJV corpus; write the models
    and DIR/report.html (figures, training curves, an embedding map, perplexities)."""
    os.makedirs(outdir, exist_ok=True)
    run = Run(outdir, size, status)
    start = time.perf_counter()
    done = []
    # a second process compiles the kernels of the later steps meanwhile (see .warm)
    with Warmer(len(STEPS)) as warmer:
        if warmer.proc is not None:
            status("(a second process compiles the kernels of the later steps meanwhile)")
        for k, (title, step, families) in enumerate(STEPS, 1):
            warmer.reached(k)
            status(f"\n== [{k}/{len(STEPS)}] {title}")
            n_rows = len(run.rows)
            run.restart_clock()
            t0, cpu0 = time.perf_counter(), time.process_time()
            try:
                step(run)
            except Exception as exc:  # (not Ctrl-C or SIGTERM: those stop the run)
                if settings().debug:
                    raise
                # a user's error says what it is; anything else is named by its type too
                error = (str(exc) if isinstance(exc, NlpkitError) else
                         f"{type(exc).__name__}: {exc}").strip().splitlines()[0]
                status(f"  FAILED: {title}: {error}")
                reported = {r.family for r in run.rows[n_rows:]}
                run.rows += [Row(f, error=error) for f in families if f not in reported]
                done.append((title, error))
            else:
                done.append((title, ""))
            # the processor time beside the wall time: on a busy machine the two part ways
            status(f"  ({title}: {time.perf_counter() - t0:.1f} s, "
                   f"{time.process_time() - cpu0:.1f} s of processor time)")
    seconds = time.perf_counter() - start
    from . import page

    report = os.path.join(outdir, "report.html")
    page.write(run, report, done, seconds)
    click.echo(f"\nquickstart: {len(run.rows)} families in {seconds:.0f} s; outputs in "
               f"{os.path.abspath(outdir)}/, the report in {report}")
    width = max(len(r.family) for r in run.rows)
    for r in run.rows:
        click.echo(f"  {r.family:<{width}}  " + (f"{r.figure} {r.value}" if r.ok
                                                   else f"FAILED: {r.error}"))
    failed = [t for t, e in done if e]
    if failed:
        raise NlpkitError(f"quickstart: {len(failed)} of {len(STEPS)} steps failed "
                          f"({', '.join(failed)}); see above and {report}")
