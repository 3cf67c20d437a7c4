"""The stages of a build, in sequence, for :func:`nlpkit.ngram.build` and :func:`nlpkit.ngram.count`.

    read + encode (reading/)  ->  word ids in chunks, the vocabulary
    count (counting/)         ->  one sorted table per order (chunk runs merged)
    estimate (estimation/)    ->  tables of probabilities and back-off weights
    write (formats/)          ->  ARPA / count file / BackoffModel, order by order

The memory plan (:class:`~.plan.Plan`) decides what stays in memory and what is
spilled under its temporary directory; the stages do not know which.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import NlpkitError
from .counting.chunk import CTX, RCTX
from .counting.sorted_counts import count_chunks
from .reading.encode import (LMPLZ_SPECIALS, EncodedCorpus, WordTable, iter_encoded,
                             iter_encoded_lmplz)


def _label(source):
    if isinstance(source, (str, os.PathLike)):
        return "<stdin>" if source == "-" else os.fspath(source)
    return "the corpus"


def encode_srilm(source, plan, *, vocab=None, progress=None) -> EncodedCorpus:
    """Read ``source`` as SRILM's ``ngram-count`` does; ``vocab`` closes the vocabulary."""
    table = WordTable()
    for w in vocab or ():
        table.add(w)
    store = plan.id_store()
    tokens = sentences = 0
    for ids, offsets in iter_encoded(source, table, closed=vocab is not None, progress=progress):
        store.append(ids, offsets)
        tokens += ids.shape[0]
        sentences += offsets.shape[0] - 1
    if sentences == 0:
        raise NlpkitError(f"{_label(source)}: the corpus is empty (no line holds a word)")
    return EncodedCorpus(plan, table.freeze(), store.close(), tokens, sentences)


def encode_lmplz(source, plan, *, skip_symbols=False, progress=None) -> EncodedCorpus:
    """Read ``source`` as KenLM's ``lmplz`` does (ids ``<unk> <s> </s>``, then first
    appearance)."""
    table = WordTable(LMPLZ_SPECIALS, capacity=1 << 16)
    store = plan.id_store()
    tokens = sentences = read = 0
    for ids, offsets, n in iter_encoded_lmplz(source, table, skip_specials=skip_symbols,
                                              progress=progress):
        store.append(ids, offsets)
        tokens += ids.shape[0]
        sentences += offsets.shape[0] - 1
        read += n
    if tokens == 0:
        raise NlpkitError("the corpus is empty: lmplz needs at least one line")
    return EncodedCorpus(plan, table.freeze(), store.close(), tokens, sentences, read)


def katz(source, order, plan, *, vocab=None, counts=None, gt_min=None, gt_max=None, unk=False,
         progress=None, discounts_out=None, device=None, client=None):
    """SRILM's Good-Turing/Katz model (:class:`~.estimation.katz.KatzModel`) of ``source``,
    or of an SRILM count file / :class:`~.counting.trie.NgramCounts` given as ``counts``;
    with a Dask ``client``, ``source`` is counted on its workers."""
    from .estimation import katz as K
    sc, ranked, meta = _srilm_counts(source, order, plan, "katz", vocab=vocab, counts=counts,
                                     progress=progress, device=device, client=client)
    model = K.estimate(sc, ranked, gt_min=gt_min, gt_max=gt_max, unk=unk, plan=plan,
                       discounts_out=discounts_out)
    model.meta.update(meta)
    model.meta["order"] = order
    return model


def stupid(source, order, plan, *, alpha=None, vocab=None, counts=None, progress=None, device=None,
           client=None):
    """Stupid back-off scores (:class:`~.estimation.stupid.StupidModel`) of the same counts
    as :func:`katz` takes (a corpus, counted here or on a Dask ``client``, or ``counts``)."""
    from .estimation import stupid as S
    alpha = S.check_alpha(alpha)  # (before the reading)
    sc, ranked, meta = _srilm_counts(source, order, plan, "katz", vocab=vocab, counts=counts,
                                     progress=progress, device=device, client=client)
    model = S.estimate(sc, ranked, alpha=alpha, plan=plan)
    model.meta.update(meta)
    model.meta["order"] = order
    return model


