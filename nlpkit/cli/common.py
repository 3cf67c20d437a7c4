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


def _set_threads(ctx, param, value):
    if value is not None:
        import numba
        ctx.ensure_object(Settings).threads = value
        numba.set_num_threads(min(value, numba.config.NUMBA_NUM_THREADS))
    return value


def _set_device(ctx, param, value):
    if value is not None:  # checked where kernels run (backend.resolve_device): one rule
        ctx.ensure_object(Settings).device = value
    return value


def runtime_options(command=None, *, envvar=False):
    """``--threads`` and ``--device``: the one definition of both, given to ``nlpkit``
    itself (``envvar=True``: NLPKIT_THREADS, NLPKIT_DEVICE) and to every command under it
    (see :class:`CommandGroup`).  Each sets the :class:`Settings` shared by the whole
    command line as it is parsed, so the value given last, nearest the command, wins:
    ``nlpkit --device cuda classify train --device cpu`` runs on the CPU.  The
    subcommands read no environment variable: it must not override a global option."""
    options = [
        click.option("--threads", "-t", type=click.IntRange(min=1), default=None,
                     envvar="NLPKIT_THREADS" if envvar else None, expose_value=False,
                     callback=_set_threads,
                     help="Worker threads for kernels (default: "
                     + ("all cores)." if envvar else "nlpkit --threads, else all cores).")),
        click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None,
                     envvar="NLPKIT_DEVICE" if envvar else None, expose_value=False,
                     callback=_set_device,
                     help="Where kernels run (default: "
                     + ("NLPKIT_DEVICE, else cpu)." if envvar
                        else "nlpkit --device, else NLPKIT_DEVICE, else cpu).")),
    ]

    def decorate(cmd):
        if not isinstance(cmd, click.Command):  # a function: click reverses its decorators
            for option in reversed(options):
                cmd = option(cmd)
        elif not {"threads", "device"} & {p.name for p in cmd.params}:
            for option in options:  # a command: each option is appended to its params
                option(cmd)
        return cmd

    return decorate if command is None else decorate(command)


class CommandGroup(click.Group):
    """A command group whose commands, and the group itself, take :func:`runtime_options`
    (``nlpkit classify train --device cuda`` as well as ``nlpkit --device cuda classify
    train``); a command added later gets them too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        runtime_options(self)

    def add_command(self, cmd, name=None):
        super().add_command(runtime_options(cmd), name)


def settings() -> Settings:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(Settings) if ctx is not None else None
    return obj or Settings()


def refuse_options(names, when):
    """Stop with an error naming the options among ``names`` (parameter names) that the
    command line gave: they would have no effect ``when`` (``"with --model sgns"``)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    params = {p.name: p for p in ctx.command.params}
    given = ["/".join((params[n].opts[-1], *params[n].secondary_opts[-1:])) for n in names
             if ctx.get_parameter_source(n) not in (None, ParameterSource.DEFAULT,
                                                    ParameterSource.DEFAULT_MAP)]
    if given:
        raise NlpkitError(f"{', '.join(given)} {'has' if len(given) == 1 else 'have'} no "
                          f"effect {when}")


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
