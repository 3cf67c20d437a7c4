"""SequenceTagger: one label per token (names, parts of speech), a scikit-learn estimator.

Word embedding (+ optionally a character CNN, which gives unseen words a
vector from their spelling) -> encoder (BiLSTM by default, or any of
:data:`nlpkit.models.encoders.ENCODERS`) -> linear layer per token, trained
with cross-entropy over the real (unpadded) tokens.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import NlpkitError
from ..nn import Dropout, Embedding, Linear, MaxPoolTime, Module, ReLU, no_grad
from ..nn import functional as F
from ..params import (
    BOOLEAN,
    FRACTION,
    NONNEGATIVE_INT,
    POSITIVE_INT,
    Options,
    refuse_ignored,
    validate_params,
)
from ..text import Tokenizer, Vocabulary
from . import data
from .data import SubwordSplit
from .base import PRETRAINED, SHARED_CONSTRAINTS, NeuralEstimator, compute, seed_from
from .encoders import ENCODERS, POSITIONS, RECURRENT, make_encoder
from .pretrained import (
    NO_LANGUAGE_MODEL,
    check_encoder_config,
    config_sizes,
    is_language_model_file,
    load_pretrained,
    rebuilt_parts,
    start_training,
    word_inputs,
)
from .layers import TimeConv1d, valid_mask
from .training import count_hits, softmax
from ..text.readers import batched
from ..text.spill import EncodedText

_PREDICT_BATCH = 128
IGNORE = -100
_READ_BLOCK = 4096  # sentences checked at a time by read_text


def _check_tags(i, tokens, tags):
    """Sentence ``i``'s tags: a list, one per token."""
    if isinstance(tags, (str, bytes)) or not hasattr(tags, "__len__"):
        raise NlpkitError(f"y[{i}] must be a list of tags, got {type(tags).__name__}")
    if len(tags) != len(tokens):
        raise NlpkitError(f"y[{i}] has {len(tags)} tags for {len(tokens)} tokens")


class CharEncoder(Module):
    """Characters of each distinct word -> conv (width 3) -> ReLU -> max over the word."""

    def __init__(self, n_chars, char_dim, filters, rng):
        super().__init__()
        self.embedding = Embedding(n_chars, char_dim, padding_idx=data.PAD_ID, rng=rng)
        self.conv = TimeConv1d(char_dim, filters, 3, rng=rng)
        self.act = ReLU()
        self.pool = MaxPoolTime(dim=1)
        self.output_size = filters

    def forward(self, char_ids, char_lengths):
        return self.pool(self.act(self.conv(self.embedding(char_ids))), char_lengths)


class TaggerNet(Module):
    """ids (B, T) (+ the characters of the batch's words) -> logits (B, T, n_tags)."""

    def __init__(
        self,
        vocab_size,
        n_tags,
        encoder,
        embedding_dim,
        hidden_size,
        num_layers,
        dropout,
        n_chars,
        char_dim,
        char_filters,
        rng,
        positions="sinusoidal",
        pretrained=None,
    ):
        super().__init__()
        self.use_chars = bool(char_dim)
        # with a pretrained encoder the character vectors join its output (its input is
        # the pretrained embedding); otherwise they join the word vectors the encoder reads
        self.chars_after = pretrained is not None
        if pretrained is not None:
            self.embedding = pretrained.embedding
        else:
            self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=data.PAD_ID,
                                       rng=rng)
        size = embedding_dim
        if self.use_chars:
            self.chars = CharEncoder(n_chars, char_dim, char_filters, rng)
            size += 0 if self.chars_after else char_filters
        self.in_dropout = Dropout(dropout, rng=rng)
        self.encoder = pretrained.encoder if pretrained is not None else make_encoder(
            encoder, size, hidden_size, num_layers, dropout, rng, positions=positions)
        self.out_dropout = Dropout(dropout, rng=rng)
        out_size = self.encoder.output_size + (char_filters if self.use_chars and
                                               self.chars_after else 0)
        self.output = Linear(out_size, n_tags, rng=rng)

    def forward(self, ids, lengths, chars=None):
        x = self.embedding(ids)
        c = None
        if self.use_chars:
            word_index, char_ids, char_lengths = chars
            c = self.chars(char_ids, char_lengths)[word_index]
            if not self.chars_after:
                x = F.cat([x, c], dim=-1)
        # padded steps read zeros and give no gradient back (to the first word's characters,
        # which their index points at)
        mask = valid_mask(lengths, ids.shape[1])[:, :, None].astype(x.dtype)
        h = self.encoder(self.in_dropout(x * mask), lengths)
        if c is not None and self.chars_after:
            h = F.cat([h, c * mask], dim=-1)
        return self.output(self.out_dropout(h))


