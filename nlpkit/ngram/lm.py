"""``NGramLM``: the n-gram language model as a scikit-learn estimator.

    lm = NGramLM(order=3).fit(train_sentences)      # SRILM's default Katz model
    lm.perplexity(test_sentences)                   # SRILM's ppl
    lm.score(test_sentences)                        # -log10(ppl): higher is better
    lm.transform(docs)                              # [log10 prob, ppl, OOV rate] per doc
    lm.to_arpa("model.arpa.gz"); NGramLM.from_arpa("model.arpa.gz")

Sentences are strings (split on space, TAB, CR and LF, as SRILM does) or
token lists; ``fit`` also takes a corpus path.  Scores follow SRILM's
``ngram -ppl``: ``</s>`` is scored, OOVs of a closed-vocabulary model are left
out of the sums and counted.  The estimator pickles its model arrays only;
the hash tables are rebuilt on first use after unpickling.
"""
from __future__ import annotations

import math
import os

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..params import (
    BOOLEAN,
    DEVICE,
    N_JOBS,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    POSITIVE,
    HasMethods,
    Integral,
    Interval,
    Options,
    Real,
    changed,
    validate_params,
)
from .options import MAX_ORDER, SMOOTHINGS, options_of
from .scoring.scorer import NGramScorer, srilm_sentences


# the parameters that are options of one smoothing or two (see nlpkit.ngram.options)
_SMOOTHING_OPTIONS = ("gt_min", "gt_max", "unk", "vocab", "discount_fallback",
                      "interpolate_unigrams", "prune", "alpha")


