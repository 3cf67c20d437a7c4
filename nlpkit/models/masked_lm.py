"""MaskedLM: BERT-style pretraining of a transformer encoder on raw text, a scikit-learn
estimator.

The network (Devlin et al. 2019): word embeddings plus positions, a LayerNorm, a stack of
transformer encoder layers (:class:`~nlpkit.models.encoders.TransformerEncoder`, the same
module the classifier and the tagger fine-tune), and the prediction head
``LayerNorm(GELU(W h))`` followed by an output layer whose weight is the word embedding
(tied) plus a bias of its own.

Each training batch masks 15% (``mask_prob``) of the real tokens of every sequence (at
least one): 80% of them become ``[MASK]``, 10% a random word, 10% stay as they were; the
loss is the cross-entropy of the original words at those positions only.  Documents
longer than ``max_length`` tokens are cut into pieces of at most that many.

``transform(docs)`` gives each token's contextual vector (the encoder's last layer);
``TextClassifier(pretrained=PATH)`` and ``SequenceTagger(pretrained=PATH)`` start from a
saved MaskedLM's embeddings and encoder and fine-tune them with a new head.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import NlpkitError
from ..nn import GELU, Embedding, LayerNorm, Linear, Module, init, no_grad
from ..nn import functional as F
from ..text import Tokenizer, Vocabulary
from . import data
from .data import SubwordSplit
from ..params import BOOLEAN, POSITIVE_INT, Interval, Options, ParameterError, Real, validate_params
from .base import SHARED_CONSTRAINTS, NeuralEstimator, compute, seed_from
from .encoders import POSITIONS, TransformerEncoder
from .training import count_hits
from ..text.readers import batched
from ..text.spill import EncodedText

MASK = "[MASK]"
MLM_SPECIALS = (data.PAD, data.UNK, MASK)  # ids 0, 1, 2
MASK_ID = 2
IGNORE = -100
_EVAL_BATCH = 64
_READ_BLOCK = 4096  # documents split at a time by read_text


class MaskedLMNet(Module):
    """ids (B, T) + lengths -> (encoder states (B, T, d), word logits (B, T, V))."""

    def __init__(self, vocab_size, d_model, hidden_size, num_layers, nhead, dropout, rng,
                 positions="learned", max_len=512, norm_first=False):
        super().__init__()
        self.embedding = Embedding(vocab_size, d_model, padding_idx=data.PAD_ID, rng=rng)
        init.normal_(self.embedding.weight.data, 0.0, 0.02, rng=rng)  # BERT's N(0, 0.02^2)
        self.embedding.weight.data[data.PAD_ID] = 0
        self.encoder = TransformerEncoder(
            d_model, hidden_size, num_layers, dropout=dropout, rng=rng, positions=positions,
            nhead=nhead, norm_first=norm_first, max_len=max_len, input_norm=True,
            activation="gelu")
        self.transform = Linear(d_model, d_model, rng=rng)
        self.transform_act = GELU()
        self.transform_norm = LayerNorm(d_model)
        self.register_parameter("output_bias", np.zeros(vocab_size))

    def encode(self, ids, lengths):
        return self.encoder(self.embedding(ids), lengths)

    def predict_words(self, h):
        h = self.transform_norm(self.transform_act(self.transform(h)))
        return F.linear(h, self.embedding.weight, self.output_bias)  # tied decoder

    def forward(self, ids, lengths):
        h = self.encode(ids, lengths)
        return h, self.predict_words(h)


def bert_mask(ids, lengths, rng, mask_prob, vocab_size, n_specials=len(MLM_SPECIALS)):
    """BERT's corruption of a padded batch: ``(inputs, targets)``.  Of each sequence's real
    tokens, ``round(mask_prob * length)`` (at least one) are chosen at random; 80% of those
    become ``[MASK]``, 10% a random word (never a special), 10% stay.  Targets hold the
    original ids at the chosen positions, IGNORE elsewhere."""
    inputs, targets = ids.copy(), np.full(ids.shape, IGNORE, np.int64)
    for r, n in enumerate(lengths):
        k = max(1, int(round(mask_prob * n)))
        pos = rng.choice(int(n), size=min(k, int(n)), replace=False)
        targets[r, pos] = ids[r, pos]
        u = rng.random(len(pos))
        inputs[r, pos[u < 0.8]] = MASK_ID
        rand = pos[(u >= 0.8) & (u < 0.9)]
        inputs[r, rand] = rng.integers(n_specials, vocab_size, len(rand))
    return inputs, targets


class MaskedLM(NeuralEstimator):
    """A transformer encoder pretrained by masked-word prediction (BERT's recipe).

    Parameters
    ----------
    embedding_dim : model size d
    hidden_size : the feed-forward size (BERT: 4 d)
    num_layers, nhead (None: 8, 4, 2 or 1, heads of at least 16), dropout
    positions : 'learned' (BERT's), 'sinusoidal', 'rope' or 'alibi'
    norm_first : pre-LN layers (with a final LayerNorm); BERT is post-LN
    mask_prob : share of each sequence's tokens to predict (0.15)
    max_length : documents are cut into pieces of at most this many tokens (and, with
        learned positions, no longer input is read)
    min_count, max_vocab : rarer words (or beyond the most frequent ``max_vocab``) are
        ``<unk>``
    lowercase : lowercase before splitting on whitespace
    tokenizer : a fitted BPE/WordPiece, or a path to a tokenizer.json: documents become its
        subword tokens (and so do a fine-tuned classifier's)
    max_epochs, batch_size, lr, optimizer ('adamw' by default, as BERT), clip,
    early_stopping, validation_fraction, n_iter_no_change (on the masked-word loss of a
    held-out share, masked the same way every epoch), max_time, lr_schedule ('linear'
    decay by default, as BERT), warmup_steps, random_state, n_jobs, device, verbose

    X: documents, each a string (split on whitespace) or a token list.
    """

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "min_count": POSITIVE_INT,
        "nhead": [None, *POSITIVE_INT],
        "positions": [Options(*POSITIONS)],
        "norm_first": BOOLEAN,
        "mask_prob": [Interval(Real, 0, 1, closed="neither")],
        "max_length": POSITIVE_INT,
        "max_vocab": [None, *POSITIVE_INT],
        "lowercase": BOOLEAN,
    }

    def __init__(
        self,
        embedding_dim=128,
        hidden_size=512,
        num_layers=4,
        nhead=None,
        dropout=0.1,
        positions="learned",
        norm_first=False,
        mask_prob=0.15,
        max_length=128,
        min_count=1,
        max_vocab=None,
        lowercase=False,
        tokenizer=None,
        max_epochs=10,
        batch_size=32,
        lr=5e-4,
        optimizer="adamw",
        clip=1.0,
        early_stopping=True,
        validation_fraction=0.02,
        n_iter_no_change=3,
        max_time=None,
        lr_schedule="linear",
        warmup_steps=0,
        random_state=None,
        n_jobs=None,
        device=None,
        verbose=0,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.nhead = nhead
        self.dropout = dropout
        self.positions = positions
        self.norm_first = norm_first
        self.mask_prob = mask_prob
        self.max_length = max_length
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.lowercase = lowercase
        self.tokenizer = tokenizer
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
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------------ input
    def _tokenizer(self):
        if getattr(self, "tokenizer_", None) is None:
            self.tokenizer_ = data.resolve_tokenizer(self.tokenizer, self.lowercase)
        return self.tokenizer_

    def _docs(self, X, what="X"):
        return data.check_documents(X, what, self._tokenizer())

    def read_text(self, X, directory=None, what="X"):
        """Encode the documents ``X`` (a list, or a stream such as the non-blank lines of
        a file) in one pass to files in ``directory`` (None: in memory), for :meth:`fit`:
        a text larger than memory is then trained on from disk."""
        validate_params(self)
        split = self._tokenizer()

        def docs():
            for block in batched(X, _READ_BLOCK):
                yield from data.check_documents(block, what, split, allow_empty=True)

        text = EncodedText.read(docs(), directory, skip_empty=False)
        if text.n_sentences == 0:
            raise NlpkitError(f"{what} is empty: 0 samples (at least one document is required)")
        empty = data.first_empty(text)
        if empty is not None:
            raise NlpkitError(f"{what}[{empty}] is an empty document (no tokens)")
        return text

    def _pieces(self, text):
        """Documents (an EncodedText, or token lists) as int64 id arrays of at most
        ``max_length`` tokens (long ones cut), gathered from the (spilled) ids."""
        if not isinstance(text, EncodedText):
            text = EncodedText.read(text, skip_empty=False)
        ids = text.remapped(data.remap_to(self.vocab_, text), "ids")
        return data.SentenceIds(ids.cut(self.max_length))

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, callback=None):
        """Pretrain on the documents ``X`` (raw text); ``callback`` as TextClassifier.fit."""
        validate_params(self)
        self.tokenizer_ = None  # resolved again from the parameters
        if isinstance(X, EncodedText):
            self._tokenizer()  # resolved now, as the lists' route does: part of the fitted state
            docs = X
        else:
            docs = EncodedText.read(self._docs(X), skip_empty=False)
        self.vocab_ = data.vocab_from_counts(docs.count_dict(), min_count=self.min_count,
                                             max_size=self.max_vocab, specials=MLM_SPECIALS)
        if len(self.vocab_) <= len(MLM_SPECIALS):
            raise NlpkitError("MaskedLM: the vocabulary has no words (min_count too high?)")
        self._rng = np.random.default_rng(seed_from(self.random_state))
        self._start_training(self._make_net(self._rng))
        with compute(self.n_jobs, self.device, self):
            self._train(self._pieces(docs), callback)
        return self

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if self.nhead is not None and self.nhead > self.embedding_dim:
            raise ParameterError(f"MaskedLM: nhead must be at most embedding_dim "
                                 f"({self.embedding_dim}), got {self.nhead}")

    def _make_net(self, rng):
        return MaskedLMNet(len(self.vocab_), self.embedding_dim, self.hidden_size,
                           self.num_layers, self.nhead, self.dropout, rng,
                           positions=self.positions, max_len=self.max_length,
                           norm_first=bool(self.norm_first))

    # model files: what MaskedLMNet is built from, besides the parameters
    _fitted = {**NeuralEstimator._fitted, "vocab_": ((Vocabulary,), True),
               "tokenizer_": ((SubwordSplit, Tokenizer, type(None)), False)}

    def _net_sizes(self):
        sizes, counts = super()._net_sizes()
        self._check_params()  # (a model file's parameters: each was checked as it was read)
        if not isinstance(self.max_length, int) or self.max_length > 4096:
            sizes["params.max_length"] = self.max_length  # then a stored positions table's
        return sizes, counts

    def _batch(self, pieces, rows, rng):
        x, lens = data.pad_batch([pieces[i] for i in rows])
        inputs, targets = bert_mask(x, lens, rng, self.mask_prob, len(self.vocab_))
        return inputs, lens, targets

    @staticmethod
    def _loss(net, inputs, lens, targets):
        """(logits at the masked positions, their summed cross-entropy, how many): the head
        and the output layer run at those positions only (a sixth of the tokens)."""
        rows, cols = np.nonzero(targets != IGNORE)
        logits = net.predict_words(net.encode(inputs, lens)[rows, cols])
        t = targets[rows, cols]
        return logits, F.cross_entropy(logits, t, reduction="sum"), len(t)

    def _train(self, pieces, callback):
        lengths = pieces.lengths
        idx, val_idx = self._holdout(len(pieces))
        net = self.net_
        # the held-out pieces are masked once, so their loss compares across epochs
        val_rng = np.random.default_rng(seed_from(self.random_state) + 1)
        val_batches = {}

        def step(rows):
            batch = self._batch(pieces, rows, self._rng)
            logits, loss, n = self._loss(net, *batch)
            (loss * (1.0 / n)).backward()
            return loss.item(), n, _hits(logits, batch[-1])

        def val_batch(rows):
            key = tuple(rows)
            if key not in val_batches:
                val_batches[key] = self._batch(pieces, rows, val_rng)
            batch = val_batches[key]
            with no_grad():
                logits, loss, n = self._loss(net, *batch)
            return loss.item(), n, _hits(logits, batch[-1]), n

        self._fit_loop(lengths, idx, val_idx, step, val_batch, callback=callback)

    # ------------------------------------------------------------------ use
    def transform(self, X):
        """Each document's contextual token vectors: a list of (n_tokens, embedding_dim)
        float32 arrays (the encoder's last layer; documents longer than ``max_length`` are
        read in pieces)."""
        check_is_fitted(self, "net_")
        docs = self._docs(X)
        pieces, owner = [], []
        for i, a in enumerate(data.encode(self.vocab_, docs)):
            a = a.astype(np.int64)
            for s in range(0, len(a), self.max_length):
                pieces.append(a[s:s + self.max_length])
                owner.append(i)
        vectors = [None] * len(pieces)
        lengths = np.array([len(p) for p in pieces])
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(lengths, _EVAL_BATCH):
                x, lens = data.pad_batch([pieces[i] for i in rows])
                h = self.net_.encode(x, lens).numpy()
                for r, i in enumerate(rows):
                    vectors[i] = h[r, :lens[r]]
        out = [[] for _ in docs]
        for i, v in zip(owner, vectors):
            out[i].append(v)
        return [np.concatenate(v) if len(v) > 1 else v[0] for v in out]

    def score(self, X, y=None):
        """Accuracy of predicting the masked words of ``X`` (masked as in training, with
        a fixed seed, so repeated calls agree)."""
        check_is_fitted(self, "net_")
        pieces = self._pieces(self._docs(X))
        rng = np.random.default_rng(0)
        hits = total = 0
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(pieces.lengths, _EVAL_BATCH):
                batch = self._batch(pieces, rows, rng)
                logits, _, n = self._loss(self.net_, *batch)
                hits += _hits(logits, batch[-1])
                total += n
        return hits / max(total, 1)

    def predict_masked(self, text):
        """The most likely word at each ``[MASK]`` of ``text`` (a string or tokens)."""
        check_is_fitted(self, "net_")
        toks = self._tokenizer()(text) if isinstance(text, str) else list(text)
        ids = np.array([[self.vocab_.stoi.get(t, data.UNK_ID) for t in toks]], np.int64)
        where = np.flatnonzero(ids[0] == MASK_ID)
        if not where.size:
            raise NlpkitError(f"predict_masked: the text has no {MASK} token")
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            _, logits = self.net_(ids, np.array([ids.shape[1]]))
        z = logits.numpy()[0, where].astype(np.float64)
        z[:, :len(MLM_SPECIALS)] = -np.inf
        return [self.vocab_.itos[i] for i in z.argmax(axis=1)]


def _hits(logits, targets):
    """Correct predictions among the masked positions (logits in their row-major order)."""
    return count_hits(logits, targets[targets != IGNORE])


__all__ = ["MaskedLM", "MaskedLMNet", "bert_mask", "MASK", "MASK_ID"]
