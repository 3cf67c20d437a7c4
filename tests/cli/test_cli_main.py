import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nlpkit import __version__
from nlpkit.errors import Terminated
from nlpkit.cli.main import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, input=None):
    """The real entry point in a subprocess: exit codes and stderr as a user sees them."""
    return subprocess.run([sys.executable, "-c", "from nlpkit.cli import main; main()", *args],
                          capture_output=True, text=True, input=input)


def test_help_version_info():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0 and "corpus" in r.output and "quickstart" in r.output
    r = CliRunner().invoke(cli, ["--version"])
    assert r.output.strip() == f"nlpkit, version {__version__}"
    r = CliRunner().invoke(cli, ["info", "--json"])
    info = json.loads(r.output)
    assert info["versions"]["nlpkit"] == __version__ and info["threads"] >= 1
    assert "cuda" in info and info["cuda_simulator"] is True


def test_launcher_in_bin_works():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "nlpkit"), "--version"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


def test_errors_are_one_line_and_nonzero():
    r = run("corpus", "stats", "/no/such/file.txt")
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: /no/such/file.txt: no such file"
    r = run("--debug", "corpus", "stats", "/no/such/file.txt")
    assert r.returncode == 1 and "Traceback" in r.stderr
    r = run("--device", "tpu", "info")
    assert r.returncode == 2 and "Invalid value for '--device'" in r.stderr
    r = run("corpus", "vocab", "x.txt")
    assert r.returncode == 2 and "Missing option '-o'" in r.stderr


def test_device_cuda_without_gpu_is_one_line():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = ("import sys; from nlpkit.cli import main; "
            "from nlpkit import backend; sys.argv=['nlpkit']; "
            "import click\n"
            "try:\n    backend.resolve_device('cuda')\nexcept Exception as e: print(type(e).__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.strip() == "DeviceError"


def test_unfilled_groups_say_so(monkeypatch):
    import sys
    cli_main = sys.modules["nlpkit.cli.main"]
    monkeypatch.setitem(cli_main._GROUPS, "future", ("nlpkit.cli.future_group", "future", "Later."))
    r = CliRunner().invoke(cli, ["future", "train"])
    assert r.exit_code != 0 and "'nlpkit future' is not available" in str(r.exception)


# a function that runs as if it were part of LLVM's bindings (its module's name): the
# signal it sends itself lands while it runs
_INSIDE_LLVM = """
def inside(os, signal, signum, log):
    os.kill(os.getpid(), signum)
    for _ in range(200_000):
        pass
    log.append("left the bindings")
"""


@pytest.mark.parametrize("signum,raised", [("SIGINT", KeyboardInterrupt),
                                           ("SIGTERM", SystemExit)])
def test_signals_are_held_while_llvm_bindings_run(signum, raised):
    """Ctrl-C or SIGTERM while Numba compiles or loads a kernel is raised once the bindings
    are left (raised inside them, it left LLVM half-updated: a segfault, not "Aborted.")."""
    import signal
    import time

    from nlpkit.errors import hold_interrupts_in_llvm, unwind_on_sigterm

    signum = getattr(signal, signum)
    ns = {"__name__": "llvmlite.binding.pretend"}
    exec(_INSIDE_LLVM, ns)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        hold_interrupts_in_llvm()
        unwind_on_sigterm()
        log = []
        with pytest.raises(raised):
            ns["inside"](os, signal, signum, log)
            time.sleep(5)  # the held signal is raised here, within milliseconds
        assert log == ["left the bindings"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in saved.items():
            signal.signal(s, handler)


@pytest.mark.parametrize("signum,raised", [("SIGINT", KeyboardInterrupt),
                                           ("SIGTERM", SystemExit)])
def test_a_signal_raised_in_a_finalizer_is_raised_again(signum, raised):
    """A signal that arrives while a finalizer runs raises there, and Python ignores what a
    finalizer raises (seen in CI: Ctrl-C in Numba's ``_on_type_disposal``, and the command
    ran on to exit 0).  The CLI raises it again once the finalizer has returned; its
    unraisable hook is the caller's again afterwards."""
    import signal
    import time

    from nlpkit.errors import hold_interrupts_in_llvm, restore_handlers, unwind_on_sigterm

    signum = getattr(signal, signum)

    class Dies:
        def __del__(self):
            os.kill(os.getpid(), signum)  # the handler raises inside this finalizer

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    hook = sys.unraisablehook
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        old_int, old_term = hold_interrupts_in_llvm(), unwind_on_sigterm()
        with pytest.raises(raised):
            obj = Dies()
            del obj  # the finalizer's exception is ignored here ...
            time.sleep(5)  # ... and raised again here, within milliseconds
        restore_handlers(old_term, old_int)
        assert sys.unraisablehook is hook
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = hook
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_main_in_process_leaves_signal_handlers_as_found():
    """Tests and scripts call main() in-process: its SIGTERM and SIGINT handlers are the
    command's, not the caller's afterwards."""
    import signal

    from nlpkit.cli.main import main

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with pytest.raises(SystemExit):
            main(["--quiet", "ngram", "build", "/no/such/corpus.txt", "-o", "/tmp/never.arpa"])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@pytest.mark.parametrize("cause, status, said", [
    (KeyboardInterrupt(), 130, "Interrupted."),
    (Terminated(), 143, "Terminated."),
    # one compiled call inside another: the signal is two SystemErrors down the chain
    (SystemError("<inner> returned a result with an exception set"), 130, "Interrupted."),
    (None, 2, "internal error")])
def test_a_signal_inside_a_compiled_call_is_an_interruption(monkeypatch, capsys, cause, status,
                                                            said):
    """A SIGINT whose KeyboardInterrupt was raised while a Numba call ran comes back as a
    SystemError caused by it (seen in CI: "_lstm_backward ... returned a result with an
    exception set"); the CLI reports an interruption, not an internal error."""
    import importlib

    cli_main = importlib.import_module("nlpkit.cli.main")  # the module: nlpkit.cli.main is main()

    def run(**_):
        try:
            if isinstance(cause, SystemError):
                try:
                    raise KeyboardInterrupt
                except KeyboardInterrupt as inner:
                    raise cause from inner
            raise cause if cause is not None else ValueError("no signal")
        except BaseException as exc:
            raise SystemError("<kernel> returned a result with an exception set") from exc

    monkeypatch.setattr(cli_main.cli, "main", run)
    with pytest.raises(SystemExit) as exited:
        cli_main._run(["lm", "train"])
    assert exited.value.code == status
    assert said in capsys.readouterr().err
