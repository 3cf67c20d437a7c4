"""Text in, int arrays out: readers, tokenizers, Vocabulary and the encoded Corpus."""
from .corpus import Corpus
from .readers import DecodeWarning, atomic_write, iter_lines, open_binary, read_lines
from .tokenize import Tokenizer, make_tokenizer
from .vocab import BOS, EOS, SPECIALS, UNK, Vocabulary, read_vocab_words

__all__ = ["Corpus", "Vocabulary", "Tokenizer", "make_tokenizer", "iter_lines", "read_lines",
           "open_binary", "atomic_write", "DecodeWarning", "read_vocab_words",
           "BOS", "EOS", "UNK", "SPECIALS", "BPE", "WordPiece", "load_tokenizer"]


def __getattr__(name):
    # the subword tokenizers (and scikit-learn behind them) load on first use
    if name in ("BPE", "WordPiece", "load_tokenizer"):
        from . import subword
        return getattr(subword, name)
    raise AttributeError(f"module 'nlpkit.text' has no attribute {name!r}")
