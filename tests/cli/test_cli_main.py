import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nlpkit import __version__
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
