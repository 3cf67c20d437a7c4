"""``nlpkit ngram``: build, convert, inspect and score back-off n-gram models.

MODEL arguments may be ARPA (``.arpa``), gzipped ARPA (``.arpa.gz``) or
nlpkit's binary format (``.nlpkit``); the output format is picked by name.
"""
from __future__ import annotations

import json
import math
import os
import time

import click

from ..errors import InputFileError, NlpkitError
from .common import Progress, echo, settings

_MAX_GT_ORDER = 9
_BLOCK = 200_000  # lines scored per kernel call


@click.group(name="ngram")
def ngram():
    """N-gram language models (SRILM-compatible Good-Turing/Katz, ARPA, KenLM-style scoring)."""


def _size(path):
    try:
        return os.path.getsize(path) if path != "-" else None
    except OSError:
        return None


def _check_input(path):
    if path != "-" and not os.path.exists(path):
        raise InputFileError(path, "no such file")
    if path != "-" and os.path.isdir(path):
        raise InputFileError(path, "is a directory, not a file")


def _load(model_path, order=None):
    from ..ngram.binary import load
    _check_input(model_path)
    t = time.perf_counter()
    scorer = load(model_path, max_order=order)
    echo(f"loaded {model_path}: order {scorer.order}, {len(scorer.vocab)} words "
         f"({time.perf_counter() - t:.2f} s)")
    return scorer


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


def _progress(total, label, unit):
    """A progress bar for inputs worth one (unknown size or over 4 MB)."""
    if total is not None and total < (4 << 20):
        return _NoBar()
    return Progress(total, label, unit=unit)


def _check_order(order):
    from ..ngram.build import MAX_ORDER
    if order is not None and not 1 <= order <= MAX_ORDER:
        raise NlpkitError(f"--order must be from 1 to {MAX_ORDER}; got {order}")


def _order_option(f):
    return click.option("--order", "-n", "order", type=int, default=3, show_default=True,
                        help="N-gram order (1-16).")(f)


@ngram.command("count")
@click.argument("corpus")
@click.option("-o", "--output", required=True, help="Count file to write (SRILM format; .gz by name).")
@_order_option
@click.option("--vocab", "vocab_file", default=None, help="Closed vocabulary (one word a line).")
def count_cmd(corpus, output, order, vocab_file):
    """Count the n-grams of CORPUS as SRILM's ngram-count -write does."""
    from ..ngram.build import count_ngrams, write_counts
    _check_order(order)
    _check_input(corpus)
    with _progress(_size(corpus), "counting", unit="B") as bar:
        counts = count_ngrams(corpus, order, vocab_file=vocab_file, device=settings().device,
                              progress=bar.update)
    write_counts(counts, output)
    echo(f"wrote {output}")


def _gt_options(f):
    for n in range(_MAX_GT_ORDER, 0, -1):
        f = click.option(f"--gt{n}max", f"gt{n}max", type=int, default=None, hidden=n > 3,
                         help=f"Good-Turing upper count for order {n} (SRILM -gt{n}max).")(f)
        f = click.option(f"--gt{n}min", f"gt{n}min", type=int, default=None, hidden=n > 3,
                         help=f"Count cut-off for order {n} (SRILM -gt{n}min).")(f)
    f = click.option("--gtmin", "gtmin", multiple=True, metavar="N=COUNT",
                     help="Cut-off for order N (repeatable; same as --gtNmin).")(f)
    f = click.option("--gtmax", "gtmax", multiple=True, metavar="N=COUNT",
                     help="Good-Turing upper count for order N (repeatable).")(f)
    return f


def _gt_dict(kw, kind, pairs):
    out = {}
    for n in range(1, _MAX_GT_ORDER + 1):
        v = kw.pop(f"gt{n}{kind}")
        if v is not None:
            out[n] = v
    for p in pairs:
        try:
            n, v = p.split("=")
            out[int(n)] = int(v)
        except ValueError:
            raise NlpkitError(f"--gt{kind} expects N=COUNT (e.g. --gt{kind} 3=2); got {p!r}") from None
    for n, v in out.items():
        if n < 1 or v < 0:
            raise NlpkitError(f"--gt{n}{kind}: order must be >= 1 and count >= 0; got {n}={v}")
    return out or None


@ngram.command("build")
@click.argument("corpus", required=False)
@click.option("-o", "--output", required=True, help="Model to write: .arpa, .arpa.gz or .nlpkit.")
@_order_option
@click.option("--smoothing", type=click.Choice(["katz"]), default="katz", show_default=True,
              help="Good-Turing discounting with Katz back-off (SRILM's default).")
