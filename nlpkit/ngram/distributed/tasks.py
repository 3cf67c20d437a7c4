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
                 skip_symbols=False, memory=None, share=1, temp_dir=None):
    """The sorted counts of ``rng``: its word ids mapped by ``id_map`` (this range's ids ->
    the build's), n-grams counted in the build's layout with positions from ``base``.

    Returns ``head``: the unigram counts and first positions by this range's ids, its
    tokens and for ``'kn'`` its largest padded N-gram; and ``parts``: for each partition
    ``p`` (the rows whose first column is in ``bounds[p]..bounds[p+1]-1``), the rows of
    orders 2..N as arrays, a sorted run per order.

    ``memory``: the build's budget (None: half the memory available here now), of which
    this task takes a ``share``-th (the tasks that may run at once on this host)."""
    from ..counting.chunk import CTX, RCTX
    from ..counting.sorted_counts import count_chunks
    from ..estimation.kn import tracking_largest
    from ..plan import Plan, available_memory, parse_size
    budget = parse_size(memory) if memory is not None else available_memory() // 2
    memory = max(1, budget // max(1, share))
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


# ----------------------------------------------------------------------------- stupid back-off
def stupid_scores(part, order, bos, bounds):
    """Stupid back-off on one merged partition (``part``: orders 2..N as arrays, counting
    layout, rank ids): each row's log10 score (its context group is whole here); and the
    contexts its groups are, as the order-(n-1) lines they print as (counting layout), cut
    by ``bounds`` on their first column for the partitions that print them (``pieces``,
    index m-2 for the contexts of order m); ``uni``: the words that are bigram contexts."""
    from ..estimation.stupid import scores
    P = len(bounds) - 1
    lines, pieces = [], [[None] * P for _ in range(max(0, order - 2))]
    uni = np.zeros(0, np.int32)
    for n in range(2, order + 1):
        t = part[n - 2] if part is not None else None
        if t is None:
            lines.append(None)
            continue
        words = t["words"]
        lp, starts = scores(words, t["count"].astype(np.int64), n, bos)
        lines.append({"words": words, "lp": lp})
        ctx = words[starts, :n - 1]  # (h[n-1], …, h1): the context's newest word first
        if n == 2:
            uni = np.unique(ctx[:, 0])
            continue
        # as an order-(n-1) line: (h[n-2], …, h1, h[n-1]), cut by its first column
        line = np.ascontiguousarray(ctx[:, list(range(1, n - 1)) + [0]])
        dest = np.searchsorted(bounds, line[:, 0], side="right") - 1
        for q in range(P):
            mine = line[dest == q]
            pieces[n - 3][q] = mine if mine.shape[0] else None
    return {"lines": lines, "pieces": pieces, "uni": uni}


def pieces_for(scored, q):
    """The contexts (orders 2..N-1) that partition ``q`` prints, from one partition."""
    return [p[q] for p in scored["pieces"]]


def _sorted_rows(words):
    """Rows in lexicographic order (the counting order), duplicates dropped."""
    if words.shape[0] == 0:
        return words
    words = words[np.lexsort(words.T[::-1])]
    keep = np.ones(words.shape[0], bool)
    keep[1:] = (words[1:] != words[:-1]).any(axis=1)
    return words[keep]


def stupid_sections(scored, order, bow, vocab_pool, *pieces):
    """Partition ``q``'s part of every order's ARPA section, as SRILM prints a stupid
    back-off model: its rows (``scored``) with the back-off weight of the context nodes
    among them.  ``pieces``: what every partition sent of the contexts printed here (their
    weight ``bow``); the suffixes of this partition's nodes of order m+1 are nodes of order
    m here too (weight 0 unless they are contexts), as in SRILM's context trie.  Returns
    the formatted lines per order, the rows per order and the unigram nodes found here
    (suffixes of order-2 nodes, for N >= 4)."""
    from ..estimation.joins import find_rows
    from ..formats.arpa_srilm import section_lines
    wpool, woff, by_rank = vocab_pool
    bows = [None] * (order + 1)
    above = None  # this partition's nodes of order m+1
    uni = np.zeros(0, np.int32)
    for m in range(order - 1, 1, -1):
        got = [p[m - 2] for p in pieces if p[m - 2] is not None]
        own = _sorted_rows(np.concatenate(got)) if got else np.zeros((0, m), np.int32)
        nodes = own
        if above is not None and m + 1 <= order - 1:
            # the suffix w2 … w[m+1] of (w[m], …, w1, w[m+1]) is (w[m], …, w2, w[m+1])
            nodes = _sorted_rows(np.concatenate([own, above[:, list(range(m - 1)) + [m]]]))
        weight = np.where(find_rows(own, nodes) >= 0, np.float32(bow), np.float32(0)) \
            if nodes.shape[0] else np.zeros(0, np.float32)
        t = scored["lines"][m - 2]
        if t is not None:
            b = np.full(t["words"].shape[0], np.nan, np.float32)
            if nodes.shape[0]:
                at = find_rows(nodes, np.ascontiguousarray(t["words"]))
                b[at >= 0] = weight[at[at >= 0]]
            bows[m] = b
        above = nodes
    if order >= 4 and above is not None and above.shape[0]:
        uni = np.unique(above[:, 1])  # the suffixes of the order-2 nodes
    text, rows = [], []
    for n in range(2, order + 1):
        t = scored["lines"][n - 2]
        if t is None:
            text.append(b"")
            rows.append(0)
            continue
        b = bows[n] if n < order else np.full(t["lp"].shape[0], np.nan, np.float32)
        text.append(section_lines((t["words"], "rctx", t["lp"], b), wpool, woff, by_rank))
        rows.append(int(t["lp"].shape[0]))
    return {"text": text, "rows": rows, "uni": uni}


def summary_of(sections):
    return {"rows": sections["rows"], "uni": sections["uni"],
            "targets": sections.get("targets", 0)}


def unigram_nodes_of(scored):
    return scored["uni"]


def text_of(sections, n, start, size):
    """Bytes ``start`` to ``start + size`` of a partition's lines of order ``n``."""
    return bytes(memoryview(sections["text"][n - 2])[start:start + size])


def sizes_of(sections):
    return [len(memoryview(t)) for t in sections["text"]]


# ----------------------------------------------------------------------------- Katz
def _table(t, n):
    from ..counting.runs import table_from_arrays
    if t is None:
        return table_from_arrays(words=np.zeros((0, n), np.int32),
                                 count=np.zeros(0, np.int64), first=np.zeros(0, np.int64))
    return table_from_arrays(**{k: np.ascontiguousarray(v) for k, v in t.items()})


def katz_count_of_counts(part, order, st):
    """One partition's counts of counts of orders 2..N (summed over partitions on the
    client, they give the Good-Turing discounts)."""
    from ..estimation.katz import _count_of_counts
    return [_count_of_counts(_table(part[n - 2] if part else None, n), st, n)
            for n in range(2, order + 1)]


def katz_scores(part, order, st, gts, uni_lq, bounds):
    """Katz on one merged partition: every order's probabilities and its contexts' back-off
    weights, order after order (each row's suffix is in this partition, but for bigrams,
    whose suffixes are the unigrams ``uni_lq``).  The contexts of orders 2..N-1 are cut by
    ``bounds`` on the first column of the lines they print as (``pieces``, with weights);
    ``uni``: the bigram contexts' words and weights, and every unigram node found here."""
    from ..estimation.katz import _order_pass
    from ..plan import IN_MEMORY
    P = len(bounds) - 1
    W = st.W
    uni_bow, uni_node = np.zeros(W, np.float32), np.zeros(W, np.bool_)
    lower = {"lq": uni_lq, "lpeff": uni_lq, "acc": None}
    lines, stored = [], []
    pieces = [[None] * P for _ in range(max(0, order - 2))]
    uni_ctx = None
    for n in range(2, order + 1):
        y, b, rows = _order_pass(_table(part[n - 2] if part else None, n), n, lower,
                                 gts[n - 2], st, IN_MEMORY, need_y=n < order,
                                 uni_bow=uni_bow, uni_node=uni_node)
        lines.append({"words": y.arrays["words"], "lp": y.arrays["lp"]})
        stored.append(rows)
        lower = y
        if n == 2:
            ids = np.flatnonzero(uni_node)
            uni_ctx = (ids, uni_bow[ids])
            continue
        ctx, bow = b.arrays["words"], b.arrays["bow"]  # suffix layout (h[n-1], …, h1)
        line = np.ascontiguousarray(ctx[:, list(range(1, n - 1)) + [0]])
        dest = np.searchsorted(bounds, line[:, 0], side="right") - 1
        for q in range(P):
            mine = dest == q
            pieces[n - 3][q] = (line[mine], bow[mine]) if mine.any() else None
    return {"lines": lines, "pieces": pieces, "stored": stored,
            "uni": {"ctx": uni_ctx, "nodes": np.flatnonzero(uni_node)}}


def katz_sections(scored, order, vocab_pool, *pieces):
    """Partition ``q``'s part of every order's ARPA section as SRILM prints a Katz model:
    its rows with a probability, and the back-off weight of the nodes among them (the
    contexts sent here by every partition, and the suffixes of this partition's nodes
    of the order above, weight 0 unless they are contexts).  Also says how many nodes
    lack a probability (SRILM's fixups would add one: the client then estimates)."""
    from ..estimation.joins import find_rows
    from ..formats.arpa_srilm import section_lines
    wpool, woff, by_rank = vocab_pool
    bows = [None] * (order + 1)
    above = None
    targets = 0
    for m in range(order - 1, 1, -1):
        got = [p[m - 2] for p in pieces if p[m - 2] is not None]
        own = np.concatenate([g[0] for g in got]) if got else np.zeros((0, m), np.int32)
        own_bow = np.concatenate([g[1] for g in got]) if got else np.zeros(0, np.float32)
        perm = np.lexsort(own.T[::-1]) if own.shape[0] else np.zeros(0, np.int64)
        own, own_bow = np.ascontiguousarray(own[perm]), own_bow[perm]
        nodes = own
        if above is not None:
            nodes = _sorted_rows(np.concatenate([own, above[:, list(range(m - 1)) + [m]]]))
        weight = np.zeros(nodes.shape[0], np.float32)
        if nodes.shape[0] and own.shape[0]:
            at = find_rows(own, nodes)
            weight[at >= 0] = own_bow[at[at >= 0]]
        t = scored["lines"][m - 2]
        b = np.full(t["words"].shape[0], np.nan, np.float32)
        if nodes.shape[0]:
            at = find_rows(nodes, np.ascontiguousarray(t["words"]))
            b[at >= 0] = weight[at[at >= 0]]
            targets += int(np.count_nonzero((at >= 0) & ~(t["lp"] == t["lp"])))
        bows[m] = b
        above = nodes
    uni = np.unique(above[:, 1]) if order >= 4 and above is not None else np.zeros(0, np.int32)
    text, rows = [], []
    for n in range(2, order + 1):
        t = scored["lines"][n - 2]
        b = bows[n] if n < order else np.full(t["lp"].shape[0], np.nan, np.float32)
        keep = t["lp"] == t["lp"]
        text.append(section_lines((t["words"][keep], "rctx", t["lp"][keep], b[keep]),
                                  wpool, woff, by_rank))
        rows.append(int(np.count_nonzero(keep)))
    return {"text": text, "rows": rows, "uni": uni, "targets": targets}


def katz_unigrams_of(scored):
    return scored["uni"]


# ----------------------------------------------------------------------------- Kneser-Ney
def _tables(part, order):
    """A partition's orders 2..N as in-memory tables, by order (index n-2)."""
    from ..counting.runs import table_from_arrays
    out = []
    for n in range(2, order + 1):
        t = part[n - 2] if part is not None else None
        if t is None:
            t = {"words": np.zeros((0, n), np.int32), "count": np.zeros(0, np.int64)}
        out.append(table_from_arrays(**{k: np.ascontiguousarray(v) for k, v in t.items()}))
    return out


def kn_statistics(part, order, W, largest):
    """lmplz's statistics of one partition: the bigrams' last words (summed over
    partitions: the unigrams' adjusted counts), the adjusted counts of orders 2..N-1
    (each row's left extensions are in this partition), counts of counts n1..n4 of
    orders 2..N, and the changes lmplz's raw counts at the end make to them for the rows
    of the largest padded N-gram's suffixes found here."""
    from types import SimpleNamespace

    from ..estimation import kn as K
    tables = _tables(part, order)
    sc = SimpleNamespace(table=lambda k: tables[k - 2])
    last = np.zeros(W, np.int64)
    if order > 1:
        last += np.bincount(tables[0].arrays["words"][:, 1], minlength=W)
    adjusted = [None] * order
    for k in range(2, order):
        adjusted[k - 1] = K._adjusted(sc.table(k + 1), sc.table(k), k, W, None, 1 << 62)
    stats = [np.zeros(4, np.int64)] + [K._table_stats(sc.table(k), adjusted[k - 1], k, 1 << 62)
                                       for k in range(2, order + 1)]
    # (the unigram step, j = 1, is the client's: given equal old and new counts here it
    # changes nothing)
    delta = [np.zeros(4, np.int64) for _ in range(order)]
    same = np.zeros(W, np.int64)
    K._raw_counts_at_the_end(delta, sc, same, same, largest, order)
    return {"tables": tables, "adjusted": adjusted, "last": last,
            "stats": [s + d for s, d in zip(stats, delta)]}


def kn_stats_of(counted):
    return {"last": counted["last"], "stats": counted["stats"]}


def kn_probs(counted, order, W, discounts, p_uni, bounds):
    """Probabilities and gammas of one partition, order after order (each row's suffix is
    here, but for bigrams: ``p_uni``); every order's rows cut by ``bounds`` on their last
    word for the partitions that print them (``pieces``); the gammas kept here (their
    contexts' last words are this partition's range: the lines they pair with are printed
    here); the order-2 contexts' gammas (the unigram lines' back-offs) for the client."""
    from ..estimation import kn as K
    P = len(bounds) - 1
    tables, adjusted = counted["tables"], counted["adjusted"]
    pieces = [[None] * P for _ in range(max(0, order - 1))]
    gammas = [None] * order
    lower = None
    for k in range(2, order + 1):
        pk, gammas[k - 2], _ = K._order_probs(tables[k - 2], adjusted[k - 1], k,
                                              discounts[k - 1], None, lower, p_uni, W, None,
                                              1 << 62)
        lower = pk
        words, p = pk.arrays["words"], pk.arrays["p"]
        dest = np.searchsorted(bounds, words[:, k - 1], side="right") - 1
        for q in range(P):
            mine = dest == q
            pieces[k - 2][q] = (words[mine], p[mine]) if mine.any() else None
    g1 = gammas[0]
    uni = (g1.arrays["words"][:, 0].copy(), g1.arrays["gamma"].copy()) if g1 is not None \
        else (np.zeros(0, np.int32), np.zeros(0, np.float32))
    return {"pieces": pieces, "gammas": gammas, "uni": uni}


def kn_unigram_gammas_of(probs):
    return probs["uni"]


def kn_sections(probs, order, W, vocab_pool, *pieces):
    """Partition ``q``'s part of every order's ARPA section as lmplz prints it: the rows
    whose last word is in its range (sent by every partition), in lmplz's suffix order,
    each listed line (not ending in ``</s>``/``<unk>``) paired one by one with the gammas
    of the contexts of the order above, whose last words are this range too.  ``paired``
    says whether the two counts agree (every listed line is a context: then the pairing
    here is lmplz's pairing over the whole order)."""
    from ..counting.chunk import stable_order_by_column
    from ..estimation import kn as K
    from ..formats.arpa_lmplz import section_lines
    wpool, woff = vocab_pool
    text, rows, paired = [], [], True
    for k in range(2, order + 1):
        got = [p[k - 2] for p in pieces if p[k - 2] is not None]
        words = np.concatenate([g[0] for g in got]) if got else np.zeros((0, k), np.int32)
        p = np.concatenate([g[1] for g in got]) if got else np.zeros(0, np.float32)
        # (pieces in partition order are in counting order; lmplz's: a stable sort by wk)
        perm = stable_order_by_column(words, np.int64(k - 1), np.int64(W))
        w = np.ascontiguousarray(words[perm][:, [k - 1] + list(range(k - 1))])
        lp = np.minimum(K.log10f(p[perm]), np.float32(0))
        if k < order:
            g = probs["gammas"][k - 1]
            listed = int(np.count_nonzero((w[:, 0] != K.EOS) & (w[:, 0] != K.UNK)))
            paired = paired and listed == len(g)
            bow = K._Pairing(g, k, False, 1 << 62).backoffs(w)
        else:
            bow = np.full(w.shape[0], np.nan, np.float32)
        text.append(section_lines((w, "suffix", lp, bow), wpool, woff))
        rows.append(int(w.shape[0]))
    return {"text": text, "rows": rows, "paired": paired}


def kn_summary_of(sections):
    return {"rows": sections["rows"], "paired": sections["paired"]}
