"""Errors a user can act on.  The CLI prints these as one line (``Error: …``)."""
import errno

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
