"""Write a :class:`BackoffModel` as an ARPA file exactly as SRILM prints it (SRILM-KATZ.md §7).

* Header: an empty line, ``\\data\\``, ``ngram n=COUNT`` per order; then per
  order an empty line, ``\\n-grams:`` and the lines; an empty line and ``\\end\\``.
* A line is ``%.7g`` of the log10 probability (``-99`` for -inf), TAB, the
  words separated by spaces, and TAB + ``%.7g`` of the back-off weight where
  the model has one.
* Order of lines: SRILM's, sorted by (w_{n-1}, …, w_1, w_n), words compared
  byte-wise (``strcmp``), i.e. the reversed context first and the predicted word last.

Formatting is vectorized: each distinct number is formatted once, and a Numba
kernel copies number and word bytes into the output buffer.  The file is
written to a temporary name and renamed (``.gz`` compresses by the name).
"""
from __future__ import annotations

import numpy as np

from ...text import atomic_write
from ..backoff import BackoffModel
from .lines import assemble_lines, byte_pool, dedupe_u32


def _format_numbers(values: np.ndarray):
    """Float32 values → (the ``%.7g`` byte pool of the distinct ones, index of each value)."""
    uniq, inv = dedupe_u32(np.ascontiguousarray(values, dtype=np.float32).view(np.uint32))
    floats = uniq.view(np.float32).astype(np.float64).tolist()
    strs = [b"-99" if v == -np.inf else (b"%.7g" % v) for v in floats]
    return byte_pool(strs), inv


def arpa_order(words: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Row order of SRILM's ARPA output for n-grams ``words`` (rows × n ids).

    ``rank[id]`` is the byte-wise sort rank of each word.  The key is
    (w_{n-1}, …, w_1, w_n); packed into one uint64 when it fits.
    """
    n = words.shape[1]
    r = rank[words]
    cols = [r[:, k] for k in range(n - 2, -1, -1)] + [r[:, n - 1]]  # most significant first
    bits = max(1, int(rank.shape[0] - 1).bit_length())
    if bits * n <= 64:
        key = np.zeros(words.shape[0], dtype=np.uint64)
        for c in cols:
            key = (key << np.uint64(bits)) | c.astype(np.uint64)
        return np.argsort(key)
    return np.lexsort(cols[::-1])  # lexsort: the last key is the primary one


def arpa_bytes(model: BackoffModel) -> list[bytes]:
    """The ARPA file as a list of byte chunks."""
    enc = [w.encode("utf-8", "surrogateescape") for w in model.vocab]
    rank = np.empty(len(enc), dtype=np.int64)
    rank[sorted(range(len(enc)), key=enc.__getitem__)] = np.arange(len(enc))
    wpool, woff = byte_pool(enc)
    counts = model.counts()
    header = b"".join(b"ngram %d=%d\n" % (n, c) for n, c in enumerate(counts, 1))
    chunks = [b"\n\\data\\\n" + header]
    for k in range(model.order):
        words = model.ngrams[k]
        chunks.append(b"\n\\%d-grams:\n" % (k + 1))
        if words.shape[0] == 0:
            continue
        order = arpa_order(words, rank)
        words = np.ascontiguousarray(words[order])
        hb = model.has_backoff[k][order]
        lp = model.logprob[k][order]
        bo = model.backoff[k][order]
        (numpool, numoff), inv = _format_numbers(np.concatenate([lp, bo[hb]]))
        prob_idx = inv[:lp.shape[0]]
        bow_idx = np.full(lp.shape[0], -1, dtype=np.int64)
        bow_idx[hb] = inv[lp.shape[0]:]
        out = assemble_lines(words, np.ascontiguousarray(prob_idx), bow_idx, wpool, woff,
                             numpool, numoff, False)
        chunks.append(out.tobytes())
    chunks.append(b"\n\\end\\\n")
    return chunks


def write_arpa(model: BackoffModel, path) -> None:
    """Write ``model`` to ``path`` (``.gz`` by name; ``-`` for stdout), atomically."""
    chunks = arpa_bytes(model)
    with atomic_write(path, "wb") as fh:
        for c in chunks:
            fh.write(c)
