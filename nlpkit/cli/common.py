"""What every command shares: the global options, error reporting, progress bars."""
from __future__ import annotations

import sys
import time

import click

from ..errors import NlpkitError


class Settings:
    """The global options (``nlpkit --threads N --device D --quiet --debug``)."""

    def __init__(self, threads=None, device=None, quiet=False, debug=False):
        self.threads, self.device, self.quiet, self.debug = threads, device, quiet, debug


pass_settings = click.make_pass_decorator(Settings, ensure=True)


def settings() -> Settings:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(Settings) if ctx is not None else None
    return obj or Settings()


def echo(message="", err=True):
    """Print a status line on stderr unless ``--quiet``."""
    if not settings().quiet:
        click.echo(message, err=err)


def fail(message: str):
    """Stop the command with ``Error: message`` and exit status 1."""
    raise NlpkitError(message)


class Progress:
    """A click progress bar that shows the rate and the ETA; silent with ``--quiet``.

    Use as ``with Progress(total, "counting", unit="tokens") as bar: bar.update(n)``.
    A ``total`` of ``None`` (unknown length, e.g. stdin) shows the count and rate only.
    """

    def __init__(self, total, label, unit="items"):
        self.total, self.label, self.unit = total, label, unit
        self.done, self.start = 0, time.perf_counter()
        self.bar = None
        self.enabled = not settings().quiet

    def _rate(self, _item=None):
        dt = max(time.perf_counter() - self.start, 1e-9)
        return f"{_human(self.done / dt)} {self.unit}/s"

    def __enter__(self):
        if self.enabled and self.total is not None:
            self.bar = click.progressbar(length=self.total, label=self.label, show_eta=True,
                                         show_percent=self.total is not None, show_pos=True,
                                         item_show_func=self._rate, file=sys.stderr)
            self.bar.__enter__()
        return self

    def update(self, n=1):
        self.done += n
        if self.bar is not None:
            self.bar.update(n, self.done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        elif self.enabled and exc[0] is None:  # unknown length: one line at the end
            dt = time.perf_counter() - self.start
            click.echo(f"{self.label}: {_human(self.done)} {self.unit} in {dt:.1f} s "
                       f"({self._rate()})", err=True)
        return False


def _human(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"
