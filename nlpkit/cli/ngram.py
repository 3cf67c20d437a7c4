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
from .common import CommandGroup, Progress, echo, settings

_MAX_GT_ORDER = 9
_BLOCK = 200_000  # lines scored per kernel call


@click.group(name="ngram", cls=CommandGroup)
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
    from ..ngram.formats.binary import load
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
    from ..ngram.options import MAX_ORDER
    if order is not None and not 1 <= order <= MAX_ORDER:
        raise NlpkitError(f"--order must be from 1 to {MAX_ORDER}; got {order}")


def _order_option(f):
    return click.option("--order", "-n", "order", type=int, default=3, show_default=True,
                        help="N-gram order (1-16).")(f)


def _memory_options(f):
    f = click.option("--temp-dir", "temp_dir", default=None, metavar="DIR",
                     help="Where sorted runs go when the counts outgrow --memory "
                          "(default: the system's temporary directory).")(f)
    return click.option("--memory", "memory", default=None, metavar="SIZE",
                        help="Memory the build may use beyond the interpreter: 500M, 4G, 25% "
                             "(of RAM). Default: half the available memory; what does not "
                             "fit is sorted on disk.")(f)


def _scheduler_option(f):
    return click.option("--scheduler", "scheduler", default=None, metavar="ADDRESS",
                        help="Count (and, for an ARPA output, estimate) on a Dask cluster: a "
                             "running scheduler (tcp://host:8786) or local:N (N local worker "
                             "processes). CORPUS is then a path or a quoted glob ('data/*.txt') "
                             "that the workers can read (install nlpkit[distributed]; "
                             "NLPKIT_DASK_TIMEOUT: seconds to wait for the scheduler, default "
                             "10). --memory is this process's; a worker task gets it divided by "
                             "the worker threads of the most crowded host.")(f)


def _corpus_paths(corpus, scheduler):
    """CORPUS as the build reads it: with a scheduler, a path or a glob that the workers
    read (and look for: this machine may not see it)."""
    if scheduler is None:
        _check_input(corpus)
    return corpus


@ngram.command("count")
@click.argument("corpus")
@click.option("-o", "--output", required=True, help="Count file to write (SRILM format; .gz by name).")
@_order_option
@click.option("--vocab", "vocab_file", default=None, help="Closed vocabulary (one word a line).")
@_memory_options
@_scheduler_option
def count_cmd(corpus, output, order, vocab_file, memory, temp_dir, scheduler):
    """Count the n-grams of CORPUS as SRILM's ngram-count -write does."""
    from ..ngram import count
    _check_order(order)
    source = _corpus_paths(corpus, scheduler)
    if vocab_file is not None:
        _check_input(vocab_file)
    with _progress(_size(corpus), "counting", unit="B") as bar:
        count(source, order, vocab=vocab_file, memory=memory, temp_dir=temp_dir, output=output,
              device=settings().device, progress=bar.update, scheduler=scheduler)
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
@click.option("--smoothing", type=click.Choice(["katz", "kn", "stupid"]), default="katz",
              show_default=True,
              help="katz: Good-Turing + Katz back-off (SRILM's default); kn: interpolated "
                   "modified Kneser-Ney exactly as KenLM's lmplz; stupid: stupid back-off "
                   "(Brants et al. 2007), scores that are not probabilities (unnormalised).")
@click.option("--alpha", type=float, default=None, metavar="A",
              help="stupid: the back-off factor, in (0, 1]  [default: 0.4]")
@click.option("--discount-fallback", default=None, metavar="'D1 D2 D3'",
              help="kn: discounts to use where the estimate is bad (lmplz --discount_fallback; "
                   "'default' for 0.5 1 1.5).")
@click.option("--interpolate-unigrams/--no-interpolate-unigrams", default=True, show_default=True,
              help="kn: interpolate unigrams with the uniform distribution (lmplz's default).")
@click.option("--prune", "prune_counts", default=None, metavar="'T1 T2 ...'",
              help="kn: drop n-grams of order n >= 2 with raw count <= Tn (lmplz --prune).")
@click.option("--limit-vocab", "limit_vocab", default=None,
              help="Keep only n-grams made of this file's words (and <s> </s> <unk>).")
