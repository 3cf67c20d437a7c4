"""Quickstart steps on text itself: the corpus and its vocabulary; BPE and WordPiece."""
from __future__ import annotations

from itertools import islice

from ... import corpora
from ...text import Corpus, iter_lines


def corpus_step(run):
    """Encode the bundled corpus, write its vocabulary, report its size."""
    train = Corpus.from_text(corpora.path("kjv", "train"))
    path = run.path("kjv.vocab")
    train.vocab.save(path)
    run.echo(f"  most frequent: {' '.join(train.vocab.itos[3:13])}")
    run.row("corpus and vocabulary", "word types", f"{len(train.vocab) - len(train.vocab.specials)}",
            f"{train.n_sentences} verses, {train.n_tokens} tokens; vocabulary of "
            f"{len(train.vocab)} entries -> {path}")


def train_lines(n=None):
    """The first ``n`` KJV training verses (all with None)."""
    return list(islice(iter_lines(corpora.path("kjv", "train")), n))


def test_lines():
    return list(iter_lines(corpora.path("kjv", "test")))


def subword_step(run):
    """BPE and WordPiece of the training verses: tokens per word on the test verses."""
    from ...text import BPE, WordPiece

    lines, test = train_lines(run.n["subword_lines"]), test_lines()
    n_words = sum(len(t.split()) for t in test)
    word = "unrighteousness"
    for name, tok in (("BPE", BPE(run.n["subword_vocab"])),
                      ("WordPiece", WordPiece(run.n["subword_vocab"]))):
        tok.fit(lines)
        path = run.path(f"kjv-{name.lower()}.json")
        tok.save(path)
        ids, _ = tok.encode_corpus(test)
        pieces = " ".join(tok.encode(word, add_special_tokens=False, as_tokens=True))
        run.row(f"{name} tokenizer", "test tokens per word", f"{len(ids) / n_words:.3f}",
                f"{tok.vocab_size_} symbols; {word} -> {pieces}; -> {path}")
