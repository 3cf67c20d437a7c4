r"""Read ARPA back-off models (plain or .gz) into a :class:`BackoffModel`, fast.

A plain file is memory-mapped (a .gz one inflated into anonymous memory, a
megabyte of input at a time), the lines that start a section are found by a
parallel scan, and each section is parsed by one Numba pass
(:mod:`nlpkit.ngram.formats.arpa_parse_kernels`), big sections in chunks on all
threads: no Python work per line.  Memory: a mapped file's pages are let go
as soon as they are scanned or parsed, a window of chunks at a time (so the
text is never resident whole, only the parsed arrays), and the inflated text
of a .gz file before the hash tables are built
(:class:`~nlpkit.ngram.scoring.tables.NGramTables`).
Numbers become the correctly rounded double, then float32, as SRILM parses
them (SRILM-KATZ.md §8); ``-99`` (and ``-inf``) become ``-inf``.

What is accepted and what is not
--------------------------------
The reader follows SRILM's ``ngram`` wherever the meaning of a file is clear,
warns (:class:`ArpaWarning`) where SRILM warns, and raises
:class:`~nlpkit.errors.InputFileError` (file, line, problem) where a file
cannot be read.  The 25 files of ``tests/data/ngram/arpa-edge`` (see its
README; logprob of ``a b a`` as SRILM computes it):

=================================  ==========================================================
file                               nlpkit
=================================  ==========================================================
ok                                 loads; -2.103213
bigram_spaces                      loads (fields split on any whitespace); -2.103213
blank_lines_inside                 loads (blank lines skipped anywhere); -2.103213
bow_space                          loads (any whitespace before the back-off); -2.103213
crlf                               loads (CR is whitespace); -2.103213
dhash                              loads (``#``/``##`` lines are comments); -2.103213
duplicate_ngram                    loads, warns; the **last** line wins, as SRILM; -2.302183
hash_before_data                   loads (anything before ``\data\`` is ignored); -2.103213
minus_inf                          loads (``-inf`` = ``-99``); -2.103213
missing_bow_prefix                 loads, warns; ``<s> a b`` is dropped because its
                                   context ``<s> a`` has no back-off weight (SRILM does
                                   the same; KenLM keeps it and gives -2.103213); -2.325061
missing_prefix_ngram               loads, warns; ``<s> a b`` dropped likewise (KenLM
                                   refuses the file); -2.44897
missing_suffix_ngram               loads; SRILM's context trie gives -1.853213
no_blank_after_counts              loads; -2.103213
no_end                             **error**: missing ``\end\`` (truncated file?)
no_unk_no_s                        loads; ``<s>``/``<unk>`` added to the vocabulary without
                                   a probability, as SRILM; -2.14897
nonzero_bow_top                    loads, warns; back-off weights on the highest order are
                                   ignored, as SRILM; -2.103213
positive_prob                      loads, warns (probability > 0: log10 p > 0 is not a
                                   probability, SRILM keeps it too); -1.702183
spaces_not_tabs                    loads; -2.103213
text_before_data                   loads (text before ``\data\`` ignored); -2.103213
trailing_garbage                   loads (text after ``\end\`` ignored); -2.103213
unigram_missing_word_in_bigram     loads; the word joins the vocabulary without a unigram
                                   probability, as SRILM; -2.103213
unk_present                        loads; the ``<unk>`` probability is used for unknown
                                   words (SRILM warns for closed models; we do not); -2.103213
word_tab_sep                       loads; -2.103213
wrong_count_hi                     loads, warns (header says more n-grams than read); -2.103213
wrong_count_lo                     loads, warns (header says fewer); -2.103213
=================================  ==========================================================

A header count is a hint for sizing arrays, never trusted beyond what the file
can hold: ``ngram 3=2147483647`` in a small file loads with the wrong-count
warning, as in SRILM, without allocating for two billion lines.  A ``.gz`` file is
checked as it is inflated (a line longer than 1 MiB, no ``\data\`` line in its first
MiB, or more than 64 KiB of text for each n-gram its header counts ends it), so that a
gzip bomb is refused before it fills memory.

Other errors: no ``\data\`` line, a bad ``ngram N=count`` header line, an
n-gram section beyond the header's orders or out of sequence, a line with too
few or too many fields, or a number that does not parse (``InputFileError``
with the line number).  Truncated gzip data is an error too.
"""
from __future__ import annotations

import mmap
import os
import re
import warnings
import zlib

