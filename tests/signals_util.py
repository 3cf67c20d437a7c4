"""Run ``nlpkit`` commands in child processes and stop them with a real signal at chosen points.

Starting Python, Numba and nlpkit costs seconds a process on a loaded machine; the
interruption tests run a hundred commands.  So one server process imports the CLI once
and forks a child per run (:class:`CliServer`); the child is a fresh ``nlpkit`` process in
all that matters (its own pid, signal dispositions of a new interpreter, its own
environment, working directory, file-size limit, stdout and stderr).

Where a child stops is chosen by events it sees itself, not by wall-clock delays that a
busy machine stretches: an audit hook counts the files it opens for reading (``read``)
and for writing (``write``) and the renames (``rename``) under a folder, a wrapper counts
the progress updates (``progress``), and at the n-th event of a kind the child sends
itself SIGINT or SIGTERM with ``os.kill`` -- the signal then goes through the process's
real handlers.  At a ``rename`` the signal is handled before the rename happens.  A
``("time", seconds, arm, latest)`` point sends the signal from a timer started at the
event ``arm`` (``(kind, n)``; the first ``read`` if not given), or at the event ``latest``
(the first ``rename``) at the latest, so that the run is always interrupted somewhere in
between.  An uninterrupted run reports how many events of each kind it saw
and when, from which the tests choose their points.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------ test side
def spawn(*args, limit_fsize=None, **kw):
    """``nlpkit *args`` in a new interpreter (``subprocess.Popen``, text pipes), with an
    ``RLIMIT_FSIZE`` of ``limit_fsize`` bytes if given (Python ignores SIGXFSZ, so a write
    past it fails with EFBIG, as on a full disk)."""
    import resource

    def preexec():
        if limit_fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))
    return subprocess.Popen([sys.executable, "-c", "from nlpkit.cli.main import main; main()",
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec, **kw)


class CliServer:
    """A process that has imported the CLI and forks a child for each :meth:`run`."""

    def __init__(self, env=None):
        import nlpkit  # the children import the nlpkit this process tests, and this file

        where = [str(Path(nlpkit.__file__).resolve().parent.parent)]
        env = {**os.environ, "MPLBACKEND": "Agg", **(env or {}), "PYTHONPATH": os.pathsep.join(
            where + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__)), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env, cwd=str(HERE))
        ready = self.proc.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the CLI server did not start: {ready!r}")

    def run(self, *args, cwd, watch, env=None, stop=None, sig=None, fsize=None):
        """Run ``nlpkit *args`` in a child; returns a :class:`Result`.

        ``watch``: the folder whose files count as events (inputs, outputs, temp files).
        ``stop``: ``(kind, n)`` with kind ``read``, ``write``, ``rename`` or ``progress``
        (stop at the n-th such event), or ``("time", seconds[, arm, latest])``; ``sig``: the
        signal.
        ``fsize``: an ``RLIMIT_FSIZE`` in bytes (SIGXFSZ ignored, so a write past it fails
        with EFBIG as when a disk is full).
        """
        cwd = Path(cwd)
        n = getattr(self, "_serial", 0) + 1
        self._serial = n
        logs = Path(watch).parent / f"_cli_logs{os.getpid()}"
        logs.mkdir(exist_ok=True)
        request = {"argv": [str(a) for a in args], "cwd": str(cwd), "watch": str(watch),
                   "env": env or {}, "stop": list(stop) if stop else None,
                   "sig": int(sig) if sig else None, "fsize": fsize,
                   "out": str(logs / f"{n}.out"), "err": str(logs / f"{n}.err"),
                   "trace": str(logs / f"{n}.trace")}
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("the CLI server died")
        status = json.loads(answer)["status"]
        trace = Path(request["trace"])
        result = Result(status, Path(request["out"]).read_text(errors="replace"),
                        Path(request["err"]).read_text(errors="replace"),
                        json.loads(trace.read_text()) if trace.exists() else None,
                        time.perf_counter() - t0)
        for key in ("out", "err", "trace"):
            Path(request[key]).unlink(missing_ok=True)
        return result

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


class Result:
    """A child's exit status (negative: killed by that signal, as in subprocess), its
    stdout and stderr, and the events it counted (``trace``: kind -> times in seconds
    since its start, or None if it died before writing them)."""

    def __init__(self, status, out, err, trace, seconds):
        self.status, self.out, self.err, self.trace, self.seconds = status, out, err, trace, seconds

    def count(self, kind):
        return len(self.trace.get(kind, ())) if self.trace else 0

    def __repr__(self):
        return f"Result(status={self.status}, err={self.err[-500:]!r})"


def files_under(folder):
    """Every file under ``folder`` (relative paths) with its size and modification time."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