@_gt_options
@click.option("--unk", is_flag=True, help="katz: open vocabulary, model <unk> (SRILM -unk).")
@click.option("--vocab", "vocab_file", default=None,
              help="katz, stupid: closed vocabulary file (SRILM -vocab).")
@click.option("--counts", "counts_file", default=None,
              help="katz, stupid: estimate from this count file instead of CORPUS.")
@_memory_options
@_scheduler_option
def build_cmd(corpus, output, order, smoothing, alpha, discount_fallback, interpolate_unigrams,
              prune_counts, limit_vocab, unk, vocab_file, counts_file, memory, temp_dir, gtmin,
              gtmax, scheduler, **gt):
    """Build an n-gram model from CORPUS, as SRILM's ngram-count -lm does by default
    (or, with --smoothing kn, as KenLM's lmplz does; --smoothing stupid writes stupid
    back-off scores, which are not probabilities)."""
    from ..ngram import build
    from ..ngram.formats.binary import model_kind
    model_kind(output)  # fail on an unknown suffix before the work
    _check_order(order)
    if corpus is None and counts_file is None:
        raise NlpkitError("give a CORPUS" + (" or --counts COUNTS" if smoothing != "kn" else ""))
    source = _corpus_paths(corpus, scheduler) if corpus is not None else None
    for p in (counts_file, vocab_file, limit_vocab):
        if p is not None:
            _check_input(p)
    if discount_fallback is not None:
        discount_fallback = (True if discount_fallback.strip() in ("", "default")
                             else _numbers(discount_fallback, "--discount-fallback"))
    t = time.perf_counter()
    with _progress(_size(corpus) if corpus else 0, "reading", unit="B") as bar:
        counts = build(source, order, smoothing, gt_min=_gt_dict(gt, "min", gtmin),
                       gt_max=_gt_dict(gt, "max", gtmax), unk=unk, vocab=vocab_file,
                       counts=counts_file, discount_fallback=discount_fallback,
                       interpolate_unigrams=interpolate_unigrams, alpha=alpha,
                       prune=_numbers(prune_counts, "--prune", int) if prune_counts else None,
                       limit_vocab=limit_vocab, memory=memory, temp_dir=temp_dir, output=output,
                       device=settings().device, progress=bar.update if corpus else None,
                       scheduler=scheduler)
    _wrote(output, counts, t)


def _finish(model, output, t):
    from ..ngram.formats.binary import save
    save(model, output)
    _wrote(output, model.counts(), t)


def _wrote(output, counts, t):
    orders = ", ".join(f"{n + 1}-grams {c}" for n, c in enumerate(counts))
    echo(f"wrote {output} ({orders}; {time.perf_counter() - t:.2f} s)")


