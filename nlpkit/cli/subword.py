"""``nlpkit subword``: train BPE/WordPiece tokenizers, encode and decode text with them."""
from __future__ import annotations

import os

import click

from ..errors import NlpkitError
from ..text import atomic_write, iter_lines
from .common import CommandGroup, Progress, echo, settings
from .corpus import _ByteProgress, _size_of


@click.group(name="subword", cls=CommandGroup)
def subword():
    """Subword tokenizers: BPE and WordPiece (Hugging Face tokenizer.json files)."""


@subword.command("train")
@click.argument("corpus")
@click.option("-o", "--output", required=True, metavar="TOKENIZER_JSON",
              help="tokenizer.json to write (Hugging Face's format).")
@click.option("--model", type=click.Choice(["bpe", "wordpiece"]), default="bpe", show_default=True)
@click.option("--vocab-size", type=click.IntRange(min=1), default=32000, show_default=True)
@click.option("--style", type=click.Choice(["suffix", "metaspace", "bytelevel"]), default="suffix",
              show_default=True,
              help="bpe: word-end marker </w>, sentencepiece's ▁ word starts, or GPT-2's bytes.")
@click.option("--pre-tokenizer", type=click.Choice(["whitespace_split", "whitespace", "bert"]),
              default=None, help="bpe --style suffix: how lines split into words "
                                 "[default: whitespace_split].")
@click.option("--lowercase/--no-lowercase", default=None,
              help="Lowercase first [bpe: no; wordpiece: yes].")
@click.option("--min-frequency", type=click.IntRange(min=0), default=None,
              help="Never merge pairs seen fewer times [bpe 0, wordpiece 2].")
@click.option("--special-tokens", default=None, metavar="TOK,TOK",
              help="Comma-separated special tokens, given the first ids.")
@click.option("--limit-alphabet", type=click.IntRange(min=1), default=None,
              help="Keep only the most frequent characters [wordpiece 1000].")
@click.option("--training", type=click.Choice(["likelihood", "bpe"]), default="likelihood",
              show_default=True, help="wordpiece: merge by likelihood gain, or by count as "
                                      "tokenizers' WordPieceTrainer does.")
@click.option("--unk-token", default=None,
              help="What an unknown character (bpe) or word (wordpiece) becomes "
                   "[bpe <unk>, wordpiece [UNK]].")
@click.option("--end-of-word-suffix", default=None,
              help="bpe --style suffix: the word-end marker [</w>].")
@click.option("--strip-accents/--no-strip-accents", default=None,
              help="wordpiece: strip accents [as --lowercase].")
@click.option("--max-input-chars-per-word", type=click.IntRange(min=1), default=None,
              help="wordpiece: longer words become --unk-token [100].")
def train_cmd(corpus, output, model, vocab_size, style, pre_tokenizer, lowercase, min_frequency,
              special_tokens, limit_alphabet, training, unk_token, end_of_word_suffix,
              strip_accents, max_input_chars_per_word):
    """Learn a subword vocabulary from CORPUS (one sentence per line) and write TOKENIZER_JSON."""
    from ..text.subword import BPE, WordPiece
    kw = {"vocab_size": vocab_size, "n_jobs": settings().threads}
    if lowercase is not None:
        kw["lowercase"] = lowercase
    if min_frequency is not None:
        kw["min_frequency"] = min_frequency
    if special_tokens is not None:
        kw["special_tokens"] = tuple(t for t in special_tokens.split(",") if t)
    if limit_alphabet is not None:
        kw["limit_alphabet"] = limit_alphabet
    if unk_token is not None:
        kw["unk_token"] = unk_token
    if model == "bpe":
        if training != "likelihood" or strip_accents is not None or max_input_chars_per_word:
            raise NlpkitError("--training, --strip-accents and --max-input-chars-per-word "
                              "apply to --model wordpiece only")
        if end_of_word_suffix is not None:
            kw["end_of_word_suffix"] = end_of_word_suffix
        tok = BPE(style=style, pre_tokenizer=pre_tokenizer, **kw)
    else:
        if style != "suffix" or pre_tokenizer is not None or end_of_word_suffix is not None:
            raise NlpkitError("--style, --pre-tokenizer and --end-of-word-suffix apply to "
                              "--model bpe only")
        if max_input_chars_per_word is not None:
            kw["max_input_chars_per_word"] = max_input_chars_per_word
        tok = WordPiece(training=training, strip_accents=strip_accents, **kw)
    with Progress(_size_of(corpus), "counting words", unit="B") as bar:
        tok._fit(corpus, on_progress=_ByteProgress(bar))
    tok.save(output)
    echo(f"{output}: {len(tok.vocab_)} tokens"
         + (f", {len(tok.merges_)} merges" if model == "bpe" else ""))


@subword.command("encode")
@click.argument("tokenizer_json")
@click.argument("text")
@click.option("-o", "--output", default="-", show_default=True, help="Output file ('-': stdout).")
@click.option("--tokens", "as_tokens", is_flag=True, help="Write token strings instead of ids.")
@click.option("--add-special-tokens/--no-special-tokens", default=False, show_default=True,
              help="Add the file's post-processor tokens ([CLS] … [SEP]).")
def encode_cmd(tokenizer_json, text, output, as_tokens, add_special_tokens):
    """Encode TEXT (a file, one sentence per line, or '-' for stdin), streamed:
    one line of space-separated ids (or tokens) per input line."""
    from ..text.subword import load_tokenizer
    tok = load_tokenizer(tokenizer_json)
    if as_tokens and any(" " in t for t in tok.vocab_.itos):
        echo("warning: some tokens contain spaces; the output cannot be split back")
    n = 0
    with Progress(_size_of(text), "encoding", unit="B") as bar, atomic_write(output) as out:
        for ids, lengths in tok.iter_encode(text, add_special_tokens=add_special_tokens,
                                            on_progress=_ByteProgress(bar)):
            words = [tok.vocab_.itos[i] for i in ids.tolist()] if as_tokens \
                else list(map(str, ids.tolist()))
            at = 0
            for k in lengths.tolist():
                out.write(" ".join(words[at:at + k]))
                out.write("\n")
                at += k
            n += len(lengths)
    echo(f"{output}: {n} lines")


@subword.command("decode")
@click.argument("tokenizer_json")
@click.argument("ids")
@click.option("-o", "--output", default="-", show_default=True, help="Output file ('-': stdout).")
def decode_cmd(tokenizer_json, ids, output):
    """Decode IDS (a file of space-separated ids, one sequence per line, or '-') back to text."""
    from ..text.subword import load_tokenizer
    tok = load_tokenizer(tokenizer_json)
    label = "<stdin>" if ids == "-" else os.fspath(ids)
    with atomic_write(output) as out:
        for lineno, line in enumerate(iter_lines(ids), 1):
            try:
                seq = [int(x) for x in line.split()]
            except ValueError:
                raise NlpkitError(f"{label}:{lineno}: expected integer ids") from None
            try:
                out.write(tok.decode(seq))
            except NlpkitError as exc:
                raise NlpkitError(f"{label}:{lineno}: {exc}") from None
            out.write("\n")
