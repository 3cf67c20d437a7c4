"""What the estimators and the CLI share: encoding the text in the vocabulary, the
sampling tables, and the loop that feeds blocks of chunks to the training kernel.

The vocabulary (a :class:`~nlpkit.text.Vocabulary` without special tokens) is word2vec's:
words with at least ``min_count`` occurrences, by descending count (ties by first
appearance); other words are dropped from the text before windows are formed (as gensim
does).  It can be extended by later text without changing existing ids (continued
training).
"""
from __future__ import annotations

import os
import time

import numba
import numpy as np

from .. import backend
from ..errors import NlpkitError
from ..text.spill import EncodedText
from ..text.vocab import Vocabulary
from .sgns import sigmoid_tables, train_block_cpu

KINDS = {"sgns": 0, "cbow": 1, "fasttext": 2, "sgns-shared": 3}
CHUNK_WORDS = 10_000      # tokens per chunk (one thread's unit of work)
BLOCK_CHUNKS = 48         # chunks per kernel call (progress granularity)


def encode(source, vocab: Vocabulary, min_count: int, tokenizer=None, *, grow: bool, directory):
    """Read ``source`` (path, or iterable of str / token lists), grow ``vocab`` if
    asked, and spill the text to files in ``directory`` with out-of-vocabulary words
    removed (blank lines are dropped; a line of only such words stays, empty).  Returns
    ``(corpus, n_raw_tokens)``, ``corpus`` a :class:`~nlpkit.text.spill.MappedCorpus`.

    Two passes, neither holding the text: the first encodes it block by block (ids in
    order of first appearance, to a file) and counts the words; the second reads that
    file back a block at a time, maps the ids to the vocabulary's and writes the corpus
    the trainer maps."""
    if isinstance(source, (str, os.PathLike)) and not os.path.exists(source) and source != "-":
        raise NlpkitError(f"{source}: no such corpus file")
    raw = EncodedText.read(source, directory, tokenizer=tokenizer)
    if raw.n_tokens == 0:
        raise NlpkitError("the training corpus is empty (no tokens)")
    words, counts = raw.words, raw.counts
    if grow:
        remap = vocab.grow(words, counts, min_count=min_count)
    else:
        remap = np.fromiter((vocab.stoi.get(w, -1) for w in words), np.int32, len(words))
    if len(vocab) == 0:
        raise NlpkitError(f"the vocabulary is empty: no word occurs at least min_count={min_count} "
                          "times")
    corpus = raw.remapped(remap)
    n_raw = raw.n_tokens
    del raw
    if corpus.n_tokens == 0:
        raise NlpkitError("no word of the training text is in the vocabulary")
    return corpus, n_raw


def noise_table(counts, power: float, size: int | None = None) -> np.ndarray:
    """word2vec's negative-sampling table: word ids in proportion to ``count**power``."""
    counts = np.asarray(counts, np.float64)
    if size is None:
        size = int(min(max(100 * counts.shape[0], 1_000_000), 10_000_000))
    p = counts ** power
    cum = np.cumsum(p / p.sum())
    table = np.searchsorted(cum, (np.arange(size, dtype=np.float64) + 0.5) / size, side="right")
    return np.minimum(table, counts.shape[0] - 1).astype(np.int32)


def keep_probs(counts, sample: float, total: float | None = None) -> np.ndarray:
    """word2vec's keep probability ``sqrt(t/f) + t/f`` (1 when ``sample`` is 0), with
    ``f = count / total``: ``total`` is the kept words' count (word2vec.c, gensim) unless
    given (fastText counts every token read, min_count-pruned ones and the ``</s>`` ending
    each line included)."""
    counts = np.asarray(counts, np.float64)
    if sample <= 0:
        return np.ones(counts.shape[0], np.float32)
    thr = sample * (counts.sum() if total is None else max(float(total), counts.sum()))
    with np.errstate(divide="ignore"):
        p = (np.sqrt(counts / thr) + 1.0) * thr / counts
    return np.minimum(np.nan_to_num(p, posinf=1.0), 1.0).astype(np.float32)


