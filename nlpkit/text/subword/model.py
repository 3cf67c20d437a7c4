"""``BPE`` and ``WordPiece``: subword tokenizers as scikit-learn estimators.

A tokenizer is a pipeline (``pipeline.py``): normalizer, pre-tokenizer, the
subword model, post-processor and decoder.  Strings stop at the pre-tokenizer:
each distinct word is turned into code points once and encoded by a Numba
kernel (``encode_kernels.py``); its ids are kept in a word cache, so running
text costs one dict look-up per word and a gather kernel per block.

Training counts the words of the corpus (streamed, one block of lines at a
time) and hands the distinct words, as int arrays, to the merge kernel
(``train_kernels.py``).

Initial symbols and ties (the documented order): special tokens first, in the
order given; then the characters of the alphabet in code-point order; then, when
a continuing-subword prefix or an end-of-word suffix is used, the marked
characters that occur (``##a``, ``a</w>``, …) in code-point order of their
spelling.  Merged symbols take the next ids in the order learned (a merge spelled
like an existing symbol reuses its id).  Among pairs of equal score the pair with
the smaller ``(left id, right id)`` is merged first, as in ``tokenizers``'
BpeTrainer, so with no prefix or suffix (byte-level and ``▁`` styles) the merges
equal that trainer's.
"""
from __future__ import annotations

import copy
import json
import os
import re
from collections import defaultdict
from itertools import chain, count

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ... import backend
from ...errors import InputFileError, NlpkitError
from ..corpus import Encoder, _gc_paused
from ..readers import atomic_write, iter_chunks, iter_utf8_blocks
from ..vocab import Vocabulary
from ...params import (
    BOOLEAN,
    N_JOBS,
    NONNEGATIVE_INT,
    POSITIVE_INT,
    Options,
    ParameterError,
    refuse_ignored,
    validate_params,
)
from . import pipeline as pl
from . import unicode as uni
from .formats import read_tokenizer_json
from .encode_kernels import build_pair_table, build_string_table, encode_words, gather_words
from .train_kernels import train_merges

_BLOCK_LINES = 1 << 14
_NO_TEXT = "\ud800"  # an unpaired surrogate starts the cache keys of added tokens: no text has one


def _codes(strings):
    """Code points of ``strings`` back to back (int32) and their int64 offsets."""
    lengths = np.fromiter(map(len, strings), np.int64, len(strings))
    offsets = np.zeros(len(strings) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = "".join(strings)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32).astype(np.int32)
    return codes, offsets


def _offsets(lengths):
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


# ------------------------------------------------------------------ the tables
class _Tables:
    """What the encoding kernels need: the vocabulary as a string table, the merges."""

    def __init__(self, itos, n_model, *, prefix="", suffix="", merges=(), unk=-1, fuse_unk=False,
                 max_chars=100):
        self.codes, self.offsets = _codes(itos[:n_model])
        self.slots = build_string_table(self.codes, self.offsets)
        self.prefix = _codes([prefix or ""])[0]
        self.suffix = _codes([suffix or ""])[0]
        merges = np.asarray(merges, np.int32).reshape(-1, 3)
        self.pair_keys, self.pair_rank = build_pair_table(
            merges[:, 0].copy(), merges[:, 1].copy(), np.arange(merges.shape[0], dtype=np.int32))
        self.merge_new = merges[:, 2].copy()
        self.unk, self.fuse_unk, self.max_chars = int(unk), bool(fuse_unk), int(max_chars)


