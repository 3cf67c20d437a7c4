"""What the workers of a distributed build run (plain functions of picklable arguments).

A file a worker cannot read is an :class:`~nlpkit.errors.InputFileError` naming the
file and the worker; Dask hands it to the client as it is.
"""
from __future__ import annotations

import glob
import os
import socket
from contextlib import contextmanager

import numpy as np

from ...errors import InputFileError
from ..reading.encode import (LMPLZ_SPECIALS, EncodedCorpus, WordTable, iter_encoded,
                              iter_encoded_lmplz)

_GLOB = set("*?[")


@contextmanager
def _on_worker():
    """Errors about files say which machine could not read them."""
    try:
        yield
    except InputFileError as exc:
        if exc.line is not None:
            raise
        raise InputFileError(exc.path, f"{exc.problem} (on the Dask worker at "
                                       f"{socket.gethostname()})") from None


def list_inputs(source):
    """``(path, size)`` of the corpus's files in corpus order: ``source`` is a path, a glob
    (its matches in sorted order) or a list of them."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out = []
    with _on_worker():
        for item in items:
            item = os.fspath(item)
            if _GLOB & set(item):
                matches = sorted(glob.glob(item))
                if not matches:
                    raise InputFileError(item, "no file matches")
            else:
                matches = [item]
            for path in matches:
                out.append((path, _size(path)))
    return out


def _size(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read ({exc.strerror or exc})") from None
    if os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise InputFileError(path, "permission denied")
    return st.st_size


def new_table(kind, vocab=None):
    """The word table a range is read into: SRILM's specials (and the words of a closed
    ``vocab``) for ``'katz'``/``'count'``, lmplz's for ``'kn'``."""
    if kind == "kn":
        return WordTable(LMPLZ_SPECIALS, capacity=1 << 16)
    table = WordTable()
    for w in vocab or ():
        table.add(w)
    return table


def encoded(rng, kind, table, vocab=None, skip_symbols=False):
    """``(ids, offsets, words read)`` blocks of the byte range ``rng``, read as a
    single-process build of this ``kind`` reads its corpus."""
    if kind == "kn":
        yield from iter_encoded_lmplz(rng, table, skip_specials=skip_symbols)
        return
    for ids, offsets in iter_encoded(rng, table, closed=vocab is not None):
        yield ids, offsets, 0


def range_vocab(rng, kind, vocab=None, skip_symbols=False):
    """The words of ``rng`` in order of first appearance (after the specials), as a byte
    pool and offsets, how often each occurs, and the range's tokens, sentences and words
    read."""
    table = new_table(kind, vocab)
    tokens = sentences = read = 0
    freq = np.zeros(0, np.int64)
    with _on_worker():
        for ids, offsets, n in encoded(rng, kind, table, vocab, skip_symbols):
            tokens += ids.shape[0]
            sentences += offsets.shape[0] - 1
            read += n
            got = np.bincount(ids)
            if got.shape[0] > freq.shape[0]:
                freq = np.concatenate([freq, np.zeros(got.shape[0] - freq.shape[0], np.int64)])
            freq[:got.shape[0]] += got
    pool, woff = table.byte_pool()
    freq = np.concatenate([freq, np.zeros(len(table) - freq.shape[0], np.int64)])
    return {"pool": pool.copy(), "woff": woff.copy(), "freq": freq, "tokens": tokens,
            "sentences": sentences, "read": read}


def range_counts(rng, kind, id_map, W, order, base, total_tokens, bounds, *, vocab=None,
                 skip_symbols=False, memory=None, temp_dir=None):
    """The sorted counts of ``rng``: its word ids mapped by ``id_map`` (this range's ids ->
    the build's), n-grams counted in the build's layout with positions from ``base``.

    Returns ``head``: the unigram counts and first positions by this range's ids, its
    tokens and for ``'kn'`` its largest padded N-gram; and ``parts``: for each partition
    ``p`` (the rows whose first column is in ``bounds[p]..bounds[p+1]-1``), the rows of
    orders 2..N as arrays, a sorted run per order."""
    from ..counting.chunk import CTX, RCTX
    from ..counting.sorted_counts import count_chunks
    from ..estimation.kn import tracking_largest
    from ..plan import Plan
    table = new_table(kind, vocab)
    id_map = np.ascontiguousarray(id_map, np.int32)
    with Plan(memory, temp_dir, order) as plan, _on_worker():
        store = plan.id_store()
        tokens = 0
        for ids, offsets, _ in encoded(rng, kind, table, vocab, skip_symbols):
            store.append(ids, offsets)
            tokens += ids.shape[0]
        if len(table) != id_map.shape[0]:  # the file changed since the vocabulary was read
            raise InputFileError(str(rng), "changed while the build read it")
        corpus = EncodedCorpus(plan, table, store.close(), tokens, 0)
        plan.settle(W, tokens)
        chunks = ((rid, offsets, base + b) for rid, offsets, b in corpus.chunks(id_map))
        largest = [None]
        if kind == "kn":
            chunks = tracking_largest(chunks, order, largest)
        sc = count_chunks(chunks, order, W, layout=CTX if kind == "count" else RCTX,
                          plan=plan, tokens=total_tokens, with_first=kind != "kn")
        corpus.blocks.drop()
        parts = [[] for _ in range(len(bounds) - 1)]
        for t in sc.tables:
            run = {k: np.array(t.column(k)) for k in t.columns}
            t.drop()
            cut = np.searchsorted(run["words"][:, 0], bounds)
            for p in range(len(bounds) - 1):
                a, b = int(cut[p]), int(cut[p + 1])
                parts[p].append({k: v[a:b] for k, v in run.items()} if b > a else None)
            del run
    head = {"uni_count": sc.uni_count[id_map], "uni_first": sc.uni_first[id_map],
            "tokens": tokens, "largest": largest[0]}
    return {"head": head, "parts": parts}


def head_of(result):
    return result["head"]


def part_of(result, p):
    return result["parts"][p]


def merge_part(kind, order, total_tokens, *pieces):
    """One partition's rows from every range (``pieces``: each range's runs of orders
    2..N) merged into one sorted table per order (equal n-grams summed, first positions
    the earliest), as arrays."""
    from ..counting.sorted_counts import merge_order, run_dtypes, store_run
    dtypes = run_dtypes(total_tokens)
    with_first = kind != "kn"
    out = []
    for n in range(2, order + 1):
        runs = [store_run(piece[n - 2], n, None, dtypes, with_first) for piece in pieces]
        t = merge_order(runs, n, plan=None, dtypes=dtypes, with_first=with_first)
        out.append({k: t.column(k) for k in t.columns} if len(t) else None)
    return out
