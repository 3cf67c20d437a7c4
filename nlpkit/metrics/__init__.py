"""Evaluation metrics: BLEU and chrF as sacrebleu computes them, word and character error
rates, perplexity and bits per token or character.

* :func:`corpus_bleu`, :func:`corpus_chrf`: sacrebleu's corpus scores, to every digit
  (BLEU with the 13a tokenisation and 'exp' smoothing by default; chrF with character
  order 6, no word n-grams, beta 2), with sacrebleu's arguments and reference layout.
* :func:`wer`, :func:`cer`, :func:`edit_distances`: Levenshtein distances over tokens or
  characters, summed over the corpus and divided by the reference length (jiwer's and
  ASR's convention); the distances run in a Numba kernel (CUDA twin beside it).
* :func:`perplexity`, :func:`bits_per_token`, :func:`bits_per_character`: from per-token
  log-probabilities.
* :class:`BLEUStats`, :class:`CHRFStats`, :class:`ErrorRate`: the same scores from
  sufficient statistics summed a block of segments at a time (a test set that streams).
* :class:`ConfusionCounts`: accuracy, per-label precision/recall/F1 and the confusion
  matrix (scikit-learn's figures) from counts added a block at a time.
"""
from .bleu import BLEUScore, BLEUStats, corpus_bleu, tokenize_13a
from .chrf import CHRFScore, CHRFStats, corpus_chrf
from .classification import ConfusionCounts
from .edit import ErrorRate, cer, edit_distances, wer
from .lm import bits_per_character, bits_per_token, perplexity

__all__ = ["corpus_bleu", "BLEUScore", "BLEUStats", "tokenize_13a", "corpus_chrf", "CHRFScore",
           "CHRFStats", "wer", "cer", "ErrorRate", "edit_distances", "ConfusionCounts",
           "perplexity", "bits_per_token", "bits_per_character"]