# ---------------------------------------------------------------------------- server side
def _serve():
    import importlib

    # the CLI and what its commands import when they run, imported once
    for name in ("nlpkit.cli.main", "nlpkit.cli.common", "nlpkit.cli.corpus", "nlpkit.cli.ngram",
                 "nlpkit.cli.embed", "nlpkit.cli.subword", "nlpkit.cli.classify",
                 "nlpkit.cli.tag", "nlpkit.cli.lm", "nlpkit.cli.seq2seq", "nlpkit.text",
                 "nlpkit.text.subword", "nlpkit.ngram", "nlpkit.embed", "nlpkit.models.io",
                 "nlpkit.cli.report", "nlpkit.models.classifier", "nlpkit.models.tagger",
                 "nlpkit.models.neural_lm", "nlpkit.models.seq2seq", "matplotlib.pyplot"):
        try:
            importlib.import_module(name)
        except ImportError:  # (an optional one: the command will say so itself)
            pass
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = _child(request)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        sys.stdout.write(json.dumps({"status": code}) + "\n")
        sys.stdout.flush()


def _child(request):
    import atexit
    import resource
    import tempfile

    for fd, name, mode in ((0, os.devnull, os.O_RDONLY),
                           (1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                           (2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        new = os.open(name, mode, 0o644)
        os.dup2(new, fd)
        os.close(new)
    os.chdir(request["cwd"])
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read TMPDIR again
    if request["fsize"] is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (request["fsize"], request["fsize"]))
    watcher = _Watcher(request)
    from nlpkit.cli.main import main
    code = 0
    try:
        main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:  # as an interpreter dies of an uncaught one
        watcher.save()
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    atexit._run_exitfuncs()
    watcher.save()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


class _Watcher:
    def __init__(self, request):
        import threading

        self.watch = os.path.abspath(request["watch"]) + os.sep
        self.stop, self.sig, self.path = request["stop"], request["sig"], request["trace"]
        self.t0 = time.perf_counter()
        self.events = {"read": [], "write": [], "rename": [], "progress": []}
        self.busy = False
        self.timer = None
        self.fired = threading.Event()
        sys.addaudithook(self.audit)
        from nlpkit.cli import common

        update = common.Progress.update
        watcher = self

        def counted_update(self, n=1):
            update(self, n)
            watcher.event("progress")

        common.Progress.update = counted_update

    def save(self):
        with open(self.path, "w") as fh:
            json.dump(self.events, fh)

    def audit(self, event, args):
        if self.busy:
            return
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes)):
                return
            path = os.path.abspath(os.fsdecode(path))
            if not path.startswith(self.watch):
                return
            if mode is not None:
                writing = any(c in mode for c in "wax+")
            else:
                writing = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            self.event("write" if writing else "read")
        elif event == "os.rename":
            dst = os.path.abspath(os.fsdecode(args[1]))
            if dst.startswith(self.watch):
                self.event("rename")

    def event(self, kind):
        self.busy = True
        try:
            self.events[kind].append(time.perf_counter() - self.t0)
        finally:
            self.busy = False
        if not self.stop:
            return
        what, n = self.stop[:2]
        if what == "time":
            arm, latest = self.stop[2:4] if len(self.stop) > 2 else (("read", 1), ("rename", 1))
            seen = len(self.events[kind])
            if [kind, seen] == list(arm) and self.timer is None:
                import threading

                self.timer = threading.Timer(n, self.kill)
                self.timer.daemon = True
                self.timer.start()
            elif [kind, seen] == list(latest) and self.timer is not None:
                self.timer.cancel()
                self.kill()  # (at the latest here; a second signal is not sent)
        elif kind == what and len(self.events[kind]) == n:
            self.kill()

    def kill(self):
        if self.fired.is_set():
            return self._wait()
        self.fired.set()
        self.busy = True
        os.kill(os.getpid(), self.sig)
        self.busy = False
        self._wait()

    def _wait(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        # the handler runs at the main thread's next bytecode: let it run here, so that a
        # signal sent at an event interrupts the operation that raised the event
        for _ in range(1000):
            time.sleep(0.001)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
