"""Vocabulary: a stable mapping between token strings and int ids, with counts.

Ids are stable: the special tokens come first, in the order given (by default
``<s>`` = 0, ``</s>`` = 1, ``<unk>`` = 2), then the words by descending count,
ties broken by first appearance in the text.  Building the same vocabulary from
the same text always gives the same ids.

The text format (:meth:`Vocabulary.save` / :meth:`Vocabulary.load`) is one
entry per line, ``word<TAB>count``, in id order; the first line is a header
``#nlpkit-vocab specials=<s>,</s>,<unk>``.  A plain word list (one word per line,
an optional count after whitespace, as SRILM's ``-vocab`` files and
``ngram-count -write1`` output) also loads.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .. import backend
from ..errors import InputFileError, NlpkitError
from ..params import POSITIVE_INT, check_param
from .count_kernels import count_ids_cpu
from .readers import atomic_write, iter_lines

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SPECIALS = (BOS, EOS, UNK)
_HEADER = "#nlpkit-vocab"


class Vocabulary:
    """Tokens ↔ ids, with a count per entry.

    Parameters
    ----------
    words : iterable of str
        Entries in id order (specials included if they should be present).
    counts : array-like of int, optional
        One count per entry (zeros if omitted).
    specials : tuple of str
        Which entries are special tokens (never pruned by ``min_count``).
    """

    def __init__(self, words=(), counts=None, specials=SPECIALS):
        self.itos = list(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = next(w for w in self.itos if self.itos.count(w) > 1)
            raise NlpkitError(f"vocabulary has the word {dup!r} more than once")
        self.counts = (np.zeros(len(self.itos), np.int64) if counts is None
                       else np.asarray(counts, dtype=np.int64).copy())
        if self.counts.shape != (len(self.itos),):
            raise NlpkitError("vocabulary: one count per word is needed")
        self.specials = tuple(s for s in specials if s in self.stoi)

    # ---------------------------------------------------------------- building
    @classmethod
    def from_counts(cls, counts, *, min_count=1, max_size=None, specials=SPECIALS):
        """Build from a ``{word: count}`` mapping whose order is first appearance."""
        _check_limits(min_count, max_size)
        words = list(counts.keys())
        freq = np.fromiter(counts.values(), dtype=np.int64, count=len(words))
        is_special = np.array([w in specials for w in words], dtype=bool)
        order = _rank(freq, min_count, max_size, is_special)
        vocab = cls._assemble([words[i] for i in order], freq[order],
                              {s: counts.get(s, 0) for s in specials}, specials)
        if vocab.unk_id >= 0:  # pruned words are read as <unk> from now on
            vocab.counts[vocab.unk_id] += int(freq[~is_special].sum() - freq[order].sum())
        return vocab

    @classmethod
    def build(cls, sentences, *, min_count=1, max_size=None, specials=SPECIALS):
        """Count the tokens of ``sentences`` (an iterable of token lists) and build."""
        counter = Counter()
        for toks in sentences:
            counter.update(toks)
        return cls.from_counts(counter, min_count=min_count, max_size=max_size, specials=specials)

    @classmethod
    def from_ids(cls, first_seen, ids, *, min_count=1, max_size=None, specials=SPECIALS,
                 device=None, n_jobs=None):
        """Build from text already encoded by first appearance.

        ``first_seen`` lists the words in order of first appearance and ``ids``
        holds the text as indices into it.  Counting runs in the token-count
        kernel on ``device``.  Returns ``(vocab, remap)`` where ``remap[old_id]``
        is the word's id in the new vocabulary (``<unk>``'s id, or -1 without
        ``<unk>``, for pruned words).
        """
        _check_limits(min_count, max_size)
        count = backend.pick(count_ids_cpu, "nlpkit.text.count_kernels_cuda:count_ids_cuda", device)
        with backend.threads(n_jobs):
            freq = count(ids, len(first_seen))
        is_special = [w in specials for w in first_seen]
        order = _rank(freq, min_count, max_size, is_special)
        seen = dict(zip(first_seen, freq.tolist()))
        vocab = cls._assemble([first_seen[i] for i in order], freq[order],
                              {s: seen.get(s, 0) for s in specials}, specials)
        unk = vocab.stoi.get(UNK, -1)
        remap = np.full(len(first_seen), unk, dtype=np.int32)
        remap[order] = np.arange(len(vocab.specials), len(vocab.specials) + len(order), dtype=np.int32)
        pruned = remap == unk
        for s in vocab.specials:
            if s in seen:
                i = first_seen.index(s)
                remap[i], pruned[i] = vocab.stoi[s], False
        if unk >= 0:  # pruned words are read as <unk> from now on
            vocab.counts[unk] += int(freq[pruned].sum())
        return vocab, remap

    @classmethod
    def _assemble(cls, words, freq, special_counts, specials):
        allw = list(specials) + list(words)
        counts = np.concatenate([np.array([special_counts[s] for s in specials], np.int64),
                                 np.asarray(freq, np.int64)])
        return cls(allw, counts, specials)

    def extend(self, counts, *, min_count=1):
        """Add the words of ``counts`` (``{word: count}``) not yet present; add counts of the rest.

        Existing ids never change, so vectors or models indexed by them stay valid.
        Returns the number of words added.
        """
        before = len(self)
        self.grow(list(counts), np.fromiter(counts.values(), np.int64, len(counts)),
                  min_count=min_count)
        return len(self) - before

    def grow(self, words, counts, *, min_count=1):
        """:meth:`extend` with the words and their counts side by side (``counts`` an
        array): new words with at least ``min_count`` occurrences are appended by
        descending count, ties in the order given.  Returns ``remap``: each of ``words``'
        id (int32), -1 for those left out."""
        words = list(words)
        counts = np.asarray(counts, np.int64)
        if self.itos:
            known = np.fromiter((self.stoi.get(w, -1) for w in words), np.int64, len(words))
        else:  # (a new vocabulary: no look-ups)
            known = np.full(len(words), -1, np.int64)
        hit = known >= 0
        np.add.at(self.counts, known[hit], counts[hit])
        new = np.flatnonzero(~hit & (counts >= min_count))
        new = new[np.argsort(-counts[new], kind="stable")]
        first = len(self.itos)
        for i in new.tolist():
            self.stoi[words[i]] = len(self.itos)
            self.itos.append(words[i])
        self.counts = np.concatenate([self.counts, counts[new]])
        remap = known.astype(np.int32)
        remap[new] = np.arange(first, len(self.itos), dtype=np.int32)
        return remap

    # ----------------------------------------------------------------- lookups
    def __len__(self):
        return len(self.itos)

    def __contains__(self, word):
        return word in self.stoi

    def __iter__(self):
        return iter(self.itos)

    def __getitem__(self, word):
        """Id of ``word``; ``<unk>``'s id for an unknown word (KeyError without ``<unk>``)."""
        i = self.stoi.get(word)
        if i is None:
            if self.unk_id < 0:
                raise KeyError(word)
            return self.unk_id
        return i

    def __eq__(self, other):
        return (isinstance(other, Vocabulary) and self.itos == other.itos
                and np.array_equal(self.counts, other.counts) and self.specials == other.specials)

    def __repr__(self):
        return f"<Vocabulary of {len(self)} entries ({len(self.specials)} special)>"

    @property
    def unk_id(self) -> int:
        return self.stoi.get(UNK, -1)

    @property
    def bos_id(self) -> int:
        return self.stoi.get(BOS, -1)

    @property
    def eos_id(self) -> int:
        return self.stoi.get(EOS, -1)

    def encode(self, tokens) -> np.ndarray:
        """int32 ids of ``tokens``; unknown tokens map to ``<unk>`` (or -1 without it)."""
        get, unk = self.stoi.get, self.unk_id
        return np.fromiter((get(t, unk) for t in tokens), dtype=np.int32)

    def decode(self, ids) -> list[str]:
        itos = self.itos
        return [itos[i] for i in np.asarray(ids).tolist()]

    # --------------------------------------------------------------- text file
    def save(self, path):
        """Write ``word<TAB>count`` lines in id order (atomic: temporary file, then rename)."""
        with atomic_write(path) as fh:
            fh.write(f"{_HEADER} specials={','.join(self.specials)}\n")
            for w, c in zip(self.itos, self.counts.tolist()):
                fh.write(f"{w}\t{c}\n")

    @classmethod
    def load(cls, path, *, specials=None):
        """Read a file written by :meth:`save`, or a plain word list (one word per line).

        In a plain list the first token of each line is the word and an
        optional second token its count (as SRILM's ``-vocab`` files: no comment
        lines); blank lines are skipped.  A word listed twice is an error naming
        both lines.
        """
        words, counts, seen = [], [], {}
        file_specials = None
        for lineno, line in enumerate(iter_lines(path), 1):
            if lineno == 1 and line.startswith(_HEADER):
                spec = line[len(_HEADER):].strip()
                if spec.startswith("specials="):
                    file_specials = tuple(s for s in spec[len("specials="):].split(",") if s)
                continue
            tabbed = "\t" in line
            fields = line.split("\t") if tabbed else line.split()
            if not fields or not fields[0].strip():
                continue
            word = fields[0]
            if word in seen:
                raise InputFileError(path, f"the word {word!r} is listed twice "
                                     f"(first on line {seen[word]})", lineno)
            count = 0
            if len(fields) > 1 and fields[1].strip():
                try:
                    count = int(fields[1])
                except ValueError:
                    if tabbed:  # word<TAB>count: the count must be one
                        raise InputFileError(path, f"count {fields[1]!r} is not an integer",
                                             lineno) from None
                if not -2 ** 63 <= count < 2 ** 63:  # counts are int64
                    raise InputFileError(path, f"count {fields[1]!r} is out of range", lineno)
            seen[word] = lineno
            words.append(word)
            counts.append(count)
        if specials is None:
            specials = file_specials if file_specials is not None else SPECIALS
        return cls(words, counts, specials)


def _check_limits(min_count, max_size):
    check_param("Vocabulary", "min_count", min_count, POSITIVE_INT)
    check_param("Vocabulary", "max_size", max_size, [None, *POSITIVE_INT])


def _rank(freq, min_count, max_size, is_special):
    """Indices of the kept non-special words: count >= min_count, by count desc, stable."""
    keep = np.flatnonzero((freq >= min_count) & ~np.asarray(is_special, dtype=bool))
    order = keep[np.argsort(-freq[keep], kind="stable")]
    if max_size is not None:
        order = order[:max_size]
    return order


def read_vocab_words(path) -> list[str]:
    """The words of a vocabulary file (either format), in file order."""
    return Vocabulary.load(path, specials=()).itos


__all__ = ["Vocabulary", "SPECIALS", "BOS", "EOS", "UNK", "read_vocab_words"]
