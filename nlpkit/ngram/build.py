"""Build an SRILM-exact back-off n-gram model from text: the pipeline behind ``nlpkit ngram build``.

    text ─► encode (SRILM tokenizing, <s>/</s>) ─► count kernels ─► NgramCounts
         ─► katz.estimate (Good-Turing + Katz) ─► BackoffModel ─► write_arpa

``build_model(corpus, order=3)`` gives the model ``ngram-count -order 3 -text
corpus -lm …`` gives; ``count_ngrams`` / ``write_counts`` / ``read_counts`` are
``-write`` / ``-read``.
"""
from __future__ import annotations

import os

from .. import backend
from ..errors import NlpkitError
from ..text import iter_lines
from .counting.trie import NgramCounts, count_ids
from .estimation import katz
from .formats.arpa_srilm import write_arpa
from .formats.countfile import read_counts, write_counts
from .reading.encode import SRILM_SPECIALS, WordTable, encode_text

MAX_ORDER = 16


def _check_order(order):
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise NlpkitError(f"order must be an integer from 1 to {MAX_ORDER}; got {order!r}")


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
            raise NlpkitError(f"{path}:{lineno}: vocabulary word {w!r} was already given "
                              f"on line {seen[w]}")
        seen[w] = lineno
        words.append(w)
    if not words:
        raise NlpkitError(f"{path}: vocabulary file holds no words")
    return words


def count_ngrams(source, order=3, *, vocab_file=None, device=None, n_jobs=None,
                 progress=None) -> NgramCounts:
    """Count the n-grams of orders 1..``order`` of ``source`` as SRILM's ``ngram-count`` does.

    ``source``: a path (plain/.gz/.bz2/.xz), ``-`` for stdin, or an iterable of
    sentences (strings, split on space/TAB/CR/LF, or token lists).  Lines that
    are blank or start with ``##`` are skipped.  ``vocab_file`` closes the
    vocabulary: other words are counted as ``<unk>``.
    ``progress(nbytes)`` is called as input is read.
    """
    _check_order(order)
    table = WordTable()
    closed = vocab_file is not None
    if closed:
        for w in read_vocab_file(vocab_file):
            table.add(w)
    ids, offsets = encode_text(source, table, closed=closed, progress=progress)
    label = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the corpus"
    if offsets.shape[0] < 2:
        raise NlpkitError(f"{label}: the corpus is empty (no line holds a word)")
    vocab = table.words()
    ctx, word, count = count_ids(ids, offsets, order, len(vocab), device=device, n_jobs=n_jobs)
    return NgramCounts(vocab, ctx, word, count, closed_vocab=closed,
                       meta={"source": label, "sentences": int(offsets.shape[0] - 1),
                             "tokens": int(ids.shape[0])})


def build_model(source=None, order=3, *, gt_min=None, gt_max=None, cutoffs=None, unk=False,
                vocab_file=None, counts=None, tokenizer=None, device=None, n_jobs=None,
                progress=None):
    """SRILM's default model (Good-Turing discounting, Katz back-off) of a corpus.

    Parameters
    ----------
    source : path, ``-``, or iterable of sentences (strings or token lists); may be
        None when ``counts`` is given.
    order : n-gram order, 1..16.
    gt_min, gt_max : SRILM's ``-gtNmin`` / ``-gtNmax`` per order: an int for every
        order, a list (index 0 = unigrams; None keeps the default) or ``{order: value}``.
        Defaults 1,1,2,2,… and 1,7,7,….  ``gt_min`` is also the count cut-off.
    cutoffs : the same as ``gt_min`` under the name other toolkits use
        (an n-gram seen fewer times than its order's cut-off is dropped); give one or the other.
    unk : SRILM ``-unk``: ``<unk>`` is a regular word that gets probability mass.
    vocab_file : SRILM ``-vocab``: a word list (first token per line) that closes the vocabulary.
    counts : an :class:`NgramCounts` or the path of an SRILM count file to estimate from
        instead of counting ``source`` (``ngram-count -read``).
    tokenizer : a callable ``str -> list[str]`` applied to each line first (breaks
        SRILM parity unless it splits as SRILM does); default: SRILM's own splitting.
    device, n_jobs : where and on how many threads the counting kernels run.
    progress : callable ``(nbytes)`` called as input is read.

    Returns a :class:`~nlpkit.ngram.backoff.BackoffModel`.
    """
    _check_order(order)
    if cutoffs is not None:
        if gt_min is not None:
            raise NlpkitError("give either gt_min or cutoffs (they are the same setting), not both")
        gt_min = cutoffs
    if counts is None:
        if source is None:
            raise NlpkitError("build_model needs a corpus (source) or counts")
        if tokenizer is not None:
            from ..text import read_lines
            source = (tokenizer(line) for line in read_lines(source))
        counts = count_ngrams(source, order, vocab_file=vocab_file, device=device, n_jobs=n_jobs,
                              progress=progress)
    else:
        if source is not None:
            raise NlpkitError("give either a corpus (source) or counts, not both")
        if not isinstance(counts, NgramCounts):
            vocab_words = read_vocab_file(vocab_file) if vocab_file is not None else None
            counts = read_counts(counts, order=order, vocab_words=vocab_words)
        elif counts.order < order:
            raise NlpkitError(f"the counts go up to order {counts.order}; "
                              f"cannot build order {order}")
        if counts.order > order:
            counts = NgramCounts(counts.vocab, counts.ctx[:order], counts.word[:order],
                                 counts.count[:order], counts.closed_vocab, dict(counts.meta))
    with backend.threads(n_jobs):
        model = katz.estimate(counts, gt_min=gt_min, gt_max=gt_max, unk=unk)
    model.meta.update({k: v for k, v in counts.meta.items()
                       if k in ("source", "sentences", "tokens")})
    model.meta["order"] = order
    return model


__all__ = ["build_model", "count_ngrams", "write_arpa", "write_counts", "read_counts",
           "read_vocab_file", "NgramCounts", "SRILM_SPECIALS", "MAX_ORDER"]
