"""``nlpkit corpus``: statistics, vocabularies and tokenization, streamed so any size works."""
from __future__ import annotations

import json

import click
import numpy as np

from ..errors import NlpkitError
from ..text import Tokenizer, Vocabulary, atomic_write, iter_lines
from ..text.corpus import Encoder, _gc_paused, iter_encoded
from .common import CommandGroup, Progress, echo


def tokenizer_options(f):
    f = click.option("--pattern", default=None, metavar="REGEX",
                     help="Tokens are the matches of REGEX (default: split on whitespace).")(f)
    f = click.option("--lower", is_flag=True, help="Lowercase before tokenizing.")(f)
    return f


class _ByteProgress:
    """Adapts a reader's ``on_progress(done, total)`` to a progress bar in MB."""

    def __init__(self, bar):
        self.bar, self.seen = bar, 0

    def __call__(self, done, total):
        self.bar.update(done - self.seen)
        self.seen = done


def _size_of(path):
    import os
    return None if path == "-" else os.path.getsize(path) if os.path.isfile(path) else None


def stream_counts(path, tokenizer, label):
    """One pass over a corpus: ``(words by first appearance, counts, sentences, tokens, curve)``.

    ``curve`` holds (tokens, types) at 1, 2, 5 × powers of ten and at the end.
    """
    encoder = Encoder()
    counts = np.zeros(0, np.int64)
    n_sent = n_tok = 0
    curve, marks, running_max = [], _marks(), -1
    with Progress(_size_of(path), label, unit="B") as bar, _gc_paused():
        for ids, lengths in iter_encoded(path, tokenizer, encoder,
                                         on_progress=_ByteProgress(bar)):
            if ids.size:
                top = int(ids.max()) + 1
                if top > counts.shape[0]:
                    counts = np.concatenate([counts, np.zeros(top - counts.shape[0], np.int64)])
                counts[:top] += np.bincount(ids, minlength=top)
                types_so_far = np.maximum.accumulate(ids) + 1
                types_so_far = np.maximum(types_so_far, running_max + 1)
                while marks and marks[0] <= n_tok + ids.size:
                    curve.append((marks[0], int(types_so_far[marks[0] - n_tok - 1])))
                    marks.pop(0)
                running_max = int(types_so_far[-1]) - 1
            n_sent += lengths.shape[0]
            n_tok += ids.size
    if n_tok and (not curve or curve[-1][0] != n_tok):
        curve.append((n_tok, running_max + 1))
    return encoder.first_seen, counts, n_sent, n_tok, curve


def _marks():
    return [m * 10 ** k for k in range(0, 13) for m in (1, 2, 5)]


def _make_tokenizer(pattern, lower):
    return Tokenizer(pattern, lower)


@click.group(cls=CommandGroup)
def corpus():
    """Corpus statistics, vocabularies and tokenization."""


@corpus.command()
@click.argument("corpus_path", metavar="CORPUS")
@click.option("--vocab", "vocab_path", default=None, metavar="VOCAB",
              help="Also report the OOV rate against this vocabulary file.")
@tokenizer_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def stats(corpus_path, vocab_path, pattern, lower, as_json):
    """Sentences, tokens, types, the type/token curve and the OOV rate of CORPUS."""
    tok = _make_tokenizer(pattern, lower)
    vocab = Vocabulary.load(vocab_path) if vocab_path else None
    words, counts, n_sent, n_tok, curve = stream_counts(corpus_path, tok, "reading")
    result = {"sentences": n_sent, "tokens": n_tok, "types": len(words),
              "type_token_ratio": (len(words) / n_tok) if n_tok else 0.0,
              "singletons": int((counts == 1).sum()),
              "type_token_curve": [{"tokens": t, "types": v} for t, v in curve]}
    if vocab is not None:
        known = np.array([w in vocab.stoi for w in words], dtype=bool)
        oov_tokens = int(counts[~known].sum()) if len(words) else 0
        result.update(oov_tokens=oov_tokens, oov_types=int((~known).sum()),
                      oov_rate=(oov_tokens / n_tok) if n_tok else 0.0)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"sentences\t{n_sent}\ntokens\t{n_tok}\ntypes\t{len(words)}")
    click.echo(f"type/token\t{result['type_token_ratio']:.6f}\nsingletons\t{result['singletons']}")
    if vocab is not None:
        click.echo(f"OOV tokens\t{result['oov_tokens']}\nOOV types\t{result['oov_types']}\n"
                   f"OOV rate\t{result['oov_rate']:.6f}")
    click.echo("type/token curve (tokens\ttypes):")
    for t, v in curve:
        click.echo(f"  {t}\t{v}")


@corpus.command()
@click.argument("corpus_path", metavar="CORPUS")
@click.option("-o", "--output", required=True, metavar="VOCAB", help="Vocabulary file to write.")
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Drop words seen fewer times.")
@click.option("--max-size", type=click.IntRange(min=1), default=None,
              help="Keep at most this many words (most frequent first).")
@tokenizer_options
def vocab(corpus_path, output, min_count, max_size, pattern, lower):
    """Count the words of CORPUS and write a vocabulary (``word<TAB>count`` by count)."""
    tok = _make_tokenizer(pattern, lower)
    words, counts, n_sent, n_tok, _ = stream_counts(corpus_path, tok, "counting")
    if n_tok == 0:
        raise NlpkitError(f"{corpus_path}: the corpus has no tokens")
    voc = Vocabulary.from_counts(dict(zip(words, counts.tolist())), min_count=min_count,
                                 max_size=max_size)
    voc.save(output)
    echo(f"{output}: {len(voc) - len(voc.specials)} words (+{len(voc.specials)} special) "
         f"from {n_tok} tokens in {n_sent} sentences")


@corpus.command()
@click.argument("corpus_path", metavar="CORPUS")
@click.option("-o", "--output", required=True, metavar="OUT", help="Output file ('-' for stdout).")
@tokenizer_options
def tokenize(corpus_path, output, pattern, lower):
    """Write CORPUS one sentence per line with tokens separated by single spaces.

    Line numbers are kept: a line with no tokens stays an empty line.
    """
    tok = _make_tokenizer(pattern, lower)
    n = 0
    with Progress(_size_of(corpus_path), "tokenizing", unit="B") as bar, \
            atomic_write(output) as out:
        for line in iter_lines(corpus_path, on_progress=_ByteProgress(bar)):
            out.write(" ".join(tok(line)))
            out.write("\n")
            n += 1
    echo(f"{output}: {n} lines")
