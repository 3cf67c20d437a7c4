"""The ``nlpkit`` click group: global options, error handling, subcommand groups.

Errors from bad input print one line (``Error: …``) and exit with status 1;
``--debug`` shows the traceback instead.  Ctrl-C (SIGINT) exits with 130 and SIGTERM
with 143, both after the cleanups have run: no partial output, no temporary file.
Subcommand groups live in their own modules and are imported only when used, so
``nlpkit --help`` stays fast.
"""
from __future__ import annotations

import importlib
import sys

import click

from .._version import __version__
from ..backend import DeviceError
from ..errors import (
    NlpkitError,
    Terminated,
    hold_interrupts_in_llvm,
    restore_handlers,
    unwind_on_sigterm,
)
from .common import Settings, runtime_options

# group name -> (module, attribute, one-line help); loaded on first use.
_GROUPS = {
    "info": ("nlpkit.cli.info", "info", "Versions, threads and whether CUDA can be used."),
    "corpus": ("nlpkit.cli.corpus", "corpus", "Corpus statistics, vocabularies and tokenization."),
    "quickstart": ("nlpkit.cli.quickstart", "quickstart",
                   "Run everything nlpkit does, end to end, on the bundled corpus."),
    "ngram": ("nlpkit.cli.ngram", "ngram", "N-gram language models (SRILM-compatible ARPA)."),
    "embed": ("nlpkit.cli.embed", "embed", "Word embeddings: word2vec and fastText."),
    "subword": ("nlpkit.cli.subword", "subword",
                "Subword tokenizers: BPE and WordPiece (tokenizer.json)."),
    "classify": ("nlpkit.cli.classify", "classify", "Neural text classifiers."),
    "tag": ("nlpkit.cli.tag", "tag", "Neural sequence taggers."),
    "lm": ("nlpkit.cli.lm", "lm", "Neural language models."),
    "seq2seq": ("nlpkit.cli.seq2seq", "seq2seq", "Encoder-decoder models with attention."),
}

# Exceptions that mean "the user's input or environment is wrong": one line, no traceback.
_USER_ERRORS = (NlpkitError, DeviceError, OSError, ValueError, KeyError, MemoryError)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return list(_GROUPS)

    def get_command(self, ctx, name):
        if name not in _GROUPS:
            return None
        module, attr, help_text = _GROUPS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return _not_yet(name, help_text)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, _, help_text) in _GROUPS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_yet(name, help_text):
    @click.command(name=name, help=help_text + " (not available in this version yet)",
                   context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def placeholder(args):
        raise NlpkitError(f"'nlpkit {name}' is not available in nlpkit {__version__} yet")
    return placeholder


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="nlpkit")
@runtime_options(envvar=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or status lines.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.pass_context
def cli(ctx, quiet, debug):
    """nlpkit: n-gram LMs, word embeddings and neural NLP layers, Numba-accelerated.

    Every command reads plain, .gz, .bz2 or .xz text (one sentence per line)
    or '-' for stdin, and writes its outputs atomically.
    """
    s = ctx.ensure_object(Settings)  # --threads and --device have set theirs
    s.quiet, s.debug = quiet, debug
    from ..backend import pad_heap
    pad_heap()  # (the CLI owns the process; backend.pad_heap says why)


def main(argv=None):
    """Console entry point: run the CLI, turning user errors into one line."""
    old_term = unwind_on_sigterm()  # `kill`, a job scheduler's stop: clean up, exit 143
    old_int = hold_interrupts_in_llvm()
    try:
        _run(argv)
    finally:
        restore_handlers(old_term, old_int)


def _run(argv):
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="nlpkit", standalone_mode=False)
    except (Terminated, KeyboardInterrupt) as exc:
        _exit_stopped(exc)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.stderr.close()  # e.g. `nlpkit corpus tokenize x | head`
        sys.exit(0)
    except _USER_ERRORS as exc:
        if debug:
            raise
        click.echo(f"Error: {_one_line(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug: still one line, but say so
        # A signal's exception raised while a compiled (Numba) call was running comes out
        # as "SystemError: ... returned a result with an exception set", with it as cause
        # (or further down the chain, when one compiled call ran inside another).
        stop = _stop_signal_in(exc) if isinstance(exc, SystemError) else None
        if stop is not None:
            _exit_stopped(stop)
        if debug:
            raise
        click.echo(f"Error: internal error ({type(exc).__name__}: {_one_line(exc)}); "
                   "run with --debug for the traceback", err=True)
        sys.exit(2)


def _stop_signal_in(exc):
    """The Terminated or KeyboardInterrupt that ``exc`` came from (its causes and contexts,
    followed once each), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (Terminated, KeyboardInterrupt)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _exit_stopped(exc):
    """Exit as a stop asks: SIGTERM (:class:`Terminated`) with its code, Ctrl-C with 130."""
    terminated = isinstance(exc, Terminated)
    click.echo("Terminated." if terminated else "Interrupted.", err=True)
    sys.exit(exc.code if terminated else 130)


def _one_line(exc) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: no such file"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"{exc.filename}: permission denied"
    if isinstance(exc, KeyError):
        return f"not found: {exc.args[0]!r}" if exc.args else "not found"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split("\n")[0].split())
