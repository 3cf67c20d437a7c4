"""Text → word ids the way SRILM's ``ngram-count`` reads it (SRILM-KATZ.md §1-2).

:class:`WordTable` holds the vocabulary while encoding: SRILM's four specials
first (``<unk>`` 0, ``<s>`` 1, ``</s>`` 2, ``-pau-`` 3), then the words of a
``-vocab`` file, then (open vocabulary) the words of the text in order of
first appearance.  :func:`encode_text` turns a path, ``-`` or an iterable of
strings / token lists into flat int32 ids with ``<s>``/``</s>`` added and
int64 sentence offsets, reading files in blocks so memory stays bounded.
:func:`encode_lmplz` reads text the way KenLM's ``lmplz`` does instead
(LMPLZ-KN.md §1), for the Kneser-Ney builder.
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import InputFileError, NlpkitError
from ...text import open_binary
from ...text.readers import whole_lines
from . import tokenize_kernels as bk
from .ranges import ByteRange

UNK_ID, BOS_ID, EOS_ID, PAU_ID = 0, 1, 2, 3
SRILM_SPECIALS = ("<unk>", "<s>", "</s>", "-pau-")
LMPLZ_SPECIALS = ("<unk>", "<s>", "</s>")
_BLOCK = 8 << 20  # bytes read per block


class WordTable:
    """Growing word -> id table over a byte pool (the kernels' view of a vocabulary).

    Ids are given in order of first appearance; word ``i``'s UTF-8 bytes are
    ``pool[woff[i]:woff[i + 1]]``.  The table holds no Python strings: a vocabulary
    of millions of words costs its bytes plus about 20 bytes a word.
    """

    def __init__(self, words=SRILM_SPECIALS, capacity=1 << 12):
        cap = 1 << max(4, int(capacity - 1).bit_length())
        self.slots = np.zeros(2 * cap, dtype=np.uint64)
        self.woff = np.zeros(cap + 1, dtype=np.int64)
        self.pool = np.zeros(8 * cap, dtype=np.uint8)
        self.state = np.zeros(2, dtype=np.int64)
        for w in words:
            self.add(w)

    def __len__(self):
        return int(self.state[0])

    def add(self, word: str | bytes) -> int:
        b = word.encode("utf-8", "surrogateescape") if isinstance(word, str) else word
        self.reserve(1, len(b))
        buf = np.frombuffer(b, dtype=np.uint8)
        return int(bk.intern_span(buf, 0, len(b), self.slots, self.pool, self.woff, self.state))

    def add_words(self, pool, woff) -> np.ndarray:
        """Add the words of another table's ``(pool, offsets)`` (:meth:`byte_pool`) in their
        order; returns their ids here."""
        n = woff.shape[0] - 1
        self.reserve(n, int(woff[-1] - woff[0]) if n else 0)
        out = np.empty(n, np.int32)
        bk.intern_words(np.ascontiguousarray(pool, np.uint8), np.ascontiguousarray(woff, np.int64),
                        self.slots, self.pool, self.woff, self.state, out)
        return out

    def reserve(self, words: int, nbytes: int):
        """Make room for ``words`` more words of ``nbytes`` bytes in all."""
        n = int(self.state[0])
        need = n + words + 1
        if 4 * need > 3 * self.slots.shape[0] or need + 1 > self.woff.shape[0]:
            size = 1 << int(4 * need // 3).bit_length()
            woff = np.zeros(max(self.woff.shape[0], need + 1, size // 2 + 1), np.int64)
            woff[:n + 1] = self.woff[:n + 1]
            self.woff = woff
            self.slots = np.zeros(size, dtype=np.uint64)
            bk.rehash(self.slots, self.pool, self.woff, n)
        used = int(self.state[1]) + nbytes
        if used > self.pool.shape[0]:
            new = np.zeros(max(2 * self.pool.shape[0], used), dtype=np.uint8)
            new[:self.pool.shape[0]] = self.pool
            self.pool = new

    def grow_for(self, block, pos):
        """Room for the line of ``block`` that starts at ``pos`` (the kernel stopped there)."""
        end = block.find(b"\n", pos)
        ln = (len(block) if end < 0 else end) - pos
        self.reserve(max(1024, len(self), ln // 2 + 2), max(1 << 16, ln, self.pool.shape[0]))

    def freeze(self):
        """Drop the lookup table once no word will be added (the words stay)."""
        n = len(self)
        self.slots = None
        self.woff = self.woff[:n + 1].copy()
        self.pool = self.pool[:int(self.state[1])].copy()
        return self

    def byte_pool(self, order=None):
        """``(pool, offsets)`` of the words (by id, or in the order of the ids ``order``)."""
        n = len(self)
        pool, woff = self.pool[:int(self.state[1])], self.woff[:n + 1]
        if order is None:
            return pool, woff
        order = np.asarray(order, np.int64)
        lens = woff[order + 1] - woff[order]
        off = np.zeros(n + 1, np.int64)
        np.cumsum(lens, out=off[1:])
        return bk.gather_words(pool, woff, order, off), off

    def members(self, words) -> np.ndarray:
        """Per id: is the word one of ``words``?  (Looked up in a table of ``words``, so a
        vocabulary of millions of words never becomes Python strings.)"""
        small = WordTable((), capacity=max(16, 2 * len(words)))
        for w in words:
            small.add(w)
        pool, woff = self.byte_pool()
        return bk.members(pool, woff, np.int64(len(self)), small.slots, small.pool, small.woff)

    def words(self) -> list[str]:
        """The words in id order, decoded (bytes that are not UTF-8 survive as surrogates)."""
        n = len(self)
        raw = self.pool[:int(self.state[1])].tobytes()
        off = self.woff[:n + 1].tolist()
        return [raw[a:b].decode("utf-8", "surrogateescape") for a, b in zip(off[:-1], off[1:])]


def byte_order(words) -> np.ndarray:
    """Ids of the words (a :class:`WordTable` or a list of strings) in byte-wise order of
    their UTF-8 bytes (C's ``strcmp`` order, which SRILM prints ARPA files in): NumPy sorts
    the words' first 8 bytes as integers, then words that share them are put in order by
    their whole bytes, in a kernel."""
    if not isinstance(words, WordTable):
        table = WordTable(())
        for w in words:
            table.add(w)
        words = table
    n = len(words)
    if n == 0:
        return np.zeros(0, np.int64)
    pool, woff = words.byte_pool()
    keys = bk.prefix_keys(pool, woff, np.int64(n))
    order = np.argsort(keys)
    bk.sort_ties(order, keys, pool, woff)
    return order


def _decompressed(fh, label):
    """The bytes of ``fh`` (a plain or decompressing stream), ``_BLOCK`` at a time."""
    while True:
        try:
            data = fh.read(_BLOCK)
        except (EOFError, OSError) as exc:
            raise InputFileError(label, f"cannot decompress ({exc})") from None
        if not data:
            return
        yield data


def _blocks(source):
    """Byte blocks of ``source`` that each end at a line end."""
    if isinstance(source, ByteRange):
        if source.start or source.end is not None:
            yield from source.blocks(_BLOCK)
            return
        source = source.path  # a whole file (perhaps compressed)
    if isinstance(source, (str, os.PathLike)):
        label = "<stdin>" if source == "-" else os.fspath(source)
        with open_binary(source) as (fh, _raw):
            yield from whole_lines(_decompressed(fh, label))
        return
    # An iterable of sentences: each becomes one line (newlines inside an item
    # are spaces; a token list is joined by spaces).
    lines, size = [], 0
    for item in source:
        line = item if isinstance(item, str) else " ".join(item)
        line = line.replace("\n", " ")
        lines.append(line)
        size += len(line)
        if size > _BLOCK:
            yield ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
            lines, size = [], 0
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def encode_text(source, table: WordTable, *, closed=False, progress=None, count_file=False):
    """Encode ``source`` into ``(ids int32, offsets int64)`` using and growing ``table``.

    ``closed``: words not already in ``table`` become ``<unk>`` (SRILM ``-vocab``).
    ``progress(nbytes)`` is called after each block.
    ``count_file``: ``source`` is an SRILM count file; returns ``(ids, offsets, counts)``
    with one n-gram per "sentence" and no ``<s>``/``</s>`` added.
    """
    parts = list(iter_encoded(source, table, closed=closed, progress=progress,
                              count_file=count_file))
    ids, offsets = _joined(parts)
    if count_file:
        return ids, offsets, (np.concatenate([p[2] for p in parts]) if parts
                              else np.zeros(0, np.int64))
    return ids, offsets


def iter_encoded(source, table: WordTable, *, closed=False, progress=None, count_file=False):
    """Blocks ``(ids, offsets)`` (offsets from 0 within the block; with ``count_file``
    also the counts) of ``source`` read as SRILM reads text; see :func:`encode_text`."""
    if isinstance(source, (bytes, bytearray)):
        raise NlpkitError("source must be a path, '-' or an iterable of sentences, not bytes")
    lines_before = 0
    for block in _blocks(source):
        buf = np.frombuffer(block, dtype=np.uint8)
        n_lines = block.count(b"\n") + 1
        out = np.empty((len(block) + 1) // 2 + 2 * n_lines, dtype=np.int32)  # a bound
        offsets = np.zeros(n_lines + 1, dtype=np.int64)
        counts = np.zeros(n_lines if count_file else 0, dtype=np.int64)
        pos, n_out, n_sent = 0, 0, 0
        while True:
            status, pos, n_out, n_sent = bk.encode_chunk(
                buf, pos, out, n_out, offsets, n_sent, closed, UNK_ID, BOS_ID, EOS_ID,
                table.slots, table.pool, table.woff, table.state, count_file, counts)
            if status == bk.OK:
                break
            if status == bk.BAD_COUNT:
                lineno = lines_before + block.count(b"\n", 0, pos) + 1
                text = block[pos:block.find(b"\n", pos)].decode("utf-8", "replace")[:60]
                raise InputFileError(source, f"expected 'words<TAB>count', got {text!r}", lineno)
            table.grow_for(block, pos)
        lines_before += block.count(b"\n") if count_file else 0
        if progress is not None:
            progress(len(block))
        if n_sent:
            ids = out[:n_out].copy() if n_out < out.shape[0] // 2 else out[:n_out]
            if count_file:
                yield ids, offsets[:n_sent + 1], counts[:n_sent]
            else:
                yield ids, offsets[:n_sent + 1]


def _joined(parts):
    """One ``(ids, offsets)`` from blocks."""
    if len(parts) == 1:
        return parts[0][0], parts[0][1]
    ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
    offs, base = [np.zeros(1, np.int64)], 0
    for p in parts:
        offs.append(p[1][1:] + base)
        base += p[0].shape[0]
    return ids, np.concatenate(offs)


def encode_lmplz(source, table: WordTable, *, skip_specials=False, progress=None):
    """Encode ``source`` as lmplz reads it: ``(ids int32, offsets int64, words)``.

    ``table`` must start with :data:`LMPLZ_SPECIALS`; new words get the next ids
    in order of first appearance.  Every line is a sentence ``<s> … </s>``,
    empty lines included, except that a last line without a newline gets no
    ``</s>``.  Tokens are split on space, TAB, CR, LF and NUL.  A literal
    ``<s>``, ``</s>`` or ``<unk>`` is an error, or dropped with ``skip_specials``.
    ``words`` is the number of tokens read (lmplz's token count).
    """
    parts = list(iter_encoded_lmplz(source, table, skip_specials=skip_specials,
                                    progress=progress))
    ids, offsets = _joined(parts)
    return ids, offsets, sum(p[2] for p in parts)


def iter_encoded_lmplz(source, table: WordTable, *, skip_specials=False, progress=None):
    """Blocks ``(ids, offsets, words read)`` of ``source`` read as lmplz reads it; see
    :func:`encode_lmplz`."""
    if isinstance(source, (bytes, bytearray)):
        raise NlpkitError("source must be a path, '-' or an iterable of sentences, not bytes")
    if tuple(table.words()[:3]) != LMPLZ_SPECIALS:
        raise ValueError("the word table must start with <unk>, <s>, </s>")
    lines_before = 0
    for block in _blocks(source):
        buf = np.frombuffer(block, dtype=np.uint8)
        n_lf = block.count(b"\n")
        n_lines = n_lf + (not block.endswith(b"\n"))
        out = np.empty((len(block) + 1) // 2 + 2 * n_lines, dtype=np.int32)  # a bound
        offsets = np.zeros(n_lines + 1, dtype=np.int64)
        pos, n_out, n_sent = 0, 0, 0
        while True:
            status, pos, n_out, n_sent = bk.encode_lmplz_chunk(
                buf, pos, out, n_out, offsets, n_sent, skip_specials, len(LMPLZ_SPECIALS),
                BOS_ID, EOS_ID, table.slots, table.pool, table.woff, table.state)
            if status == bk.OK:
                break
            if status == bk.SPECIAL:
                _refuse_special(source, block, pos, lines_before)
            table.grow_for(block, pos)
        lines_before += n_lf
        if progress is not None:
            progress(len(block))
        if n_sent:
            ids = out[:n_out].copy() if n_out < out.shape[0] // 2 else out[:n_out]
            yield ids, offsets[:n_sent + 1], int(n_out - n_sent - n_lf)


def _refuse_special(source, block, pos, lines_before):
    end = pos
    while end < len(block) and block[end] not in b" \t\r\n\x00":
        end += 1
    word = block[pos:end].decode("utf-8", "replace")
    lineno = lines_before + block.count(b"\n", 0, pos) + 1
    problem = (f"the text contains the symbol {word}, which lmplz refuses "
               "(skip_symbols=True drops such symbols instead)")
    if isinstance(source, ByteRange):  # (line numbers count from the range's start)
        raise InputFileError(str(source), problem, lineno)
    if isinstance(source, (str, os.PathLike)):
        label = "<stdin>" if source == "-" else os.fspath(source)
        raise InputFileError(label, problem, lineno)
    raise NlpkitError(f"the corpus, line {lineno}: {problem}")


class LmplzText:
    """A corpus read as lmplz reads it (:func:`read_lmplz_text`): the vocabulary, ids,
    sentence offsets and the number of words read."""

    def __init__(self, vocab, ids, offsets, n_words_read):
        self.vocab, self.ids, self.offsets, self.n_words_read = vocab, ids, offsets, n_words_read


def read_lmplz_text(source, *, skip_symbols=False, progress=None) -> LmplzText:
    """Read ``source`` (a path, ``-`` or an iterable of sentences) as lmplz does, into memory.

    A literal ``<s>``, ``</s>`` or ``<unk>`` is an error, as in lmplz, or is
    dropped with ``skip_symbols`` (lmplz ``--skip_symbols``).
    """
    table = WordTable(LMPLZ_SPECIALS, capacity=1 << 16)
    ids, offsets, n_words = encode_lmplz(source, table, skip_specials=skip_symbols,
                                         progress=progress)
    return LmplzText(table.words(), ids, offsets, n_words)


class EncodedCorpus:
    """The corpus as word ids: blocks of ``(ids, offsets)`` kept by the plan (in memory
    or in a temporary file), the vocabulary, and its size."""

    def __init__(self, plan, table, blocks, tokens, sentences, words_read=None):
        self.plan, self.table, self.blocks = plan, table, blocks
        self.tokens, self.sentences, self.words_read = tokens, sentences, words_read

    def chunks(self, id_map=None):
        """``(rid, offsets, base)`` chunks of whole sentences, at most the plan's chunk
        size each (one chunk when the corpus fits); ``id_map`` maps ids first."""
        limit = self.plan.chunk_tokens
        pend, size, base = [], 0, 0
        for ids, offsets in self._pieces(limit):
            if pend and size + ids.shape[0] > limit:
                chunk = self._chunk(pend, id_map, base)
                pend.clear()  # (the pieces go as soon as the chunk holds their ids)
                yield chunk
                base += size
                size = 0
            pend.append((ids, offsets))
            size += ids.shape[0]
        if pend:
            chunk = self._chunk(pend, id_map, base)
            pend.clear()
            yield chunk

    def _pieces(self, limit):
        """The stored blocks, cut at sentence ends into pieces of at most ``limit`` tokens
        (a longer sentence is a piece of its own)."""
        for ids, offsets in self.blocks.read():
            if ids.shape[0] <= limit:
                yield ids, offsets
                continue
            s = 0
            n = offsets.shape[0] - 1
            while s < n:
                e = int(np.searchsorted(offsets, offsets[s] + limit, side="right")) - 1
                e = min(n, max(e, s + 1))
                a, b = int(offsets[s]), int(offsets[e])
                yield ids[a:b], offsets[s:e + 1] - a
                s = e

    @staticmethod
    def _chunk(parts, id_map, base):
        ids, offsets = _joined(parts)
        if id_map is not None:  # in place: the corpus is read once
            ids = np.ascontiguousarray(ids, np.int32)
            np.take(id_map, ids, out=ids)
        return ids, offsets, base