import numba
import numpy as np

from ...errors import InputFileError
from ...text import open_binary
from ...text.readers import GZIP_MAX_RATIO, most_content_bytes
from . import arpa_parse_kernels as K
from .preamble import read_preamble
from ..backoff import BackoffModel
from ..scoring.tables import BOS, EOS, UNK, ModelWarning, NGramTables, chunks_on_demand

_DATA = re.compile(rb"(?m)^[ \t]*\\data\\[ \t\r]*$")
_COUNT = re.compile(rb"^\s*ngram\s+(\d+)\s*=\s*(\d+)\s*$")
_SECTION = re.compile(rb"^\\(\d+)-grams:\s*$")
_END = re.compile(rb"^\\end\\\s*$")
# sections larger than this are parsed by all threads
_PARALLEL_BYTES = 1 << 20
# a big section is parsed in chunks of about this size, a window of 4 chunks per thread at a
# time, and the window's pages of a memory-mapped file are let go once parsed
_CHUNK_BYTES = 2 << 20
# no ARPA line is this long, nor the text before \data\ (SRILM skips any; KenLM only
# comments): checked as a .gz file is inflated (see _checked_as_inflated)
_MAX_LINE = 1 << 20
# nor is a .gz file's text longer than this for each n-gram its header counts (SRILM
# loads a file whose counts are too low, with a warning; not this much too low)
_MAX_AVERAGE_LINE = 1 << 16


class ArpaWarning(ModelWarning):
    """The ARPA file loaded, but has a problem SRILM also warns about."""


def read_arpa(path, *, max_order=None) -> BackoffModel:
    """Read an ARPA file (``.gz`` by content) into a :class:`BackoffModel`.

    ``max_order`` keeps only n-grams up to that order (like ``ngram -order``),
    and ignores the back-off weights of the new highest order.  The returned
    model also carries its hash tables (used by :class:`~nlpkit.ngram.scoring.scorer.NGramScorer`).
    """
    path = os.fspath(path)
    return _Parser(path, _read_bytes(path)).run(max_order)


def _read_bytes(path):
    """The file's bytes, gzip inflated.  A plain file is memory-mapped rather than
    copied (the parser reads it once); the caller closes the map when done."""
    with open_binary(path) as (stream, file):  # (names the file in its errors)
        try:
            if file is None:  # stdin
                raw = stream.read()
            else:  # gzip is told by content below, not by the name
                try:
                    raw = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                except (ValueError, OSError):  # an empty file, or one that cannot be mapped
                    raw = file.read()
        except OSError as exc:
            raise InputFileError(path, f"cannot read ({exc.strerror or exc})") from None
        most = most_content_bytes(path, file) if file is not None else None
    if raw[:2] == b"\x1f\x8b":
        try:
            return _inflate(path, raw, most)
        finally:
            _close(raw)
    return raw


class _Inflated(mmap.mmap):
    """Inflated gzip data in anonymous memory: returned whole to the system when closed,
    and grown in place (``mremap``), never copied."""


