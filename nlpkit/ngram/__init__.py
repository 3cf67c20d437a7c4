"""N-gram language models: :func:`build` and :func:`count` are the way in.

A corpus goes through the stages the folders are named after (KenLM's builder
has the same shape):

    reading/     text -> word ids (SRILM's or lmplz's tokenizing rules), the vocabulary
    counting/    ids -> n-gram counts
    estimation/  counts -> Good-Turing/Katz (SRILM) or modified Kneser-Ney (lmplz) model
    formats/     ARPA (SRILM's and lmplz's printing), count files, nlpkit's binary format
    scoring/     hash tables over a model, scoring kernels (CPU and CUDA)
    editing/     pruning, mixing, vocabulary filtering of built models

``backoff.BackoffModel`` is what estimators produce and writers, readers and
scorers share; ``lm.NGramLM`` is the scikit-learn estimator on top of
:func:`build`.  The choice of smoothing and the vocabulary filtering are made
here and nowhere else.
"""
from __future__ import annotations

import os


def build(source=None, order=3, smoothing="katz", *, gt_min=None, gt_max=None, cutoffs=None,
          unk=False, vocab=None, counts=None, discount_fallback=None, interpolate_unigrams=True,
          prune=None, skip_symbols=False, alpha=None, limit_vocab=None, memory=None,
          temp_dir=None, output=None, tokenizer=None, device=None, n_jobs=None, progress=None,
          scheduler=None):
    """Estimate a back-off n-gram model of ``source``.

    Parameters
    ----------
    source : a path (plain, .gz, .bz2, .xz), ``-`` for stdin, or an iterable of
        sentences (strings or token lists); None when ``counts`` is given.
    order : n-gram order, 1..16.
    smoothing : ``'katz'``, Good-Turing discounting with Katz back-off exactly as SRILM's
        ``ngram-count`` computes it by default; ``'kn'``, interpolated modified Kneser-Ney
        exactly as KenLM's ``lmplz``; ``'stupid'``, stupid back-off (Brants et al. 2007):
        relative frequencies, ``alpha`` times the shorter context's score where an n-gram
        was not seen.  Stupid back-off gives *scores*, not probabilities (they are not
        normalised, so a perplexity of them is not one); it counts as Katz does and is
        written as an ARPA back-off model marked by ``#`` lines before ``\\data\\``
        (:mod:`~nlpkit.ngram.estimation.stupid` says exactly what the file computes).
        Katz and stupid read text by SRILM's rules, kn by lmplz's.
    gt_min, gt_max, cutoffs : katz: SRILM's ``-gtNmin``/``-gtNmax`` per order (an int for
        every order, a list with index 0 for unigrams, or ``{order: value}``); ``cutoffs`` is
        ``gt_min`` under the name other toolkits use.
    alpha : stupid: the back-off factor, in (0, 1]; default 0.4 (Brants et al.'s).
    unk : katz: model ``<unk>`` (SRILM ``-unk``).
    vocab : katz, stupid: a closed vocabulary (SRILM ``-vocab``), a word list or the path
        of one (first token per line); other words are counted as ``<unk>``.
    counts : katz, stupid: an :class:`~nlpkit.ngram.counting.trie.NgramCounts` or the path
        of an SRILM count file to estimate from instead of ``source`` (``ngram-count -read``;
        the counts are read into memory).
    discount_fallback : kn: None (a bad discount estimate is an error, as in lmplz), True
        for lmplz's ``0.5 1 1.5``, or one to three discounts.
    interpolate_unigrams : kn: lmplz's ``--interpolate_unigrams`` (default on).
    prune : kn: lmplz's ``--prune t1 t2 ...``: drop n-grams of order n >= 2 seen at most
        t_n times.
    skip_symbols : kn: drop literal ``<s>``, ``</s>``, ``<unk>`` instead of refusing them.
    limit_vocab : keep only the n-grams made of these words (a list or the path of a word
        list) and ``<s>``, ``</s>``, ``<unk>``; probabilities are unchanged (KenLM filter).
    memory : the memory the build may use beyond the interpreter's own: bytes, or a size
        such as ``'500M'``, ``'4G'``, ``'25%'`` (of physical memory).  Default: half the
        memory available at the start.  What does not fit is sorted into runs on disk and
        merged; the result is the same, byte for byte.
    temp_dir : where those runs go (default: the system's temporary directory); removed
        when the build ends, fails or is interrupted.
    output : write the model to this path instead of returning it: ARPA (``.arpa``,
        ``.arpa.gz``, printed as SRILM prints Katz models and lmplz KN models, streamed
        from the tables) or nlpkit's binary format (``.nlpkit``, built in memory).
    tokenizer : a callable ``str -> list[str]`` applied to each line first (breaks parity
        with SRILM/lmplz unless it splits as they do).
    device, n_jobs : where and on how many threads the kernels run.
    progress : a callable ``(nbytes)`` called as input is read.
    scheduler : count on a Dask cluster (``pip install 'nlpkit[distributed]'``): the address
        of a running ``dask.distributed`` scheduler (``'tcp://host:8786'``), ``'local:N'``
        (a local cluster of N worker processes, started and closed here) or a
        ``dask.distributed.Client``.  ``source`` is then a path, a glob or a list of paths
        that the workers can read (files in that order, as if concatenated; each should end
        with a newline); ``memory`` is this process's budget, and each worker task's divided
        by the worker threads of the most crowded host; ``temp_dir`` applies to this process
        and to each worker.  A model written to ARPA is estimated on the workers too
        (:mod:`~nlpkit.ngram.distributed` says how; pruned KN and Katz with SRILM's fixups
        are estimated here).  The model is the same, byte for byte, as without a scheduler.

    Returns
    -------
    BackoffModel or list of int
        The :class:`~nlpkit.ngram.backoff.BackoffModel`, or with ``output`` the number of
        n-grams written per order.
    """
    from . import pipeline
    from .options import check_order, check_smoothing_options
    from .plan import Plan
    check_order(order)
    check_smoothing_options(smoothing, gt_min=gt_min, gt_max=gt_max, cutoffs=cutoffs, unk=unk,
                            vocab=vocab, counts=counts, discount_fallback=discount_fallback,
                            interpolate_unigrams=interpolate_unigrams, prune=prune,
                            skip_symbols=skip_symbols, alpha=alpha)
    if (source is None) == (counts is None):
        from ..errors import NlpkitError
        raise NlpkitError("give either a corpus (source) or counts, not both"
                          if source is not None else "build needs a corpus (source) or counts")
    from .formats.binary import model_kind
    if output is not None:
        model_kind(output)  # an unknown suffix fails before the work
    if smoothing == "stupid":
        from .estimation.stupid import check_alpha
        check_alpha(alpha)
    allowed = None if limit_vocab is None else _words(limit_vocab)
    _check_scheduler(scheduler, tokenizer, counts)
    if tokenizer is not None and source is not None:
        from ..text import read_lines
        source = (tokenizer(line) for line in read_lines(source))
    from .. import backend
    with backend.threads(n_jobs), Plan(memory, temp_dir, order) as plan, \
            _cluster(scheduler) as client:
        if client is not None and order > 1 and output is not None and prune is None \
                and allowed is None and model_kind(output) == "arpa":
            # estimated where the counts are (distributed/__init__.py says how and why)
            return pipeline.on_workers(source, order, plan, output, smoothing, alpha=alpha,
                                       vocab=None if vocab is None else _words(vocab),
                                       gt_min=cutoffs if cutoffs is not None else gt_min,
                                       gt_max=gt_max, unk=unk,
                                       discount_fallback=discount_fallback,
                                       interpolate_unigrams=interpolate_unigrams,
                                       skip_symbols=skip_symbols, progress=progress,
                                       client=client)
        elif smoothing == "kn":
            model = pipeline.kn(source, order, plan, discount_fallback=discount_fallback,
                                interpolate_unigrams=interpolate_unigrams, prune=prune,
                                skip_symbols=skip_symbols, progress=progress, device=device,
                                client=client)
        elif smoothing == "stupid":
            model = pipeline.stupid(source, order, plan, counts=counts, alpha=alpha,
                                    vocab=None if vocab is None else _words(vocab),
                                    progress=progress, device=device, client=client)
        else:
            model = pipeline.katz(source, order, plan, counts=counts, gt_min=cutoffs
                                  if cutoffs is not None else gt_min, gt_max=gt_max, unk=unk,
                                  vocab=None if vocab is None else _words(vocab),
                                  progress=progress, device=device, client=client)
        return pipeline.finish(model, output, allowed, plan)


