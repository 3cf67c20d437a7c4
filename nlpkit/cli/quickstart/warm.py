"""Compiling ahead on the second core: a process that fills the Numba cache for the later
steps while the quickstart runs the earlier ones.

A first run (an empty cache, as after ``pip install``) spent most of its time in Numba
compiling kernels, one after another on one core, while the other core was mostly idle.
This process runs the later steps at the ``tiny`` size, in a temporary folder (removed at
the end): their kernels compile there, with the argument types the quickstart will give
them, and ``cache=True`` writes them to the cache, from which the quickstart then loads
them instead of compiling them.  Nothing it computes is used, and nothing is shipped: the
cache it fills is the one the quickstart would have filled itself.

It only ever saves time: its failures are ignored (the quickstart compiles what it did not),
it skips a step the quickstart has reached (the two would compile the same kernels), it
runs one Numba thread, and it ends with the quickstart: the quickstart writes the number of
each step it starts on the process's stdin and closes it at the end; end of file (also when
the quickstart is killed) ends the process.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

#: The first step warmed ahead (1-based): step 1 is too short for the warming of step 2 to
#: get ahead of the quickstart, which would compile the same kernels at the same time.
FIRST = 3


class Warmer:
    """The quickstart's handle on the process (``with Warmer(n_steps) as warmer:``);
    :meth:`reached` tells it the step the quickstart starts."""

    def __init__(self, n_steps, first=FIRST):
        self.proc = self.outdir = None
        if first > n_steps:
            return
        self.outdir = tempfile.mkdtemp(prefix="nlpkit-quickstart-warm-")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))))
        env = dict(os.environ, NUMBA_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                                              if p))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, self.outdir, str(first), str(n_steps)],
                env=env,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                # its own session: a Ctrl-C at the terminal is the quickstart's to handle
                # (it ends this process by closing the pipe)
                start_new_session=True)
        except OSError:  # no process to spare: the quickstart compiles everything itself
            self.close()

    def reached(self, k):
        """The quickstart starts step ``k`` (1-based)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.write(f"{k}\n".encode())
            self.proc.stdin.flush()
        except OSError:  # it has ended (done, or failed): nothing to tell it
            pass

    def close(self):
        """End the process (it exits on end of file), wait for it, remove its folder."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.outdir is not None:
            shutil.rmtree(self.outdir, ignore_errors=True)
            self.outdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _follow(reached):
    """Read the steps the quickstart starts from stdin into ``reached[0]``; end the process
    at end of file: the quickstart is done or gone, and the kernel being compiled has no use."""
    for line in sys.stdin:
        try:
            reached[0] = max(reached[0], int(line))
        except ValueError:
            pass
    os._exit(0)


def main(outdir, first, n_steps):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (the quickstart ends it, see Warmer)
    reached = [0]
    threading.Thread(target=_follow, args=(reached,), daemon=True).start()
    from .steps import STEPS
    from .run import Run

    for k in range(first, n_steps + 1):
        if reached[0] >= k:
            continue
        try:
            folder = os.path.join(outdir, str(k))
            os.makedirs(folder)
            STEPS[k - 1][1](Run(folder, "tiny", lambda *a: None))
        except Exception:  # noqa: BLE001, S110 - the quickstart compiles what was not warmed
            pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
