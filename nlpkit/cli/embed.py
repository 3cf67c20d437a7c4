"""``nlpkit embed``: train word vectors, query them, evaluate them."""
from __future__ import annotations

import click

from ..errors import NlpkitError
from .common import Progress, echo, settings


@click.group(name="embed")
def embed():
    """Word embeddings: word2vec (SGNS, CBOW) and fastText."""


class _LossProgress(Progress):
    """The progress bar with the current mean loss beside the rate."""

    loss = float("nan")

    def _rate(self, _item=None):
        return f"{super()._rate()}  loss {self.loss:.4f}"


@embed.command("train")
@click.argument("corpus")
@click.option("-o", "--output", required=True, help="Vectors file to write.")
@click.option("--model", type=click.Choice(["sgns", "cbow", "fasttext"]), default="sgns",
              show_default=True)
@click.option("--dim", type=int, default=100, show_default=True)
@click.option("--window", type=int, default=5, show_default=True)
@click.option("--negative", type=int, default=5, show_default=True)
@click.option("--min-count", type=int, default=5, show_default=True)
@click.option("--sample", type=float, default=None,
              help="Subsampling threshold [1e-3; fasttext 1e-4].")
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--alpha", type=float, default=None,
              help="Initial learning rate [sgns 0.025, cbow 0.05, fasttext 0.05].")
@click.option("--minn", type=int, default=3, show_default=True, help="fasttext: shortest n-gram.")
@click.option("--maxn", type=int, default=6, show_default=True, help="fasttext: longest n-gram.")
@click.option("--bucket", type=int, default=2_000_000, show_default=True,
              help="fasttext: n-gram hash rows.")
@click.option("--format", "fmt", type=click.Choice(["word2vec", "word2vec-binary", "fasttext-vec",
                                                    "fasttext-bin"]),
              default="word2vec", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--shared-negatives/--per-pair-negatives", default=True, show_default=True,
              help="sgns: share each centre word's negatives across its window (about 3x "
                   "faster) or draw them per pair as word2vec.c does.")
def train_cmd(corpus, output, model, dim, window, negative, min_count, sample, epochs, alpha, minn,
              maxn, bucket, fmt, seed, shared_negatives):
    """Train word vectors on CORPUS (one sentence per line, whitespace tokens)."""
    from ..embed import FastText, Word2Vec
    s = settings()
    common = dict(vector_size=dim, window=window, negative=negative, min_count=min_count,
                  epochs=epochs, seed=seed, device=s.device)
    if model == "fasttext":
        est = FastText(minn=minn, maxn=maxn, bucket=bucket,
                       sample=1e-4 if sample is None else sample,
                       alpha=0.05 if alpha is None else alpha, **common)
    else:
        if fmt == "fasttext-bin":
            raise NlpkitError("--format fasttext-bin needs --model fasttext")
        est = Word2Vec(model=model, sample=1e-3 if sample is None else sample, alpha=alpha,
                       shared_negatives=shared_negatives, **common)
    est._check()
    echo(f"reading {corpus}")
    bar = None

    def progress(done, total, loss):
        nonlocal bar
        if bar is None:
            bar = _LossProgress(total, f"training {model}", unit="words").__enter__()
        bar.loss = loss
        bar.update(done - bar.done)

    try:
        est.fit(corpus, callback=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    st = est.train_stats_
    echo(f"{len(est.wv)} words x {dim}; {st['words'] / max(st['seconds'], 1e-9):,.0f} words/s; "
         f"final loss {st['loss']:.4f}")
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
