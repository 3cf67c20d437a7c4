"""``nlpkit embed``: train word vectors, query them, evaluate them."""
from __future__ import annotations

import click

from ..errors import NlpkitError
from ..params import validate_params
from .common import CommandGroup, Progress, echo, refuse_options, settings


@click.group(name="embed", cls=CommandGroup)
def embed():
    """Word embeddings: word2vec (SGNS, CBOW), fastText, PPMI/SVD and GloVe."""


class _LossProgress(Progress):
    """The progress bar with the current mean loss beside the rate."""

    loss = float("nan")

    def _rate(self, _item=None):
        return f"{super()._rate()}  loss {self.loss:.4f}"


# the options that some models only read (the others: every model)
_PREDICTIVE = {"negative", "epochs", "alpha", "min_alpha", "ns_exponent", "sample"}
_COUNTED = {"max_vocab", "memory", "power"}
_USES = {
    "sgns": _PREDICTIVE | {"shared_negatives"},
    "cbow": _PREDICTIVE,
    "fasttext": _PREDICTIVE | {"minn", "maxn", "bucket"},
    "ppmi": _COUNTED | {"sample", "eig", "shift", "dynamic_window", "context_vectors", "svd"},
    "glove": _COUNTED | {"epochs", "alpha", "x_max", "grad_clip"},
}


@embed.command("train")
@click.argument("corpus")
@click.option("-o", "--output", required=True, help="Vectors file to write.")
@click.option("--model", type=click.Choice(["sgns", "cbow", "fasttext", "ppmi", "glove"]),
              default="sgns", show_default=True)
@click.option("--dim", type=int, default=100, show_default=True)
@click.option("--window", type=int, default=None, help="Words either side [glove 15; others 5].")
@click.option("--negative", type=int, default=5, show_default=True)
@click.option("--min-count", type=int, default=5, show_default=True)
@click.option("--sample", type=float, default=None,
              help="Subsampling threshold [1e-3; fasttext 1e-4; ppmi 0: none].")
@click.option("--epochs", type=int, default=None, help="Passes over the data [glove 25; others 5].")
@click.option("--alpha", type=float, default=None,
              help="Initial learning rate [sgns 0.025, cbow 0.05, fasttext 0.05, glove 0.05].")
@click.option("--min-alpha", type=float, default=None,
              help="sgns, cbow, fasttext: the learning rate at the end [1e-4; fasttext 0].")
@click.option("--ns-exponent", type=float, default=None,
              help="sgns, cbow, fasttext: power of the counts in the negative-sampling "
                   "distribution [0.75; fasttext 0.5].")
@click.option("--minn", type=int, default=3, show_default=True, help="fasttext: shortest n-gram.")
@click.option("--maxn", type=int, default=6, show_default=True, help="fasttext: longest n-gram.")
@click.option("--bucket", type=int, default=2_000_000, show_default=True,
              help="fasttext: n-gram hash rows.")
@click.option("--power", type=float, default=0.75, show_default=True,
              help="glove: exponent of the weighting function; ppmi: context-distribution "
                   "smoothing.")
@click.option("--x-max", type=float, default=100.0, show_default=True,
              help="glove: counts above this weigh 1.")
@click.option("--grad-clip", type=float, default=100.0, show_default=True,
              help="glove: clip each gradient component to this.")
@click.option("--eig", type=float, default=0.0, show_default=True,
              help="ppmi: vectors are U * S^eig of the SVD.")
@click.option("--shift", type=float, default=1.0, show_default=True,
              help="ppmi: subtract log(shift) from PMI (shifted PPMI).")
@click.option("--dynamic-window/--no-dynamic-window", default=True, show_default=True,
              help="ppmi: weigh a context at distance d by (window - d + 1) / window.")
@click.option("--context-vectors/--no-context-vectors", default=False, show_default=True,
              help="ppmi: add the (normalised) context vectors.")
@click.option("--svd", type=click.Choice(["arpack", "randomized"]), default="arpack",
              show_default=True, help="ppmi: truncated SVD solver.")
@click.option("--max-vocab", type=int, default=None, help="ppmi, glove: keep the most frequent.")
@click.option("--memory", type=float, default=2.0, show_default=True,
              help="ppmi, glove: GB for co-occurrence counting (beyond: sorted runs on disk).")