class _WordCache:
    """Distinct words -> their token ids, filled by the model kernel on a miss."""

    def __init__(self, encode_new, max_words=1 << 21):
        self.encode_new, self.max_words = encode_new, max_words
        self.pinned = {}
        self.clear()

    def clear(self):
        self.index = defaultdict(count().__next__)
        self.flat = np.zeros(1 << 16, np.int32)
        self.offs = np.zeros(1 << 12, np.int64)
        self.n = 0
        for key, ids in self.pinned.items():
            self._lookup([key], lambda words: (np.asarray(ids, np.int32), _offsets([len(ids)])))

    def pin(self, key, ids):
        self.pinned[key] = list(ids)
        self._lookup([key], lambda words: (np.asarray(ids, np.int32), _offsets([len(ids)])))

    def lookup(self, words):
        """Cache ids of ``words`` (int32), encoding the words not seen yet."""
        if self.n > self.max_words:
            self.clear()
        return self._lookup(words, self.encode_new)

    def _lookup(self, words, encode_new):
        ids = np.fromiter(map(self.index.__getitem__, words), np.int32, len(words))
        n_old = self.n
        self.n = len(self.index)
        if self.n > n_old:
            pos = np.flatnonzero(ids >= n_old)
            _, first = np.unique(ids[pos], return_index=True)
            flat, offs = encode_new([words[i] for i in pos[first]])
            if offs.shape[0] - 1 != self.n - n_old:
                raise AssertionError("word cache: the model encoded a different number of words")
            self._append(flat, offs)
        return ids

    def _append(self, flat, offs):
        k = offs.shape[0] - 1
        start = self.offs[self.n - k]
        need_flat, need_offs = start + flat.shape[0], self.n + 1
        if need_flat > self.flat.shape[0]:
            self.flat = np.resize(self.flat, max(need_flat, 2 * self.flat.shape[0]))
        if need_offs > self.offs.shape[0]:
            self.offs = np.resize(self.offs, max(need_offs, 2 * self.offs.shape[0]))
        self.flat[start:need_flat] = flat
        self.offs[self.n - k + 1:self.n + 1] = start + offs[1:]

    def gather(self, word_ids):
        lengths = (self.offs[1:self.n + 1] - self.offs[:self.n])[word_ids]
        dest = _offsets(lengths)
        return gather_words(word_ids, self.flat, self.offs, dest), lengths


# -------------------------------------------------------------- the estimator
# what BPE and WordPiece share (see nlpkit.params)
SUBWORD_CONSTRAINTS = {
    "vocab_size": POSITIVE_INT, "min_frequency": NONNEGATIVE_INT,
    "limit_alphabet": [None, *POSITIVE_INT], "lowercase": BOOLEAN,
    "special_tokens": [None, "array-like"], "n_jobs": N_JOBS,
}