def _inflate(path, raw, most=None):
    """Gzip data (one member or several, end to end) inflated into an :class:`_Inflated`
    map sized from the gzip trailer (the last member's length mod 2**32: a first guess,
    grown as needed), the input fed a megabyte at a time.  (``zlib.decompress`` of the
    whole would hold the output twice at its end, its pieces and their join, and a
    growing bytes object leaves the heap fragmented after it is freed.)  ``most``: what the
    file can inflate to (:func:`~nlpkit.text.readers.most_content_bytes`); the text is
    checked as it comes (:func:`_checked_as_inflated`)."""
    if most is None:  # (stdin's: the compressed bytes are all here)
        most = GZIP_MAX_RATIO * len(raw)
    size = int.from_bytes(raw[-4:], "little") if len(raw) >= 18 else 0
    # private: a shared anonymous map cannot grow (pages past its first size fault)
    out = _Inflated(-1, max(min(size, 64 * len(raw)), 4 * len(raw), 1 << 16),
                    **({"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}))
    at = 0
    d = zlib.decompressobj(wbits=47)
    step = 1 << 20
    lines, line_start, limit = 0, 0, None
    try:
        for pos in range(0, len(raw), step):
            chunk = raw[pos:pos + step]
            while chunk:
                if d.eof:  # another member starts
                    d = zlib.decompressobj(wbits=47)
                # (at most a chunk of output at a time: a bomb's megabyte of input is
                # checked a megabyte of text at a time, not after a gigabyte)
                piece = d.decompress(chunk, step)
                if at + len(piece) > len(out):
                    out.resize(max(2 * len(out), at + len(piece)))
                out[at:at + len(piece)] = piece
                at += len(piece)
                lines += piece.count(b"\n")
                last = piece.rfind(b"\n")
                line_start = at - len(piece) + last + 1 if last >= 0 else line_start
                limit = _checked_as_inflated(path, out, at, line_start, lines, limit, most)
                chunk = d.unconsumed_tail or (d.unused_data if d.eof else b"")
    except InputFileError:
        out.close()
        raise
    except zlib.error as exc:
        out.close()
        raise InputFileError(path, f"cannot decompress ({exc})") from None
    if not d.eof:
        out.close()
        raise InputFileError(path, "compressed data ends early (truncated .gz file)")
    out.resize(max(at, 1))
    if at == 0:  # (a map cannot be empty; an empty text cannot be an ARPA file)
        out.close()
        return b""
    return out


def _checked_as_inflated(path, out, at, line_start, lines, limit, most):
    """Refuse, as it is inflated, text that is no ARPA file or more than its header
    says: no line break in :data:`_MAX_LINE` bytes, no ``\\data\\`` line in the first
    :data:`_MAX_LINE` bytes, or more text than the header's n-grams can take at
    :data:`_MAX_AVERAGE_LINE` bytes each.  A count the file cannot hold at all (fewer
    than ``most`` bytes for that many lines, ``most`` the most the .gz can inflate to)
    is damaged and counts for nothing here (the parser warns about it, as SRILM).
    Without it a gzip bomb (a small .gz of gigabytes) would be inflated whole into
    memory before the parser finds it is no ARPA file.  Returns the limit, once the
    header is read (``None`` before)."""
    if at - line_start > _MAX_LINE:
        raise InputFileError(path, f"no line break in {_MAX_LINE >> 20} MiB of inflated text: "
                             "not an ARPA file (a gzip bomb?)", lines + 1)
    if limit is None:
        if at < 2 * _MAX_LINE:
            return None
        if _DATA.search(out, 0, _MAX_LINE) is None:
            raise InputFileError(path, f"not an ARPA file: no \\data\\ line in its first "
                                 f"{_MAX_LINE >> 20} MiB (inflated)")
        counts, _ = _Parser(path, bytes(out[:2 * _MAX_LINE])).header()
        # an n-gram line holds at least n + 1 fields and n + 1 separators
        grams = sum(c for n, c in counts.items() if c * (2 * n + 2) <= most)
        limit = 2 * _MAX_LINE + _MAX_AVERAGE_LINE * (grams + len(counts))
    if at > limit:
        raise InputFileError(path, f"more than {limit / (1 << 20):.2f} MiB of inflated text, "
                             "more than its header's n-grams can take (a damaged header, or "
                             "a gzip bomb?)")
    return limit


def _close(data):
    if isinstance(data, mmap.mmap):
        try:
            data.close()
        except BufferError:  # an array still views it: the map goes when that does
            pass


class _Parser:
    def __init__(self, path, data: bytes):
        self.path, self.data = path, data
        self.buf = np.frombuffer(data, dtype=np.uint8)
        self._released = 0  # pages below this were let go (see release)

    def release(self, end):
        """Let go of the mapped file's pages before ``end`` (read already): they leave this
        process's resident memory (the kernel keeps them in its page cache, and a page read
        again, for an error message, comes back from there).  Without it a plain file
        would be resident whole while it is parsed, on top of the parsed arrays."""
        data = self.data
        if (not isinstance(data, mmap.mmap) or isinstance(data, _Inflated)
                or not hasattr(mmap, "MADV_DONTNEED")):  # (anonymous pages would be lost)
            return
        end = end // mmap.PAGESIZE * mmap.PAGESIZE
        if end > self._released:
            try:
                data.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            except (OSError, ValueError):  # not a mapping the kernel lets go of: keep it
                return
            self._released = end

    def reread(self, pos):
        """The pages from ``pos`` on are being read again: :meth:`release` them again after."""
        self._released = min(self._released, pos // mmap.PAGESIZE * mmap.PAGESIZE)

    def line_of(self, pos):
        return self._newlines(0, pos) + 1

    def _newlines(self, start, end):
        return int(K.count_newlines(self.buf, np.array([start, end], dtype=np.int64))[0])

    def fail(self, problem, pos=None):
        raise InputFileError(self.path, problem, None if pos is None else self.line_of(pos))

    def warn(self, problem, pos=None):
        where = self.path if pos is None else f"{self.path}:{self.line_of(pos)}"
        warnings.warn(f"{where}: {problem}", ArpaWarning, stacklevel=4)

    def _line(self, pos):
        """``(text, next_pos)`` of the line starting at ``pos``."""
        end = self.data.find(b"\n", pos)
        end = len(self.data) if end < 0 else end
        return self.data[pos:end], end + 1

    # --- header -----------------------------------------------------------
    def header(self):
        m = _DATA.search(self.data)
        if m is None:
            self.fail("not an ARPA file: no \\data\\ line")
        # nlpkit's mark of an unnormalised model (stupid back-off) is written there
        self.head_meta = read_preamble(bytes(self.data[:min(m.start(), 4096)]))
        pos = m.end() + 1
        counts = {}
        while pos < len(self.data):
            line, nxt = self._line(pos)
            s = line.strip()
            if not s or s.startswith(b"#"):
                pos = nxt
                continue
            if s.startswith(b"\\"):
                break
            cm = _COUNT.match(s)
            if cm is None:
                self.fail(f"expected 'ngram N=count' in the header, found {_show(s)}", pos)
            n, c = int(cm.group(1)), int(cm.group(2))
            if n != len(counts) + 1:
                self.fail(f"header count for order {n} out of sequence", pos)
            counts[n] = c
            pos = nxt
        if not counts:
            self.fail("no 'ngram N=count' lines after \\data\\", m.start())
        return counts, pos

    # --- sections ---------------------------------------------------------
    def sections(self, pos, orders):
        """``[(n, body_start, body_end, marker_pos)]`` and the position of ``\\end\\``."""
        out = []
        data = self.data
        # where lines start with a backslash (section markers), found once, a window at a
        # time (each window's pages let go once scanned)
        parts, step = [], _CHUNK_BYTES * 4 * numba.get_num_threads()
        for a in range(max(pos, 1), len(data), step):
            with chunks_on_demand():
                parts.append(K.backslash_lines(self.buf, a, min(a + step, len(data))))
            self.release(a + step)
        marks = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        self.reread(0)
        expect = 1
        while True:
            line, nxt = self._line(pos)
            s = line.strip()
            if _END.match(s):
                return out, pos
            sm = _SECTION.match(s)
            if sm is None:
                self.fail(f"expected '\\{expect}-grams:' or '\\end\\', found {_show(s)}", pos)
            n = int(sm.group(1))
            if n != expect or n > orders:
                self.fail(f"unexpected section \\{n}-grams: (the header lists orders 1-{orders}"
                          f"{'' if n > orders else f'; expected {expect}'})", pos)
            # the body ends at the next line starting with a backslash
            k = int(np.searchsorted(marks, nxt))
            if k == marks.shape[0]:
                self.fail("missing \\end\\ (truncated file?)", len(data))
            out.append((n, nxt, int(marks[k]), pos))
            pos = int(marks[k])
            expect += 1

    def run(self, max_order):
        counts, pos = self.header()
        orders = len(counts)
        if max_order is not None:
            if int(max_order) < 1:
                raise InputFileError(self.path, f"max_order must be >= 1, got {max_order}")
            keep = min(orders, int(max_order))
        else:
            keep = orders
        secs, _end = self.sections(pos, orders)
        seen = {n for n, *_ in secs}
        for n in range(1, orders + 1):
            if n not in seen:
                self.warn(f"no \\{n}-grams: section (the header lists {counts[n]})")
        # the header's counts size the first allocations, but a header can lie (or be
        # damaged): no more words or lines than the file has bytes for
        words = min(counts[1], len(self.data) // 2)
        word_cap = 1 << max(10, int(2 * (words + 16)).bit_length())
        self.words = _WordTable(word_cap)
        parsed = {}
        for n, b0, b1, mpos in secs:
            if n > keep:
                continue
            parsed[n] = self.parse(n, b0, b1, counts[n], mpos)
            self.release(b1)
        vocab = self.vocab()
        # the file's bytes are not needed any more: free them before the tables are built
        data, self.data, self.buf = self.data, None, None
        _close(data)
        del data  # (a gzipped file's inflated bytes: the last reference)
        model = self.assemble(vocab, parsed, keep, orders)
        return model

    def parse(self, n, b0, b1, expected, mpos):
        if n > 1 and b1 - b0 > _PARALLEL_BYTES:
            fast = self.parse_parallel(n, b0, b1)
            if fast is not None:
                ids, lp, bo, hb = fast
                return self.finish(n, ids, lp, bo, hb, expected, mpos)
            self.reread(b0)
        # the header count (grown to the line count if it lies), but no more lines than
        # the section has bytes for: a line holds n + 1 fields and n + 1 separators
        cap = min(expected, (b1 - b0) // (n + 1) + 1) + 16
        cap_slow = 1024
        while True:
            ids = np.empty(cap * n, dtype=np.int32)
            lp = np.empty(cap, dtype=np.float32)
            bo = np.empty(cap, dtype=np.float32)
            hb = np.empty(cap, dtype=bool)
            slow = np.empty(4 * cap_slow, dtype=np.int64)
            w = self.words
            rows, n_slow, status, epos = K.parse_section(
                self.buf, b0, b1, n, ids, lp, bo, hb, slow, w.slots, w.start, w.count, K._POW10)
            if status == K.TABLE_FULL:
                w.grow(self.buf)
            elif status == K.ROWS_FULL:
                cap = self._newlines(b0, b1) + 1
            elif status == K.SLOW_FULL:
                cap_slow = 2 * cap + 2
            else:
                break
        if status == K.BAD_NUMBER:
            self.fail(f"cannot parse the number {_show(self._token(epos))}", epos)
        if status == K.FEW_FIELDS:
            self.fail(f"expected a probability and {n} word(s) in a {n}-gram line, found "
                      f"{_show(self._line(epos)[0].strip())}", epos)
        if status == K.MANY_FIELDS:
            self.fail(f"too many fields in a {n}-gram line (extra {_show(self._token(epos))})", epos)
        for k in range(n_slow):
            r, f, s, e = (int(x) for x in slow[4 * k:4 * k + 4])
            try:
                v = float(self.data[s:e])
            except ValueError:
                self.fail(f"cannot parse the number {_show(self.data[s:e])}", s)
            (lp if f == 0 else bo)[r] = np.float32(v)
        return self.finish(n, ids[:rows * n].reshape(rows, n), lp[:rows], bo[:rows], hb[:rows],
                           expected, mpos)

    def parse_parallel(self, n, b0, b1):
        """Parse a big section in chunks on all threads; None if it needs the slow path.

        Chunks go a window at a time (lines counted, then parsed), each window's pages let
        go once read, so that a plain file is never resident whole."""
        data = self.data
        k = max(1, (b1 - b0) // _CHUNK_BYTES)
        cuts = [b0]
        for c in range(1, k):
            p = data.find(b"\n", b0 + (b1 - b0) * c // k, b1)
            if p < 0 or p + 1 <= cuts[-1]:
                continue
            cuts.append(p + 1)
        cuts.append(b1)
        cuts = np.asarray(cuts, dtype=np.int64)
        k = cuts.shape[0] - 1
        window = 4 * numba.get_num_threads()
        windows = [(w, min(k, w + window)) for w in range(0, k, window)]
        # lines per chunk (a chunk cut after a newline has no partial last line)
        lines = np.empty(k, dtype=np.int64)
        for w0, w1 in windows:
            with chunks_on_demand():
                lines[w0:w1] = (K.count_newlines(self.buf, cuts[w0:w1 + 1])
                                + (self.buf[cuts[w0 + 1:w1 + 1] - 1] != 10))
            self.release(int(cuts[w1]))
        self.reread(b0)
        row_off = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(lines, out=row_off[1:])
        cap = int(row_off[-1])
        ids = np.empty(cap * n, dtype=np.int32)
        lp = np.empty(cap, dtype=np.float32)
        bo = np.empty(cap, dtype=np.float32)
        hb = np.empty(cap, dtype=bool)
        w = self.words
        rows = np.empty(k, dtype=np.int64)
        for w0, w1 in windows:
            with chunks_on_demand():
                r, status = K.parse_section_parallel(
                    self.buf, cuts[w0:w1 + 1], row_off[w0:w1 + 1], n, ids, lp, bo, hb, w.slots,
                    w.start, w.count, K._POW10)
            if status.any():
                return None
            rows[w0:w1] = r
            self.release(int(cuts[w1]))
        if (rows[:-1] == np.diff(row_off)[:-1]).all():  # no holes before the last chunk
            total = int(row_off[-2] + rows[-1])
            keep = slice(0, total)
        else:  # blank lines left holes: close them
            keep = np.concatenate([np.arange(a, a + r) for a, r in zip(row_off[:-1], rows)])
            total = keep.shape[0]
        return ids.reshape(cap, n)[keep], lp[keep], bo[keep], hb[keep]

    def finish(self, n, ids, lp, bo, hb, expected, mpos):
        rows = lp.shape[0]
        if rows != expected:
            self.warn(f"{rows} {n}-grams read, expected {expected} (header count)", mpos)
        # SRILM: -99 means log10(0)
        lp[lp == -99.0] = -np.inf
        bo[bo == -99.0] = -np.inf
        return ids, lp, bo, hb

    def _token(self, pos):
        line = self._line(pos)[0]
        return line.split()[0] if line.split() else line

    def vocab(self):
        w = self.words
        n = int(w.count[0])
        data = self.data
        starts = w.start[:n].tolist()
        vocab = [data[s:s + k].decode("utf-8", "replace") for s, k in zip(starts, w.lengths().tolist())]
        return vocab

    def assemble(self, vocab, parsed, keep, orders):
        # SRILM's vocabulary always holds them (looked up without a word index: one would
        # hold 10 MB more at the peak, while the tables are built)
        present = {BOS, EOS, UNK}.intersection(vocab)
        for special in (BOS, EOS, UNK):
            if special not in present:
                vocab.append(special)
        for n in range(1, keep + 1):
            if n not in parsed:
                parsed[n] = (np.zeros((0, n), np.int32), np.zeros(0, np.float32),
                             np.zeros(0, np.float32), np.zeros(0, bool))
        ngrams, lps, bos, hbs = ([parsed[1][k]] + _side_by_side(parsed, keep, k)
                                 for k in range(4))
        parsed.clear()
        if any((lp > 0).any() for lp in lps):
            self.warn("questionable probabilities above 1 (log10 p > 0), kept as SRILM does")
        top = keep - 1
        if hbs and hbs[top].any():
            if (bos[top][hbs[top]] != 0).any() and keep == orders:
                self.warn(f"back-off weights on the highest order ({keep}) are ignored")
            bos[top] = np.zeros_like(bos[top])
            hbs[top] = np.zeros_like(hbs[top])
        model = BackoffModel(vocab, ngrams, lps, bos, hbs,
                             {"source": self.path, "format": "arpa", **self.head_meta})
        tables, model = NGramTables.build(model, drop_orphans=True, warn=self.warn)
        model._tables = tables
        return model


def _side_by_side(parsed, keep, k):
    """Kind ``k`` (ids, lp, bo, has_bo) of orders 2..``keep`` as views of one array, the
    layout of the scoring tables' rows (which then take it without a copy); each order's
    parsed array is let go once copied, so that the copy costs one order's array at most."""
    parts = [parsed[n][k] for n in range(2, keep + 1)]
    if not parts:
        return []
    flat = np.empty(sum(p.size for p in parts), parts[0].dtype)
    views, at = [], 0
    for n in range(2, keep + 1):
        part = parts[n - 2]
        parts[n - 2] = None
        parsed[n] = parsed[n][:k] + (None,) + parsed[n][k + 1:]
        views.append(flat[at:at + part.size].reshape(part.shape))
        views[-1][...] = part
        at += part.size
        del part
    return views


class _WordTable:
    """The word-hash table the parsing kernel fills (ids in first-seen order)."""

    def __init__(self, cap):
        self.slots = np.zeros(2 * cap, dtype=np.int64)
        self.start = np.zeros(cap // 2 + 1, dtype=np.int64)
        self.count = np.zeros(2, dtype=np.int64)  # words, and 1 once a hash collision was seen

    def lengths(self):
        return K.word_lengths(self.slots, int(self.count[0]))

    def grow(self, buf):
        cap = self.slots.shape[0] // 2 * 4
        n = int(self.count[0])
        lengths = self.lengths()
        self.slots = K.rehash_words(buf, self.start, lengths, n, cap)
        start = np.zeros(cap // 2 + 1, dtype=np.int64)
        start[:n] = self.start[:n]
        self.start = start


def _show(b: bytes, limit=40) -> str:
    s = b.decode("utf-8", "replace")
    return repr(s if len(s) <= limit else s[:limit] + "...")
