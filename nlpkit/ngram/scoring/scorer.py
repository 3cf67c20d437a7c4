"""The scorer: a loaded n-gram model answering KenLM's and SRILM's questions.

:class:`NGramScorer` is the user-facing object: ``score``, ``full_scores``,
``score_corpus``, ``perplexity``, ``sample``.  Conventions:

* ``score``/``full_scores`` follow KenLM: log10, an unknown word is scored as
  ``<unk>``; a ``-99``/``-inf`` probability counts as -99 and a model without
  an ``<unk>`` unigram gives unknown words -100 (plus back-off weights), as
  ``kenlm.Model`` does.
* ``perplexity`` follows SRILM's ``ngram -ppl`` (SRILM-KATZ.md §8): tokens
  scored -inf are excluded and counted as OOVs (``<unk>``) or zeroprobs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ... import backend
from ...errors import NlpkitError
from ...text.readers import batched
from ..backoff import BackoffModel
from . import kernels as scoring
from .tables import BOS, EOS, UNK, NGramTables

M_LN10 = 2.30258509299404568402
SCORE_BLOCK = 1 << 14  # sentences scored per kernel call when streaming a text


@dataclass
class PplStats:
    """SRILM's ``ngram -ppl`` summary."""
    sentences: int
    words: int
    oovs: int
    zeroprobs: int
    logprob: float

    @property
    def ppl(self) -> float:
        d = self.words - self.oovs - self.zeroprobs + self.sentences
        return math.exp(-(self.logprob / d) * M_LN10) if d > 0 else math.nan

    @property
    def ppl1(self) -> float:
        d = self.words - self.oovs - self.zeroprobs
        return math.exp(-(self.logprob / d) * M_LN10) if d > 0 else math.nan

    def as_dict(self) -> dict:
        return dict(sentences=self.sentences, words=self.words, oovs=self.oovs,
                    zeroprobs=self.zeroprobs, logprob=self.logprob, ppl=self.ppl, ppl1=self.ppl1)

    def srilm_lines(self, name="-") -> str:
        """The two lines ``ngram -ppl`` prints, with SRILM's ``%.7g`` numbers."""
        def g(x):
            return "undefined" if math.isnan(x) else "%.7g" % x
        return (f"file {name}: {self.sentences} sentences, {self.words} words, {self.oovs} OOVs\n"
                f"{self.zeroprobs} zeroprobs, logprob= {g(self.logprob)} ppl= {g(self.ppl)} "
                f"ppl1= {g(self.ppl1)}")


