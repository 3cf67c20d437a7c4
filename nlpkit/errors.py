"""Errors a user can act on.  The CLI prints these as one line (``Error: …``)."""
import errno
import signal
import sys
import threading

# a write that fails for lack of room, whatever form the lack takes (a file size limit is
# what a full disk looks like under ``ulimit -f``)
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_WHY = {errno.ENOSPC: "the disk is full", errno.EFBIG: "a file grew past the size limit",
        errno.EDQUOT: "the disk quota is used up", errno.EACCES: "permission denied",
        errno.EPERM: "permission denied", errno.EROFS: "it is on a read-only file system"}


def why_write_failed(exc: OSError) -> str:
    """The reason of a failed write, in a few words for a one-line message."""
    return _WHY.get(exc.errno, exc.strerror or str(exc))


class NlpkitError(ValueError):
    """Bad input: a malformed file, an empty corpus, a wrong option.

    The message names what is wrong and where (file and line when there is one).
    It subclasses ValueError so scikit-learn-style callers can catch it as such.
    """


class InputFileError(NlpkitError):
    """A file that cannot be read or parsed; the message names file and line."""

    def __init__(self, path, problem, line=None):
        where = f"{path}" if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {problem}")
        self.path, self.problem, self.line = path, problem, line

    def __reduce__(self):  # (raised on a Dask worker, it is pickled to the client)
        return type(self), (self.path, self.problem, self.line)


class Terminated(SystemExit):
    """SIGTERM, raised where the main thread is so that cleanups (``finally``, the
    temporary files of :func:`~nlpkit.text.atomic_write`) run as they do for Ctrl-C.

    Its exit status is the shell's for a death by that signal (143); unlike
    KeyboardInterrupt, code that stops training early on Ctrl-C does not catch it.
    """

    def __init__(self, signum=signal.SIGTERM):
        super().__init__(128 + signum)


# Modules in which a raised KeyboardInterrupt or Terminated can leave LLVM half-updated
# (between two calls of an object's set-up, or in a finalizer whose disposal it skips): a
# Ctrl-C while Numba compiled or loaded a kernel was seen to end in a segfault instead of
# "Aborted.".  The CLI holds such a signal until the main thread has left them.
_LLVM_MODULES = ("llvmlite", "numba.core.codegen")
_RETRY = 0.01  # seconds between looks while a signal is held
_held = []


def _in_llvm(frame) -> bool:
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_LLVM_MODULES):
            return True
        frame = frame.f_back
    return False


def _raise_for(signum):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _hold(signum):
    """Raise for ``signum`` a few milliseconds from now, from wherever the main thread is
    then (see :func:`_on_alarm`)."""
    if not _held:
        _held.append(signum)
        signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _RETRY)


def _on_signal(signum, frame):
    """SIGINT and SIGTERM in the CLI: raise where the main thread is, or, inside LLVM's
    bindings, once it has left them (a timer looks again every few milliseconds)."""
    if _in_llvm(frame):
        _hold(signum)
        return
    _raise_for(signum)


_hooks = []  # the unraisablehook each CLI call replaced, to call on and to put back


def _redeliver(unraisable):
    """``sys.unraisablehook`` in the CLI.  A signal that arrives while the main thread runs
    a finalizer (a weakref callback, ``__del__``) raises there, and Python ignores what a
    finalizer raises: the command then ran on to exit 0 after Ctrl-C (seen in CI, raised in
    Numba's ``_on_type_disposal``).  Raise it again once the finalizer has returned."""
    exc = unraisable.exc_value
    if threading.current_thread() is threading.main_thread() and \
            isinstance(exc, (KeyboardInterrupt, Terminated)):
        _hold(signal.SIGINT if isinstance(exc, KeyboardInterrupt) else exc.code - 128)
        return
    (_hooks[-1] if _hooks else sys.__unraisablehook__)(unraisable)


def _on_alarm(signum, frame):
    if not _held:
        return
    if _in_llvm(frame):
        signal.setitimer(signal.ITIMER_REAL, _RETRY)
        return
    held = _held.pop()
    _raise_for(held)


def unwind_on_sigterm():
    """Make SIGTERM raise :class:`Terminated` instead of killing the process outright
    (its default, which skips every cleanup).  Only from the main thread and only over the
    default action; returns the handler to restore, or None when nothing was changed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    old = signal.getsignal(signal.SIGTERM)
    if old not in (signal.SIG_DFL, None):
        return None
    signal.signal(signal.SIGTERM, _on_signal)
    return old


def hold_interrupts_in_llvm():
    """The CLI's Ctrl-C: KeyboardInterrupt as Python's own handler raises it, but never
    inside LLVM's bindings (see ``_LLVM_MODULES``).  Only from the main thread and only
    over Python's default handler; returns the handler to restore, or None when nothing
    was changed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    old = signal.getsignal(signal.SIGINT)
    if old is not signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, _on_signal)
    _hooks.append(sys.unraisablehook)
    sys.unraisablehook = _redeliver
    return old


def restore_handlers(old_term, old_int):
    """Put back what :func:`unwind_on_sigterm` and :func:`hold_interrupts_in_llvm` replaced
    (their return values): the CLI called in-process, as tests and scripts do, leaves the
    caller's signal handling as it found it."""
    if old_term is not None:
        signal.signal(signal.SIGTERM, old_term)
    if old_int is not None:
        signal.signal(signal.SIGINT, old_int)
        if _hooks:
            sys.unraisablehook = _hooks.pop()