def on_workers(source, order, plan, output, smoothing, *, alpha=None, vocab=None, gt_min=None,
               gt_max=None, unk=False, discount_fallback=None, interpolate_unigrams=True,
               skip_symbols=False, progress=None, client):
    """A model counted *and* estimated on the Dask ``client``'s workers, written to the ARPA
    file ``output`` (:mod:`.distributed.estimation`); the n-grams per order.  A Katz model
    that needs SRILM's fixups, or a Kneser-Ney one whose lines and contexts do not pair one
    to one, is estimated here from the gathered counts (the same file)."""
    from .distributed import estimation as D
    from .distributed.counting import count_distributed, sorted_counts_of
    from .estimation import kn as K
    from .estimation import stupid as S
    kind = "kn" if smoothing == "kn" else "katz"
    if smoothing == "stupid":
        alpha = S.check_alpha(alpha)
    if smoothing == "kn":
        K.check_options(order, discount_fallback, None)  # errors before the reading
    got = count_distributed(client, source, order, plan, kind, vocab=vocab,
                            skip_symbols=skip_symbols, progress=progress, keep_parts=True)
    meta = {"source": _label(source), "sentences": got.sentences, "tokens": got.tokens,
            "order": order}
    try:
        if smoothing == "stupid":
            written = D.write_stupid(client, got, order, alpha, output, meta)
        elif smoothing == "kn":
            written = D.write_kn(client, got, order, output, discount_fallback=discount_fallback,
                                 interpolate_unigrams=interpolate_unigrams)
        else:
            written = D.write_katz(client, got, order, output, meta, gt_min=gt_min,
                                   gt_max=gt_max, unk=unk)
        if written is not None:
            return written
        sc = sorted_counts_of(got, order, plan, kind)
        if smoothing == "stupid":
            model = S.estimate(sc, got.vocab, alpha=alpha, plan=plan)
        elif smoothing == "kn":
            model = K.estimate(sc, got.vocab, largest_padded=[int(v) for v in got.largest],
                               words_read=got.words_read, sentences=got.sentences,
                               discount_fallback=discount_fallback,
                               interpolate_unigrams=interpolate_unigrams, plan=plan)
        else:
            from .estimation import katz
            model = katz.estimate(sc, got.vocab, gt_min=gt_min, gt_max=gt_max, unk=unk,
                                  plan=plan)
        model.meta.update(meta)
        return finish(model, output, None, plan)
    finally:
        if got.parts.futures:  # (left on the workers for the estimation)
            client.cancel(got.parts.futures)


def _srilm_counts(source, order, plan, kind, *, vocab, counts, progress, device, client):
    """SRILM's counts of ``source`` (or ``counts``) as sorted tables in rank ids, counting
    layout ``(w[n-1], …, w1, wn)``, the :class:`~.estimation.katz.RankedVocab` and
    provenance."""
    from .estimation.katz import RankedVocab
    if counts is not None:
        return _counts_as_tables(counts, order, vocab, plan)
    if client is not None:
        from .distributed.counting import count_distributed
        got = count_distributed(client, source, order, plan, kind, vocab=vocab,
                                progress=progress)
        meta = {"source": _label(source), "sentences": got.sentences, "tokens": got.tokens}
        return got.counts, got.vocab, meta
    corpus = encode_srilm(source, plan, vocab=vocab, progress=progress)
    ranked = RankedVocab(corpus.table)
    plan.settle(len(ranked), corpus.tokens)
    sc = count_chunks(corpus.chunks(ranked.rank.astype(np.int32)), order, len(ranked),
                      layout=RCTX, plan=plan, device=device, tokens=corpus.tokens)
    corpus.blocks.drop()
    meta = {"source": _label(source), "sentences": corpus.sentences, "tokens": corpus.tokens}
    return sc, ranked, meta


def _counts_as_tables(counts, order, vocab, plan):
    """Counts from an SRILM count file (or NgramCounts) as sorted tables in rank ids; the
    rows' file order stands in for the first occurrence (it is SRILM's insertion order)."""
    from .counting.runs import table_from_arrays
    from .counting.sorted_counts import SortedCounts
    from .counting.trie import NgramCounts
    from .estimation import katz as K
    from .formats.countfile import read_counts
    if not isinstance(counts, NgramCounts):
        counts = read_counts(counts, order=order, vocab_words=vocab)
        source = counts.meta.get("source")
    else:
        source = counts.meta.get("source")
        if counts.order < order:
            raise NlpkitError(f"the counts go up to order {counts.order}; "
                              f"cannot build order {order}")
    ranked = K.RankedVocab(counts.vocab)
    W = len(ranked)
    uni = ranked.rank[counts.word[0]]
    uni_count = np.zeros(W, np.int64)
    uni_first = np.full(W, -1, np.int64)
    uni_count[uni] = counts.count[0]
    uni_first[uni] = np.arange(uni.shape[0])
    tables = []
    for n in range(2, order + 1):
        grams = ranked.rank[counts.ngrams(n)].astype(np.int32)
        layout = np.ascontiguousarray(np.concatenate([grams[:, n - 2::-1], grams[:, n - 1:]],
                                                     axis=1))
        perm = np.lexsort(layout.T[::-1])
        tables.append(table_from_arrays(words=layout[perm], count=counts.count[n - 1][perm],
                                        first=perm.astype(np.int64)))
    sc = SortedCounts(W, order, RCTX, uni_count, uni_first, tables)
    return sc, ranked, {k: v for k, v in (("source", source),) if v is not None}