def chunk_bounds(offsets: np.ndarray, chunk_words: int | None = None) -> np.ndarray:
    """Sentence indices cutting the corpus into chunks of about ``chunk_words`` tokens."""
    chunk_words = chunk_words or CHUNK_WORDS
    marks = np.arange(0, int(offsets[-1]), chunk_words, dtype=np.int64)
    starts = np.unique(np.searchsorted(offsets, marks, side="left"))
    n_sent = offsets.shape[0] - 1
    starts = starts[starts < n_sent]
    return np.concatenate([starts, [n_sent]]).astype(np.int64) if n_sent else np.zeros(1, np.int64)


def thread_slices(offsets: np.ndarray, chunks: np.ndarray, n_slices: int):
    """The order chunks are trained in, and the learning-rate position of each, when
    ``n_slices`` threads each work through their own slice of the corpus.

    word2vec.c and the fastText tool start thread ``t`` of ``T`` at the ``t``-th ``T``-th
    of the file, and the learning rate follows the progress of all threads together: on a
    corpus sorted by topic (documentation, Wikipedia) the threads train ``T`` topics at
    once, not one after another, which matters for quality.  Here slice ``t`` holds the
    chunks that start in the ``t``-th ``T``-th of the tokens; ``order`` interleaves the
    slices in proportion to their lengths (round robin when equal), so whichever thread
    takes the next chunk, all slices advance together.  A token of a slice that is a share
    ``f`` of the corpus counts ``1 / f`` tokens of progress (``chunk_scale``), and
    ``chunk_pos[c]`` is the progress at chunk ``c``'s start: the fraction of its slice
    before it times the corpus's tokens.

    Returns ``(order, chunk_pos, chunk_scale)``; deterministic for a given ``n_slices``.
    With one slice, ``order`` is ``0, 1, ...`` and a chunk's position is its offset.
    """
    n_chunks = chunks.shape[0] - 1
    total = int(offsets[-1])
    starts = offsets[chunks[:-1]]
    n_slices = max(1, min(int(n_slices), n_chunks))
    of = np.minimum(starts * n_slices // max(total, 1), n_slices - 1)
    _, of = np.unique(of, return_inverse=True)  # (no empty slice)
    of = of.reshape(-1)
    first = np.searchsorted(of, np.arange(of.max() + 1 if n_chunks else 0))
    lo = starts[first]
    hi = np.append(lo[1:], total)
    count = np.diff(np.append(first, n_chunks))
    rank = np.arange(n_chunks) - first[of]
    order = np.lexsort((of, (rank + 0.5) / count[of]))
    scale = (total / np.maximum(hi - lo, 1))[of].astype(np.float64)
    if scale.shape[0] and np.all(of == 0):
        scale[:] = 1.0  # (exactly: one slice is the corpus in file order)
    pos = (starts - lo[of]) * scale
    return order.astype(np.int64), pos, scale


class CpuTrainer:
    """The CPU twin of :class:`nlpkit.embed.sgns_cuda.CudaTrainer` (same constructor and
    methods), so :func:`train` picks one with :func:`nlpkit.backend.pick` like every kernel."""

    def __init__(self, syn0, syn1, ids, offsets, chunks, schedule, keep, table, sig, logsig,
                 max_len, seed, sub_offsets, sub_ids):
        self.arrays = syn0, syn1, ids, offsets, chunks, *schedule
        self.tables = keep, table, sig, logsig
        self.max_len, self.seed, self.subwords = max_len, np.uint64(seed), (sub_offsets, sub_ids)
        self.n_tokens = max(int(offsets[-1]), 1)

    def block(self, kind, j0, j1, window, negative, alpha, min_alpha, base_words, total, max_exp,
              out_loss, out_pairs):
        keep, table, sig, logsig = self.tables
        epoch = base_words // self.n_tokens  # the epoch seeds the per-chunk random streams
        train_block_cpu(kind, *self.arrays, j0, j1, keep, table, window, negative, float(alpha),
                        float(min_alpha), base_words, total, self.seed, epoch, sig, logsig,
                        float(max_exp), *self.subwords, self.max_len, out_loss, out_pairs)

    def finish(self):
        pass


def train(kind: str, syn0, syn1, ids, offsets, counts, *, window, negative, alpha, min_alpha,
          sample, epochs, seed, ns_exponent=0.75, max_exp=6.0, sigmoid_size=1000,
          sample_total=None, sub_offsets=None, sub_ids=None, n_jobs=None, device=None,
          slices=None, callback=None, release=None):
    """Train ``syn0``/``syn1`` in place for ``epochs`` passes over ``ids``/``offsets``.

    The sigmoid is tabulated in ``sigmoid_size`` steps over ``±max_exp`` (word2vec.c:
    1000 over ±6; fastText: 512 over ±8); ``sample_total`` is the token count the
    subsampling frequencies divide by (see :func:`keep_probs`).  The corpus is trained in
    ``slices`` slices at once (default: the number of threads; see :func:`thread_slices`),
    on either device.

    ``callback(words_done, total_words, mean_loss)`` is called after each block, and
    ``release()`` too: a corpus mapped from files drops the pages the block read
    (:meth:`nlpkit.text.spill.MappedCorpus.release`), so memory holds a block, not the corpus.
    Returns a dict with ``words``, ``seconds``, ``loss`` (mean loss per target of
    the last epoch).
    """
    trainer_cls = backend.pick(CpuTrainer, "nlpkit.embed.sgns_cuda:CudaTrainer", device)
    if trainer_cls is not CpuTrainer and kind == "sgns-shared":
        kind = "sgns"  # the CUDA twin draws negatives per pair
    k = KINDS[kind]
    table = noise_table(counts, ns_exponent)
    keep = keep_probs(counts, sample, sample_total)
    sig, logsig = sigmoid_tables(max_exp, sigmoid_size)
    chunks = chunk_bounds(offsets)
    n_chunks = chunks.shape[0] - 1
    n_tokens = int(offsets[-1])
    total = float(max(epochs * n_tokens, 1))
    max_len = _max_length(offsets)
    if sub_offsets is None:
        sub_offsets, sub_ids = np.zeros(1, np.int64), np.zeros(1, np.int32)
    out_loss = np.zeros(BLOCK_CHUNKS, np.float64)
    out_pairs = np.zeros(BLOCK_CHUNKS, np.int64)
    t0 = time.perf_counter()
    last_loss = float("nan")
    # chunks are handed out one at a time: a thread slowed by other load does not hold
    # the others back at the end of each block (the result does not depend on it)
    old_chunk = numba.set_parallel_chunksize(1)
    try:
        with backend.threads(n_jobs):
            schedule = thread_slices(offsets, chunks,
                                     numba.get_num_threads() if slices is None else slices)
            trainer = trainer_cls(syn0, syn1, ids, offsets, chunks, schedule, keep, table, sig,
                                  logsig, max_len, seed, sub_offsets, sub_ids)
            trained = np.cumsum(np.diff(offsets[chunks])[schedule[0]])  # tokens, in order
            for epoch in range(epochs):
                ep_loss, ep_pairs = 0.0, 0
                for j0 in range(0, n_chunks, BLOCK_CHUNKS):
                    j1 = min(j0 + BLOCK_CHUNKS, n_chunks)
                    trainer.block(k, j0, j1, int(window), int(negative), alpha, min_alpha,
                                  epoch * n_tokens, total, max_exp, out_loss, out_pairs)
                    if release is not None:
                        release()
                    ep_loss += out_loss[:j1 - j0].sum()
                    ep_pairs += int(out_pairs[:j1 - j0].sum())
                    if callback is not None:
                        done = epoch * n_tokens + int(trained[j1 - 1])
                        callback(done, int(total), ep_loss / max(ep_pairs * (negative + 1), 1))
                last_loss = ep_loss / max(ep_pairs * (negative + 1), 1)
        trainer.finish()
    finally:
        numba.set_parallel_chunksize(old_chunk)
    return {"words": epochs * n_tokens, "seconds": time.perf_counter() - t0, "loss": last_loss}


def _max_length(offsets, step=1 << 20):
    """The longest sentence's length (1 when there is none), a slice of offsets at a time."""
    longest = 1 if offsets.shape[0] < 2 else 0
    for s0 in range(0, offsets.shape[0] - 1, step):
        longest = max(longest, int(np.diff(offsets[s0:s0 + step + 1]).max()))
    return longest