class SubwordTokenizer(TransformerMixin, BaseEstimator):
    """What BPE and WordPiece share: the pipeline, encoding, decoding and files."""

    _model_type = None

    # ---------------------------------------------------------------- training
    def fit(self, X, y=None):
        """Learn the vocabulary from ``X``: a path (plain/.gz/.bz2/.xz, ``-``) or an
        iterable of strings (one sentence or document each), streamed."""
        return self._fit(X)

    def _fit(self, X, on_progress=None):
        validate_params(self)
        self._setup_pipeline()
        with backend.threads(self.n_jobs):
            words, counts = self._count_words(X, on_progress)
            if not words:
                raise NlpkitError(f"{_name(X)}: the corpus has no words to learn subwords from")
            self._learn(words, counts)
        self._cache = None
        return self

    def _count_words(self, X, on_progress):
        encoder = Encoder()
        counts = np.zeros(0, np.int64)
        pre = self.pre_tokenizer_
        if pre.reads_bytes and self.normalizer_ is None and isinstance(X, (str, os.PathLike)):
            # a file as UTF-8 blocks: no decoding, splitting into lines and encoding again
            blocks = (pre.encode_utf8(data, encoder)
                      for data in iter_utf8_blocks(X, on_progress=on_progress))
        else:
            blocks = (pre.encode_pieces(self._normalize(block), encoder)
                      for block in _line_blocks(X, on_progress))
        with _gc_paused():
            for ids in blocks:
                if ids.size:
                    top = int(ids.max()) + 1
                    if top > counts.shape[0]:
                        counts = np.concatenate([counts, np.zeros(top - counts.shape[0], np.int64)])
                    counts[:top] += np.bincount(ids, minlength=top)
        return self.pre_tokenizer_.words(encoder.first_seen), counts

    def _learn_symbols(self, words, counts, *, specials, prefix, suffix, vocab_size,
                       min_frequency, limit_alphabet, initial_alphabet, likelihood):
        """Run the merge kernel; return ``(itos, merges as id triples)``."""
        codes, offsets = _codes(words)
        lengths = np.diff(offsets)
        word_of = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
        # the alphabet: characters by code point, optionally cut to the most frequent.
        # Code points index arrays directly (bincount, look-up tables) rather than through
        # np.unique/searchsorted, which sort or search all the corpus' characters.
        alphabet = np.flatnonzero(np.bincount(codes, minlength=1)).astype(codes.dtype)
        char_counts = np.bincount(codes, weights=counts[word_of].astype(np.float64))[alphabet]
        if initial_alphabet:
            extra = np.array(sorted({ord(c) for c in initial_alphabet}), np.int32)
            merged = np.union1d(alphabet, extra)
            full = np.zeros(merged.shape[0])
            full[np.searchsorted(merged, alphabet)] = char_counts
            full[np.searchsorted(merged, extra)] = np.inf
            alphabet, char_counts = merged, full
        if limit_alphabet is not None and alphabet.shape[0] > limit_alphabet:
            order = np.argsort(char_counts, kind="stable")  # rarest first; ties: lower code point
            alphabet = np.sort(alphabet[order[alphabet.shape[0] - limit_alphabet:]])
        index_of = np.full(int(codes.max(initial=0)) + 1, -1, np.int64)
        in_text = alphabet[alphabet < index_of.shape[0]]
        index_of[in_text] = np.searchsorted(alphabet, in_text)
        in_alpha = index_of[codes]  # each character's place in the alphabet, -1 if cut
        known = in_alpha >= 0
        # each character's form: bit 0 = carries the prefix (not first), bit 1 = the suffix (last)
        pos = np.arange(codes.shape[0]) - offsets[word_of]
        form = np.zeros(codes.shape[0], np.int64)
        if prefix:
            form |= (pos > 0).astype(np.int64)
        if suffix:
            form |= 2 * (pos == lengths[word_of] - 1)
        itos = list(specials)
        spell = [[0] + [ord(c) for c in s] for s in specials]
        itos += [chr(c) for c in alphabet.tolist()]
        spell += [[0, c] for c in alphabet.tolist()]
        n_alpha = alphabet.shape[0]
        table = np.full((4, max(n_alpha, 1)), -1, np.int64)
        table[0, :n_alpha] = np.arange(len(specials), len(specials) + n_alpha)
        marked = np.flatnonzero(np.bincount(form[known] * n_alpha + in_alpha[known],
                                            minlength=1))
        marked = marked[marked >= n_alpha]
        spelled = [((prefix if f & 1 else "") + chr(int(alphabet[a])) + (suffix if f & 2 else ""),
                    int(f), int(a)) for f, a in zip((marked // n_alpha).tolist(),
                                                    (marked % n_alpha).tolist())]
        spelled.sort()
        for s, f, a in spelled:
            if s in itos:  # e.g. a prefix that is itself a character: keep the one id
                table[f, a] = itos.index(s)
                continue
            table[f, a] = len(itos)
            itos.append(s)
            spell.append([f, int(alphabet[a])])
        sym = table[form[known], in_alpha[known]].astype(np.int32)
        wlen = np.bincount(word_of[known], minlength=len(words)).astype(np.int32)
        wstart = _offsets(wlen)[:-1]
        spell_codes = np.array(list(chain.from_iterable(spell)), np.int32)
        spell_offs = _offsets([len(s) for s in spell])
        # the per-character temporaries go before the kernel allocates its tables
        del codes, word_of, index_of, in_alpha, known, pos, form, table
        merges, _, n_sym = train_merges(sym, wstart, wlen, np.asarray(counts, np.int64),
                                        spell_codes, spell_offs, int(vocab_size),
                                        int(min_frequency), bool(likelihood))
        plen = len(prefix) if prefix else 0
        for a, b, new in merges.tolist():
            if new == len(itos):
                right = itos[b][plen:] if plen and itos[b].startswith(prefix) else itos[b]
                itos.append(itos[a] + right)
        if len(itos) != n_sym:
            raise AssertionError("merge kernel and vocabulary disagree")
        return itos, merges

    # ---------------------------------------------------------------- encoding
    def encode(self, text, *, add_special_tokens=True, as_tokens=False):
        """Ids (int32 array) of one text, or its token strings with ``as_tokens``."""
        if not isinstance(text, str):
            raise NlpkitError(f"encode() takes one string; got {type(text).__name__} "
                              "(encode_batch() takes a list)")
        return self.encode_batch([text], add_special_tokens=add_special_tokens,
                                 as_tokens=as_tokens)[0]

    def encode_batch(self, texts, *, add_special_tokens=True, as_tokens=False):
        """One int32 id array (or token list) per text."""
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise NlpkitError(f"text {i}: expected a string; got {type(t).__name__}")
        ids, lengths = self._encode_lines(texts, add_special_tokens)
        parts = np.split(ids, np.cumsum(lengths)[:-1]) if len(texts) else []
        if as_tokens:
            itos = self.vocab_.itos
            return [[itos[i] for i in p.tolist()] for p in parts]
        return parts

    def encode_corpus(self, source, *, add_special_tokens=False, on_progress=None):
        """Encode a whole corpus (path or iterable of strings), streamed: ``(ids, offsets)``,
        int32 ids of all lines back to back and int64 line offsets, as a Corpus holds them."""
        ids, lengths = [], []
        for block_ids, block_lengths in self.iter_encode(source, add_special_tokens=add_special_tokens,
                                                          on_progress=on_progress):
            ids.append(block_ids)
            lengths.append(block_lengths)
        flat = np.concatenate(ids) if ids else np.zeros(0, np.int32)
        return flat, _offsets(np.concatenate(lengths) if lengths else np.zeros(0, np.int64))

    def iter_encode(self, source, *, add_special_tokens=False, on_progress=None):
        """Yield ``(ids, line lengths)`` one block of lines at a time (memory: one block)."""
        check_is_fitted(self, "vocab_")
        with backend.threads(self.n_jobs), _gc_paused():
            for block in _line_blocks(source, on_progress):
                yield self._encode_lines(block, add_special_tokens)

    def _encode_lines(self, lines, add_special_tokens):
        check_is_fitted(self, "vocab_")
        cache = self._word_cache()
        added = self._added_re()
        if added is not None and added.search("\n".join(lines)) is not None:
            pieces, lengths = self._split_with_added(lines)
        else:
            splits = self.pre_tokenizer_.split_lines(self._normalize(lines))
            lengths = np.fromiter(map(len, splits), np.int64, len(splits))
            pieces = list(chain.from_iterable(splits))
        word_ids = cache.lookup(pieces)
        flat, tok_lengths = cache.gather(word_ids)
        line_of = np.repeat(np.arange(len(lines)), lengths)
        line_lengths = np.bincount(line_of, weights=tok_lengths, minlength=len(lines)) \
            .astype(np.int64)
        post = self.post_processor_
        if add_special_tokens and post is not None and (post.prefix or post.suffix):
            flat, line_lengths = self._add_specials(flat, line_lengths)
        return flat, line_lengths

    def _split_with_added(self, lines):
        """Lines holding added tokens (``[CLS]``, ``<|endoftext|>``): those match first,
        the text between them goes through the pipeline."""
        pieces, lengths = [], []
        for line in lines:
            n0 = len(pieces)
            at = 0
            for m in self._added_re().finditer(line):
                pieces.extend(chain.from_iterable(
                    map(self.pre_tokenizer_.split, self._normalize([line[at:m.start()]]))))
                pieces.append(_NO_TEXT + m.group(0))
                at = m.end()
            pieces.extend(chain.from_iterable(
                map(self.pre_tokenizer_.split, self._normalize([line[at:]]))))
            lengths.append(len(pieces) - n0)
        return pieces, np.asarray(lengths, np.int64)

    def _add_specials(self, flat, lengths):
        post = self.post_processor_
        pre = [self.vocab_[t] for t in post.prefix]
        suf = [self.vocab_[t] for t in post.suffix]
        new_lengths = lengths + len(pre) + len(suf)
        old, new = _offsets(lengths), _offsets(new_lengths)
        out = np.empty(new[-1], np.int32)
        body = np.arange(flat.shape[0]) + np.repeat(new[:-1] + len(pre) - old[:-1], lengths)
        out[body] = flat
        for k, t in enumerate(pre):
            out[new[:-1] + k] = t
        for k, t in enumerate(suf):
            out[new[1:] - len(suf) + k] = t
        return out, new_lengths

    def _normalize(self, lines):
        norm = self.normalizer_
        if norm is None:
            return lines
        joined = "\n".join(lines)
        if joined.count("\n") != len(lines) - 1:  # texts with line feeds in them: one by one
            return [norm(line) for line in lines]
        return norm.block(joined).split("\n")

    def _word_cache(self):
        if getattr(self, "_cache", None) is None:
            tables = self._tables()
            kind = self._model_type.lower()
            to_words = self.pre_tokenizer_.words
            direct = self._direct_words()

            def encode_new(words):
                words = to_words(words)
                codes, offsets = _codes(words)
                flat, offs = encode_words(kind, codes, offsets, tables)
                if direct:
                    flat, offs = _override(words, flat, offs, direct)
                return flat, offs

            self._cache = _WordCache(encode_new)
            for tok in self.added_tokens_:
                self._cache.pin(_NO_TEXT + tok["content"], [tok["id"]])
        return self._cache

    def _direct_words(self):
        return None

    def _added_re(self):
        """A pattern matching the added tokens (longest first), or None; kept with the cache."""
        cache = self._word_cache()
        if not hasattr(cache, "added_re"):
            contents = sorted((t["content"] for t in self.added_tokens_), key=len, reverse=True)
            cache.added_re = re.compile("|".join(map(re.escape, contents))) if contents else None
        return cache.added_re

    def transform(self, X):
        """Token strings of each document of ``X`` (a list of token lists, for a Pipeline)."""
        return self.encode_batch(_documents(X), add_special_tokens=False, as_tokens=True)

    # ---------------------------------------------------------------- decoding
    def decode(self, ids, *, skip_special_tokens=True) -> str:
        check_is_fitted(self, "vocab_")
        ids = np.asarray(ids).ravel().tolist()
        itos = self.vocab_.itos
        if any(i < 0 or i >= len(itos) for i in ids):
            bad = next(i for i in ids if i < 0 or i >= len(itos))
            raise NlpkitError(f"decode: id {bad} is not in the vocabulary of {len(itos)} tokens")
        special = {t["id"] for t in self.added_tokens_ if t.get("special")} \
            if skip_special_tokens else set()
        return self.decoder_([itos[i] for i in ids if i not in special])

    def decode_batch(self, batch, *, skip_special_tokens=True) -> list[str]:
        return [self.decode(ids, skip_special_tokens=skip_special_tokens) for ids in batch]

    # ------------------------------------------------------------------ lookups
    @property
    def vocab_size_(self) -> int:
        check_is_fitted(self, "vocab_")
        return len(self.vocab_)

    def token_to_id(self, token):
        check_is_fitted(self, "vocab_")
        return self.vocab_.stoi.get(token)

    def id_to_token(self, i):
        check_is_fitted(self, "vocab_")
        return self.vocab_.itos[i]

    # ------------------------------------------------------------------- files
    def save(self, path):
        """Write Hugging Face's ``tokenizer.json`` (atomic)."""
        check_is_fitted(self, "vocab_")
        with atomic_write(path) as fh:
            # compact, as tokenizers' to_str(): json's C encoder does not indent
            fh.write(json.dumps(self.to_json(), ensure_ascii=False))
            fh.write("\n")

    def to_json(self) -> dict:
        check_is_fitted(self, "vocab_")
        n = self.n_model_tokens_
        return {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [dict(t) for t in self.added_tokens_],
                "normalizer": self.normalizer_.to_json() if self.normalizer_ else None,
                "pre_tokenizer": self.pre_tokenizer_.to_json(),
                "post_processor": self.post_processor_.to_json() if self.post_processor_ else None,
                "decoder": self.decoder_.to_json(),
                "model": self._model_json({t: i for i, t in enumerate(self.vocab_.itos[:n])})}

    @staticmethod
    def load(path):
        """A fitted BPE or WordPiece from a ``tokenizer.json`` (Hugging Face's format)."""
        return read_tokenizer_json(path, {"BPE": BPE, "WordPiece": WordPiece})

    def __sklearn_clone__(self):
        # A fitted tokenizer given to another estimator (TextClassifier(tokenizer=bpe))
        # must survive that estimator's clone() (GridSearchCV, cross_val_score): it
        # clones with its vocabulary.  An unfitted one clones as any estimator.
        if hasattr(self, "vocab_"):
            return copy.deepcopy(self)
        return super().__sklearn_clone__()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_cache", None)
        return state

    # ------------------------------------------------------------- the pipeline
    def _setup_pipeline(self):
        raise NotImplementedError

    def _set_vocab(self, itos, specials, n_model=None):
        self.vocab_ = Vocabulary(itos, specials=tuple(specials))
        self.n_model_tokens_ = len(itos) if n_model is None else n_model
        self.added_tokens_ = [{"id": self.vocab_.stoi[s], "content": s, "single_word": False,
                               "lstrip": False, "rstrip": False, "normalized": False,
                               "special": True} for s in specials]
        self._cache = None


def _override(words, flat, offs, direct):
    """Words spelled as one vocabulary token are that token (``ignore_merges``)."""
    hits = [(i, direct[w]) for i, w in enumerate(words) if w in direct]
    if not hits:
        return flat, offs
    parts = np.split(flat, offs[1:-1])
    for i, t in hits:
        parts[i] = np.array([t], np.int32)
    lengths = np.fromiter(map(len, parts), np.int64, len(parts))
    return (np.concatenate(parts) if parts else flat), _offsets(lengths)


def _name(X):
    return os.fspath(X) if isinstance(X, (str, os.PathLike)) else "the corpus"


def _documents(X):
    if isinstance(X, str):
        raise NlpkitError("X must be a list of documents, not a single string")
    return list(X)


def _line_blocks(source, on_progress=None):
    """Lists of lines from a path (a few MB of text at a time) or an iterable of
    strings (``_BLOCK_LINES`` at a time)."""
    if isinstance(source, (str, os.PathLike)):
        for chunk in iter_chunks(source, 1 << 21, on_progress=on_progress):
            if "\r" in chunk:
                chunk = chunk.replace("\r\n", "\n")
            lines = chunk.split("\n")
            if lines[-1] == "":
                lines.pop()
            elif lines[-1].endswith("\r"):  # the file's last line, with no line feed
                lines[-1] = lines[-1][:-1]
            yield lines
        return
    block = []
    for i, line in enumerate(source):
        if not isinstance(line, str):
            raise NlpkitError(f"line {i + 1}: expected a string; got {type(line).__name__}")
        block.append(line)
        if len(block) == _BLOCK_LINES:
            yield block
            block = []
    if block:
        yield block


# ---------------------------------------------------------------------- BPE
_STYLES = ("suffix", "metaspace", "bytelevel")
_PRE = {"whitespace_split": pl.WhitespaceSplit, "whitespace": pl.Whitespace,
        "bert": pl.BertPreTokenizer}


class BPE(SubwordTokenizer):
    """Byte-pair encoding (Sennrich et al. 2016): merges learned from word counts.

    Parameters
    ----------
    vocab_size : int
        Symbols in the vocabulary (special tokens and the alphabet included).
    style : {'suffix', 'metaspace', 'bytelevel'}
        How words are marked. ``'suffix'``: words split at whitespace, the last
        symbol of a word carries ``end_of_word_suffix`` (``</w>``, subword-nmt);
        ``'metaspace'``: sentencepiece's ``▁`` starts each word; ``'bytelevel'``:
        GPT-2's pre-tokenizer and byte alphabet (every text is encodable, no
        unknown token).
    pre_tokenizer : None or {'whitespace_split', 'whitespace', 'bert'}
        Overrides the split into words for the ``'suffix'`` style
        (``tokenizers``' WhitespaceSplit, Whitespace or BertPreTokenizer).
    lowercase : bool
        Lowercase first.
    min_frequency : int
        Pairs seen fewer times are never merged.
    special_tokens : tuple of str or None
        First ids. Default ``('<unk>',)``, ``('<|endoftext|>',)`` for ``'bytelevel'``.
    unk_token : str or None
        Token for characters outside the alphabet (default ``'<unk>'`` when it is a
        special token, none for ``'bytelevel'``: unknown characters are dropped).
    end_of_word_suffix : str
        The word-end marker of the ``'suffix'`` style.
    limit_alphabet : int or None
        Keep only this many characters (the most frequent).
    n_jobs : int or None
        Threads for the encoding kernels (scikit-learn's convention).
    """

    _model_type = "BPE"
    _parameter_constraints = {
        **SUBWORD_CONSTRAINTS,
        "style": [Options(*_STYLES)],
        "pre_tokenizer": [None, Options(*_PRE)],
        "unk_token": [None, str],
        "end_of_word_suffix": [str],
    }

    def __init__(self, vocab_size=32000, *, style="suffix", pre_tokenizer=None, lowercase=False,
                 min_frequency=0, special_tokens=None, unk_token="<unk>",
                 end_of_word_suffix="</w>", limit_alphabet=None, n_jobs=None):
        self.vocab_size = vocab_size
        self.style = style
        self.pre_tokenizer = pre_tokenizer
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.special_tokens = special_tokens
        self.unk_token = unk_token
        self.end_of_word_suffix = end_of_word_suffix
        self.limit_alphabet = limit_alphabet
        self.n_jobs = n_jobs

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if self.style != "suffix":
            refuse_ignored(self, ("end_of_word_suffix", "pre_tokenizer"),
                           f"with style={self.style!r}")
        elif not self.end_of_word_suffix:
            raise ParameterError("BPE: style 'suffix' needs a non-empty end_of_word_suffix")

    def _setup_pipeline(self):
        self.normalizer_ = pl.Lowercase() if self.lowercase else None
        self.post_processor_ = None
        suffix = None
        if self.style == "suffix":
            self.pre_tokenizer_ = _PRE[self.pre_tokenizer or "whitespace_split"]()
            suffix = self.end_of_word_suffix
            self.decoder_ = pl.BPEDecoder(suffix)
        elif self.style == "metaspace":
            self.pre_tokenizer_ = pl.Metaspace()
            self.decoder_ = pl.MetaspaceDecoder()
        else:
            self.pre_tokenizer_ = pl.ByteLevel(add_prefix_space=False)
            self.decoder_ = pl.ByteLevelDecoder()
        specials = self.special_tokens
        if specials is None:
            specials = ("<|endoftext|>",) if self.style == "bytelevel" else ("<unk>",)
        self._specials = tuple(specials)
        unk = None if self.style == "bytelevel" else self.unk_token
        if unk is not None and unk not in self._specials:
            self._specials = (unk,) + self._specials
        self.model_ = {"unk_token": unk, "continuing_subword_prefix": None,
                       "end_of_word_suffix": suffix, "fuse_unk": False, "ignore_merges": False}

    def _learn(self, words, counts):
        initial = "".join(uni.bytes_to_unicode().values()) if self.style == "bytelevel" else ""
        itos, merges = self._learn_symbols(
            words, counts, specials=self._specials, prefix=None,
            suffix=self.model_["end_of_word_suffix"], vocab_size=self.vocab_size,
            min_frequency=self.min_frequency, limit_alphabet=self.limit_alphabet,
            initial_alphabet=initial, likelihood=False)
        self._set_vocab(itos, self._specials)
        self.merges_ = [(itos[a], itos[b]) for a, b, _ in merges.tolist()]
        self._merge_ids = merges

    def _tables(self):
        unk = self.model_["unk_token"]
        return _Tables(self.vocab_.itos, self.n_model_tokens_,
                       prefix=self.model_["continuing_subword_prefix"],
                       suffix=self.model_["end_of_word_suffix"], merges=self._merge_ids,
                       unk=self.vocab_.stoi[unk] if unk is not None else -1,
                       fuse_unk=self.model_["fuse_unk"])

    def _direct_words(self):
        if not self.model_.get("ignore_merges"):
            return None
        return self.vocab_.stoi

    def _model_json(self, vocab):
        m = self.model_
        return {"type": "BPE", "dropout": None, "unk_token": m["unk_token"],
                "continuing_subword_prefix": m["continuing_subword_prefix"],
                "end_of_word_suffix": m["end_of_word_suffix"], "fuse_unk": m["fuse_unk"],
                "byte_fallback": False, "ignore_merges": m["ignore_merges"],
                "vocab": vocab, "merges": [list(p) for p in self.merges_]}


# ----------------------------------------------------------------- WordPiece
_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class WordPiece(SubwordTokenizer):
    """BERT's WordPiece: greedy longest-match-first, ``##`` marks continuations.

    Training (``training='likelihood'``, the default) merges, at each step, the
    pair of symbols whose merge most raises the likelihood of the training words
    under a unigram model of the symbols (Schuster & Nakajima 2012, the criterion
    of Google's WordPiece behind BERT; the total symbol count in that gain is held
    at its initial value, see ``train_kernels._score``).  The often-quoted
    shortcut ``count(ab) / (count(a) count(b))`` is not used: it merges rare
    pairs first (3.5 tokens per word on Linux documentation against 1.3).  ``training='bpe'`` does what ``tokenizers``'
    WordPieceTrainer does instead: BPE merges by count (with ``##`` on
    continuations), then keep the vocabulary and drop the merges.  Either way the
    vocabulary is the special tokens, the alphabet (plain and ``##`` forms) and
    the merged symbols; encoding uses only the vocabulary.

    Parameters
    ----------
    vocab_size, min_frequency, limit_alphabet, n_jobs :
        As :class:`BPE` (defaults as BertWordPieceTokenizer: 30000, 2, 1000).
    lowercase, strip_accents :
        BERT's normalizer (``strip_accents=None`` follows ``lowercase``).
    special_tokens : tuple of str
        ``[PAD] [UNK] [CLS] [SEP] [MASK]`` by default.
    unk_token : str
        What a word that cannot be spelled becomes.
    training : {'likelihood', 'bpe'}
    max_input_chars_per_word : int
        Longer words become ``unk_token``.
    """

    _model_type = "WordPiece"
    _parameter_constraints = {
        **SUBWORD_CONSTRAINTS,
        "strip_accents": [None, "boolean"],
        "unk_token": [str],
        "training": [Options("likelihood", "bpe")],
        "max_input_chars_per_word": POSITIVE_INT,
    }

    def __init__(self, vocab_size=30000, *, lowercase=True, strip_accents=None, min_frequency=2,
                 special_tokens=_BERT_SPECIALS, unk_token="[UNK]", training="likelihood",
                 limit_alphabet=1000, max_input_chars_per_word=100, n_jobs=None):
        self.vocab_size = vocab_size
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.min_frequency = min_frequency
        self.special_tokens = special_tokens
        self.unk_token = unk_token
        self.training = training
        self.limit_alphabet = limit_alphabet
        self.max_input_chars_per_word = max_input_chars_per_word
        self.n_jobs = n_jobs

    def _setup_pipeline(self):
        self.normalizer_ = pl.BertNormalizer(True, True, self.strip_accents, self.lowercase)
        self.pre_tokenizer_ = pl.BertPreTokenizer()
        self.decoder_ = pl.WordPieceDecoder("##", True)
        self.post_processor_ = None
        specials = tuple(self.special_tokens or ())
        if self.unk_token not in specials:
            specials = (self.unk_token,) + specials
        self._specials = specials
        self.model_ = {"unk_token": self.unk_token, "continuing_subword_prefix": "##",
                       "max_input_chars_per_word": int(self.max_input_chars_per_word)}

    def _learn(self, words, counts):
        itos, _ = self._learn_symbols(
            words, counts, specials=self._specials, prefix="##", suffix=None,
            vocab_size=self.vocab_size, min_frequency=self.min_frequency,
            limit_alphabet=self.limit_alphabet, initial_alphabet="",
            likelihood=self.training == "likelihood")
        self._set_vocab(itos, self._specials)

    def _tables(self):
        return _Tables(self.vocab_.itos, self.n_model_tokens_,
                       prefix=self.model_["continuing_subword_prefix"],
                       unk=self.vocab_.stoi[self.model_["unk_token"]],
                       max_chars=self.model_["max_input_chars_per_word"])

    def _model_json(self, vocab):
        m = self.model_
        return {"type": "WordPiece", "unk_token": m["unk_token"],
                "continuing_subword_prefix": m["continuing_subword_prefix"],
                "max_input_chars_per_word": m["max_input_chars_per_word"], "vocab": vocab}


def load_tokenizer(tokenizer):
    """A fitted subword tokenizer from an instance or a path to ``tokenizer.json``."""
    if isinstance(tokenizer, SubwordTokenizer):
        check_is_fitted(tokenizer, "vocab_")
        return tokenizer
    if isinstance(tokenizer, (str, os.PathLike)):
        if not os.path.exists(tokenizer):
            raise InputFileError(tokenizer, "no such file")
        return SubwordTokenizer.load(tokenizer)
    raise NlpkitError(f"tokenizer must be a BPE/WordPiece tokenizer or a path to tokenizer.json; "
                      f"got {type(tokenizer).__name__}")
