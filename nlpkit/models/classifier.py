"""TextClassifier: a neural text classifier that is a scikit-learn estimator.

Embedding -> encoder (CNN, RNN, LSTM, GRU, BiLSTM or transformer) -> max (or
mean, or both side by side) over time -> dropout -> linear -> softmax, trained
with cross-entropy.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..errors import NlpkitError
from ..nn import Dropout, Embedding, Linear, MaxPoolTime, MeanPoolTime, Module, no_grad, tensor
from ..nn import functional as F
from ..params import (
    BOOLEAN,
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    POSITIVE_INT,
    Options,
    refuse_ignored,
    validate_params,
)
from . import data
from .base import PRETRAINED, SHARED_CONSTRAINTS, NeuralEstimator, compute, seed_from
from .encoders import ENCODERS, POSITIONS, RECURRENT, make_encoder
from ..text import Tokenizer, Vocabulary
from .data import SubwordSplit
from .pretrained import (
    check_encoder_config,
    NO_LANGUAGE_MODEL,
    config_sizes,
    is_language_model_file,
    learned_positions,
    load_pretrained,
    rebuilt_parts,
    start_training,
    word_inputs,
)
from .training import count_hits, softmax
from ..text.readers import batched
from ..text.spill import EncodedText

_PREDICT_BATCH = 256
_READ_BLOCK = 4096  # documents split at a time by read_text
EMBED_INIT_STD = 0.1
POOLINGS = ("max", "mean", "max+mean")


class TextNet(Module):
    """ids (B, T) + lengths -> logits (B, n_classes)."""

    def __init__(
        self,
        vocab_size,
        n_classes,
        encoder,
        embedding_dim,
        hidden_size,
        num_layers,
        dropout,
        rng,
        pooling="max",
        n_bigrams=0,
        positions="sinusoidal",
        pretrained=None,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise NlpkitError(f"pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        if pretrained is not None:  # a language model's embeddings and encoder
            self.embedding = pretrained.embedding
        else:
            self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=data.PAD_ID,
                                       rng=rng)
            # N(0, 0.1^2) rather than N(0, 1): small random word vectors (as Kim's CNN's
            # U(-0.25, 0.25)) train faster and generalise better here (kjv-genre: CNN
            # 0.60 -> 0.68)
            self.embedding.weight.data *= np.float32(EMBED_INIT_STD)
        self.has_bigrams = n_bigrams > 0
        if self.has_bigrams:
            # a vector per known word pair, added to the second word's vector; zero at the
            # start, so training begins from the unigram model and learns what pairs add
            self.bigram_embedding = Embedding(
                n_bigrams, embedding_dim, padding_idx=data.PAD_ID, rng=rng
            )
            self.bigram_embedding.weight.data[...] = 0
        self.embed_dropout = Dropout(dropout, rng=rng)
        self.encoder = pretrained.encoder if pretrained is not None else make_encoder(
            encoder, embedding_dim, hidden_size, num_layers, dropout, rng, positions=positions)
        self.pools = [
            p for p in ("max", "mean") if p in pooling.split("+")
        ]  # max finds the telling n-gram; mean adds a bag-of-features view of the whole text
        for p in self.pools:
            setattr(self, f"{p}_pool", (MaxPoolTime if p == "max" else MeanPoolTime)(dim=1))
        self.dropout = Dropout(dropout, rng=rng)
        size = self.encoder.output_size
        self.output = Linear(size * len(self.pools), n_classes, rng=rng)

    def forward(self, ids, lengths, bigrams=None, perturbation=None):
        """``perturbation`` (B, T, E), if given, is added to the word vectors the encoder
        reads (adversarial training: its gradient is the loss's gradient there)."""
        x = self.embedding(ids)
        if self.has_bigrams:
            x = x + self.bigram_embedding(bigrams)
        x = self.embed_dropout(x)
        if perturbation is not None:
            x = x + perturbation
        h = self.encoder(x, lengths)
        pooled = [getattr(self, f"{p}_pool")(h, lengths) for p in self.pools]
        return self.output(self.dropout(F.cat(pooled, dim=-1)))


class TextClassifier(ClassifierMixin, NeuralEstimator):
    """Neural text classifier with scikit-learn's API.

    Parameters
    ----------
    encoder : {'lstm', 'gru', 'rnn', 'bilstm', 'cnn', 'transformer'}
    embedding_dim, hidden_size, num_layers : sizes (the transformer's model size is
        ``embedding_dim`` and ``hidden_size`` its feed-forward size; the CNN has
        ``hidden_size`` filters of each width 3, 4, 5)
    dropout : dropout on the embeddings and the pooled features
    word_dropout : fraction of the training tokens replaced by ``<unk>`` in each batch,
        so that ``<unk>`` (every unseen word at prediction) gets a trained vector and the
        network does not lean on single words
    adversarial : 0 (off) or the size of an adversarial perturbation of the word vectors
        (Miyato, Dai & Goodfellow 2017): each batch is trained a second time with its
        documents' word vectors moved this far (L2 norm over the whole document) in the
        direction that raises its loss most, so no small change of the input flips the
        class; a training step costs twice as much.  Word vectors' norms are ~1-3 after
        word2vec pretraining, where 1.0 gained 1-3 points of accuracy on kjv-genre
        (benchmarks/RESULTS.md)
    pooling : 'max', 'mean' or 'max+mean' (both, side by side) over time
    word_ngrams : 1 (words only) or 2: each word pair seen at least twice in training also
        gets a vector, added to its second word's (fastText's ``wordNgrams``, under any
        encoder); unseen pairs add nothing
    pretrained : None; word vectors: KeyedVectors (``.key_to_index``, ``.vectors``), a dict
        word -> vector or a vectors file path (word2vec, fastText), which set
        ``embedding_dim``; or the path of a saved :class:`~nlpkit.models.MaskedLM` or
        :class:`~nlpkit.models.NeuralLM` (told from vectors by the file's first bytes): the
        classifier then fine-tunes that model's embeddings and encoder under a new pooling
        and output layer, with its vocabulary and lowercasing (``encoder``, the sizes,
        ``positions``, ``min_count`` and ``word_ngrams`` are the pretrained model's)
    freeze_layers : with a pretrained language model: None (fine-tune everything) or k,
        which keeps the embeddings and the encoder's first k layers as pretrained
    positions : the transformer encoder's: 'sinusoidal', 'learned', 'rope' or 'alibi'
        (see :class:`nlpkit.nn.MultiheadAttention`)
    max_epochs, batch_size, lr, optimizer ('adam', 'adamw', 'sgd'), clip (gradient norm, or None)
    early_stopping, validation_fraction, n_iter_no_change : hold out a stratified
        fraction of the training data and stop when its accuracy has not improved
        for ``n_iter_no_change`` epochs (as scikit-learn's MLPClassifier); the
        weights of the best epoch are kept
    max_time : stop training after this many seconds (best weights kept); None: no limit
    lr_schedule : 'constant', 'cosine' or 'linear' (decay to 0 over max_epochs or max_time),
        or 'inverse_sqrt' (the Transformer's schedule; see
        :func:`nlpkit.models.training.lr_factor`)
    warmup_steps : optimizer steps of linear warm-up from 0 before the schedule (0: none)
    class_weight : None, 'balanced' or a dict label -> weight
    min_count : words seen fewer times become ``<unk>``
    max_length : documents are cut to this many tokens (and to the positions a pretrained
        MaskedLM learned, its own ``max_length``; setting more than those is an error)
    lowercase : lowercase strings before splitting them on whitespace
    tokenizer : a fitted BPE/WordPiece, or a path to a tokenizer.json: documents are split
        into its subword tokens instead of whitespace words
    random_state, n_jobs (kernel threads), device ('cpu', 'cuda' or 'auto'), verbose

    X is a list of strings (split on whitespace) or of token lists; y any labels.
    """

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "min_count": POSITIVE_INT,
        "encoder": [Options(*ENCODERS)],
        "word_dropout": FRACTION,
        "adversarial": NONNEGATIVE,
        "pooling": [Options(*POOLINGS)],
        "word_ngrams": [Options(1, 2)],
        "pretrained": PRETRAINED,
        "freeze_layers": [None, *NONNEGATIVE_INT],
        "positions": [Options(*POSITIONS)],
        "class_weight": [None, Options("balanced"), dict],
        "max_length": POSITIVE_INT,
        "lowercase": BOOLEAN,
    }

    def __init__(
        self,
        encoder="lstm",
        embedding_dim=100,
        hidden_size=128,
        num_layers=1,
        dropout=0.2,
        word_dropout=0.0,
        adversarial=0.0,
        pooling="max",
        word_ngrams=1,
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
        class_weight=None,
        min_count=1,
        max_length=200,
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
        self.word_dropout = word_dropout
        self.adversarial = adversarial
        self.pooling = pooling
        self.word_ngrams = word_ngrams
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
        self.class_weight = class_weight
        self.min_count = min_count
        self.max_length = max_length
        self.lowercase = lowercase
        self.tokenizer = tokenizer
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def read_text(self, X, directory=None, what="X"):
        """Encode labelled documents, ``(text, label)`` pairs (a list, or a stream such as
        :func:`nlpkit.text.readers.iter_labelled`), in one pass to files in ``directory``
        (None: in memory), for :meth:`fit` (with ``y=None``): a text larger than memory is
        then trained on from disk."""
        validate_params(self)
        self._load_pretrained()
        split = self._tokenizer()

        def rows():
            for block in batched(X, _READ_BLOCK):
                docs = data.check_documents([d for d, _ in block], what, split, allow_empty=True)
                for toks, (_, label) in zip(docs, block):
                    yield toks, [str(label)]

        text, labels = EncodedText.read_columns(rows(), ("words", "labels"), directory)
        if text.n_sentences == 0:
            raise NlpkitError(f"{what} is empty: 0 samples (at least one document is required)")
        empty = data.first_empty(text)
        if empty is not None:
            raise NlpkitError(f"{what}[{empty}] is an empty document (no tokens)")
        return data.LabelledText(text, labels)

    def fit(self, X, y=None, callback=None):
        """Train from scratch on documents ``X`` and labels ``y``, or on ``X`` from
        :meth:`read_text` (``y`` None).

        ``callback(info)`` gets a dict after every batch and epoch (see
        :func:`nlpkit.models.training.train`); the epoch records are kept in ``history_``.
        """
        validate_params(self)
        self.tokenizer_ = None  # resolved again from the parameters
        if isinstance(X, data.LabelledText):
            if y is not None:
                raise NlpkitError("X from read_text holds the labels: leave y=None")
            classes, y_idx = X.classes()
        else:
            y = self._check_y(y)
            classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise NlpkitError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; "
                f"got only one class: {classes.tolist()[0]!r}"
                if len(classes)
                else f"{type(self).__name__}: y is empty: 0 samples"
            )
        self._load_pretrained()
        self._tokenizer()  # resolved now, as the lists' route does: part of the fitted state
        text = X.text if isinstance(X, data.LabelledText) else self._check_x(X, y)
        self.classes_ = classes
        self._setup(text)
        with compute(self.n_jobs, self.device, self):
            self._train(text, y_idx, self.max_epochs, self.early_stopping, callback)
        return self

    def partial_fit(self, X, y, classes=None, callback=None):
        """One epoch over ``X, y``; the first call needs ``classes`` (all labels there will be)
        and builds the vocabulary from its ``X``."""
        validate_params(self)
        y = self._check_y(y)
        first = not hasattr(self, "classes_")
        if first:
            self._load_pretrained()
        text = self._check_x(X, y)
        if first:
            if classes is None:
                raise NlpkitError("partial_fit: the first call needs classes= (every label)")
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise NlpkitError("partial_fit: classes must hold at least 2 labels")
            self.classes_ = classes
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise NlpkitError("partial_fit: classes differ from those of the first call")
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise NlpkitError(f"partial_fit: y has labels not in classes: {unseen[:5].tolist()}")
        if first:
            self._setup(text)
        y_idx = np.searchsorted(self.classes_, y)
        with compute(self.n_jobs, self.device, self):
            self._train(text, y_idx, 1, False, callback)
        return self

    def _check_y(self, y):
        if y is None:
            raise NlpkitError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        if isinstance(y, (str, bytes)) or np.ndim(y) != 1:
            raise NlpkitError(f"y should be a 1d array of labels; got shape {np.shape(y)}")
        y = np.asarray(y)
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise NlpkitError("y contains NaN or infinity")
        check_classification_targets(y)
        return y

    def _check_x(self, X, y=None):
        """The documents ``X`` split and encoded (in memory)."""
        docs = data.check_documents(X, tokenizer=self._tokenizer())
        if y is not None:
            data.check_lengths(docs, y)
        return EncodedText.read(docs, skip_empty=False)

    def _tokenizer(self):
        if getattr(self, "tokenizer_", None) is None:
            parts = getattr(self, "_pretrained_parts", None)
            if parts is not None:  # the pretrained model's splitting, with its vocabulary
                self.tokenizer_ = parts.splitter(self.lowercase)
            else:
                self.tokenizer_ = data.resolve_tokenizer(self.tokenizer, self.lowercase)
        return self.tokenizer_

    def _load_pretrained(self):
        """A pretrained language model's parts (or None: no model file given); its
        tokenizer and lowercasing apply from here on."""
        self._pretrained_parts, self.tokenizer_ = None, None
        if is_language_model_file(self.pretrained):
            if self.tokenizer is not None:
                raise NlpkitError("tokenizer= and a pretrained language model: the model's "
                                  "own tokenizer applies (leave tokenizer=None)")
            self._pretrained_parts = load_pretrained(self.pretrained)
            if self._pretrained_parts.subword:
                refuse_ignored(self, ("lowercase",), "with a pretrained language model over "
                               "subword tokens (its tokenizer applies)")

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if is_language_model_file(self.pretrained):
            refuse_ignored(self, ("encoder", "positions", "min_count", "word_ngrams"),
                           "with a pretrained language model (its own apply)")
            return
        refuse_ignored(self, ("freeze_layers",), NO_LANGUAGE_MODEL)
        if self.encoder != "transformer":
            refuse_ignored(self, ("positions",), f"with encoder={self.encoder!r} "
                           "(a transformer's)")

    def _setup(self, text):
        """Vocabulary, network, optimizer and random generator of a fresh model, from the
        documents ``text`` (an EncodedText)."""
        parts, lookup = word_inputs(self, text)
        # a pair seen once has nothing to generalise from
        self.bigram_vocab_ = (
            data.pair_vocab(text, data.pair_counts(text), min_count=2)
            if self.word_ngrams == 2 and parts is None
            else None
        )
        self._rng = np.random.default_rng(seed_from(self.random_state))
        start_training(self, parts, lookup)

    def _make_net(self, rng, parts=None):
        """The network of the fitted sizes; ``parts``: a pretrained model's embedding and
        encoder (a loaded model rebuilds them from ``pretrained_encoder_``)."""
        parts = rebuilt_parts(self, rng, parts)
        return TextNet(
            len(self.vocab_),
            len(self.classes_),
            self.encoder,
            self.embedding_dim_,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            rng,
            self.pooling,
            0 if self.bigram_vocab_ is None else len(self.bigram_vocab_),
            positions=self.positions,
            pretrained=parts,
        )

    # model files: what TextNet is built from, besides the parameters
    _fitted = {**NeuralEstimator._fitted,
               "classes_": ((np.ndarray,), True),
               "vocab_": ((Vocabulary,), True),
               "bigram_vocab_": ((Vocabulary, type(None)), True),
               "embedding_dim_": ((int,), True),
               "pretrained_encoder_": ((dict, type(None)), True),
               "n_pretrained_": ((int,), False),
               "tokenizer_": ((SubwordSplit, Tokenizer, type(None)), False)}

    def _net_sizes(self):
        config = self.pretrained_encoder_
        if config is not None:
            check_encoder_config(config)
            sizes, counts = config_sizes(config)
            sizes["fitted.embedding_dim_"] = self.embedding_dim_
            return sizes, counts
        return ({"fitted.embedding_dim_": self.embedding_dim_,
                 "params.hidden_size": self.hidden_size}, {"params.num_layers": self.num_layers})

    def _square_size(self):
        config = self.pretrained_encoder_
        if config is not None:
            return None if config["kind"] == "transformer" else \
                "fitted.pretrained_encoder_.hidden_size"
        return "params.hidden_size" if self.encoder in RECURRENT else None

    def _restored(self):
        if len(self.classes_) < 2:
            raise NlpkitError("classes_ must hold at least 2 labels")

    def _class_weights(self, y_idx):
        k = len(self.classes_)
        cw = self.class_weight
        if cw is None:
            return np.ones(k, np.float32)
        if cw == "balanced":
            present = np.unique(y_idx)
            w = np.ones(k)
            w[present] = compute_class_weight("balanced", classes=present, y=y_idx)
            return w.astype(np.float32)
        unknown = [c for c in cw if c not in set(self.classes_.tolist())]  # a dict
        if unknown:
            raise NlpkitError(f"class_weight names labels not in y: {unknown[:5]}")
        return np.array([cw.get(c, 1.0) for c in self.classes_.tolist()], np.float32)

    def _split(self, n, y_idx, early_stopping):
        """Indices of the training and validation documents."""
        idx = np.arange(n)
        if not early_stopping:
            return idx, None
        frac = float(self.validation_fraction)
        n_val = math.ceil(n * frac)
        if frac == 0 or n_val < 1 or n - n_val < 2:
            return idx, None
        from sklearn.model_selection import train_test_split

        counts = np.bincount(y_idx)
        counts = counts[counts > 0]
        stratify = (
            y_idx
            if counts.min() >= 2 and n_val >= len(counts) and n - n_val >= len(counts)
            else None
        )
        tr, va = train_test_split(
            idx, test_size=n_val, stratify=stratify, random_state=int(self._rng.integers(2**31 - 1))
        )
        return tr, va

    def _inputs(self, text):
        """``rows -> (ids (B, T), lengths, bigram ids (B, T) or None)`` for the documents
        ``text`` (an EncodedText, or token lists), and the documents' lengths; batches are
        gathered from the (spilled) ids."""
        if not isinstance(text, EncodedText):
            text = EncodedText.read(text, skip_empty=False)
        ids = data.SentenceIds(text.remapped(data.remap_to(self.vocab_, text), "ids"))
        pairs = None
        if self.bigram_vocab_ is not None:
            pairs = data.SentenceIds(
                data.encode_pairs(text, self.bigram_vocab_, data.pair_counts(text)))

        limit = self._max_tokens()

        def batch(rows):
            x, lens = data.pad_batch([ids[i] for i in rows], max_len=limit)
            if pairs is None:
                return x, lens, None
            return x, lens, data.pad_batch([pairs[i] for i in rows], max_len=limit)[0]

        return batch, np.minimum(ids.lengths, limit)

    def _max_tokens(self):
        """Documents are cut to ``max_length`` tokens, and to the positions a pretrained
        encoder learned (a MaskedLM's ``max_length``: it has no vector for a later one)."""
        return min(self.max_length, learned_positions(self.pretrained_encoder_) or self.max_length)

    def _train(self, text, y_idx, epochs, early_stopping, callback):
        inputs, lengths = self._inputs(text)
        weights = self._class_weights(y_idx)
        train_idx, val_idx = self._split(len(lengths), y_idx, early_stopping)
        net = self.net_

        def step(rows):
            x, lens, pairs = inputs(rows)
            t = y_idx[rows]
            x = data.drop_words(x, self.word_dropout, self._rng)
            w = weights[t]
            w = (w / w.sum()).astype(np.float32)
            delta = None
            if self.adversarial:  # a zero leaf: its gradient is the loss's at the word vectors
                e = net.embedding
                delta = tensor(np.zeros(x.shape + (e.embedding_dim,), e.dtype), requires_grad=True,
                               device=e.weight.device)
            logits = net(x, lens, pairs, perturbation=delta)
            loss = (F.cross_entropy(logits, t, reduction="none") * w).sum()
            loss.backward()
            correct = count_hits(logits, t)
            if self.adversarial:
                # the same batch again, each document's word vectors moved along its loss
                # gradient (the worst direction, to first order): the gradients add up, so
                # the step minimises loss(x) + loss(x + r_adv)
                with no_grad():
                    g = tensor(delta.grad)
                    r_adv = F.normalize(g.reshape(len(rows), -1), dim=1) * self.adversarial
                    r_adv = r_adv.reshape(g.shape)
                adv = net(x, lens, pairs, perturbation=r_adv)
                (F.cross_entropy(adv, t, reduction="none") * w).sum().backward()
            return loss.item() * len(rows), len(rows), correct

        def val_batch(rows):
            x, lens, pairs = inputs(rows)
            t = y_idx[rows]
            with no_grad():
                logits = net(x, lens, pairs)
                w = weights[t]
                loss_sum = (F.cross_entropy(logits, t, reduction="none") * w).sum().item()
            return loss_sum, float(w.sum()), count_hits(logits, t), len(rows)

        self._fit_loop(
            lengths, train_idx, val_idx, step, val_batch, epochs=epochs, callback=callback
        )

    # --------------------------------------------------------------- prediction
    def predict_proba(self, X):
        """Class probabilities, (n_documents, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "net_")
        inputs, lengths = self._inputs(self._check_x(X))
        out = np.empty((len(lengths), len(self.classes_)), np.float32)
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(lengths, _PREDICT_BATCH):
                out[rows] = softmax(self.net_(*inputs(rows)).numpy())
        return out

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def predict_log_proba(self, X):
        return np.log(np.maximum(self.predict_proba(X), np.finfo(np.float32).tiny))
