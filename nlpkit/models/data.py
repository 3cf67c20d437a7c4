"""From user data to padded int batches: token lists, vocabularies, labels.

X for every model is a sequence of documents, each a string (split by the
model's tokenizer) or a list of tokens.  Strings never reach the network:
documents become int ids (``<pad>`` = 0, ``<unk>`` = 1) padded into a
(batch, time) array with the true lengths beside it.
"""

from __future__ import annotations


import numpy as np

from ..errors import NlpkitError
from ..text import Tokenizer, Vocabulary

# the readers of labelled and tagged files, public here before they joined the others
from ..text.readers import iter_conll, iter_labelled, read_conll, read_labelled  # noqa: F401

PAD, UNK = "<pad>", "<unk>"
SPECIALS = (PAD, UNK)
PAD_ID, UNK_ID = 0, 1


def drop_words(ids, rate, rng):
    """``ids`` (B, T) with a fraction ``rate`` of its real tokens set to ``<unk>``."""
    if not rate:
        return ids
    drop = (rng.random(ids.shape) < rate) & (ids != PAD_ID)
    return np.where(drop, UNK_ID, ids).astype(ids.dtype, copy=False)


def resolve_tokenizer(tokenizer=None, lowercase=False):
    """How an estimator splits documents: whitespace words (lowercased with ``lowercase``),
    or, given ``tokenizer`` (a fitted BPE/WordPiece or a path to a tokenizer.json), its
    subword tokens.  The one place where the ``tokenizer=`` parameter is read."""
    if tokenizer is None:
        return Tokenizer(lower=bool(lowercase))
    from ..text.subword import load_tokenizer
    return SubwordSplit(load_tokenizer(tokenizer), lowercase)


class SubwordSplit:
    """A subword tokenizer as a splitter: a document's token strings, no special tokens.
    Documents given as token lists are joined by spaces first."""

    def __init__(self, tokenizer, lowercase=False):
        self.tokenizer, self.lowercase = tokenizer, bool(lowercase)

    def __call__(self, text):
        return self.batch([text])[0]

    def batch(self, docs):
        texts = [d if isinstance(d, str) else " ".join(d) for d in docs]
        if self.lowercase:
            texts = [t.lower() for t in texts]
        return self.tokenizer.encode_batch(texts, add_special_tokens=False, as_tokens=True)


def word_pieces(words, tokenizer=None):
    """The pieces of each word for a character encoder: its characters, or its subword
    tokens when ``tokenizer`` is a :class:`SubwordSplit`."""
    if isinstance(tokenizer, SubwordSplit):
        return tokenizer.batch(list(words))
    return [list(w) for w in words]


def check_documents(X, what="X", tokenizer=None, allow_empty=False):
    """``X`` as a list of token lists; NlpkitError (a ValueError) on anything else."""
    if isinstance(X, (str, bytes)):
        raise NlpkitError(
            f"{what} must be a list of documents (strings or token lists), not a single string"
        )
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise NlpkitError(
            f"{what}: sparse input is not supported; {what} must hold text (strings or token lists)"
        )
    if isinstance(X, np.ndarray) and X.dtype.kind in "biufc":
        raise NlpkitError(
            f"{what} must hold text (strings or token lists); got a numeric array "
            f"of shape {X.shape}"
        )
    try:
        docs = list(X)
    except TypeError:
        raise NlpkitError(f"{what} must be a list of documents; got {type(X).__name__}") from None
    if not docs:
        raise NlpkitError(f"{what} is empty: 0 samples (at least one document is required)")
    tokenize = tokenizer or Tokenizer()
    subwords = None
    if isinstance(tokenize, SubwordSplit):  # all documents in one batch
        texts = [d for d in docs if isinstance(d, str) or (
            isinstance(d, (list, tuple, np.ndarray)) and all(isinstance(t, str) for t in d))]
        if len(texts) == len(docs):
            subwords = tokenize.batch(texts)
    out = []
    for i, doc in enumerate(docs):
        if subwords is not None:
            if not subwords[i] and not allow_empty:
                raise NlpkitError(f"{what}[{i}] is an empty document (no tokens)")
            out.append(subwords[i])
            continue
        if isinstance(doc, str):
            toks = tokenize(doc)
        elif isinstance(doc, (list, tuple, np.ndarray)) and all(isinstance(t, str) for t in doc):
            toks = list(doc)
        else:
            raise NlpkitError(
                f"{what}[{i}] must be a string or a list of string tokens; got {type(doc).__name__}"
            )
        if not toks and not allow_empty:
            raise NlpkitError(f"{what}[{i}] is an empty document (no tokens)")
        out.append(toks)
    return out