def count(source, order=3, *, vocab=None, memory=None, temp_dir=None, output=None,
          tokenizer=None, device=None, n_jobs=None, progress=None, scheduler=None):
    """Count the n-grams of orders 1 to ``order`` of ``source`` as SRILM's ``ngram-count`` does.

    ``source``: a path, ``-`` for stdin, or an iterable of sentences (strings, split on
    space/TAB/CR/LF, or token lists); blank lines and lines starting with ``##`` are
    skipped.  ``vocab`` (a word list or its path) closes the vocabulary: other words are
    counted as ``<unk>``.  ``memory``/``temp_dir``/``scheduler`` as for :func:`build`.  Returns
    :class:`~nlpkit.ngram.counting.trie.NgramCounts`, or with ``output`` writes the count
    file as ``ngram-count -write`` does (streamed, in bounded memory) and returns None.
    """
    from . import pipeline
    from .counting.trie import NgramCounts
    from .options import check_order
    from .plan import Plan
    check_order(order)
    _check_scheduler(scheduler, tokenizer, None)
    if tokenizer is not None:
        from ..text import read_lines
        source = (tokenizer(line) for line in read_lines(source))
    from .. import backend
    words = None if vocab is None else _words(vocab)
    with backend.threads(n_jobs), Plan(memory, temp_dir, order) as plan, \
            _cluster(scheduler) as client:
        sc, table, meta = pipeline.count_sorted(source, order, plan, vocab=words,
                                                progress=progress, device=device, client=client)
        if output is not None:
            from .formats.countfile import write_count_tables
            write_count_tables(sc, table, output, plan=plan)
            return None
        return NgramCounts.from_sorted(sc, table.words(), closed_vocab=words is not None,
                                       meta=meta)


def _check_scheduler(scheduler, tokenizer, counts):
    if scheduler is None:
        return
    from ..errors import NlpkitError
    if tokenizer is not None:
        raise NlpkitError("tokenizer= cannot be used with a scheduler (the workers read the "
                          "files with the builders' own tokenizing rules)")
    if counts is not None:
        raise NlpkitError("counts= cannot be used with a scheduler: it counts a corpus")


def _cluster(scheduler):
    """A Dask client for ``scheduler`` (a context; None without one).  Dask is imported
    only here, only when a scheduler is given."""
    if scheduler is None:
        from contextlib import nullcontext
        return nullcontext()
    from .distributed.cluster import connect
    return connect(scheduler)


def _words(vocab):
    """A word list given as a list or as the path of a file (first token per line)."""
    if isinstance(vocab, (str, os.PathLike)):
        from .reading.vocab_file import read_vocab_file
        return read_vocab_file(vocab)
    return list(vocab)
