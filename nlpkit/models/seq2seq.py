"""Seq2Seq: encoder-decoder models as a scikit-learn estimator.

Three architectures (:mod:`nlpkit.models.encoder_decoder`):

* ``decoder='lstm'`` with ``attention='dot'`` or ``'additive'``: a BiLSTM (or transformer)
  encoder and an LSTM decoder with Luong-style attention;
* ``decoder='lstm'``, ``attention=None``: the encoder-decoder without attention, the
  decoder starting from the encoder's last state (the "thought vector");
* ``decoder='transformer'`` (with ``encoder='transformer'``): Vaswani et al.'s
  encoder-decoder, torch.nn.Transformer's layers and names.

Trained with teacher forcing, optionally label smoothing and a warm-up schedule;
``predict`` decodes greedily or with a batched beam search (GNMT's length penalty),
a transformer decoder reading its cached keys and values at each step
(:mod:`nlpkit.models.decoding`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import NlpkitError
from ..nn import no_grad
from ..nn import functional as F
from ..params import (
    BOOLEAN,
    FRACTION,
    NONNEGATIVE,
    POSITIVE_INT,
    Options,
    ParameterError,
    check_param,
    refuse_ignored,
    validate_params,
)
from ..text import Tokenizer, Vocabulary
from . import data
from .data import SubwordSplit
from .base import SHARED_CONSTRAINTS, NeuralEstimator, compute, seed_from
from .decoding import beam_search
from .encoder_decoder import (  # noqa: F401  (AdditiveAttention: public here before)
    AdditiveAttention,
    RecurrentSeq2SeqNet,
    TransformerSeq2SeqNet,
)
from .encoders import POSITIONS, default_heads
from .training import count_hits
from ..text.readers import batched
from ..text.spill import EncodedText

SPECIALS = (data.PAD, data.UNK, "<s>", "</s>")
BOS_ID, EOS_ID = 2, 3
IGNORE = -100
_PREDICT_BATCH = 64
_READ_BLOCK = 4096  # pairs split at a time by read_text
DECODERS = ("lstm", "transformer")
ATTENTIONS = ("dot", "additive", None)


class Seq2Seq(NeuralEstimator):
    """Sequence-to-sequence model, scikit-learn style.

    X: source sequences, y: target sequences (strings split on whitespace, or
    token lists; for characters pass ``list(word)``).  ``predict`` returns token
    lists; ``score`` is the exact-match rate.

    Parameters
    ----------
    encoder : {'bilstm', 'transformer'}
    decoder : {'lstm', 'transformer'}; 'transformer' needs ``encoder='transformer'``
    attention : {'dot', 'additive', None} (LSTM decoder); None: no attention, the decoder
        starts from the encoder's last state
    embedding_dim, hidden_size (LSTM decoder size; the BiLSTM has hidden_size/2 per direction),
    num_layers (encoder layers; with the transformer decoder, also decoder layers),
    dropout, max_epochs, batch_size, lr, optimizer, clip, early_stopping,
    validation_fraction, n_iter_no_change, random_state, n_jobs, device, verbose
    nhead : attention heads of the transformer (None: 8, 4, 2 or 1, heads of at least 16)
    dim_feedforward : the transformer decoder's (and encoder's) feed-forward size
        (None: 4 x embedding_dim; a transformer encoder under an LSTM decoder keeps
        2 x hidden_size)
    norm_first : pre-LN transformer layers (each with a final LayerNorm, as torch's)
    positions : 'sinusoidal', 'learned', 'rope' or 'alibi' for the transformer (see
        :class:`nlpkit.nn.MultiheadAttention`); the model size is ``embedding_dim``
    share_embeddings : one vocabulary and embedding table for source and target
        (transformer decoder)
    tie_output : the output layer's weight is the target embedding (transformer decoder)
    label_smoothing : spread this share of each target's probability over the whole
        vocabulary in the training loss (as ``torch.nn.CrossEntropyLoss``'s); 0 turns it off
    max_time : stop training after this many seconds (best weights kept); None: no limit
    lr_schedule : 'constant', 'cosine' or 'linear' (decay to 0 over max_epochs or max_time),
        or 'inverse_sqrt' (the Transformer's schedule; see
        :func:`nlpkit.models.training.lr_factor`)
    warmup_steps : optimizer steps of linear warm-up from 0 before the schedule (0: none)
    beam_size : 1 decodes greedily; more keeps that many hypotheses
    length_penalty : GNMT's alpha in ``((5 + |Y|) / 6) ** alpha``, which divides a
        hypothesis' log-probability when beams are ranked (0: no normalisation)
    tokenizer : a fitted BPE/WordPiece, or a path to a tokenizer.json, for both sides:
        sources and targets become its subword tokens (``predict`` returns them)
    max_output_length : longest output (default: 2 x source length + 10)
    """

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "encoder": [Options("bilstm", "transformer")],
        "decoder": [Options(*DECODERS)],
        "attention": [Options(*(a for a in ATTENTIONS if a is not None)), None],
        "nhead": [None, *POSITIVE_INT],
        "dim_feedforward": [None, *POSITIVE_INT],
        "norm_first": BOOLEAN,
        "positions": [Options(*POSITIONS)],
        "share_embeddings": BOOLEAN,
        "tie_output": BOOLEAN,
        "label_smoothing": FRACTION,
        "beam_size": POSITIVE_INT,
        "length_penalty": NONNEGATIVE,
        "max_output_length": [None, *POSITIVE_INT],
    }

    def __init__(
        self,
        encoder="bilstm",
        decoder="lstm",
        attention="dot",
        embedding_dim=64,
        hidden_size=128,
        num_layers=1,
        nhead=None,
        dim_feedforward=None,
        norm_first=False,
        positions="sinusoidal",
        share_embeddings=False,
        tie_output=False,
        dropout=0.1,
        label_smoothing=0.0,
        max_epochs=20,
        batch_size=32,
        lr=2e-3,
        optimizer="adam",
        clip=1.0,
        early_stopping=True,
        validation_fraction=0.05,
        n_iter_no_change=3,
        max_time=None,
        lr_schedule="constant",
        warmup_steps=0,
        beam_size=1,
        length_penalty=0.6,
        max_output_length=None,
        tokenizer=None,
        random_state=None,
        n_jobs=None,
        device=None,
        verbose=0,
    ):
        self.encoder = encoder
        self.decoder = decoder
        self.attention = attention
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.nhead = nhead
        self.dim_feedforward = dim_feedforward
        self.norm_first = norm_first
        self.positions = positions
        self.share_embeddings = share_embeddings
        self.tie_output = tie_output
        self.dropout = dropout
        self.label_smoothing = label_smoothing
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
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_output_length = max_output_length
        self.tokenizer = tokenizer
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ data
    def _check(self, X, y):
        if y is None:
            raise NlpkitError("Seq2Seq requires y to be passed, but the target y is None")
        self.tokenizer_ = data.resolve_tokenizer(self.tokenizer)
        src = data.check_documents(X, "X", self.tokenizer_)
        tgt = data.check_documents(y, "y", self.tokenizer_)
        data.check_lengths(src, tgt)
        return src, tgt

    def read_text(self, X, directory=None, what="X"):
        """Encode ``(source, target)`` pairs (a list, or a stream such as the lines of a
        ``source<TAB>target`` file) in one pass to files in ``directory`` (None: in
        memory), for :meth:`fit` (with ``y=None``): pairs larger than memory are then
        trained on from disk."""
        validate_params(self)
        self.tokenizer_ = data.resolve_tokenizer(self.tokenizer)
        return self._read(X, directory, what)

    def _read(self, X, directory=None, what="X", split=True):
        """``split`` False: ``X`` holds token lists already split by :meth:`_check`."""

        def rows():
            for block in batched(X, _READ_BLOCK):
                if not split:
                    yield from block
                    continue
                src = data.check_documents([a for a, _ in block], what, self.tokenizer_,
                                           allow_empty=True)
                tgt = data.check_documents([b for _, b in block], "y", self.tokenizer_,
                                           allow_empty=True)
                yield from zip(src, tgt)

        pairs = data.PairedText(*EncodedText.read_columns(rows(), ("source", "target"),
                                                          directory))
        if len(pairs) == 0:
            raise NlpkitError(f"{what} is empty: 0 samples (at least one document is required)")
        for side, name in ((pairs.source, what), (pairs.target, "y")):
            empty = data.first_empty(side)
            if empty is not None:
                raise NlpkitError(f"{name}[{empty}] is an empty document (no tokens)")
        return pairs

    def _targets(self, tgt):
        """Per target ``<s> w1 .. wn </s>`` (int64), from an EncodedText's spilled ids (or
        from token lists)."""
        if not isinstance(tgt, EncodedText):
            tgt = EncodedText.read(tgt, skip_empty=False)
        return data.SentenceIds(tgt.remapped(data.remap_to(self.tgt_vocab_, tgt), "target-ids"),
                                first=BOS_ID, last=EOS_ID)

    def _batch(self, src_ids, tgt_ids, rows):
        x, xl = data.pad_batch([src_ids[i] for i in rows])
        yin, yl = data.pad_batch([tgt_ids[i][:-1] for i in rows])
        t = np.full(yin.shape, IGNORE, np.int64)
        for r, i in enumerate(rows):
            t[r, : yl[r]] = tgt_ids[i][1:]
        return x, xl, yin, yl, t

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, callback=None):
        """Train on source sequences ``X`` and target sequences ``y``, or on the pairs
        ``X`` from :meth:`read_text` (``y`` None)."""
        validate_params(self)
        if isinstance(X, data.PairedText):
            if y is not None:
                raise NlpkitError("X from read_text holds the targets: leave y=None")
            self.tokenizer_ = data.resolve_tokenizer(self.tokenizer)
            pairs = X
        else:
            pairs = self._read(zip(*self._check(X, y)), split=False)
        src, tgt = pairs.source, pairs.target
        if self.share_embeddings:
            counts = src.count_dict()  # the sources' words, then the targets' new ones
            for w, c in tgt.count_dict().items():
                counts[w] = counts.get(w, 0) + c
            self.src_vocab_ = self.tgt_vocab_ = data.vocab_from_counts(counts, specials=SPECIALS)
        else:
            self.src_vocab_ = data.vocab_from_counts(src.count_dict())
            self.tgt_vocab_ = data.vocab_from_counts(tgt.count_dict(), specials=SPECIALS)
        self._rng = np.random.default_rng(seed_from(self.random_state))
        self._start_training(self._make_net(self._rng))
        src_ids = data.SentenceIds(src.remapped(data.remap_to(self.src_vocab_, src), "source-ids"))
        tgt_ids = self._targets(tgt)
        with compute(self.n_jobs, self.device, self):
            self._train(src_ids, tgt_ids, callback)
        return self

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if self.decoder == "transformer":
            if self.encoder != "transformer":
                raise ParameterError("Seq2Seq: decoder='transformer' needs "
                                     f"encoder='transformer'; got encoder={self.encoder!r}")
        elif self.share_embeddings or self.tie_output:
            raise ParameterError("Seq2Seq: share_embeddings and tie_output need "
                                 "decoder='transformer'")
        if self.decoder == "transformer":  # its own attention (hidden_size, unused, is
            # left alone: one dict of sizes serves every model, as in the tests)
            refuse_ignored(self, ("attention",), "with decoder='transformer'")
        else:  # a transformer encoder under an LSTM decoder takes its defaults
            refuse_ignored(self, ("nhead", "dim_feedforward", "norm_first"),
                           f"with decoder={self.decoder!r} (a transformer decoder's)")
        if "transformer" not in (self.encoder, self.decoder):
            refuse_ignored(self, ("positions",), "without a transformer")

    def _make_net(self, rng, dtype=np.float32):
        if self.decoder == "transformer":
            d = self.embedding_dim
            return TransformerSeq2SeqNet(
                len(self.src_vocab_), len(self.tgt_vocab_), d,
                default_heads(d) if self.nhead is None else self.nhead, self.num_layers,
                4 * d if self.dim_feedforward is None else self.dim_feedforward,
                self.dropout, rng, norm_first=bool(self.norm_first), positions=self.positions,
                share_embeddings=bool(self.share_embeddings), tie_output=bool(self.tie_output),
                dtype=dtype)
        return RecurrentSeq2SeqNet(
            len(self.src_vocab_), len(self.tgt_vocab_), self.encoder, self.attention,
            self.embedding_dim, self.hidden_size, self.num_layers, self.dropout, rng,
            positions=self.positions)

    # model files: what the network is built from, besides the parameters
    _fitted = {**NeuralEstimator._fitted, "src_vocab_": ((Vocabulary,), True),
               "tgt_vocab_": ((Vocabulary,), True),
               "tokenizer_": ((SubwordSplit, Tokenizer), True),
               "chars_": ((bool,), False)}  # set by `nlpkit seq2seq train --chars`

    def _net_sizes(self):
        sizes, counts = super()._net_sizes()
        if self.decoder == "transformer":
            del sizes["params.hidden_size"]  # not the transformer's
            sizes["params.dim_feedforward"] = self.dim_feedforward
            if self.nhead is not None and not (isinstance(self.nhead, int) and
                                               1 <= self.nhead <= self.embedding_dim):
                raise NlpkitError(f"nhead must be in [1, embedding_dim]; got {self.nhead!r}")
        return sizes, counts

    def _square_size(self):
        return "params.hidden_size" if self.decoder != "transformer" else None

    def _train(self, src_ids, tgt_ids, callback):
        lengths = src_ids.lengths
        idx, val_idx = self._holdout(len(src_ids))
        net = self.net_

        def step(rows):
            batch = self._batch(src_ids, tgt_ids, rows)
            logits, loss, n = self._loss(net, *batch)
            (loss * (1.0 / n)).backward()
            # IGNORE (< 0) is never an arg max
            return loss.item(), n, count_hits(logits, batch[-1])

        def val_batch(rows):
            with no_grad():
                _, loss, n = self._loss(net, *self._batch(src_ids, tgt_ids, rows))
            return loss.item(), n

        self._fit_loop(lengths, idx, val_idx, step, val_batch, callback=callback)

    def _loss(self, net, x, xl, yin, yl, t):
        """(logits, the batch's summed (label-smoothed) cross-entropy, its target count):
        the training objective, whose mean over the targets each step descends."""
        logits = net(x, xl, yin, yl)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1),
                               ignore_index=IGNORE, reduction="sum",
                               label_smoothing=self.label_smoothing)
        return logits, loss, int(yl.sum())

    # ------------------------------------------------------------------ decoding
    def predict(self, X, beam_size=None, length_penalty=None):
        """Output token lists; ``beam_size`` and ``length_penalty`` override the
        parameters (beam 1: greedy)."""
        check_is_fitted(self, "net_")
        src = data.check_documents(X, "X", self.tokenizer_)
        beam = check_param("predict", "beam_size", self.beam_size if beam_size is None
                           else beam_size, POSITIVE_INT)
        alpha = check_param("predict", "length_penalty", self.length_penalty
                            if length_penalty is None else length_penalty, NONNEGATIVE)
        ids = data.encode(self.src_vocab_, src)
        lengths = np.array([len(a) for a in ids])
        out = [None] * len(ids)
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(lengths, max(1, _PREDICT_BATCH // beam)):
                x, xl = data.pad_batch([ids[i] for i in rows])
                limit = self.max_output_length or 2 * xl + 10
                seqs = beam_search(self.net_, x, xl, beam, limit, BOS_ID, EOS_ID, alpha,
                                   banned=(data.PAD_ID, BOS_ID))
                for r, i in enumerate(rows):
                    out[i] = self.tgt_vocab_.decode(seqs[r])
        return out

    def score(self, X, y):
        """Exact-match rate of ``predict(X)`` against ``y``."""
        _, tgt = self._check(X, y)
        pred = self.predict(X)
        return float(np.mean([p == t for p, t in zip(pred, tgt)]))