def _numbers(text, what, kind=float):
    try:
        return [kind(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise NlpkitError(f"{what} expects numbers separated by spaces; got {text!r}") from None


@ngram.command("prune")
@click.argument("model")
@click.option("-o", "--output", required=True, help="Model to write: .arpa, .arpa.gz or .nlpkit.")
@click.option("--threshold", type=click.FloatRange(min=0), required=True,
              help="Drop n-grams whose removal changes perplexity by less than this (e.g. 1e-8).")
@click.option("--min-order", type=click.IntRange(min=2), default=2, show_default=True,
              help="Prune n-grams of this order and above (SRILM -minprune).")
def prune_cmd(model, output, threshold, min_order):
    """Relative-entropy pruning of MODEL (Stolcke 1998; SRILM ngram -prune)."""
    from ..ngram.formats.binary import model_kind
    from ..ngram.editing.prune import prune_entropy
    model_kind(output)
    t = time.perf_counter()
    before = _load(model).model
    pruned = prune_entropy(before, threshold, min_order=min_order)
    _finish(pruned, output, t)


def _read_models(paths):
    return [_load(p).model for p in paths]


@ngram.command("mix")
@click.argument("models", nargs=-1, required=True)
@click.option("--lambda", "lambdas", required=True, metavar="'L1 L2 ...'",
              help="Mixture weights, one per model (or one fewer: the last takes the rest).")
@click.option("-o", "--output", required=True, help="Model to write: .arpa, .arpa.gz or .nlpkit.")
def mix_cmd(models, lambdas, output):
    """Static mixture of MODELS as one back-off model (SRILM -mix-lm -write-lm)."""
    from ..ngram.formats.binary import model_kind
    from ..ngram.editing.mix import check_weights, mix_static
    model_kind(output)
    t = time.perf_counter()
    loaded = _read_models(models)
    weights = check_weights(loaded, _numbers(lambdas, "--lambda"))
    _finish(mix_static(loaded, weights), output, t)


@ngram.command("best-mix")
@click.argument("models", nargs=-1, required=True)
@click.option("--dev", "dev", required=True, help="Held-out text to fit the weights on.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def best_mix_cmd(models, dev, as_json):
    """Mixture weights that minimise the perplexity of --dev text (SRILM compute-best-mix, EM)."""
    from ..ngram.editing.mix import best_mix
    from ..text import iter_lines
    _check_input(dev)
    weights, summary = best_mix(_read_models(models), iter_lines(dev))
    if as_json:
        click.echo(json.dumps({"lambdas": weights.tolist(), **summary}))
        return
    click.echo("best lambdas: " + " ".join(f"{w:.6f}" for w in weights))
    click.echo(f"ppl= {summary['ppl']:.7g} ppl1= {summary['ppl1']:.7g} on {dev}")


@ngram.command("filter")
@click.argument("model")
@click.option("--vocab", "vocab_file", required=True, help="Word list to keep (first token per line).")
@click.option("-o", "--output", required=True, help="Model to write: .arpa, .arpa.gz or .nlpkit.")
def filter_cmd(model, vocab_file, output):
    """Keep only the n-grams of MODEL made of VOCAB's words (KenLM filter)."""
    from ..ngram.editing.filter import filter_vocab
    from ..ngram.formats.binary import model_kind
    from ..ngram.reading.vocab_file import read_vocab_file
    model_kind(output)
    _check_input(vocab_file)
    t = time.perf_counter()
    _finish(filter_vocab(_load(model).model, read_vocab_file(vocab_file)), output, t)


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
@click.option("--mix", "mix_models", multiple=True, help="Interpolate with this model too (repeatable; "
              "SRILM -mix-lm).")
@click.option("--lambda", "lambdas", default=None, metavar="'L1 ...'",
              help="With --mix: weights of MODEL and the mixed models (one fewer is enough).")
def ppl_cmd(model, text, order, as_json, mix_models, lambdas):
    """Perplexity of TEXT, as SRILM's ngram -ppl reports it."""
    from ..text import iter_lines
    _check_input(text)
    _check_order(order)
    if mix_models:
        return _mixed_ppl([model, *mix_models], text, lambdas, as_json)
    if lambdas is not None:
        raise NlpkitError("--lambda goes with --mix")
    scorer = _load(model, order)
    _warn_unnormalised(model, scorer.model)
    stats = scorer.perplexity_stats(iter_lines(text))
    if as_json:
        d = stats.as_dict()
        d = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
        click.echo(json.dumps(d))
    else:
        click.echo(stats.srilm_lines(text))


def _warn_unnormalised(path, model):
    from ..ngram.formats.preamble import is_unnormalised
    if is_unnormalised(model.meta):
        echo(f"warning: {path} holds {model.meta['smoothing']} back-off scores, not "
             "probabilities: the 'perplexity' below is not a perplexity (compare such models "
             "with each other only)")


@ngram.command("info")
@click.argument("model")
def info_cmd(model):
    """Order, n-gram counts and vocabulary of MODEL."""
    from ..ngram.formats.binary import is_binary
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
    from ..ngram.formats.binary import model_kind, save
    model_kind(output)
    scorer = _load(model)
    save(scorer, output)
    echo(f"wrote {output}")


def _mixed_ppl(paths, text, lambdas, as_json):
    from ..ngram.editing.mix import check_weights, mix_perplexity
    from ..text import iter_lines
    models = _read_models(paths)
    weights = check_weights(models, _numbers(lambdas, "--lambda") if lambdas else None)
    d = mix_perplexity(models, weights, iter_lines(text))
    if as_json:
        click.echo(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                               for k, v in d.items()}))
        return
    click.echo(f"file {text}: {d['sentences']} sentences, {d['words']} words, {d['oovs']} OOVs\n"
               f"{d['zeroprobs']} zeroprobs, logprob= {d['logprob']:.7g} ppl= {d['ppl']:.7g} "
               f"ppl1= {d['ppl1']:.7g}")