class NGramLM(TransformerMixin, BaseEstimator):
    """A back-off n-gram language model, built by :func:`nlpkit.ngram.build`.

    Parameters
    ----------
    order : int, n-gram order (1-16).
    smoothing : ``'katz'`` (SRILM ``ngram-count``'s default: Good-Turing discounting, Katz
        back-off), ``'kn'`` (interpolated modified Kneser-Ney as KenLM's ``lmplz``) or
        ``'stupid'`` (stupid back-off, Brants et al. 2007: scores, not probabilities; its
        ``perplexity`` is not a perplexity and warns).
    alpha : stupid: the back-off factor in (0, 1]; None for Brants et al.'s 0.4.
    gt_min, gt_max : katz: SRILM's ``-gtNmin``/``-gtNmax``: an int for every order, a list
        (index 0 = unigrams) or ``{order: value}``; None keeps SRILM's defaults.
    unk : katz: model ``<unk>`` (SRILM ``-unk``): unknown words get probability mass.
    vocab : katz, stupid: closed vocabulary, a list of words or the path of a word-list file.
    discount_fallback : kn: discounts used where lmplz's estimate is bad: True (lmplz's
        ``0.5 1 1.5``, the default here, so that small folds of a grid search fit), one to
        three numbers, or None to refuse such data as lmplz does.
    interpolate_unigrams, prune : kn: lmplz's ``--interpolate_unigrams`` and ``--prune``.
    memory, temp_dir : the memory the build may use (``'500M'``, ``'4G'``, ``'25%'``;
        default half the available memory) and where what does not fit is sorted on disk,
        as in :func:`nlpkit.ngram.build`; the fitted model itself is held in memory.
    device, n_jobs : where and on how many threads the kernels run.
    scheduler : count on a Dask cluster, as in :func:`nlpkit.ngram.build` (an address,
        ``'local:N'`` or a ``dask.distributed.Client``); ``fit`` is then given the path or
        glob of a corpus that the workers can read.

    Attributes
    ----------
    model_ : :class:`~nlpkit.ngram.backoff.BackoffModel`, the fitted model.
    order_ : int, the model's order.
    vocabulary_size_ : int, words in the model's vocabulary.
    """

    # the kinds of value each parameter takes; build (nlpkit.ngram.options) checks the values
    # of the smoothing's options against the order and each other
    _parameter_constraints = {
        "order": [Interval(Integral, 1, MAX_ORDER)],
        "smoothing": [Options(*SMOOTHINGS)],
        "alpha": [None, Interval(Real, 0, 1, closed="right")],
        "gt_min": [None, *NONNEGATIVE_INT, "array-like", dict],
        "gt_max": [None, *NONNEGATIVE_INT, "array-like", dict],
        "unk": BOOLEAN,
        "vocab": [None, "path", "array-like", set, frozenset],
        "discount_fallback": [None, "boolean", *NONNEGATIVE, "array-like"],
        "interpolate_unigrams": BOOLEAN,
        "prune": [None, *NONNEGATIVE, "array-like"],
        "memory": [None, str, *POSITIVE],
        "temp_dir": [None, "path"],
        "device": DEVICE,
        "n_jobs": N_JOBS,
        "scheduler": [None, str, HasMethods("submit", name="a dask.distributed Client")],
    }

    def __init__(self, order=3, smoothing="katz", gt_min=None, gt_max=None, unk=False,
                 vocab=None, discount_fallback=True, interpolate_unigrams=True, prune=None,
                 memory=None, temp_dir=None, device=None, n_jobs=None, scheduler=None,
                 alpha=None):
        self.order = order
        self.smoothing = smoothing
        self.alpha = alpha
        self.gt_min = gt_min
        self.gt_max = gt_max
        self.unk = unk
        self.vocab = vocab
        self.discount_fallback = discount_fallback
        self.interpolate_unigrams = interpolate_unigrams
        self.prune = prune
        self.memory = memory
        self.temp_dir = temp_dir
        self.device = device
        self.n_jobs = n_jobs
        self.scheduler = scheduler

    # --- fitting ----------------------------------------------------------
    def fit(self, X, y=None):
        """Estimate the model from sentences (iterable of str or token lists) or a corpus path."""
        from . import build
        validate_params(self)
        source = os.fspath(X) if isinstance(X, os.PathLike) else X
        if self.scheduler is not None and not isinstance(source, str):
            from ..errors import NlpkitError
            raise NlpkitError("with a scheduler, fit takes the path or glob of a corpus that "
                              "the Dask workers can read, not sentences")
        if not isinstance(source, str):
            source = [s if isinstance(s, str) else list(s) for s in source]
        # the smoothing's own options, and any other one the user set: build refuses those,
        # by name (nlpkit.ngram.options says which smoothing owns which option)
        names = [n for n in _SMOOTHING_OPTIONS if n in options_of(self.smoothing)]
        names += changed(self, [n for n in _SMOOTHING_OPTIONS if n not in names])
        options = {n: getattr(self, n) for n in names}
        self._set_model(build(source, self.order, self.smoothing, memory=self.memory,
                              temp_dir=self.temp_dir, device=self.device, n_jobs=self.n_jobs,
                              scheduler=self.scheduler, **options))
        return self

    def _set_model(self, model):
        self.model_ = model
        self.order_ = model.order
        self.vocabulary_size_ = len(model.vocab)
        self._scorer = None

    @classmethod
    def mix(cls, models, weights) -> "NGramLM":
        """A fitted estimator holding the static mixture of fitted ``models`` (NGramLM or
        BackoffModel), each context's distribution renormalised (SRILM -mix-lm -write-lm)."""
        from .editing.mix import mix_static
        parts = [m.model_ if isinstance(m, NGramLM) else m for m in models]
        mixed = mix_static(parts, weights)
        lm = cls(order=mixed.order)
        lm._set_model(mixed)
        return lm

    @classmethod
    def from_arpa(cls, path, **params) -> "NGramLM":
        """A fitted estimator holding the model of an ARPA (or binary) file."""
        from .formats.binary import load
        scorer = load(path)
        lm = cls(order=scorer.order, **params)
        lm._set_model(scorer.model)
        lm._scorer = scorer
        return lm

    def to_arpa(self, path) -> None:
        """Write the model as ARPA text (``.gz`` by name), atomically, as its peer prints it
        (SRILM's layout for Katz, lmplz's for Kneser-Ney)."""
        from .formats.binary import save_arpa
        check_is_fitted(self, "model_")
        save_arpa(self.model_, path)

    # --- scoring ----------------------------------------------------------
    @property
    def scorer_(self) -> NGramScorer:
        """The hash-table scorer (built on first use)."""
        check_is_fitted(self, "model_")
        if getattr(self, "_scorer", None) is None:
            self._scorer = NGramScorer(self.model_)
        return self._scorer

    def _sentence_stats(self, X):
        scorer = self.scorer_
        sents = [_tokens(s) for s in _as_list(X)]
        ids, offsets, _ = scorer.encode(sents)
        tot, oov, zero = scorer.sentence_scores(ids, offsets, kenlm=False, device=self.device,
                                                n_jobs=self.n_jobs)
        return tot, oov, zero, np.diff(offsets)

    def perplexity(self, X) -> float:
        """SRILM's ``ppl`` of the sentences in ``X`` (``</s>`` counted, OOVs left out).
        Of a stupid back-off model it is not a perplexity (its scores are not normalised):
        a warning says so."""
        from .formats.preamble import is_unnormalised
        if is_unnormalised(self.scorer_.model.meta):
            import warnings
            warnings.warn("a stupid back-off model gives scores, not probabilities: its "
                          "'perplexity' is not a perplexity", UserWarning, stacklevel=2)
        return self.scorer_.perplexity_stats(_lines(X), device=self.device, n_jobs=self.n_jobs).ppl

    def score(self, X, y=None) -> float:
        """Mean log10 probability per scored token, ``-log10(perplexity(X))``: higher is better."""
        st = self.scorer_.perplexity_stats(_lines(X), device=self.device, n_jobs=self.n_jobs)
        d = st.words - st.oovs - st.zeroprobs + st.sentences
        return st.logprob / d if d > 0 else -math.inf

    def transform(self, X) -> np.ndarray:
        """Per document (one sentence each): ``[log10 prob, perplexity, OOV rate]``."""
        tot, oov, zero, words = self._sentence_stats(X)
        d = words - oov - zero + 1
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ppl = np.where(d > 0, np.power(10.0, -tot / np.maximum(d, 1)), np.nan)
            rate = np.where(words > 0, oov / np.maximum(words, 1), 0.0)
        return np.column_stack([tot, ppl, rate]).astype(np.float64)

    def fit_transform(self, X, y=None, **fit_params):
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features=None):
        return np.array(["log10_prob", "perplexity", "oov_rate"], dtype=object)

    def sample(self, n=1, *, seed=0, max_len=100) -> list[str]:
        """``n`` sentences drawn from the model (seeded)."""
        return self.scorer_.sample(n, seed=seed, max_len=max_len)

    # --- pickling: arrays only --------------------------------------------
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        state.pop("_scorer", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["_scorer"] = None
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def _as_list(X):
    if isinstance(X, (str, os.PathLike)):
        from ..text import iter_lines
        return list(iter_lines(X))
    return list(X)


def _tokens(s):
    if isinstance(s, str):
        return [t for t in s.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ") if t]
    return [str(t) for t in s]


def _lines(X):
    for s in _as_list(X):
        yield s if isinstance(s, str) else " ".join(map(str, s))


__all__ = ["NGramLM", "srilm_sentences"]
