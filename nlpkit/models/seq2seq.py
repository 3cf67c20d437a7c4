"""Seq2Seq: an encoder-decoder with attention (Luong style), a scikit-learn estimator.

Encoder: BiLSTM (or transformer) over the source tokens, projected to the
decoder size.  Decoder: an LSTM over the target tokens, started from the mean
of the encoder states; at each step its output attends over the source
('dot': PyTorch-style scaled dot-product attention with projections, one
head; 'additive': Bahdanau's ``v·tanh(W q + U k)``), and
``tanh(W_c [context; output])`` predicts the next token.  Trained with teacher
forcing; ``predict`` decodes greedily or with beam search.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import NlpkitError
from ..nn import (
    LSTM,
    Dropout,
    Embedding,
    Linear,
    MeanPoolTime,
    Module,
    MultiheadAttention,
    Tanh,
    no_grad,
)
from ..nn import functional as F
from ..nn.module import as_rng
from . import data
from .base import NeuralEstimator, check_fraction, check_positive_int, compute, seed_from
from .encoders import RecurrentEncoder, TransformerEncoder
from .layers import valid_mask
from .training import count_hits

SPECIALS = (data.PAD, data.UNK, "<s>", "</s>")
BOS_ID, EOS_ID = 2, 3
IGNORE = -100
_PREDICT_BATCH = 64


class AdditiveAttention(Module):
    """``score(q, k) = v · tanh(W q + U k)``; padded keys get no weight.

    ``forward(query (B, T, D), keys (B, S, D), key_padding_mask (B, S)) -> context (B, T, D)``
    (the keys are also the values), written as tensor ops: it runs on either device.
    """

    def __init__(self, dim, attn_dim, dtype=np.float32, rng=None):
        super().__init__(dtype)
        rng = as_rng(rng)
        self.w_query = Linear(dim, attn_dim, bias=False, dtype=dtype, rng=rng)
        self.w_key = Linear(dim, attn_dim, dtype=dtype, rng=rng)
        self.register_parameter("v", rng.uniform(-1, 1, attn_dim) / np.sqrt(attn_dim))

    def forward(self, query, keys, key_padding_mask):
        pq, pk = self.w_query(query), self.w_key(keys)  # (B,T,A), (B,S,A)
        e = F.tanh(pq.unsqueeze(2) + pk.unsqueeze(1))  # (B,T,S,A)
        scores = (e @ self.v).masked_fill(np.asarray(key_padding_mask)[:, None, :], -np.inf)
        return F.softmax(scores, dim=-1) @ keys


class Seq2SeqNet(Module):
    def __init__(
        self,
        src_vocab,
        tgt_vocab,
        encoder,
        attention,
        embedding_dim,
        hidden_size,
        num_layers,
        dropout,
        rng,
    ):
        super().__init__()
        self.src_embedding = Embedding(src_vocab, embedding_dim, padding_idx=data.PAD_ID, rng=rng)
        self.tgt_embedding = Embedding(tgt_vocab, embedding_dim, padding_idx=data.PAD_ID, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        if encoder == "bilstm":
            if hidden_size % 2:
                raise NlpkitError(
                    f"hidden_size must be even for the bilstm encoder; got {hidden_size}"
                )
            self.encoder = RecurrentEncoder(
                "bilstm", embedding_dim, hidden_size // 2, num_layers, dropout, rng
            )
        elif encoder == "transformer":
            self.encoder = TransformerEncoder(
                embedding_dim, hidden_size * 2, num_layers, dropout, rng=rng
            )
        else:
            raise NlpkitError(f"encoder must be 'bilstm' or 'transformer'; got {encoder!r}")
        self.memory = Linear(self.encoder.output_size, hidden_size, rng=rng)
        self.pool = MeanPoolTime(dim=1)  # the decoder starts from the mean encoder state
        self.bridge = Linear(hidden_size, hidden_size, rng=rng)
        self.bridge_act = Tanh()
        self.decoder = LSTM(embedding_dim, hidden_size, batch_first=True, rng=rng)
        self.attention_kind = attention
        if attention == "dot":
            self.attention = MultiheadAttention(hidden_size, 1, batch_first=True, rng=rng)
        elif attention == "additive":
            self.attention = AdditiveAttention(hidden_size, hidden_size, rng=rng)
        else:
            raise NlpkitError(f"attention must be 'dot' or 'additive'; got {attention!r}")
        self.combine = Linear(2 * hidden_size, hidden_size, rng=rng)
        self.combine_act = Tanh()
        self.out_dropout = Dropout(dropout, rng=rng)
        self.output = Linear(hidden_size, tgt_vocab, rng=rng)

    # -- encoder side
    def encode(self, src, src_lengths):
        mem = self.memory(self.encoder(self.dropout(self.src_embedding(src)), src_lengths))
        h0 = self.bridge_act(self.bridge(self.pool(mem, src_lengths)))
        return mem, h0.unsqueeze(0)  # (1, B, H)

    # -- decoder side
    def attend(self, q, mem, pad):
        if self.attention_kind == "dot":
            ctx, _ = self.attention(q, mem, mem, key_padding_mask=pad, need_weights=False)
            return ctx
        return self.attention(q, mem, pad)

    def decode_step(self, tgt_in, tgt_lengths, state, mem, pad):
        """Logits for ``tgt_in`` (B, T) from decoder ``state``; returns (logits, new state)."""
        dec, state = self.decoder(self.tgt_embedding(tgt_in), hx=state, lengths=tgt_lengths)
        ctx = self.attend(dec, mem, pad)
        comb = self.combine_act(self.combine(F.cat([ctx, dec], dim=-1)))
        return self.output(self.out_dropout(comb)), state

    def forward(self, src, src_lengths, tgt_in, tgt_lengths):
        mem, h0 = self.encode(src, src_lengths)
        pad = ~valid_mask(src_lengths, src.shape[1])
        logits, _ = self.decode_step(tgt_in, tgt_lengths, (h0, F.zeros_like(h0)), mem, pad)
        return logits


class Seq2Seq(NeuralEstimator):
    """Sequence-to-sequence model with attention, scikit-learn style.

    X: source sequences, y: target sequences (strings split on whitespace, or
    token lists; for characters pass ``list(word)``).  ``predict`` returns token
    lists; ``score`` is the exact-match rate.

    Parameters
    ----------
    encoder : {'bilstm', 'transformer'}
    attention : {'dot', 'additive'}
    embedding_dim, hidden_size (decoder size; the BiLSTM has hidden_size/2 per direction),
    num_layers, dropout, max_epochs, batch_size, lr, optimizer, clip, early_stopping,
    validation_fraction, n_iter_no_change, random_state, n_jobs, device, verbose
    label_smoothing : spread this share of each target's probability over the whole
        vocabulary in the training loss (as ``torch.nn.CrossEntropyLoss``'s); 0 turns it off
    max_time : stop training after this many seconds (best weights kept); None: no limit
    lr_schedule : 'constant' or 'cosine' (decay to 0 over max_epochs or max_time)
    beam_size : 1 decodes greedily; more keeps that many hypotheses
    tokenizer : a fitted BPE/WordPiece, or a path to a tokenizer.json, for both sides:
        sources and targets become its subword tokens (``predict`` returns them)
    max_output_length : longest output (default: 2 x source length + 10)
    """

    def __init__(
        self,
        encoder="bilstm",
        attention="dot",
        embedding_dim=64,
        hidden_size=128,
        num_layers=1,
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
        beam_size=1,
        max_output_length=None,
        tokenizer=None,
        random_state=None,
        n_jobs=None,
        device=None,
        verbose=0,
    ):
        self.encoder = encoder
        self.attention = attention
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
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
        self.beam_size = beam_size
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

    def _targets(self, tgt):
        enc = data.encode(self.tgt_vocab_, tgt)
        return [np.concatenate(([BOS_ID], a, [EOS_ID])).astype(np.int64) for a in enc]

    def _batch(self, src_ids, tgt_ids, rows):
        x, xl = data.pad_batch([src_ids[i] for i in rows])
        yin, yl = data.pad_batch([tgt_ids[i][:-1] for i in rows])
        t = np.full(yin.shape, IGNORE, np.int64)
        for r, i in enumerate(rows):
            t[r, : yl[r]] = tgt_ids[i][1:]
        return x, xl, yin, yl, t

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, callback=None):
        """Train on source sequences ``X`` and target sequences ``y``."""
        src, tgt = self._check(X, y)
        self._check_sizes()
        check_fraction(self.label_smoothing, "label_smoothing")
        self.src_vocab_ = data.build_vocab(src)
        self.tgt_vocab_ = data.build_vocab(tgt, specials=SPECIALS)
        self._rng = np.random.default_rng(seed_from(self.random_state))
        self._start_training(
            Seq2SeqNet(
                len(self.src_vocab_),
                len(self.tgt_vocab_),
                self.encoder,
                self.attention,
                self.embedding_dim,
                self.hidden_size,
                self.num_layers,
                self.dropout,
                self._rng,
            )
        )
        src_ids, tgt_ids = data.encode(self.src_vocab_, src), self._targets(tgt)
        with compute(self.n_jobs, self.device, self):
            self._train(src_ids, tgt_ids, callback)
        return self

    def _train(self, src_ids, tgt_ids, callback):
        lengths = np.array([len(a) for a in src_ids])
        idx, val_idx = self._holdout(len(src_ids))
        net = self.net_

        def loss_of(logits, t):
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1),
                                   ignore_index=IGNORE, reduction="sum",
                                   label_smoothing=self.label_smoothing)

        def step(rows):
            x, xl, yin, yl, t = self._batch(src_ids, tgt_ids, rows)
            logits = net(x, xl, yin, yl)
            n = int(yl.sum())
            loss = loss_of(logits, t)
            (loss * (1.0 / n)).backward()
            return loss.item(), n, count_hits(logits, t)  # IGNORE (< 0) is never an arg max

        def val_batch(rows):
            x, xl, yin, yl, t = self._batch(src_ids, tgt_ids, rows)
            with no_grad():
                return loss_of(net(x, xl, yin, yl), t).item(), int(yl.sum())

        self._fit_loop(lengths, idx, val_idx, step, val_batch, callback=callback)

    # ------------------------------------------------------------------ decoding
    def predict(self, X, beam_size=None):
        """Output token lists; ``beam_size`` overrides the parameter (1: greedy)."""
        check_is_fitted(self, "net_")
        src = data.check_documents(X, "X", self.tokenizer_)
        beam = check_positive_int(self.beam_size if beam_size is None else beam_size, "beam_size")
        ids = data.encode(self.src_vocab_, src)
        lengths = np.array([len(a) for a in ids])
        out = [None] * len(ids)
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(lengths, _PREDICT_BATCH):
                x, xl = data.pad_batch([ids[i] for i in rows])
                max_len = self.max_output_length or int(2 * xl.max() + 10)
                if beam == 1:
                    seqs = self._greedy(x, xl, max_len)
                else:
                    seqs = [
                        self._beam(x[r : r + 1, : xl[r]], xl[r : r + 1], beam, max_len)
                        for r in range(len(rows))
                    ]
                for r, i in enumerate(rows):
                    out[i] = self.tgt_vocab_.decode(seqs[r])
        return out

    def _start(self, x, xl):
        mem, h0 = self.net_.encode(x, xl)
        return mem, (h0, F.zeros_like(h0)), ~valid_mask(xl, x.shape[1])

    def _log_probs(self, logits):
        z = logits.numpy()[:, -1].astype(np.float64)
        z[:, [data.PAD_ID, BOS_ID]] = -np.inf
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def _greedy(self, x, xl, max_len):
        mem, state, pad = self._start(x, xl)
        b = x.shape[0]
        prev = np.full((b, 1), BOS_ID, np.int64)
        out, done = [[] for _ in range(b)], np.zeros(b, bool)
        for _ in range(max_len):
            logits, state = self.net_.decode_step(prev, np.ones(b, np.int64), state, mem, pad)
            nxt = self._log_probs(logits).argmax(axis=1)
            for r in np.flatnonzero(~done):
                if nxt[r] == EOS_ID:
                    done[r] = True
                else:
                    out[r].append(int(nxt[r]))
            if done.all():
                break
            prev = nxt[:, None]
        return out

    def _beam(self, x, xl, k, max_len):
        """Beam search for one source: ``k`` hypotheses ranked by total log-probability."""
        mem, (h, c), pad = self._start(x, xl)
        hyps = [([], 0.0)]
        finished = []
        for _ in range(max_len):
            n = len(hyps)
            prev = np.array([[seq[-1] if seq else BOS_ID] for seq, _ in hyps], np.int64)
            logits, (h2, c2) = self.net_.decode_step(
                prev,
                np.ones(n, np.int64),
                (h, c),
                mem[np.zeros(n, np.int64)],  # the one source, once per hypothesis
                np.repeat(pad, n, axis=0),
            )
            lp = self._log_probs(logits) + np.array([s for _, s in hyps])[:, None]
            flat = lp.ravel()
            best = np.argsort(-flat, kind="stable")[: 2 * k]
            new, keep = [], []
            for rank, j in enumerate(best):
                src_hyp, tok = divmod(int(j), lp.shape[1])
                seq = hyps[src_hyp][0] + [tok]
                if tok == EOS_ID:
                    if rank < k:  # an ending counts only if it is among the k best extensions
                        finished.append((seq[:-1], float(flat[j])))
                elif len(new) < k:
                    new.append((seq, float(flat[j])))
                    keep.append(src_hyp)
            # stop when no open hypothesis can beat the best finished one (scores only fall)
            if not new or (finished and max(s for _, s in finished) >= new[0][1]):
                break
            keep = np.asarray(keep, np.int64)
            hyps, h, c = new, h2[:, keep], c2[:, keep]
        if not finished:
            finished = hyps
        return max(finished, key=lambda p: p[1])[0]

    def score(self, X, y):
        """Exact-match rate of ``predict(X)`` against ``y``."""
        _, tgt = self._check(X, y)
        pred = self.predict(X)
        return float(np.mean([p == t for p, t in zip(pred, tgt)]))
