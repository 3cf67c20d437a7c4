"""Word-word co-occurrence counts of a corpus, streamed, in bounded memory.

:func:`count_cooccurrences` reads the corpus twice, a block at a time: once
for the vocabulary, once for the pairs (the kernels in
:mod:`nlpkit.embed.cooccur`), so the text is never held whole.  The counts
live in one hash table per thread; a table grows while ``memory`` allows and
is otherwise drained, sorted, to a run on disk, and the runs are merged at the
end (Stanford's ``cooccur -memory`` works the same way with its overflow
files).  The result, :class:`Cooccurrences`, holds the upper triangle of the
symmetric matrix as ``(rows, cols, vals)``; :meth:`Cooccurrences.to_csr`
gives the whole matrix.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import types
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .. import backend
from ..errors import NlpkitError
from ..params import POSITIVE, POSITIVE_INT, check_param
from ..text.corpus import Encoder, iter_encoded
from ..text.vocab import Vocabulary
from .cooccur import EMPTY, count_windows_cpu, merge_runs_cpu, rehash_cpu, split_cells, take_cells
from .docfreq import doc_freq_cpu

WEIGHTINGS = ("harmonic", "uniform", "linear")
CELL_BYTES = 16            # an int64 key and a float64 sum per table slot
MAX_LOAD = 0.7             # a table grows or spills before it is fuller than this
_FIRST_SLOTS = 1 << 18     # slots per partition to start with


def distance_weights(window: int, weighting: str) -> np.ndarray:
    """``w[d]`` for ``d = 0..window`` (``w[0]`` unused): ``1/d`` (``'harmonic'``, GloVe),
    ``1`` (``'uniform'``) or ``(window - d + 1) / window`` (``'linear'``: the expected
    count of word2vec's and hyperwords' dynamic windows, drawn uniformly from 1..window)."""
    d = np.arange(window + 1, dtype=np.float64)
    d[0] = 1.0
    if weighting == "harmonic":
        w = 1.0 / d
    elif weighting == "uniform":
        w = np.ones(window + 1)
    elif weighting == "linear":
        w = (window - d + 1) / window
    else:
        raise NlpkitError(f"weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}")
    w[0] = 0.0
    return w


@dataclass
class Cooccurrences:
    """The symmetric co-occurrence matrix of a corpus, upper triangle only.

    ``rows[i] <= cols[i]``; ``vals[i]`` is the weighted count of the pair (each
    direction counted: the diagonal holds both).  ``words``/``counts`` are the
    vocabulary (id order, by descending count), ``n_tokens`` the tokens read.
    ``doc_freq``/``n_docs``: in how many sentences each word occurs (TF-IDF).
    """

    words: list
    counts: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n_tokens: int
    doc_freq: np.ndarray
    n_docs: int

    @property
    def n_words(self) -> int:
        return len(self.words)

    @property
    def nnz(self) -> int:
        """Cells of the upper triangle."""
        return int(self.rows.shape[0])

    def to_csr(self, dtype=np.float64) -> sparse.csr_matrix:
        """The whole symmetric matrix as CSR (indices sorted)."""
        off = self.rows != self.cols
        r = np.concatenate([self.rows, self.cols[off]])
        c = np.concatenate([self.cols, self.rows[off]])
        v = np.concatenate([self.vals, self.vals[off]]).astype(dtype, copy=False)
        n = self.n_words
        m = sparse.csr_matrix((v, (r, c)), shape=(n, n))
        m.sort_indices()
        return m


class CooccurrenceCounter:
    """Counts pairs block by block into per-thread tables, within ``memory`` bytes
    of tables (spilling sorted runs to ``tmpdir`` beyond).  Use as a context
    manager, or call :meth:`close`, so the runs are removed."""

    def __init__(self, n_words, weights, *, keep=None, seed=1, memory=2 << 30, n_parts=1,
                 tmpdir=None):
        self.n_words = int(n_words)
        if self.n_words >= 1 << 31:
            raise NlpkitError("co-occurrence counting supports at most 2^31 - 1 words")
        self.weights = np.ascontiguousarray(weights, np.float64)
        self.keep = (np.ones(self.n_words, np.float64) if keep is None
                     else np.ascontiguousarray(keep, np.float64))
        self.seed = np.uint64(seed)
        self.memory = int(memory)
        self.n_parts = max(int(n_parts), 1)
        self._tmpdir_parent = tmpdir
        self._tmpdir = None
        self.sentences = 0
        self.runs = [[] for _ in range(self.n_parts)]   # (start, end) per partition's run
        self._run_files = [None] * self.n_parts
        self._run_len = [0] * self.n_parts
        slots = _FIRST_SLOTS
        while slots > 1024 and self._table_bytes(slots) > self.memory:
            slots >>= 1
        self._alloc(slots)

    # ------------------------------------------------------------ tables
    def _table_bytes(self, slots):
        return self.n_parts * slots * CELL_BYTES

    def _alloc(self, slots):
        self.keys = np.full((self.n_parts, slots), EMPTY, np.int64)
        self.vals = np.zeros((self.n_parts, slots), np.float64)
        self.fill = np.zeros(self.n_parts, np.int64)

    @property
    def capacity(self) -> int:
        return self.keys.shape[1]

    def _can_grow(self):
        # while rehashing, the old and the new (twice larger) tables are both held
        return 3 * self._table_bytes(self.capacity) <= self.memory

    def _grow(self):
        old_k, old_v = self.keys, self.vals
        fill = self.fill
        self._alloc(2 * self.capacity)
        rehash_cpu(old_k, old_v, self.keys, self.vals)
        self.fill = fill
        del old_k, old_v

    def _make_room(self, need):
        """Grow, or spill the fuller partitions, so that ``need`` more cells fit."""
        limit = int(MAX_LOAD * self.capacity)
        while self.fill.max() + need > limit and self._can_grow():
            self._grow()
            limit = int(MAX_LOAD * self.capacity)
        for t in range(self.n_parts):
            if self.fill[t] + need > limit:
                self._spill(t)
        if need > limit:
            raise NlpkitError(f"a sentence is too long to count within memory={self.memory:,} "
                              "bytes: raise memory or split long lines")

    def _spill(self, t):
        """Write partition ``t``'s cells, sorted by key, as one more run on disk."""
        n = int(self.fill[t])
        if n == 0:
            return
        k = np.empty(n, np.int64)
        v = np.empty(n, np.float64)
        take_cells(self.keys[t], self.vals[t], k, v)
        order = np.argsort(k, kind="stable")
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="nlpkit-cooccur-", dir=self._tmpdir_parent)
        if self._run_files[t] is None:
            base = os.path.join(self._tmpdir, f"part{t}")
            self._run_files[t] = (open(base + ".keys", "wb"), open(base + ".vals", "wb"))
        fk, fv = self._run_files[t]
        fk.write(k[order].tobytes())
        fv.write(v[order].tobytes())
        start = self._run_len[t]
        self._run_len[t] += n
        self.runs[t].append((start, start + n))
        self.fill[t] = 0

    # ------------------------------------------------------------ counting
    def add(self, ids, offsets):
        """Count the sentences ``ids[offsets[s]:offsets[s + 1]]`` (ids ``-1`` = dropped word)."""
        ids = np.ascontiguousarray(ids, np.int32)
        offsets = np.ascontiguousarray(offsets, np.int64)
        lengths = np.diff(offsets)
        n_sent = lengths.shape[0]
        if n_sent == 0:
            return
        window = self.weights.shape[0] - 1
        # pairs a sentence can add at most: sum over positions of min(i, window)
        short = np.minimum(lengths, window + 1)
        bound = short * (short - 1) // 2 + np.maximum(lengths - window - 1, 0) * window
        cum = np.concatenate([[0], np.cumsum(bound)])
        # blocks of sentences small next to the tables, so a block never meets a full one
        step = max(int(0.1 * MAX_LOAD * self.capacity), 1)
        s = 0
        while s < n_sent:
            e = int(np.searchsorted(cum, cum[s] + step, side="right")) - 1
            e = min(max(e, s + 1), n_sent)
            need = int(cum[e] - cum[s])
            self._make_room(need)
            max_len = int(lengths[s:e].max()) if e > s else 1
            count_windows_cpu(ids, offsets, s, e, self.sentences, self.n_words, self.weights,
                              self.keep, self.seed, max(max_len, 1), self.keys, self.vals,
                              self.fill)
            step = max(int(0.1 * MAX_LOAD * self.capacity), 1)
            s = e
        self.sentences += n_sent

    def finish(self):
        """``(rows, cols, vals)`` of every cell counted (upper triangle, unique)."""
        spilled = [t for t in range(self.n_parts) if self.runs[t]]
        for t in spilled:
            self._spill(t)
            for f in self._run_files[t]:
                f.close()
        starts = np.concatenate([[0], np.cumsum(self.fill)]).astype(np.int64)  # spilled: 0
        n_tab = int(starts[-1])
        rows = np.empty(n_tab, np.int32)
        cols = np.empty(n_tab, np.int32)
        vals = np.empty(n_tab, np.float64)
        if n_tab:
            split_cells(self.keys, self.vals, starts[:-1], self.n_words, rows, cols, vals)
        parts = []
        parts.append((rows, cols, vals))
        self.keys = self.vals = None
        for t in spilled:
            parts.append(self._merged(t))
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(x) for x in zip(*parts))

    def _merged(self, t):
        base = os.path.join(self._tmpdir, f"part{t}")
        n = self._run_len[t]
        keys = np.memmap(base + ".keys", np.int64, "r", shape=(n,))
        vals = np.memmap(base + ".vals", np.float64, "r", shape=(n,))
        bounds = np.array(self.runs[t], np.int64).reshape(-1, 2)
        out_k = np.memmap(base + ".merged.keys", np.int64, "w+", shape=(max(n, 1),))
        out_v = np.memmap(base + ".merged.vals", np.float64, "w+", shape=(max(n, 1),))
        m = merge_runs_cpu(np.asarray(keys), np.asarray(vals), bounds[:, 0].copy(),
                           bounds[:, 1].copy(), np.asarray(out_k), np.asarray(out_v))
        nw = np.int64(self.n_words)
        k = np.asarray(out_k[:m])
        out = ((k // nw).astype(np.int32), (k % nw).astype(np.int32), np.array(out_v[:m]))
        del keys, vals, out_k, out_v, k
        return out

    def close(self):
        for files in self._run_files:
            for f in files or ():
                f.close()
        self._run_files = [None] * self.n_parts
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- the corpus
def _replayable(source):
    """``source`` if it can be read twice (a path or a sequence), else a list of it."""
    if isinstance(source, (str, os.PathLike)):
        if source != "-" and not os.path.exists(source):
            raise NlpkitError(f"{source}: no such corpus file")
        return list(_stdin_lines()) if source == "-" else source
    return source if isinstance(source, Sequence) else list(source)


def _stdin_lines():
    from ..text import iter_lines
    return iter_lines("-")


def scan_vocabulary(source, tokenizer=None, *, min_count=5, max_vocab=None):
    """One pass over ``source``: ``(Vocabulary, n_tokens)`` with the words of at least
    ``min_count`` occurrences, by descending count (ties by first appearance), the
    ``max_vocab`` most frequent if given."""
    enc = Encoder()
    counts = np.zeros(1 << 16, np.int64)
    n_tokens = 0
    for ids, _ in iter_encoded(source, tokenizer, enc):
        if ids.shape[0] == 0:
            continue
        top = int(ids.max()) + 1
        if top > counts.shape[0]:
            counts = np.concatenate([counts, np.zeros(max(top, 2 * counts.shape[0])
                                                      - counts.shape[0], np.int64)])
        counts[:top] += np.bincount(ids, minlength=top)
        n_tokens += ids.shape[0]
    if n_tokens == 0:
        raise NlpkitError("the training corpus is empty (no tokens)")
    words = enc.first_seen
    vocab = Vocabulary()
    vocab.grow(words, counts[:len(words)], min_count=min_count)
    if max_vocab is not None and len(vocab) > max_vocab:
        vocab = Vocabulary(vocab.itos[:max_vocab], vocab.counts[:max_vocab])
    if len(vocab) == 0:
        raise NlpkitError(f"the vocabulary is empty: no word occurs at least min_count={min_count} "
                          "times")
    return vocab, n_tokens


def encoded_blocks(source, vocab: Vocabulary, tokenizer=None):
    """``(ids, offsets)`` blocks of ``source`` in ``vocab``'s ids; other words are -1
    (even ``<unk>``, should the text hold one: it is a word here)."""
    lookup = types.SimpleNamespace(stoi=vocab.stoi, unk_id=-1)
    for ids, lengths in iter_encoded(source, tokenizer, Encoder(lookup)):
        offsets = np.zeros(lengths.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        yield ids, offsets


def count_cooccurrences(source, *, window=15, weighting="harmonic", min_count=5, max_vocab=None,
                        tokenizer=None, sample=0.0, seed=1, memory=2.0, n_jobs=None,
                        tmpdir=None, callback=None) -> Cooccurrences:
    """Co-occurrence counts of ``source`` (a path, ``-``, or sentences as str or token
    lists) within ``window`` words either side, weighted by distance (see
    :func:`distance_weights`).

    ``sample`` > 0 drops frequent words before windows are formed, keeping a word
    of frequency ``f`` with probability ``sqrt(sample / f)`` (hyperwords' ``--sub``).
    ``memory`` (GB) bounds the counting tables; beyond it they spill to sorted runs
    in ``tmpdir``.  ``callback(tokens_done, tokens_total)`` follows progress.
    """
    check_param("count_cooccurrences", "window", window, POSITIVE_INT)
    check_param("count_cooccurrences", "memory", memory, POSITIVE)  # (GB)
    weights = distance_weights(int(window), weighting)
    source = _replayable(source)
    vocab, n_tokens = scan_vocabulary(source, tokenizer, min_count=min_count,
                                      max_vocab=max_vocab)
    keep = None
    if sample and sample > 0:
        f = vocab.counts / vocab.counts.sum()
        keep = np.minimum(np.sqrt(sample / f), 1.0)
    n = len(vocab)
    df = np.zeros(n, np.int64)
    n_docs = done = 0
    with backend.threads(n_jobs) as n_threads, \
            CooccurrenceCounter(n, weights, keep=keep, seed=seed, memory=int(memory * 2**30),
                                n_parts=n_threads, tmpdir=tmpdir) as counter:
        for ids, offsets in encoded_blocks(source, vocab, tokenizer):
            counter.add(ids, offsets)
            df += doc_freq_cpu(ids, offsets, n)
            n_docs += offsets.shape[0] - 1
            done += ids.shape[0]
            if callback is not None:
                callback(done, n_tokens)
        rows, cols, vals = counter.finish()
    return Cooccurrences(vocab.itos, vocab.counts, rows, cols, vals, n_tokens, df, n_docs)
