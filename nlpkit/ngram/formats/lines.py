"""Output lines assembled from byte pools in Numba (ARPA and count-file writers).

A writer formats each distinct number once (a byte pool of spellings), keeps the
vocabulary as another pool, and :func:`assemble_lines` copies number and word
bytes into one output buffer on all threads: no Python work per line.
"""
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np


def byte_pool(strings: list[bytes]):
    """``(pool uint8, offsets int64)``: string i is ``pool[offsets[i]:offsets[i+1]]``."""
    lens = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    off = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    return np.frombuffer(b"".join(strings), dtype=np.uint8), off


@numba.njit(cache=True, inline="always")
def _word(words, r, c, word_map):
    w = words[r, c]
    if w >= 0 and word_map.shape[0]:
        w = word_map[w]
    return w


@numba.njit(cache=True, inline="always")
def _line_length(r, numoff, prob_idx, bow_idx, words, cols, word_map, woff):
    ln = numoff[prob_idx[r] + 1] - numoff[prob_idx[r]] + 1  # number + TAB
    for k in range(cols.shape[0]):
        w = _word(words, r, cols[k], word_map)
        if w < 0:
            break
        ln += woff[w + 1] - woff[w] + 1  # word + space (or LF after the last)
    if bow_idx[r] >= 0:
        ln += 1 + numoff[bow_idx[r] + 1] - numoff[bow_idx[r]]
    return ln


@numba.njit(cache=True, inline="always")
def _copy(src, a, b, out, o):
    for k in range(a, b):
        out[o] = src[k]
        o += 1
    return o


@numba.njit(cache=True, inline="always")
def _copy_words(words, r, cols, word_map, wpool, woff, out, o):
    for k in range(cols.shape[0]):
        w = _word(words, r, cols[k], word_map)
        if w < 0:
            break
        if k > 0:
            out[o] = 32
            o += 1
        o = _copy(wpool, woff[w], woff[w + 1], out, o)
    return o


