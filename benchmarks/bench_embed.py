"""Word-embedding training speed, memory and quality: nlpkit beside gensim, the fastText tool and
Stanford GloVe, on KJV and on real technical English.

Every trainer runs as a whole process (text file in, vectors file out) on the same corpus with
the same 2 threads, timed by wall clock with its peak RSS (GNU time).  Corpora (``--corpora``):

* ``kjv``: the bundled KJV train split repeated ``--copies`` times (7: about 5.4M tokens, 13k
  word types);
* ``linuxdoc``: Debian's linux-doc-6.12 documentation as one tokenized sentence a line
  (``benchmarks/corpus_linuxdoc.py``; 3.09M tokens, 91k types; ``--linuxdoc PATH`` or
  ``$NLPKIT_LINUXDOC``, a file or the folder holding ``linuxdoc.txt`` as the other benchmarks
  take it, default /work/data/linuxdoc/linuxdoc.txt): a vocabulary whose tables do not fit in
  cache, as users meet.

Models and peers:

* SGNS and CBOW beside gensim; nlpkit's SGNS with negatives shared across each window (its
  default) and per pair (``nlpkit-pair``, as word2vec.c and gensim draw them);
* fastText skip-gram with subwords beside the fastText tool (the ``$FASTTEXT`` binary built from
  source, else the ``fasttext`` Python module);
* GloVe beside Stanford's tools (``$GLOVE_BIN_DIR``: vocab_count, cooccur, shuffle and glove run
  in one shell process, so their time and peak memory are the whole pipeline's, as nlpkit's);
* PPMI (nlpkit only; its quality is compared with GloVe's).

Settings: dim 100, min_count 5; word2vec/fastText: window 5, negative 5, sample 1e-3,
``--epochs`` (5); GloVe: ``--glove-window`` (10), ``--glove-epochs`` (15), x_max 100;
PPMI: GloVe's window (issue 20 compares the two at the same window, dim and epochs;
nlpkit's defaults otherwise).  Quality: WordSim353 and SimLex-999 Spearman and
questions-words analogy accuracy (gensim's test data, top 30k words; case-insensitive), every
trainer's vectors taken in one order, the corpus's words by descending count and ties by first
appearance (see ``in_order``: the peers write their own, and ties decided which words were the
top 30k).  KJV covers few of those words, so one run's figures move by a few hundredths
with the seed.
``--repeats N`` runs each N times with seeds 1..N: the median time, the mean quality.

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_embed.py
    ... --corpora linuxdoc --epochs 1          # issue 20's real-text comparison
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from common import kjv_repeated, run_measured

SETTINGS = {"dim": 100, "window": 5, "negative": 5, "sample": 1e-3, "epochs": 5, "min_count": 5}
GLOVE = {"window": 10, "epochs": 15, "x_max": 100}

GENSIM = """
import sys
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
m = Word2Vec(LineSentence(sys.argv[1]), vector_size={dim}, window={window}, negative={negative},
             sample={sample}, epochs={epochs}, min_count={min_count}, workers=2, sg={sg},
             alpha={alpha}, seed=int(sys.argv[3]))
m.wv.save_word2vec_format(sys.argv[2])
"""

FASTTEXT_MODULE = """
import sys, fasttext
m = fasttext.train_unsupervised(sys.argv[1], model="skipgram", dim={dim}, ws={window},
                                neg={negative}, t={sample}, epoch={epochs}, minCount={min_count},
                                minn=3, maxn=6, bucket=2000000, thread=2, verbose=0)
words = m.get_words()
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    fh.write(f"{{len(words)}} {{m.get_dimension()}}\\n")
    for w in words:
        fh.write(w + " " + " ".join("%.6g" % x for x in m.get_word_vector(w)) + "\\n")
"""

STANFORD = """set -e
B="$GLOVE_BIN_DIR"
W="$3/stanford"
mkdir -p "$W"
"$B/vocab_count" -min-count {min_count} -verbose 0 < "$1" > "$W/vocab.txt"
"$B/cooccur" -memory 2.0 -vocab-file "$W/vocab.txt" -verbose 0 -window-size {window} \\
    -overflow-file "$W/overflow" < "$1" > "$W/cooc.bin"
"$B/shuffle" -memory 2.0 -verbose 0 -seed "$4" -temp-file "$W/shuf" < "$W/cooc.bin" \\
    > "$W/cooc.shuf.bin"
rm "$W/cooc.bin"
"$B/glove" -save-file "$W/vectors" -threads 2 -input-file "$W/cooc.shuf.bin" -x-max {x_max} \\
    -iter {epochs} -vector-size {dim} -binary 0 -vocab-file "$W/vocab.txt" -verbose 0 -seed "$4"
