"""NeuralLM: a word-level neural language model (RNN, LSTM, GRU or causal transformer).

Sentences are modelled one by one, exactly as an n-gram model sees them:
``<s>`` as the first context, every word and ``</s>`` predicted, so
:meth:`NeuralLM.perplexity` scores the same tokens as ``NGramLM.perplexity``
(SRILM's ``ngram -ppl``: ``</s>`` counted, out-of-vocabulary words left out
and counted) and the two compare directly.

Recurrent cells train with truncated back-propagation through time: a batch of
sentences runs in chunks of ``bptt`` steps, the state carried from chunk to
chunk but no gradient.  The transformer sees each sentence whole, with a causal mask.

A vocabulary cut (``max_vocab``, ``min_count``) makes the softmax cheaper
without changing the tokens scored: a training word outside the model's
vocabulary gets ``P(<unk> | context)`` times its share of the ``<unk>`` class's
training count, so every word of the training text stays in-vocabulary, as it
is for the n-gram model, and only words never seen in training are OOVs.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import NlpkitError
from ..ngram.scoring.scorer import PplStats, srilm_sentences
from ..metrics.lm import bits_per_character
from ..params import (
    BOOLEAN,
    POSITIVE_INT,
    NONNEGATIVE,
    Options,
    ParameterError,
    check_param,
    refuse_ignored,
    validate_params,
)
from ..text.readers import batched
from ..text.spill import EncodedText
from ..nn import GRU, LSTM, RNN, Dropout, Embedding, Linear, Module, no_grad
from ..nn import functional as F
from ..text import Vocabulary
from . import data
from .base import SHARED_CONSTRAINTS, NeuralEstimator, compute, seed_from
from .encoders import POSITIONS, TransformerEncoder
from .training import count_hits, softmax

CELLS = ("lstm", "gru", "rnn", "transformer")
UNITS = ("word", "char")
BOS, EOS = "<s>", "</s>"
LM_SPECIALS = (data.PAD, data.UNK, BOS, EOS)  # ids 0, 1, 2, 3
BOS_ID, EOS_ID = 2, 3
IGNORE = -100
_EVAL_BATCH = 64
_SCORE_BLOCK = 4096  # sentences scored at a time when streaming a text


class LMNet(Module):
    """ids (B, T) -> next-word logits (B, T, V); recurrent cells also take and return a state.

    ``tie_weights``: the output layer's weight is the embedding's (one Parameter, Press &
    Wolf 2017), so the network's output size must equal ``embedding_dim``."""

    def __init__(self, vocab_size, cell, embedding_dim, hidden_size, num_layers, dropout, rng,
                 tie_weights=False, positions="sinusoidal"):
        super().__init__()
        self.cell = cell
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=data.PAD_ID, rng=rng)
        self.in_dropout = Dropout(dropout, rng=rng)
        if cell == "transformer":
            self.body = TransformerEncoder(
                embedding_dim, hidden_size, num_layers, dropout=dropout, causal=True, rng=rng,
                positions=positions
            )
            size = embedding_dim
        else:
            kind = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[cell]
            self.body = kind(
                embedding_dim,
                hidden_size,
                num_layers=num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
                rng=rng,
            )
            size = hidden_size
        if tie_weights and size != embedding_dim:
            raise NlpkitError(
                f"tie_weights needs the {cell}'s output size ({size}: hidden_size) to equal "
                f"embedding_dim ({embedding_dim})"
            )
        self.out_dropout = Dropout(dropout, rng=rng)
        self.output = Linear(size, vocab_size, rng=rng)
        if tie_weights:
            self.output.weight = self.embedding.weight

    def hidden(self, ids, lengths, state=None):
        """The body's outputs (B, T, D) (contextual vectors) and its state."""
        x = self.in_dropout(self.embedding(ids))
        if self.cell == "transformer":
            return self.body(x, lengths), None
        return self.body(x, hx=state, lengths=lengths)

    def forward(self, ids, lengths, state=None):
        h, state = self.hidden(ids, lengths, state)
        return self.output(self.out_dropout(h)), state


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class NeuralLM(NeuralEstimator):
    """Word- or character-level neural language model with scikit-learn's API.

    Parameters
    ----------
    cell : {'lstm', 'gru', 'rnn', 'transformer'}
    unit : 'word' (tokens split on whitespace) or 'char': every character of a line (its
        whitespace runs made single spaces) is a token, ``</s>`` its end; perplexity is
        then per character, and :meth:`bits_per_character` the usual figure
    positions : the transformer's: 'sinusoidal', 'learned', 'rope' or 'alibi' (see
        :class:`nlpkit.nn.MultiheadAttention`)
    embedding_dim, hidden_size, num_layers, dropout : sizes (the transformer's model
        size is ``embedding_dim``, ``hidden_size`` its feed-forward size)
    tie_weights : share the input embedding with the output layer's weight (Press & Wolf
        2017; Inan et al. 2017): fewer parameters, often a lower perplexity; a recurrent
        cell then needs ``hidden_size == embedding_dim``
    bptt : time steps per truncated back-propagation chunk (recurrent cells)
    min_count, max_vocab : words seen fewer times, or beyond the ``max_vocab`` most
        frequent, are ``<unk>`` to the network; :meth:`perplexity` still scores them
        (``P(<unk>)`` times the word's share of the ``<unk>`` training count)
    max_epochs, batch_size (sentences), lr, optimizer, clip, early_stopping,
    validation_fraction, n_iter_no_change, random_state, n_jobs, device, verbose
    max_time : stop training after this many seconds (the best weights by
        validation loss are kept); None: no limit
    lr_schedule : 'constant', 'cosine' or 'linear' (decay to 0 over max_epochs or max_time),
        or 'inverse_sqrt' (the Transformer's schedule; see
        :func:`nlpkit.models.training.lr_factor`)
    warmup_steps : optimizer steps of linear warm-up from 0 before the schedule (0: none)

    tokenizer : a fitted BPE/WordPiece, or a path to a tokenizer.json: sentences become
        its subword tokens (perplexity is then per subword token)

    X: sentences, each a string (split on whitespace as SRILM does) or a token list.
    ``transform(X)`` gives each token's contextual vector (the body's output after it).
    """

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "min_count": POSITIVE_INT,
        "cell": [Options(*CELLS)],
        "unit": [Options(*UNITS)],
        "positions": [Options(*POSITIONS)],
        "tie_weights": BOOLEAN,
        "bptt": POSITIVE_INT,
        "max_vocab": [None, *POSITIVE_INT],
    }

    def __init__(
        self,
        cell="lstm",
        unit="word",
        positions="sinusoidal",
        embedding_dim=128,
        hidden_size=256,
        num_layers=1,
        dropout=0.2,
        tie_weights=False,
        bptt=35,
        min_count=1,
        max_vocab=None,
        max_epochs=10,
        batch_size=32,
        lr=2e-3,
        optimizer="adam",
        clip=1.0,
        early_stopping=True,
        validation_fraction=0.05,
        n_iter_no_change=2,
        max_time=None,
        lr_schedule="constant",
        warmup_steps=0,
        tokenizer=None,
        random_state=None,
        n_jobs=None,
        device=None,
        verbose=0,
    ):
        self.cell = cell
        self.unit = unit
        self.positions = positions
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.tie_weights = tie_weights
        self.bptt = bptt
        self.min_count = min_count
        self.max_vocab = max_vocab
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
        self.tokenizer = tokenizer
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------------ input
    def _sentences(self, X, what="X", allow_empty=False):
        """Token lists: the words of each line (SRILM's splitting, or the subword tokens of
        ``tokenizer``), or with ``unit='char'`` its characters (a token list's words joined
        by single spaces)."""
        out = list(self._iter_sentences(X, what))
        if not out and not allow_empty:
            raise NlpkitError(f"{what} has no sentences (0 samples with tokens)")
        return out

    def _iter_sentences(self, X, what="X"):
        """:meth:`_sentences` one by one, ``X`` read as it goes (a stream of lines)."""
        if isinstance(X, (str, bytes)):
            raise NlpkitError(f"{what} must be a list of sentences, not a single string")
        if self.tokenizer is not None:
            split = data.resolve_tokenizer(self.tokenizer)
            for block in batched(X, _SCORE_BLOCK):
                yield from (t for t in data.check_documents(block, what, split, allow_empty=True)
                            if t)
            return
        for i, s in enumerate(X):
            if isinstance(s, str):
                words = srilm_sentences([s])
            elif isinstance(s, (list, tuple)) and all(isinstance(t, str) for t in s):
                words = [list(s)] if s else []
            else:
                raise NlpkitError(f"{what}[{i}] must be a string or a list of string tokens")
            yield from (words if self.unit == "word" else [list(" ".join(w)) for w in words])

    def read_text(self, X, directory=None, what="X") -> EncodedText:
        """Encode the sentences of ``X`` (a list, or a stream of lines such as
        ``iter_lines(path)``) in one pass, to files in ``directory`` (None: in memory), for
        :meth:`fit`: a text larger than memory is then trained on from disk."""
        validate_params(self)
        text = EncodedText.read(self._iter_sentences(X, what), directory, skip_empty=False)
        if text.n_sentences == 0:
            raise NlpkitError(f"{what} has no sentences (0 samples with tokens)")
        return text

    def _encode(self, sentences):
        """Per sentence ``<s> w1 .. wn </s>`` as int64 ids (unknown words -> <unk>)."""
        enc = data.encode(self.vocab_, sentences)
        return [np.concatenate(([BOS_ID], a, [EOS_ID])).astype(np.int64) for a in enc]

    @staticmethod
    def _inputs_targets(seqs, rows):
        x, lens = data.pad_batch([seqs[i][:-1] for i in rows])
        t = np.full(x.shape, IGNORE, np.int64)
        for r, i in enumerate(rows):
            t[r, : lens[r]] = seqs[i][1:]
        return x, lens, t

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, callback=None):
        """Train on the sentences ``X`` (or a text from :meth:`read_text`); ``callback`` as
        TextClassifier.fit."""
        validate_params(self)
        text = X if isinstance(X, EncodedText) else self.read_text(X)
        counts = text.count_dict()
        full = data.vocab_from_counts(counts, specials=LM_SPECIALS)
        self.vocab_ = data.vocab_from_counts(
            counts, min_count=self.min_count, max_size=self.max_vocab, specials=LM_SPECIALS
        )
        self.unk_share_ = _unk_shares(full, self.vocab_)
        self._rng = np.random.default_rng(seed_from(self.random_state))
        self._start_training(self._make_net(self._rng))
        get = self.vocab_.stoi.get
        remap = np.fromiter((get(w, data.UNK_ID) for w in text.words), np.int32, len(text.words))
        seqs = data.SentenceIds(text.remapped(remap), first=BOS_ID, last=EOS_ID)
        with compute(self.n_jobs, self.device, self):
            self._train(seqs, callback)
        return self

    def _check_params(self):
        """What the parameters must be together (see nlpkit.params.validate_params)."""
        if self.cell != "transformer":
            refuse_ignored(self, ("positions",), f"with cell={self.cell!r} (a transformer's)")
        if self.unit == "char" and self.tokenizer is not None:
            raise ParameterError("NeuralLM: unit='char' reads characters: leave tokenizer=None")

    def _make_net(self, rng):
        return LMNet(
            len(self.vocab_),
            self.cell,
            self.embedding_dim,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            rng,
            tie_weights=bool(self.tie_weights),
            positions=self.positions,
        )

    # model files: what LMNet is built from, besides the parameters
    _fitted = {**NeuralEstimator._fitted, "vocab_": ((Vocabulary,), True),
               "unk_share_": ((dict,), True)}

    def _square_size(self):
        return "params.hidden_size" if self.cell != "transformer" else None

    def _restored(self):
        if not all(isinstance(v, float) for v in self.unk_share_.values()):
            raise NlpkitError("unk_share_ must map words to log shares (numbers)")

    def _train(self, seqs, callback):
        lengths = seqs.lengths - 1
        idx, val_idx = self._holdout(len(seqs))
        net = self.net_
        recurrent = self.cell != "transformer"

        def step(rows):
            x, lens, t = self._inputs_targets(seqs, rows)
            n = int(lens.sum())
            chunk = self.bptt if recurrent else x.shape[1]
            total = correct = 0
            state = None
            for s in range(0, x.shape[1], chunk):
                # truncated BPTT: the state flows on, its gradient stops at the chunk edge
                clens = np.clip(lens - s, 0, chunk)
                logits, state = net(x[:, s : s + chunk], clens, _detach(state))
                tt = t[:, s : s + chunk]
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tt.reshape(-1),
                                       ignore_index=IGNORE, reduction="sum")
                (loss * (1.0 / n)).backward()
                total += loss.item()
                correct += count_hits(logits, tt)  # IGNORE (< 0) is never an arg max
            return total, n, correct

        def validate():
            lp, n = self._target_logprobs(seqs, val_idx)
            return -sum(float(v.sum()) for v in lp) / n

        self._fit_loop(lengths, idx, val_idx, step, validate=validate, callback=callback)

    # ------------------------------------------------------------------ scoring
    def _target_logprobs(self, seqs, rows=None):
        """Natural-log probability of every target (words and ``</s>``) of each sentence."""
        rows = np.arange(len(seqs)) if rows is None else np.asarray(rows)
        if isinstance(seqs, data.SentenceIds):
            lengths = seqs.lengths[rows] - 1
        else:
            lengths = np.array([len(seqs[i]) - 1 for i in rows])
        out = [None] * len(rows)
        self.net_.eval()
        for b in data.length_sorted_batches(lengths, _EVAL_BATCH):
            x, lens, t = self._inputs_targets(seqs, rows[b])
            with no_grad():
                logits, _ = self.net_(x, lens)
                picked = _picked_logprobs(logits, t)
            for r, j in enumerate(b):
                out[j] = picked[r, : lens[r]].astype(np.float64)
        return out, int(lengths.sum())

    def token_logprobs(self, X):
        """Per sentence, the log10 probability of each word and of ``</s>`` (NaN for OOV words)."""
        check_is_fitted(self, "net_")
        return self._sentence_logprobs(self._sentences(X))

    def _sentence_logprobs(self, sentences):
        seqs = self._encode(sentences)
        with compute(self.n_jobs, self.device, self):
            lp, _ = self._target_logprobs(seqs)
        shares = getattr(self, "unk_share_", {})
        out = []
        for words, s, v in zip(sentences, seqs, lp):
            for j in np.flatnonzero(s[1:] == data.UNK_ID):
                share = shares.get(words[j])
                # a training word the network knows only as <unk> gets its share of it;
                # a word never seen in training is an OOV, left out as SRILM does
                v[j] = np.nan if share is None else v[j] + share
            out.append(v / math.log(10))
        return out

    def _score_text(self, X):
        """``(PplStats, characters)`` of the sentences ``X``, read once, a block at a time
        (``X`` may be a stream of lines: memory holds one block, not the text)."""
        check_is_fitted(self, "net_")
        if isinstance(X, (str, bytes)):
            raise NlpkitError("X must be a list of sentences, not a single string")
        n_sent = words = oovs = chars = 0
        logprob = 0.0
        for block in batched(X, _SCORE_BLOCK):
            sentences = self._sentences(block, allow_empty=True)
            for s, v in zip(sentences, self._sentence_logprobs(sentences)):
                words += len(v) - 1
                oovs += int(np.isnan(v).sum())
                logprob += float(np.nansum(v))
                chars += len(s) + 1 if self.unit == "char" else len(" ".join(s)) + 1
            n_sent += len(sentences)
        if not n_sent:
            raise NlpkitError("X has no sentences (0 samples with tokens)")
        return PplStats(n_sent, words, oovs, 0, logprob), chars

    def perplexity_stats(self, X) -> PplStats:
        """SRILM's ``ngram -ppl`` summary (sentences, words, OOVs, log10 prob; ``.ppl``, ``.ppl1``).

        Out-of-vocabulary words are not scored (and the word after them is scored
        in the usual way, its context holding ``<unk>``), as SRILM does."""
        return self._score_text(X)[0]

    def bits_per_character(self, X) -> float:
        """Bits per character of the text ``X``: minus the log2 probability of its scored
        tokens (``</s>`` included, OOVs left out) over its characters, a line's end counted
        as one (its newline).  For ``unit='char'`` the characters are the scored tokens,
        for a word-level model those its words spell with single spaces between them."""
        stats, chars = self._score_text(X)
        return bits_per_character([stats.logprob], chars, base=10)

    def transform(self, X):
        """Each sentence's contextual token vectors: a list of (n_tokens, D) float32
        arrays, row t being the body's output after reading token t (and every token before
        it: ``<s>`` first), D its output size."""
        check_is_fitted(self, "net_")
        seqs = self._encode(self._sentences(X))
        lengths = np.array([len(s) for s in seqs])
        out = [None] * len(seqs)
        self.net_.eval()
        with compute(self.n_jobs, self.device, self), no_grad():
            for rows in data.length_sorted_batches(lengths, _EVAL_BATCH):
                x, lens = data.pad_batch([seqs[i][:-1] for i in rows])  # <s> w1 .. wn
                h, _ = self.net_.hidden(x, lens)
                h = h.numpy()
                for r, i in enumerate(rows):
                    out[i] = h[r, 1:lens[r]]
        return out

    def perplexity(self, X) -> float:
        """Perplexity over the words and ``</s>`` of ``X``, OOVs left out (NGramLM's tokens)."""
        return self.perplexity_stats(X).ppl

    def score(self, X, y=None) -> float:
        """Mean log10 probability per scored token (higher is better), like ``NGramLM.score``."""
        st = self.perplexity_stats(X)
        return st.logprob / (st.words - st.oovs + st.sentences)

    # ------------------------------------------------------------------ generation
    def generate(self, prompt="", max_tokens=20, temperature=1.0, top_k=None, random_state=None):
        """Continue ``prompt`` (a string or tokens) by up to ``max_tokens`` words, or to ``</s>``.

        ``temperature=0`` decodes greedily; otherwise words are sampled from the
        softmax of logits / temperature, restricted to the ``top_k`` best if given.
        Returns the generated words joined by spaces (characters joined as they are, for
        ``unit='char'``; the prompt not included).
        """
        check_is_fitted(self, "net_")
        check_param("generate", "max_tokens", max_tokens, POSITIVE_INT)
        check_param("generate", "temperature", temperature, NONNEGATIVE)
        check_param("generate", "top_k", top_k, [None, *POSITIVE_INT])
        if self.unit == "char":
            toks = list(" ".join(prompt.split() if isinstance(prompt, str) else prompt))
        else:
            toks = prompt.split() if isinstance(prompt, str) else list(prompt)
        rng = np.random.default_rng(random_state)
        ids = [BOS_ID] + self.vocab_.encode(toks).tolist()
        banned = [data.PAD_ID, data.UNK_ID, BOS_ID]
        out = []
        self.net_.eval()
        recurrent = self.cell != "transformer"
        with compute(self.n_jobs, self.device, self), no_grad():
            logits, state = self.net_(np.array([ids]), np.array([len(ids)]))
            for _ in range(max_tokens):
                z = logits.numpy()[0, -1].astype(np.float64)
                z[banned] = -np.inf
                nxt = int(np.argmax(z)) if temperature == 0 else _sample(z, temperature, top_k, rng)
                if nxt == EOS_ID:
                    break
                out.append(self.vocab_.itos[nxt])
                ids.append(nxt)
                if recurrent:
                    logits, state = self.net_(np.array([[nxt]]), np.array([1]), state)
                else:
                    logits, _ = self.net_(np.array([ids]), np.array([len(ids)]))
        return ("" if self.unit == "char" else " ").join(out)


def _picked_logprobs(logits, t):
    """(B, T) natural-log probability of each target ``t`` (0 where ``t`` is IGNORE): the
    fused cross-entropy, so on the GPU only (B, T) values come back."""
    b, n, v = logits.shape
    losses = F.cross_entropy(logits.reshape(-1, v), t.reshape(-1), ignore_index=IGNORE,
                             reduction="none")
    return -losses.numpy().reshape(b, n)


def _unk_shares(full, vocab):
    """``{word: log(count / total)}`` over the training words ``vocab`` maps to ``<unk>``."""
    cut = [(w, c) for w, c in zip(full.itos, full.counts) if w not in vocab.stoi]
    total = sum(int(c) for _, c in cut)
    return {w: math.log(int(c) / total) for w, c in cut if c > 0}


def _sample(z, temperature, top_k, rng):
    z = z / temperature
    if top_k is not None and top_k < np.isfinite(z).sum():
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = softmax(z[None])[0]
    return int(rng.choice(len(p), p=p))
