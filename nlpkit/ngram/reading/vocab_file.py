"""Word lists (SRILM ``-vocab`` files, KenLM filter vocabularies): the first token of each line."""
from __future__ import annotations

from ...errors import InputFileError
from ...text import iter_lines


def read_vocab_file(path) -> list[str]:
    """Words of an SRILM ``-vocab`` file: the first token of each line (duplicates are an error)."""
    words, seen = [], {}
    for lineno, line in enumerate(iter_lines(path), 1):
        toks = line.replace("\t", " ").replace("\r", " ").split(" ")
        toks = [t for t in toks if t]
        if not toks or line.startswith("##"):
            continue
        w = toks[0]
        if w in seen:
            raise InputFileError(path, f"vocabulary word {w!r} was already given on line "
                                       f"{seen[w]}", lineno)
        seen[w] = lineno
        words.append(w)
    if not words:
        raise InputFileError(path, "vocabulary file holds no words")
    return words
