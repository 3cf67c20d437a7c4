"""Fuzzed readers: every reader of files from others, fed mutated and random files
(issue 21).  Each ends in a result or an NlpkitError naming the file -- no other
exception, no hang, no crash, no runaway allocation.

Each reader's property runs in a child process (``property_child.py``): a segfault
in a scoring kernel fed a damaged binary table would otherwise kill pytest.  The
examples are derandomized, so CI runs the same inputs every time; ``fuzz/run.py``
(atheris) is the long, random run.
"""
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from fuzz.targets import TARGETS  # noqa: E402

EXAMPLES = int(os.environ.get("NLPKIT_FUZZ_EXAMPLES", "500"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_reader_survives_fuzzed_files(name):
    with tempfile.TemporaryDirectory() as tmp:
        last = os.path.join(tmp, "last-input")
        env = dict(os.environ, NLPKIT_FUZZ_LAST=last,
                   PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run([sys.executable, os.path.join(HERE, "property_child.py"), name,
                               str(EXAMPLES)], capture_output=True, text=True, env=env,
                              timeout=600)
        if proc.returncode != 0:
            shown = ""
            if os.path.exists(last):
                with open(last, "rb") as fh:
                    shown = f"\nlast input: {fh.read()[:2000]!r}"
            pytest.fail(f"{name}: child exited with {proc.returncode}{shown}\n"
                        f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}", pytrace=False)
        assert f"{EXAMPLES} examples asked" in proc.stdout