def kn(source, order, plan, *, discount_fallback=None, interpolate_unigrams=True, prune=None,
       skip_symbols=False, progress=None, device=None, client=None):
    """lmplz's interpolated modified Kneser-Ney model (:class:`~.estimation.kn.KnModel`);
    with a Dask ``client``, ``source`` is counted on its workers."""
    from .estimation import kn as K
    K.check_options(order, discount_fallback, prune)  # errors before the reading
    if client is not None:
        from .distributed.counting import count_distributed
        got = count_distributed(client, source, order, plan, "kn", skip_symbols=skip_symbols,
                                progress=progress)
        sc, table, largest = got.counts, got.vocab, got.largest
        words_read, sentences = got.words_read, got.sentences
    else:
        corpus = encode_lmplz(source, plan, skip_symbols=skip_symbols, progress=progress)
        W = len(corpus.table)
        plan.settle(W, corpus.tokens)
        largest = [None]
        sc = count_chunks(K.tracking_largest(corpus.chunks(), order, largest), order, W,
                          layout=RCTX, plan=plan, device=device, tokens=corpus.tokens,
                          with_first=False)
        corpus.blocks.drop()
        table, largest = corpus.table, largest[0]
        words_read, sentences = corpus.words_read, corpus.sentences
    model = K.estimate(sc, table, largest_padded=[int(v) for v in largest],
                       words_read=words_read, sentences=sentences,
                       discount_fallback=discount_fallback,
                       interpolate_unigrams=interpolate_unigrams, prune=prune, plan=plan)
    model.meta["source"] = _label(source)
    model.meta["order"] = order
    return model


def count_sorted(source, order, plan, *, vocab=None, progress=None, device=None, client=None):
    """SRILM's counts of ``source`` as sorted tables (layout ``'ctx'``, SRILM ids), the
    vocabulary, and provenance; with a Dask ``client``, counted on its workers."""
    if client is not None:
        from .distributed.counting import count_distributed
        got = count_distributed(client, source, order, plan, "count", vocab=vocab,
                                progress=progress)
        meta = {"source": _label(source), "sentences": got.sentences, "tokens": got.tokens}
        return got.counts, got.vocab, meta
    corpus = encode_srilm(source, plan, vocab=vocab, progress=progress)
    plan.settle(len(corpus.table), corpus.tokens)
    sc = count_chunks(corpus.chunks(), order, len(corpus.table), layout=CTX, plan=plan,
                      device=device, tokens=corpus.tokens)
    corpus.blocks.drop()
    meta = {"source": _label(source), "sentences": corpus.sentences, "tokens": corpus.tokens}
    return sc, corpus.table, meta


def finish(model, output, allowed, plan):
    """Hand the estimated ``model`` over: written to ``output`` (ARPA streamed from the
    tables, or the binary format), or as a :class:`~.backoff.BackoffModel`; ``allowed``
    (a word list) keeps only the n-grams made of those words."""
    from .editing.filter import filter_sections
    from .formats.binary import model_kind, save
    if output is None or model_kind(output) == "binary":
        result = model.to_backoff_model()
        if allowed is not None:
            from .editing.filter import filter_vocab
            result = filter_vocab(result, allowed)
        if output is None:
            return result
        save(result, output)
        return result.counts()
    mask = None if allowed is None else model.allowed(allowed)
    counts = model.counts if mask is None else [
        sum(int(b[0].shape[0]) for b in blocks) for _, blocks in
        filter_sections(model.sections(), mask)]
    model.write_arpa(output, filter_sections(model.sections(), mask) if mask is not None
                     else model.sections(), counts)
    return counts