class NGramScorer:
    """A back-off model ready for scoring (hash tables + Numba kernels).

    Build it from a :class:`BackoffModel` or load one with :func:`nlpkit.ngram.formats.binary.load`.
    """

    def __init__(self, model: BackoffModel, *, tables: NGramTables | None = None):
        if tables is None:
            tables = getattr(model, "_tables", None)
        if tables is None:
            tables, model = NGramTables.build(model)
        self.model, self.tables = model, tables
        self.vocab = model.vocab
        self.order = model.order
        self._index = {w: i for i, w in enumerate(self.vocab)}
        for special in (BOS, EOS, UNK):
            if special not in self._index:
                raise NlpkitError(f"n-gram model: the vocabulary lacks {special} "
                                  "(the reader adds it; was the model built by hand?)")
        self.bos_id, self.eos_id, self.unk_id = (self._index[s] for s in (BOS, EOS, UNK))
        # KenLM's view of -inf probabilities: -99 as written, and -100 for a missing <unk>
        uni_lp = tables.uni[0::2]
        self.has_unk = bool(np.isfinite(uni_lp[self.unk_id]))
        kl = tables.uni.copy()
        kl[0::2] = np.where(np.isneginf(uni_lp), np.float32(-99.0), uni_lp)
        if not self.has_unk:
            kl[2 * self.unk_id] = np.float32(-100.0)
        self._uni_kenlm = kl

    def __getstate__(self):
        # pickle the model arrays only; the tables are rebuilt on load
        return {"model": self.model}

    def __setstate__(self, state):
        self.__init__(state["model"])

    # --- encoding ---------------------------------------------------------
    def word_ids(self, tokens) -> np.ndarray:
        """Model ids of ``tokens``; unknown words become ``<unk>``."""
        get, unk = self._index.get, self.unk_id
        return np.fromiter((get(t, unk) for t in tokens), dtype=np.int32)

    def encode(self, sentences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ids, offsets, oov)`` for an iterable of sentences (str or token lists)."""
        get, unk = self._index.get, self.unk_id
        ids, oov, lengths = [], [], []
        for s in sentences:
            toks = s.split() if isinstance(s, str) else list(s)
            row = [get(t, -1) for t in toks]
            oov.extend(r < 0 for r in row)
            ids.extend(unk if r < 0 else r for r in row)
            lengths.append(len(row))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return (np.asarray(ids, dtype=np.int32), offsets, np.asarray(oov, dtype=bool))

    # --- scoring ----------------------------------------------------------
    def _args(self, kenlm):
        t = self.tables
        args = list(t.kernel_args())
        if kenlm:
            args[1] = self._uni_kenlm
        return args

    def token_scores(self, ids, offsets, *, bos=True, eos=True, kenlm=True, device=None,
                     n_jobs=None):
        """Per-token ``(log10 prob, n-gram length)`` and each sentence's start in them."""
        ids, offsets = _flat(ids, offsets)
        lengths = np.diff(offsets) + int(bool(eos))
        out_off = np.zeros(offsets.shape[0], dtype=np.int64)
        np.cumsum(lengths, out=out_off[1:])
        floor = np.float32(-99.0 if kenlm else -np.inf)
        with backend.threads(n_jobs):
            fn = backend.pick(_token_scores_cpu, _token_scores_cuda, device)
            lp, ln = fn(ids, offsets, bool(bos), bool(eos), self.bos_id, self.eos_id,
                        self._args(kenlm), floor, out_off)
        return lp, ln, out_off

    def sentence_scores(self, ids, offsets, *, bos=True, eos=True, kenlm=True, device=None,
                        n_jobs=None):
        """Per-sentence ``(log10 prob, oovs, zeroprobs)`` for a whole corpus in one call.

        ``ids``/``offsets`` are model ids (see :meth:`encode`).  With
        ``kenlm=True`` no token is -inf (KenLM's floors), so oovs and zeroprobs
        are 0; with ``kenlm=False`` they follow SRILM's ``-ppl`` bookkeeping.
        """
        ids, offsets = _flat(ids, offsets)
        floor = np.float32(-99.0 if kenlm else -np.inf)
        with backend.threads(n_jobs):
            fn = backend.pick(_sentence_scores_cpu, _sentence_scores_cuda, device)
            return fn(ids, offsets, bool(bos), bool(eos), self.bos_id, self.eos_id, self.unk_id,
                      self._args(kenlm), floor)

    def score(self, sentence, bos=True, eos=True) -> float:
        """log10 probability of one sentence (str split on whitespace, or tokens), as KenLM."""
        toks = sentence.split() if isinstance(sentence, str) else list(sentence)
        ids = self.word_ids(toks)
        tot, _, _ = self.sentence_scores(ids, np.array([0, ids.shape[0]]), bos=bos, eos=eos)
        return float(tot[0])

    def full_scores(self, sentence, bos=True, eos=True) -> list[tuple[float, int, bool]]:
        """Per word (and ``</s>``): ``(log10 prob, n-gram length used, is OOV)``, as KenLM."""
        ids, offsets, oov = self.encode([sentence])
        lp, ln, _ = self.token_scores(ids, offsets, bos=bos, eos=eos)
        flags = list(oov) + ([False] if eos else [])
        return [(float(p), int(n), bool(o)) for p, n, o in zip(lp, ln, flags)]

    def perplexity_stats(self, lines, *, device=None, n_jobs=None) -> PplStats:
        """SRILM ``ngram -ppl`` on text lines (SRILM-KATZ.md §8 conventions)."""
        # a block of sentences at a time through the kernel: memory does not grow with the text
        n_sents = n_words = n_oov = n_zero = 0
        logprob = 0.0
        for sents in batched(srilm_sentences(lines), SCORE_BLOCK):
            ids, offsets, _ = self.encode(sents)
            tot, oov, zero = self.sentence_scores(ids, offsets, kenlm=False, device=device,
                                                  n_jobs=n_jobs)
            n_sents += len(sents)
            n_words += int(ids.shape[0])
            n_oov += int(oov.sum())
            n_zero += int(zero.sum())
            for x in tot.tolist():  # (summed sentence by sentence, in order, as before)
                logprob += x
        return PplStats(n_sents, n_words, n_oov, n_zero, logprob)

    def perplexity(self, lines) -> float:
        """SRILM's ``ppl`` (``</s>`` counted) of text lines."""
        return self.perplexity_stats(lines).ppl

    def sample(self, n=1, *, seed=0, max_len=100) -> list[str]:
        """``n`` sentences drawn from the model (seeded; same seed, same text)."""
        if n < 0 or max_len < 1:
            raise NlpkitError("sample: n must be >= 0 and max_len >= 1")
        V = len(self.vocab)
        cand = np.array([i for i in range(V) if i != self.bos_id], dtype=np.int32)
        t = self.tables
        args = t.kernel_args()
        out, off = scoring.sample_sentences(np.int64(n), np.int64(max_len), np.int64(seed),
                                            self.bos_id, self.eos_id, *args[:1], cand, *args[1:])
        return [" ".join(self.vocab[i] for i in out[off[k]:off[k + 1]]) for k in range(n)]


def srilm_sentences(lines):
    """Token lists as SRILM's ``ngram -ppl`` reads text: blank and ``##`` lines skipped,
    tokens split on space/TAB/CR/LF, ``-pau-`` dropped, a leading ``<s>`` and a
    trailing ``</s>`` taken as the sentence marks (added by the scorer)."""
    for line in lines:
        if line.startswith("##"):
            continue
        toks = [t for t in line.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ")
                if t and t != "-pau-"]
        if not toks:
            continue
        if toks[0] == BOS:
            toks = toks[1:]
        if toks and toks[-1] == EOS:
            toks = toks[:-1]
        yield toks


def _flat(ids, offsets):
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0 or offsets[-1] != ids.shape[0]:
        raise NlpkitError("offsets must start at 0 and end at len(ids)")
    return ids, offsets


def _token_scores_cpu(ids, offsets, bos, eos, bos_id, eos_id, args, floor, out_off):
    return scoring.score_tokens(ids, offsets, bos, eos, bos_id, eos_id, *args, floor, out_off)


def _sentence_scores_cpu(ids, offsets, bos, eos, bos_id, eos_id, unk_id, args, floor):
    return scoring.score_sentences(ids, offsets, bos, eos, bos_id, eos_id, unk_id, *args, floor)


def _token_scores_cuda(*a):
    from .kernels_cuda import token_scores_cuda
    return token_scores_cuda(*a)


def _sentence_scores_cuda(*a):
    from .kernels_cuda import sentence_scores_cuda
    return sentence_scores_cuda(*a)