@_gt_options
@click.option("--unk", is_flag=True, help="Open vocabulary: model <unk> (SRILM -unk).")
@click.option("--vocab", "vocab_file", default=None, help="Closed vocabulary file (SRILM -vocab).")
@click.option("--counts", "counts_file", default=None, help="Estimate from this count file instead of CORPUS.")
def build_cmd(corpus, output, order, smoothing, unk, vocab_file, counts_file, gtmin, gtmax, **gt):
    """Build an n-gram model from CORPUS, as SRILM's ngram-count -lm does by default."""
    from ..ngram.binary import model_kind, save
    from ..ngram.build import build_model
    model_kind(output)  # fail on an unknown suffix before the work
    _check_order(order)
    if (corpus is None) == (counts_file is None):
        raise NlpkitError("give a CORPUS or --counts COUNTS (one of them)")
    for p in (corpus, counts_file, vocab_file):
        if p is not None:
            _check_input(p)
    gt_min, gt_max = _gt_dict(gt, "min", gtmin), _gt_dict(gt, "max", gtmax)
    t = time.perf_counter()
    with _progress(_size(corpus) if corpus else 0, "counting", unit="B") as bar:
        model = build_model(corpus, order, gt_min=gt_min, gt_max=gt_max, unk=unk,
                            vocab_file=vocab_file, counts=counts_file, device=settings().device,
                            progress=bar.update if corpus else None)
    save(model, output)
    counts = ", ".join(f"{n + 1}-grams {c}" for n, c in enumerate(model.counts()))
    echo(f"wrote {output} ({counts}; {time.perf_counter() - t:.2f} s)")


def _blocks(lines, size=_BLOCK):
    block = []
    for line in lines:
        block.append(line)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


@ngram.command("score")
@click.argument("model")
@click.argument("text")
@click.option("--order", type=int, default=None, help="Use n-grams up to this order only.")
@click.option("--no-bos", is_flag=True, help="Do not start each line with <s>.")
@click.option("--no-eos", is_flag=True, help="Do not end each line with </s>.")
def score_cmd(model, text, order, no_bos, no_eos):
    """Print the log10 probability of each line of TEXT (KenLM's score())."""
    from ..text import iter_lines
    _check_input(text)
    _check_order(order)
    scorer = _load(model, order)
    n_lines = n_tokens = n_oov = 0
    total = 0.0
    t = time.perf_counter()
    with _progress(_size(text), "scoring", unit="B") as bar:
        for block in _blocks(iter_lines(text)):
            ids, offsets, oov = scorer.encode(block)
            tot, _, _ = scorer.sentence_scores(ids, offsets, bos=not no_bos, eos=not no_eos)
            click.echo("\n".join(f"{x:.6f}" for x in tot.tolist()))
            n_lines += len(block)
            n_tokens += int(ids.shape[0])
            n_oov += int(oov.sum())
            total += float(tot.sum())
            bar.update(sum(len(line) + 1 for line in block))
    echo(f"{n_lines} lines, {n_tokens} words, {n_oov} OOVs, total log10 prob {total:.6f} "
         f"({time.perf_counter() - t:.2f} s)")


@ngram.command("ppl")
@click.argument("model")
@click.argument("text")
@click.option("--order", type=int, default=None,
              help="Use n-grams up to this order only (SRILM ngram -order).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def ppl_cmd(model, text, order, as_json):
    """Perplexity of TEXT, as SRILM's ngram -ppl reports it."""
    from ..text import iter_lines
    _check_input(text)
    _check_order(order)
    scorer = _load(model, order)
    stats = scorer.perplexity_stats(iter_lines(text))
    if as_json:
        d = stats.as_dict()
        d = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
        click.echo(json.dumps(d))
    else:
        click.echo(stats.srilm_lines(text))


@ngram.command("info")
@click.argument("model")
def info_cmd(model):
    """Order, n-gram counts and vocabulary of MODEL."""
    from ..ngram.binary import is_binary
    scorer = _load(model)
    m = scorer.model
    click.echo(f"model: {model}")
    click.echo(f"format: {'nlpkit binary' if is_binary(model) else 'ARPA'}")
    click.echo(f"order: {m.order}")
    for n, c in enumerate(m.counts(), 1):
        click.echo(f"ngram {n}={c}")
    click.echo(f"vocabulary: {len(m.vocab)} words")
    click.echo(f"<unk> modelled: {'yes' if scorer.has_unk else 'no (closed vocabulary)'}")
    for k, v in sorted(m.meta.items()):
        if k not in ("format",):
            click.echo(f"{k}: {v}")


@ngram.command("generate")
@click.argument("model")
@click.option("-n", "count", type=click.IntRange(min=0), default=5, show_default=True,
              help="Number of sentences.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-len", type=click.IntRange(min=1), default=100, show_default=True,
              help="Stop a sentence after this many words.")
def generate_cmd(model, count, seed, max_len):
    """Sample sentences from MODEL."""
    scorer = _load(model)
    for s in scorer.sample(count, seed=seed, max_len=max_len):
        click.echo(s)


@ngram.command("convert")
@click.argument("model")
@click.option("-o", "--output", required=True, help="Model to write: .arpa, .arpa.gz or .nlpkit.")
def convert_cmd(model, output):
    """Convert MODEL between ARPA and nlpkit's binary format."""
    from ..ngram.binary import model_kind, save
    model_kind(output)
    scorer = _load(model)
    save(scorer, output)
    echo(f"wrote {output}")