def check_lengths(X, y, what_x="X", what_y="y"):
    if len(X) != len(y):
        raise NlpkitError(f"{what_x} and {what_y} have different lengths: {len(X)} and {len(y)}")


def build_vocab(token_lists, min_count=1, max_size=None, specials=SPECIALS):
    return Vocabulary.build(token_lists, min_count=min_count, max_size=max_size, specials=specials)


def vocab_from_counts(counts, min_count=1, max_size=None, specials=SPECIALS):
    """:func:`build_vocab` from ``{word: count}`` in order of first appearance (a text
    counted as it streamed by: :class:`nlpkit.text.spill.EncodedText`)."""
    return Vocabulary.from_counts(counts, min_count=min_count, max_size=max_size,
                                  specials=specials)


class SentenceIds:
    """Documents as int64 id arrays, ``docs[i]``, from a corpus's flat ids and offsets (a
    :class:`nlpkit.text.spill.MappedCorpus`, on disk or in memory), with ``first`` and
    ``last`` ids around each (``<s>``, ``</s>``) when given.

    What training batches are gathered from: a batch copies its documents out, so memory
    holds the vocabulary, the model and a batch, not the text.  The pages of a mapped
    corpus read so far are dropped every ``1 << 20`` tokens.
    """

    _RELEASE_EVERY = 1 << 20

    def __init__(self, corpus, first=None, last=None):
        self.corpus = corpus
        self.ids, self.offsets = corpus.ids, corpus.offsets
        self.head = np.array([] if first is None else [first], np.int64)
        self.tail = np.array([] if last is None else [last], np.int64)
        self._read = 0

    def __len__(self):
        return self.offsets.shape[0] - 1

    @property
    def lengths(self) -> np.ndarray:
        """Each document's length (with the ids around it)."""
        return np.diff(self.offsets) + (self.head.shape[0] + self.tail.shape[0])

    def __getitem__(self, i):
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        self._read += b - a
        if self._read >= self._RELEASE_EVERY:
            self._read = 0
            self.corpus.release()
        return np.concatenate((self.head, self.ids[a:b], self.tail))


class TokenLists:
    """``docs[i]``: document ``i`` of a text (an :class:`~nlpkit.text.spill.EncodedText`)
    as its list of words, read from the spilled ids."""

    def __init__(self, text):
        self.ids, self.words = SentenceIds(text.corpus), text.words

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        words = self.words
        return [words[j] for j in self.ids[i].tolist()]


class LabelledText:
    """Documents with a label each, or a tag per token, encoded by
    :meth:`~nlpkit.text.spill.EncodedText.read_columns`: ``text`` (the words) and
    ``labels`` (per document a one-token sentence, or its tags)."""

    def __init__(self, text, labels):
        self.text, self.labels = text, labels

    def __len__(self):
        return self.text.n_sentences

    def classes(self):
        """``(classes, y_idx)`` as ``np.unique(labels, return_inverse=True)``."""
        names = np.asarray(self.labels.words)
        classes = np.unique(names)
        index = np.searchsorted(classes, names).astype(np.intp)
        return classes, index[np.asarray(self.labels.corpus.ids)]


class PairedText:
    """Sources and their targets, encoded by
    :meth:`~nlpkit.text.spill.EncodedText.read_columns`: two texts, sentence by sentence."""

    def __init__(self, source, target):
        self.source, self.target = source, target

    def __len__(self):
        return self.source.n_sentences


def remap_to(vocab, text):
    """int32 ids in ``vocab`` of the words of ``text`` (first-seen order), unknown words
    as ``<unk>``: the map for :meth:`~nlpkit.text.spill.EncodedText.remapped`."""
    get, unk = vocab.stoi.get, vocab.unk_id
    return np.fromiter((get(w, unk) for w in text.words), np.int32, len(text.words))


def first_empty(text):
    """The index of the first document of ``text`` with no tokens, or None."""
    empty = np.flatnonzero(np.diff(text.corpus.offsets) == 0)
    return int(empty[0]) if empty.shape[0] else None


