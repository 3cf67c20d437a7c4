"""The quickstart's steps in order: what each runs and the families it reports."""
from __future__ import annotations

from .embed import embed_step
from .neural import classify_step, lm_step, seq2seq_step, tagger_step
from .ngram import ngram_step
from .text import corpus_step, subword_step

#: (title, step, the families it reports): the families let a failed step still name what
#: is missing in the report.
STEPS = [
    ("corpus and vocabulary", corpus_step, ["corpus and vocabulary"]),
    ("n-gram language models", ngram_step,
     ["Katz 3-gram (SRILM)", "Kneser-Ney 3-gram (KenLM)", "stupid back-off 3-gram",
      "pruned Katz 3-gram", "mixture of two Katz 3-grams"]),
    ("subword tokenizers", subword_step, ["BPE tokenizer", "WordPiece tokenizer"]),
    ("word embeddings", embed_step,
     ["word2vec SGNS", "word2vec CBOW", "fastText", "PPMI + SVD", "GloVe"]),
    ("text classifiers", classify_step, ["CNN classifier", "LSTM classifier"]),
    ("sequence tagger", tagger_step, ["BiLSTM tagger"]),
    ("language models and pretraining", lm_step,
     ["LSTM language model", "MaskedLM (BERT-style pretraining)",
      "fine-tuned classifier (pretrained=)"]),
    ("seq2seq", seq2seq_step, ["seq2seq LSTM + attention", "seq2seq transformer"]),
]