@click.option("--format", "fmt", type=click.Choice(["word2vec", "word2vec-binary", "fasttext-vec",
                                                    "fasttext-bin", "glove"]),
              default="word2vec", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--shared-negatives/--per-pair-negatives", default=True, show_default=True,
              help="sgns: share each centre word's negatives across its window (about 3x "
                   "faster) or draw them per pair as word2vec.c does.")
def train_cmd(corpus, output, model, dim, window, negative, min_count, sample, epochs, alpha,
              min_alpha, ns_exponent, minn, maxn, bucket, power, x_max, grad_clip, eig, shift,
              dynamic_window, context_vectors, svd, max_vocab, memory, fmt, seed,
              shared_negatives):
    """Train word vectors on CORPUS (one sentence per line, whitespace tokens)."""
    s = settings()
    refuse_options(sorted(set().union(*_USES.values()) - _USES[model]), f"with --model {model}")
    if fmt == "fasttext-bin" and model != "fasttext":
        raise NlpkitError("--format fasttext-bin needs --model fasttext")
    window = window if window is not None else (15 if model == "glove" else 5)
    epochs = epochs if epochs is not None else (25 if model == "glove" else 5)
    counted = dict(window=window, min_count=min_count, max_vocab=max_vocab, memory=memory,
                   seed=seed, n_jobs=s.threads)
    common = dict(vector_size=dim, window=window, negative=negative, min_count=min_count,
                  epochs=epochs, seed=seed, device=s.device, n_jobs=s.threads)
    # not given: the model's own default (they differ between word2vec and fastText)
    common.update({k: v for k, v in (("min_alpha", min_alpha), ("ns_exponent", ns_exponent))
                   if v is not None})
    # only the estimator module the model needs: word2vec and fastText do not load scipy.sparse
    if model in ("ppmi", "glove"):
        from ..embed.count_estimators import PPMI, GloVe
    else:
        from ..embed.estimators import FastText, Word2Vec
    if model == "ppmi":
        est = PPMI(dim=dim, alpha=power, shift=shift, eig=eig, dynamic_window=dynamic_window,
                   sample=sample or 0.0, add_context=context_vectors, solver=svd, **counted)
    elif model == "glove":
        est = GloVe(vector_size=dim, epochs=epochs, x_max=x_max, alpha=power, grad_clip=grad_clip,
                    learning_rate=0.05 if alpha is None else alpha, **counted)
    elif model == "fasttext":
        est = FastText(minn=minn, maxn=maxn, bucket=bucket,
                       sample=1e-4 if sample is None else sample,
                       alpha=0.05 if alpha is None else alpha, **common)
    else:
        est = Word2Vec(model=model, sample=1e-3 if sample is None else sample, alpha=alpha,
                       shared_negatives=shared_negatives, **common)
    validate_params(est)  # before the corpus is read
    echo(f"reading {corpus}")
    bar = None

    unit = "epochs" if model == "glove" else "words"
    what = "counting co-occurrences" if model == "ppmi" else f"training {model}"

    def progress(done, total, loss):
        nonlocal bar
        if bar is None:
            kind = Progress if model == "ppmi" else _LossProgress   # PPMI has no loss
            bar = kind(total, what, unit=unit).__enter__()
        bar.loss = loss
        bar.update(done - bar.done)

    try:
        est.fit(corpus, callback=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    st = est.train_stats_
    if model == "ppmi":
        echo(f"{len(est.wv)} words x {dim}; {est.count_stats_['cells']:,} co-occurring pairs, "
             f"{st['ppmi_cells']:,} positive PMI cells")
    elif model == "glove":
        echo(f"{len(est.wv)} words x {dim}; {st['records']:,} co-occurring pairs; "
             f"final cost {st['loss']:.4f}")
    else:
        echo(f"{len(est.wv)} words x {dim}; {st['words'] / max(st['seconds'], 1e-9):,.0f} "
             f"words/s; final loss {st['loss']:.4f}")
    est.save(output, fmt)
    echo(f"wrote {output} ({fmt})")


def _vectors_argument(f):
    """VECTORS and the ``--encoding`` of a fastText .bin's words (gensim's ``encoding=``)."""
    f = click.option("--encoding", default="utf-8", show_default=True,
                     help="Encoding of the words in a fastText .bin file.")(f)
    return click.argument("vectors")(f)


def _load(path, encoding="utf-8"):
    import codecs

    from ..embed import load
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise NlpkitError(f"--encoding: unknown encoding {encoding!r}") from None
    return load(path, encoding=encoding)


def _query(fn, *args, **kw):
    """Run a vectors query; an unknown word is a one-line error."""
    from ..embed import UnknownWordError
    try:
        return fn(*args, **kw)
    except UnknownWordError as exc:
        raise NlpkitError(f"{exc}") from None


@embed.command("similar")
@_vectors_argument
@click.argument("words", nargs=-1, required=True)
@click.option("--topn", type=int, default=10, show_default=True)
def similar_cmd(vectors, encoding, words, topn):
    """Nearest neighbours of each WORD."""
    kv = _load(vectors, encoding)
    for w in words:
        click.echo(w)
        for other, score in _query(kv.most_similar, w, topn=topn):
            click.echo(f"  {other}\t{score:.4f}")


@embed.command("analogy")
@_vectors_argument
@click.argument("a")
@click.argument("b")
@click.argument("c")
@click.option("--topn", type=int, default=5, show_default=True)
def analogy_cmd(vectors, encoding, a, b, c, topn):
    """A is to B as C is to ?  (3CosAdd: nearest to B - A + C)."""
    kv = _load(vectors, encoding)
    for other, score in _query(kv.most_similar, positive=[b, c], negative=[a], topn=topn):
        click.echo(f"{other}\t{score:.4f}")


@embed.command("eval")
@_vectors_argument
@click.option("--pairs", multiple=True, help="word-pair similarity file (wordsim353.tsv format).")
@click.option("--analogies", default=None, help="analogy file (questions-words.txt format).")
@click.option("--restrict-vocab", type=int, default=30000, show_default=True,
              help="analogies: only the most frequent words.")
def eval_cmd(vectors, encoding, pairs, analogies, restrict_vocab):
    """Word-pair Spearman and analogy accuracy."""
    if not pairs and not analogies:
        raise NlpkitError("give --pairs FILE and/or --analogies FILE")
    kv = _load(vectors, encoding)
    for p in pairs:
        pearson, spearman, oov = kv.evaluate_word_pairs(p)
        click.echo(f"{p}\tspearman {spearman:.4f}\tpearson {pearson:.4f}\toov {oov:.1f}%")
    if analogies:
        acc, sections = kv.evaluate_word_analogies(analogies, restrict_vocab=restrict_vocab)
        for s in sections:
            n = s["correct"] + s["incorrect"]
            click.echo(f"{s['section']}\t{s['correct']}/{n}"
                       + (f"\t{s['correct'] / n:.4f}" if n else ""))
        click.echo(f"{analogies}\taccuracy {acc:.4f}")


@embed.command("plot")
@_vectors_argument
@click.argument("words", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Image to write (.png, .pdf, .svg).")
@click.option("--neighbours", type=int, default=5, show_default=True,
              help="Nearest neighbours added around each word.")
def plot_cmd(vectors, encoding, words, output, neighbours):
    """2-D PCA map of WORDs and their nearest neighbours (needs matplotlib: nlpkit[plot])."""
    import io

    import numpy as np
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NlpkitError("embed plot needs matplotlib (pip install 'nlpkit[plot]')") from None
    from ..text import atomic_write
    kv = _load(vectors, encoding)
    shown, colour = [], []
    for k, w in enumerate(words):
        near = _query(kv.most_similar, w, topn=neighbours) if neighbours > 0 else []
        for x in [w] + [n for n, _ in near]:
            if x not in shown:
                shown.append(x)
                colour.append(k)
    X = np.array([kv.get_vector(x, norm=True) for x in shown], np.float64)
    X -= X.mean(axis=0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    xy = X @ vt[:2].T if vt.shape[0] >= 2 else np.c_[X @ vt[:1].T, np.zeros(len(shown))]
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="tab10", s=18)
    for (x, y), w in zip(xy, shown):
        ax.annotate(w, (x, y), fontsize=10 if w in words else 8,
                    fontweight="bold" if w in words else "normal")
    ax.set_title("PCA of word vectors")
    buf = io.BytesIO()
    fmt = output.rsplit(".", 1)[-1].lower() if "." in output else "png"
    fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")
    plt.close(fig)
    with atomic_write(output, "wb", compress="") as fh:
        fh.write(buf.getvalue())
    echo(f"wrote {output} ({len(shown)} words)")
