"""Tokenizers: text in, list of token strings out.

The default splits on whitespace (``str.split``), the fastest thing Python can
do; a regular expression tokenizer keeps only what the pattern matches (e.g.
``[a-z0-9]+('[a-z]+)?``, how the bundled KJV corpus was made).  Either can
lowercase first.
"""
from __future__ import annotations

import re

from ..errors import NlpkitError


class Tokenizer:
    """Callable ``str -> list[str]``.

    Parameters
    ----------
    pattern : str or None
        ``None`` splits on whitespace.  Otherwise a regular expression; each
        match (the whole match, group 0) is one token.
    lower : bool
        Lowercase the text before splitting.
    """

    def __init__(self, pattern: str | None = None, lower: bool = False):
        self.pattern = pattern
        self.lower = bool(lower)
        if pattern is None:
            self._regex = None
        else:
            try:
                self._regex = re.compile(pattern)
            except re.error as exc:
                raise NlpkitError(f"invalid tokenizer pattern {pattern!r}: {exc}") from None
            if self._regex.match(""):
                raise NlpkitError(f"tokenizer pattern {pattern!r} matches the empty string")

    def __call__(self, text: str) -> list[str]:
        if self.lower:
            text = text.lower()
        if self._regex is None:
            return text.split()
        return [m.group(0) for m in self._regex.finditer(text)]

    @property
    def is_whitespace(self) -> bool:
        return self._regex is None and not self.lower

    def __repr__(self):
        return f"Tokenizer(pattern={self.pattern!r}, lower={self.lower})"

    def __reduce__(self):
        return (Tokenizer, (self.pattern, self.lower))


def make_tokenizer(tokenizer=None, *, pattern=None, lower=False) -> Tokenizer:
    """A :class:`Tokenizer` from what a user passed: ``None``, a Tokenizer, or a callable."""
    if tokenizer is None:
        return Tokenizer(pattern, lower)
    if isinstance(tokenizer, Tokenizer) or callable(tokenizer):
        return tokenizer
    raise NlpkitError(f"tokenizer must be callable; got {type(tokenizer).__name__}")