def encode(vocab, token_lists):
    """int32 id arrays, unknown words as ``<unk>``."""
    return [vocab.encode(toks) for toks in token_lists]


_PAIR = "\x1f"  # joins a word pair into one vocabulary key (no tokenizer makes it)


def bigrams(tokens):
    """The word pairs of a token list, as vocabulary keys."""
    return [a + _PAIR + b for a, b in zip(tokens, tokens[1:])]


def _pair_keys(ids, offsets, n_words):
    """The int64 key ``a * n_words + b`` of the pair of first-seen ids ending at each
    position of a block of sentences (-1 at each sentence's first position)."""
    keys = np.full(ids.shape[0], -1, np.int64)
    keys[1:] = ids[:-1].astype(np.int64) * n_words + ids[1:]
    starts = offsets[:-1]
    keys[starts[starts < ids.shape[0]]] = -1
    return keys


def pair_counts(text):
    """``{pair key: count}`` of the word pairs of ``text`` (an
    :class:`~nlpkit.text.spill.EncodedText`) in order of first appearance, counted over
    its spilled ids a block at a time: :func:`bigrams`'s counts, keyed by ints."""
    counts = {}
    for ids, offsets in text.corpus.blocks():
        keys = _pair_keys(ids, offsets, len(text.words))
        keys, first, n = np.unique(keys[keys >= 0], return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        for k, c in zip(keys[order].tolist(), n[order].tolist()):
            counts[k] = counts.get(k, 0) + c
    return counts


def pair_vocab(text, pairs, min_count=2):
    """The vocabulary of the word pairs of ``text`` (``pairs``: :func:`pair_counts`), as
    ``build_vocab(bigrams(d) for d in docs)``."""
    words, n = text.words, len(text.words)
    return vocab_from_counts({words[k // n] + _PAIR + words[k % n]: c for k, c in pairs.items()},
                             min_count=min_count)


def encode_pairs(text, vocab, pairs, name="pairs"):
    """:func:`encode_bigrams` of every document of ``text`` (``pairs``:
    :func:`pair_counts`), spilled beside it: ids aligned with its tokens."""
    from ..text.spill import CorpusWriter

    words, n = text.words, len(text.words)
    keys = np.fromiter(pairs, np.int64, len(pairs))
    get = vocab.stoi.get
    vals = np.fromiter((get(words[k // n] + _PAIR + words[k % n], PAD_ID) for k in keys.tolist()),
                       np.int32, len(keys))
    order = np.argsort(keys)
    keys, vals = np.append(keys[order], -2), np.append(vals[order], PAD_ID)
    writer = CorpusWriter(text.directory, name)
    for ids, offsets in text.corpus.blocks():
        k = _pair_keys(ids, offsets, n)
        at = np.searchsorted(keys[:-1], k)
        writer.add(np.where(keys[at] == k, vals[at], PAD_ID), np.diff(offsets))
    return writer.finish()


def encode_bigrams(vocab, tokens):
    """int ids aligned with ``tokens``: position t holds the pair (t-1, t); the first
    position and unknown pairs hold ``<pad>`` (0), whose vector is zero."""
    get = vocab.stoi.get
    return np.fromiter(
        (get(k, PAD_ID) for k in [None, *bigrams(tokens)]), dtype=np.int32, count=len(tokens)
    )


def pad_batch(id_arrays, pad=PAD_ID, max_len=None):
    """``(ids (B, T) int64, lengths (B,) int64)``, truncating documents longer than ``max_len``."""
    lengths = np.array([len(a) for a in id_arrays], dtype=np.int64)
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    width = max(int(lengths.max()) if lengths.size else 1, 1)
    ids = np.full((len(id_arrays), width), pad, dtype=np.int64)
    for row, (a, n) in enumerate(zip(id_arrays, lengths)):
        ids[row, :n] = a[:n]
    return ids, lengths


def length_sorted_batches(lengths, batch_size, rng=None):
    """Index batches of documents of similar length (less padding), in shuffled order."""
    n = len(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:  # shuffle, then sort within chunks of 50 batches so batches differ every epoch
        order = rng.permutation(n)
        chunk = batch_size * 50
        order = np.concatenate(
            [
                c[np.argsort(np.asarray(lengths)[c], kind="stable")]
                for c in np.array_split(order, max(1, n // chunk))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