class SequenceTagger(NeuralEstimator):
    """Neural sequence tagger with scikit-learn's API.

    X: token lists (strings are split on whitespace); y: tag lists of the same
    lengths.  ``predict`` returns tag lists; ``score`` is token accuracy and
    :meth:`report` gives precision, recall and F1 per tag.

    Parameters are those of :class:`~nlpkit.models.TextClassifier` (encoder
    'bilstm' by default; ``pretrained`` word vectors or a MaskedLM/NeuralLM model file,
    ``freeze_layers``, ``positions``) plus ``char_dim`` (0: no character encoder),
    ``char_filters`` and ``word_dropout`` (the probability of reading a training
    token as ``<unk>``, so the model learns what to do with unseen words).  With a
    pretrained language model, the character vectors join the encoder's output.
    ``tokenizer`` (a fitted BPE/WordPiece or a path to a tokenizer.json): tags stay
    one per word; the character encoder reads each word's subword tokens instead of
    its characters.
    """

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "min_count": POSITIVE_INT,
        "encoder": [Options(*ENCODERS)],
        "char_dim": NONNEGATIVE_INT,
        "char_filters": POSITIVE_INT,
        "word_dropout": FRACTION,
        "pretrained": PRETRAINED,
        "freeze_layers": [None, *NONNEGATIVE_INT],
        "positions": [Options(*POSITIONS)],
        "lowercase": BOOLEAN,
    }

    def __init__(
        self,
        encoder="bilstm",
        embedding_dim=100,
        hidden_size=128,
        num_layers=1,
        dropout=0.3,
        char_dim=0,
        char_filters=50,
        word_dropout=0.05,
        pretrained=None,
        freeze_layers=None,
        positions="sinusoidal",
        max_epochs=10,
        batch_size=32,
        lr=1e-3,
        optimizer="adam",
        clip=5.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=3,
        max_time=None,
        lr_schedule="constant",
        warmup_steps=0,
        min_count=1,
        lowercase=False,
        tokenizer=None,
        random_state=None,
        n_jobs=None,
        device=None,
        verbose=0,
    ):
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.char_dim = char_dim
        self.char_filters = char_filters
        self.word_dropout = word_dropout
        self.pretrained = pretrained
        self.freeze_layers = freeze_layers
        self.positions = positions
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.clip = clip
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_time = max_time
        self.lr_schedule = lr_schedule
        self.warmup_steps = warmup_steps
        self.min_count = min_count
        self.lowercase = lowercase
        self.tokenizer = tokenizer
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ input
    def _pieces(self):
        """The splitter of words for the character encoder: None (characters) or the
        subword tokenizer (tags stay one per word)."""
        if self.tokenizer is None:
            return None
        if getattr(self, "tokenizer_", None) is None:
            self.tokenizer_ = data.resolve_tokenizer(self.tokenizer)
        return self.tokenizer_

    def _docs(self, X):
        docs = data.check_documents(X, tokenizer=Tokenizer())
        if self.lowercase or getattr(self, "pretrained_lowercase_", False):
            docs = [[t.lower() for t in d] for d in docs]
        return docs

    def _load_pretrained(self):
        self._pretrained_parts, self.pretrained_lowercase_ = None, False
        if is_language_model_file(self.pretrained):
            self._pretrained_parts = load_pretrained(self.pretrained)
            if self._pretrained_parts.subword:
                raise NlpkitError(f"{self.pretrained}: a language model over subword tokens "
                                  "cannot start a tagger, which tags words")
            self.pretrained_lowercase_ = self._pretrained_parts.lowercase

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if is_language_model_file(self.pretrained):
            refuse_ignored(self, ("encoder", "positions", "min_count"),
                           "with a pretrained language model (its own apply)")
        else:
            refuse_ignored(self, ("freeze_layers",), NO_LANGUAGE_MODEL)
            if self.encoder != "transformer":
                refuse_ignored(self, ("positions",), f"with encoder={self.encoder!r} "
                               "(a transformer's)")
        if not self.char_dim:
            refuse_ignored(self, ("char_filters",), "with char_dim=0 (no character encoder)")

    def _check_xy(self, X, y):
        if y is None:
            raise NlpkitError("SequenceTagger requires y to be passed, but the target y is None")
        docs = self._docs(X)
        if isinstance(y, (str, bytes)):
            raise NlpkitError("y must be a list of tag lists")
        y = list(y)
        data.check_lengths(docs, y)
        for i, (toks, tags) in enumerate(zip(docs, y)):
            _check_tags(i, toks, tags)
        return docs, [list(t) for t in y]

    def read_text(self, X, directory=None, what="X"):
        """Encode tagged sentences, ``(tokens, tags)`` pairs (a list, or a stream such as
        :func:`nlpkit.text.readers.iter_conll`), in one pass to files in ``directory``
        (None: in memory), for :meth:`fit` (with ``y=None``): a text larger than memory is
        then trained on from disk."""
        validate_params(self)
        self._load_pretrained()
        return self._read(X, directory, what)

    def _read(self, X, directory=None, what="X", lower=None):
        if lower is None:
            lower = self.lowercase or self.pretrained_lowercase_

        def rows():
            start = 0
            for block in batched(X, _READ_BLOCK):
                docs = data.check_documents([d for d, _ in block], what, Tokenizer(),
                                            allow_empty=True)
                for i, (toks, (_, tags)) in enumerate(zip(docs, block), start):
                    _check_tags(i, toks, tags)
                    yield [t.lower() for t in toks] if lower else toks, list(tags)
                start += len(block)

        text, tags = EncodedText.read_columns(rows(), ("words", "tags"), directory)
        if text.n_sentences == 0:
            raise NlpkitError(f"{what} is empty: 0 samples (at least one document is required)")
        empty = data.first_empty(text)
        if empty is not None:
            raise NlpkitError(f"{what}[{empty}] is an empty document (no tokens)")
        return data.LabelledText(text, tags)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, callback=None):
        """Train on token lists ``X`` and tag lists ``y``, or on ``X`` from
        :meth:`read_text` (``y`` None); ``callback`` as TextClassifier.fit."""
        validate_params(self)
        self.tokenizer_ = None  # resolved again from the parameters
        self._load_pretrained()
        if isinstance(X, data.LabelledText):
            if y is not None:
                raise NlpkitError("X from read_text holds the tags: leave y=None")
            text = X
        else:
            docs, tags = self._check_xy(X, y)
            text = self._read(zip(docs, tags), lower=False)  # (_check_xy lowercased)
        self.tags_ = np.array(sorted(text.labels.words), dtype=object)
        if len(self.tags_) < 2:
            raise NlpkitError(
                f"SequenceTagger needs at least 2 distinct tags in y; got only {self.tags_[0]!r}"
            )
        self._setup(text.text)
        index = self._tag_index
        tag_ids = data.SentenceIds(text.labels.remapped(
            np.fromiter((index[t] for t in text.labels.words), np.int32,
                        len(text.labels.words)), "tag-ids"))
        with compute(self.n_jobs, self.device, self):
            self._train(text.text, tag_ids, callback)
        return self

    def _setup(self, text):
        """From the sentences ``text`` (an EncodedText): vocabularies, network, optimizer."""
        parts, lookup = word_inputs(self, text)
        self.char_vocab_ = (
            data.build_vocab(
                data.word_pieces(self.vocab_.itos[len(data.SPECIALS) :], self._pieces())
            )
            if self.char_dim
            else None
        )
        self._tag_index = {t: i for i, t in enumerate(self.tags_.tolist())}
        self._rng = np.random.default_rng(seed_from(self.random_state))
        start_training(self, parts, lookup)

    def _make_net(self, rng, parts=None):
        """The network of the fitted sizes; ``parts``: a pretrained model's embedding and
        encoder (a loaded model rebuilds them from ``pretrained_encoder_``)."""
        parts = rebuilt_parts(self, rng, parts)
        return TaggerNet(
            len(self.vocab_),
            len(self.tags_),
            self.encoder,
            self.embedding_dim_,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            len(self.char_vocab_) if self.char_dim else 0,
            self.char_dim,
            self.char_filters,
            rng,
            positions=self.positions,
            pretrained=parts,
        )

    # model files: what TaggerNet is built from, besides the parameters
    _fitted = {**NeuralEstimator._fitted,
               "tags_": ((np.ndarray,), True),
               "vocab_": ((Vocabulary,), True),
               "char_vocab_": ((Vocabulary, type(None)), True),
               "embedding_dim_": ((int,), True),
               "pretrained_encoder_": ((dict, type(None)), True),
               "pretrained_lowercase_": ((bool,), False),
               "n_pretrained_": ((int,), False),
               "tokenizer_": ((SubwordSplit, type(None)), False)}

    def _net_sizes(self):
        config = self.pretrained_encoder_
        if config is not None:
            check_encoder_config(config)
            sizes, counts = config_sizes(config)
        else:
            sizes = {"params.hidden_size": self.hidden_size}
            counts = {"params.num_layers": self.num_layers}
        sizes["fitted.embedding_dim_"] = self.embedding_dim_
        if self.char_dim:
            if self.char_vocab_ is None:
                raise NlpkitError("char_dim is set but char_vocab_ is null")
            sizes["params.char_dim"] = self.char_dim
            sizes["params.char_filters"] = self.char_filters
        return sizes, counts

    def _square_size(self):
        config = self.pretrained_encoder_
        if config is not None:
            return None if config["kind"] == "transformer" else \
                "fitted.pretrained_encoder_.hidden_size"
        return "params.hidden_size" if self.encoder in RECURRENT else None

    def _restored(self):
        self._tag_index = {t: i for i, t in enumerate(self.tags_.tolist())}

    def _max_positions(self):
        """The most tokens the encoder reads at once (a transformer's table of positions,
        a pretrained MaskedLM's ``max_length`` included), or None (any length)."""
        return getattr(self.net_.encoder, "max_positions", None)

    def _batch(self, docs, ids, rows, tag_ids=None, word_dropout=0.0):
        # training sentences longer than the encoder's positions are cut (BERT's fine-tuning
        # truncates the same way); prediction reads them in pieces (predict_proba)
        limit = self._max_positions()
        x, lens = data.pad_batch([ids[i] for i in rows], max_len=limit)
        x = data.drop_words(x, word_dropout, self._rng)
        chars = None
        if self.char_dim:
            words = {}
            index = np.zeros(x.shape, np.int64)
            for r, i in enumerate(rows):
                for t, w in enumerate(docs[i][: lens[r]]):
                    index[r, t] = words.setdefault(w, len(words))
            char_ids, char_lens = data.pad_batch(
                data.encode(self.char_vocab_, data.word_pieces(words, self._pieces()))
            )
            chars = index, char_ids, char_lens
        t = None
        if tag_ids is not None:
            t = np.full(x.shape, IGNORE, np.int64)
            for r, i in enumerate(rows):
                t[r, : lens[r]] = tag_ids[i][: lens[r]]
        return x, lens, chars, t

    def _train(self, text, tag_ids, callback):
        """Batches gathered from the (spilled) ids of ``text`` and ``tag_ids``."""
        ids = data.SentenceIds(text.remapped(data.remap_to(self.vocab_, text), "ids"))
        docs = data.TokenLists(text)  # the words, for the character encoder
        lengths = ids.lengths
        idx, val_idx = self._holdout(len(ids), min_train=2)
        net = self.net_

        def loss_of(logits, t):
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1),
                                   ignore_index=IGNORE, reduction="sum")

        def step(rows):
            x, lens, chars, t = self._batch(docs, ids, rows, tag_ids, self.word_dropout)
            logits = net(x, lens, chars)
            loss = loss_of(logits, t)
            n = int(lens.sum())
            (loss * (1.0 / n)).backward()
            correct = count_hits(logits, t)  # IGNORE (< 0) is never an arg max
            return loss.item(), n, correct

        def val_batch(rows):
            x, lens, chars, t = self._batch(docs, ids, rows, tag_ids)
            with no_grad():
                return loss_of(net(x, lens, chars), t).item(), int(lens.sum())

        self._fit_loop(lengths, idx, val_idx, step, val_batch, callback=callback)

    # --------------------------------------------------------------- prediction
    def predict_proba(self, X):
        """One (n_tokens, n_tags) array of tag probabilities per document (columns: ``tags_``)."""
        check_is_fitted(self, "net_")
        docs = self._docs(X)
        # a sentence longer than the encoder's positions is tagged in consecutive pieces
        limit = self._max_positions() or max((len(d) for d in docs), default=0) or 1
        starts = [range(0, max(len(d), 1), limit) for d in docs]
        pieces = [d[s:s + limit] for d, st in zip(docs, starts) for s in st]
        ids = data.encode(self.vocab_, pieces)
        lengths = np.array([len(a) for a in ids])
        probs = [None] * len(pieces)
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(lengths, _PREDICT_BATCH):
                x, lens, chars, _ = self._batch(pieces, ids, rows)
                p = softmax(self.net_(x, lens, chars).numpy())
                for r, i in enumerate(rows):
                    probs[i] = p[r, : lens[r]]
        out, k = [], 0
        for st in starts:
            out.append(np.concatenate(probs[k:k + len(st)]) if len(st) > 1 else probs[k])
            k += len(st)
        return out

    def predict(self, X):
        """Tag lists, one tag per token."""
        probs = self.predict_proba(X)
        return [self.tags_[p.argmax(axis=1)].tolist() for p in probs]

    def score(self, X, y, sample_weight=None):
        """Token accuracy."""
        docs, tags = self._check_xy(X, y)
        pred = self.predict(docs)
        gold = np.concatenate([np.asarray(t, dtype=object) for t in tags])
        return float(np.mean(np.concatenate([np.asarray(p, dtype=object) for p in pred]) == gold))

    def report(self, X, y):
        """Token-level ``{tag: {"precision", "recall", "f1", "support"}}`` plus ``"accuracy"``."""
        return tag_scores(self.count(X, y))

    def count(self, X, y, counts=None):
        """``counts`` (a new :class:`nlpkit.metrics.ConfusionCounts` if None) with the gold
        and predicted tag of every token of ``X`` added: a test set scored a block at a
        time."""
        from ..metrics import ConfusionCounts

        docs, tags = self._check_xy(X, y)
        counts = ConfusionCounts() if counts is None else counts
        for gold, pred in zip(tags, self.predict(docs)):
            counts.update(map(str, gold), map(str, pred))
        return counts


def tag_scores(counts):
    """A tagger's token-level ``{tag: {"precision", "recall", "f1", "support"}}`` over every
    tag seen (gold or predicted), plus ``"accuracy"``, from ``counts`` (a
    :class:`nlpkit.metrics.ConfusionCounts` of tokens)."""
    return {**counts.per_label(), "accuracy": counts.accuracy()}