@numba.njit(parallel=True, cache=True, nogil=True)
def assemble_lines(words, cols, word_map, prob_idx, bow_idx, wpool, woff, numpool, numoff,
                   words_first):
    """Bytes of the lines ``prob TAB w1 w2 … wn [TAB bow] LF``, one per row of ``words``
    (or ``w1 … wn TAB number LF`` with ``words_first``, SRILM's count-file line).

    A line's words are ``words[r, cols]`` in that order (up to the first -1), each mapped
    through ``word_map`` when it is not empty, indexing ``wpool``/``woff``.
    ``prob_idx``/``bow_idx`` index formatted numbers in ``numpool``/``numoff``
    (``bow_idx`` -1: no back-off field).  (``nogil``: the ARPA writers format one block
    on a background thread while the caller makes the next.)
    """
    rows = words.shape[0]
    ends = np.empty(rows + 1, dtype=np.int64)
    ends[0] = 0
    lens = np.empty(rows, dtype=np.int64)
    # contiguous ranges of rows per task: each thread walks its lines in order
    n_chunks = min(rows, 64)
    for c in numba.prange(n_chunks):
        for r in range(c * rows // n_chunks, (c + 1) * rows // n_chunks):
            lens[r] = _line_length(r, numoff, prob_idx, bow_idx, words, cols, word_map, woff)
    for r in range(rows):
        ends[r + 1] = ends[r] + lens[r]
    out = np.empty(ends[rows], dtype=np.uint8)
    for c in numba.prange(n_chunks):
        for r in range(c * rows // n_chunks, (c + 1) * rows // n_chunks):
            o = ends[r]
            a, b = numoff[prob_idx[r]], numoff[prob_idx[r] + 1]
            if words_first:
                o = _copy_words(words, r, cols, word_map, wpool, woff, out, o)
                out[o] = 9
                o = _copy(numpool, a, b, out, o + 1)
            else:
                o = _copy(numpool, a, b, out, o)
                out[o] = 9
                o = _copy_words(words, r, cols, word_map, wpool, woff, out, o + 1)
                if bow_idx[r] >= 0:
                    out[o] = 9
                    o = _copy(numpool, numoff[bow_idx[r]], numoff[bow_idx[r] + 1], out, o + 1)
            out[o] = 10
    return out


def natural_columns(n, layout):
    """The columns that print an n-gram stored in ``layout`` in natural order: ``'rctx'``
    stores ``(w[n-1], …, w1, wn)``, ``'suffix'`` ``(wn, …, w1)``, ``'natural'`` ``(w1, …, wn)``."""
    if layout == "rctx":
        return np.array(list(range(n - 2, -1, -1)) + [n - 1], np.int64)
    if layout == "suffix":
        return np.arange(n - 1, -1, -1, dtype=np.int64)
    return np.arange(n, dtype=np.int64)


NO_MAP = np.zeros(0, np.int32)


@numba.njit(cache=True, nogil=True)
def dedupe_u32(vals):
    """Distinct values (first-occurrence order) and the index of each value among them."""
    n = vals.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    slot_id = np.full(size, -1, dtype=np.int64)
    uniq = np.empty(n, dtype=np.uint32)
    inv = np.empty(n, dtype=np.int64)
    nu = 0
    for i in range(n):
        v = vals[i]
        k = np.int64((np.uint64(v) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
        while True:
            u = slot_id[k]
            if u < 0:
                slot_id[k] = nu
                uniq[nu] = v
                inv[i] = nu
                nu += 1
                break
            if uniq[u] == v:
                inv[i] = u
                break
            k = (k + 1) & mask
    return uniq[:nu], inv


class BlockWriter:
    """Formats blocks of lines and writes them to ``fh`` on one background thread, in the
    order they are put, while the caller makes the next blocks: an ARPA writer's sections
    come from the estimator block by block (gathers, pairings, serial kernels), and with
    the formatting and the file writes beside them both cores stay busy.  At most
    ``depth`` blocks wait.  The formatting kernels release the GIL (``nogil``).

    On one thread (``--threads 1``: one core asked for), and under Numba's workqueue
    threading layer, which is not thread-safe (two threads inside parallel kernels at once
    abort the process), the blocks are formatted and written in the caller's thread.
    An error in the background is raised at the next :meth:`put` or on leaving the
    ``with`` block."""

    def __init__(self, fh, depth=2):
        self.fh = fh
        self.depth = depth
        self.pending = deque()
        self.pool = None
        if numba.get_num_threads() > 1 and _threads_are_safe():
            # (Numba's thread count is per thread: the caller's, e.g. --threads, carries over)
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="nlpkit-writer",
                                           initializer=numba.set_num_threads,
                                           initargs=(numba.get_num_threads(),))

    def put(self, format_block, *args):
        """Write ``format_block(*args)`` (bytes) after what was put before."""
        if self.pool is None:
            self.fh.write(format_block(*args))
            return
        while len(self.pending) >= self.depth:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(self._write, format_block, args))

    def write(self, data):
        """Write ``data`` (bytes) after what was put before."""
        self.put(_same, data)

    def _write(self, format_block, args):
        self.fh.write(format_block(*args))

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if self.pool is None:
            return False
        try:
            while self.pending and kind is None:
                self.pending.popleft().result()
        finally:
            # (on an error here, what waits is dropped; a block being formatted finishes
            # before the caller's cleanup removes the file)
            self.pool.shutdown(wait=True, cancel_futures=True)
        return False


def owned(block):
    """``block`` (a tuple) with its arrays copied: a block put to a :class:`BlockWriter` is
    formatted after the caller's generator has moved on, which may reuse or free the
    memory its arrays view (a spilled table's buffers)."""
    return tuple(np.array(x) if isinstance(x, np.ndarray) else x for x in block)


def _same(data):
    return data


def _threads_are_safe():
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return False