mv "$W/vectors.txt" "$2"
rm -r "$W"
"""


def nlpkit_cmd(model, corpus, out, *extra):
    """The CLI command; the seed is appended by the caller (``--seed N``)."""
    s = SETTINGS
    cmd = [sys.executable, "-c", "from nlpkit.cli.main import main; main()", "--threads", "2",
           "--quiet", "embed", "train", corpus, "-o", out, "--model", model,
           "--dim", str(s["dim"]), "--min-count", str(s["min_count"])]
    if model in ("sgns", "cbow", "fasttext"):
        cmd += ["--window", str(s["window"]), "--negative", str(s["negative"]),
                "--sample", str(s["sample"]), "--epochs", str(s["epochs"])]
    if model == "cbow":
        cmd += ["--alpha", "0.05"]
    if model == "glove":
        cmd += ["--window", str(GLOVE["window"]), "--epochs", str(GLOVE["epochs"]),
                "--x-max", str(GLOVE["x_max"]), "--format", "glove"]
    if model == "ppmi":
        cmd += ["--window", str(GLOVE["window"]), "--format", "glove"]
    return cmd + list(extra)


def runs(corpus, tmp):
    """``(model, trainer, command(seed), output)`` for every run, peers after nlpkit."""
    s = SETTINGS
    out = os.path.join(tmp, "vectors.txt")
    yield "SGNS", "nlpkit", lambda r: nlpkit_cmd("sgns", corpus, out, "--seed", str(r)), out
    yield "SGNS", "nlpkit-pair", lambda r: nlpkit_cmd("sgns", corpus, out, "--per-pair-negatives",
                                                      "--seed", str(r)), out
    yield "SGNS", "gensim", lambda r: [sys.executable, "-c", GENSIM.format(sg=1, alpha=0.025, **s),
                                       corpus, out, str(r)], out
    yield "CBOW", "nlpkit", lambda r: nlpkit_cmd("cbow", corpus, out, "--seed", str(r)), out
    yield "CBOW", "gensim", lambda r: [sys.executable, "-c", GENSIM.format(sg=0, alpha=0.05, **s),
                                       corpus, out, str(r)], out
    yield "fastText", "nlpkit", lambda r: nlpkit_cmd("fasttext", corpus, out, "--seed", str(r)), out
    ft = os.environ.get("FASTTEXT")
    if ft:
        prefix = os.path.join(tmp, "ft")
        yield "fastText", "fastText tool", lambda r: [
            ft, "skipgram", "-input", corpus, "-output", prefix, "-dim", str(s["dim"]),
            "-ws", str(s["window"]), "-neg", str(s["negative"]), "-t", str(s["sample"]),
            "-epoch", str(s["epochs"]), "-minCount", str(s["min_count"]), "-minn", "3",
            "-maxn", "6", "-bucket", "2000000", "-thread", "2", "-verbose", "0",
            "-seed", str(r)], prefix + ".vec"
    else:
        yield "fastText", "fasttext module", lambda r: [
            sys.executable, "-c", FASTTEXT_MODULE.format(**s), corpus, out], out
    yield "GloVe", "nlpkit", lambda r: nlpkit_cmd("glove", corpus, out, "--seed", str(r)), out
    if os.environ.get("GLOVE_BIN_DIR"):
        script = STANFORD.format(min_count=s["min_count"], dim=s["dim"], **GLOVE)
        yield "GloVe", "Stanford GloVe", lambda r: ["bash", "-c", script, "glove", corpus, out,
                                                    tmp, str(r)], out
    yield "PPMI", "nlpkit", lambda r: nlpkit_cmd("ppmi", corpus, out, "--seed", str(r)), out


def corpus_order(path):
    """The corpus's words by descending count, ties by first appearance (word2vec's and
    gensim's vocabulary order): the one order every trainer's vectors are evaluated in."""
    counts = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            for w in line.split():
                counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=counts.__getitem__, reverse=True)  # (stable: ties keep order)


def in_order(kv, order):
    """``kv``'s rows in ``order`` (its other words after, in its own order).

    The analogy test answers among the first 30k rows and skips questions with a word
    outside them, so those rows must be the same words for every trainer.  Each writes its
    vocabulary in its own order, and on a corpus of many equal counts (linux-doc x2: every
    renamed word has its original's count) ties decide which words make the first 30k: the
    fastText tool's order among equal counts is arbitrary, nlpkit's and gensim's that of
    first appearance, so the two were asked different questions (and picked answers among
    different words)."""
    from nlpkit.embed import KeyedVectors
    index = kv.key_to_index
    rows = [index[w] for w in order if w in index]
    seen = set(rows)
    rows += [i for i in range(len(kv.index_to_key)) if i not in seen]
    return KeyedVectors([kv.index_to_key[i] for i in rows], kv.vectors[rows])


def quality(path, order=None):
    import gensim

    from nlpkit.embed import load
    data = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
    kv = load(path)
    if order is not None:
        kv = in_order(kv, order)
    _, ws353, oov = kv.evaluate_word_pairs(os.path.join(data, "wordsim353.tsv"))
    _, simlex, _ = kv.evaluate_word_pairs(os.path.join(data, "simlex999.txt"))
    acc, sections = kv.evaluate_word_analogies(os.path.join(data, "questions-words.txt"))
    n = sections[-1]["correct"] + sections[-1]["incorrect"]
    return ws353, simlex, acc, oov, n


def count_tokens(path):
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            n += len(line.split())
    return n


def warm_up(tmp):
    """Compile (or load from cache) every nlpkit kernel once, so no timed run pays for it."""
    import gzip

    from nlpkit import corpora
    small = os.path.join(tmp, "small.txt")
    with gzip.open(corpora.path("kjv"), "rb") as fh, open(small, "wb") as out:
        out.write(fh.read(300_000))
    for model in ("sgns", "cbow", "fasttext", "glove", "ppmi"):
        subprocess.run(nlpkit_cmd(model, small, os.path.join(tmp, "w.txt")), check=True,
                       stdout=subprocess.DEVNULL)


def bench(name, corpus, args, tmp, only):
    tokens = count_tokens(corpus)
    print(f"corpus {name}: {corpus}, {tokens:,} tokens; {SETTINGS}; GloVe {GLOVE}; 2 threads",
          file=sys.stderr)
    order = corpus_order(corpus)
    results = {}
    for model, who, cmd, out in runs(corpus, tmp):
        if only and model not in only:
            continue
        times, cpus, mems, qs = [], [], [], []
        epochs = GLOVE["epochs"] if model == "GloVe" else 1 if model == "PPMI" else \
            SETTINGS["epochs"]
        for r in range(1, args.repeats + 1):
            sec, cpu, mb = run_measured(cmd(r))
            times.append(sec)
            cpus.append(cpu)
            mems.append(mb)
            q = quality(out, order)
            qs.append(q[:3])
            print(f"{name:8s} {model:8s} {who:15s} seed {r} {sec:8.2f} s (cpu {cpu:7.2f} s) "
                  f"{mb:7.0f} MB "
                  f"{tokens * epochs / sec / 1e3:7.0f}k words/s  ws353 {q[0]:.3f} "
                  f"(oov {q[3]:.0f}%)  simlex {q[1]:.3f}  analogy {q[2]:.3f} ({q[4]} q)",
                  file=sys.stderr)
        results[(model, who)] = (statistics.median(times), statistics.median(cpus), max(mems),
                                 tokens * epochs, [statistics.mean(c) for c in zip(*qs)])
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default="kjv,linuxdoc", help="comma list of kjv, linuxdoc")
    ap.add_argument("--copies", type=int, default=7, help="KJV train copies in the kjv corpus")
    ap.add_argument("--linuxdoc",
                    default=os.environ.get("NLPKIT_LINUXDOC", "/work/data/linuxdoc/linuxdoc.txt"))
    ap.add_argument("--epochs", type=int, default=SETTINGS["epochs"],
                    help="SGNS/CBOW/fastText epochs")
    ap.add_argument("--glove-epochs", type=int, default=GLOVE["epochs"])
    ap.add_argument("--glove-window", type=int, default=GLOVE["window"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma list of SGNS,CBOW,fastText,GloVe,PPMI")
    args = ap.parse_args()
    # This tree's nlpkit, in this process and in the CLI processes it times (it is not installed).
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    os.environ["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    SETTINGS["epochs"] = args.epochs
    GLOVE.update(epochs=args.glove_epochs, window=args.glove_window)
    try:
        import numpy  # noqa: F401  (load BLAS so threadpoolctl sees it)
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i.get('internal_api')} {i.get('architecture')}"
                         for i in threadpool_info())
        print("BLAS:", blas, file=sys.stderr)
    except ImportError:
        pass
    only = set(args.only.split(",")) if args.only else None
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(tmp)
        for name in args.corpora.split(","):
            if name == "kjv":
                corpus = kjv_repeated(args.copies, tmp)
            elif name == "linuxdoc":
                corpus = args.linuxdoc
                if os.path.isdir(corpus):  # the folder bench_ngram_build and bench_subword take
                    corpus = os.path.join(corpus, "linuxdoc.txt")
                if not os.path.exists(corpus):
                    sys.exit(f"{corpus}: no such file (make it with benchmarks/corpus_linuxdoc.py)")
            else:
                corpus = name
            table.append((name, bench(name, corpus, args, tmp, only)))
    spread = f"mean of {args.repeats}" if args.repeats > 1 else "1 run"
    print(f"\n| corpus | model | trainer | seconds (whole process) | CPU s | words/s | "
          f"peak RSS MB | vs peer (wall, CPU) | WordSim353 ρ ({spread}) | SimLex-999 ρ | "
          f"analogy acc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, results in table:
        for (model, who), (sec, cpu, mb, words, q) in results.items():
            peer = [v for (m, w), v in results.items()
                    if m == model and not w.startswith("nlpkit")]
            ratio = (f"{peer[0][0] / sec:.2f}x, {peer[0][1] / cpu:.2f}x"
                     if who.startswith("nlpkit") and peer else "")
            print(f"| {name} | {model} | {who} | {sec:.1f} | {cpu:.1f} | "
                  f"{words / sec / 1e3:.0f}k | {mb:.0f} | {ratio} | {q[0]:.3f} | {q[1]:.3f} | "
                  f"{q[2]:.3f} |")


if __name__ == "__main__":
    main()
