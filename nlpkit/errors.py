"""Errors a user can act on.  The CLI prints these as one line (``Error: …``)."""


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
