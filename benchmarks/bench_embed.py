"""Word-embedding training speed and quality: nlpkit vs gensim and the fastText tool.

Each trainer runs as a whole process (text file in, vectors file out), with the
same corpus (the bundled KJV train split repeated ``--copies`` times, about 5.4M
tokens), the same settings (dim 100, window 5, negative 5, sample 1e-3, epochs 5,
min_count 5) and the same 2 threads.  nlpkit's SGNS runs twice: with negatives
shared across each window (its default) and per pair (``nlpkit-pair``, as
word2vec.c and gensim draw them).  Words/s is corpus tokens x epochs over the
whole process's wall time (median of ``--repeats`` runs).  Beside each, the
quality of the vectors written: WordSim353 and SimLex-999 Spearman and
questions-words analogy accuracy (gensim's test data, top 30k words).  KJV
covers few of these words (about a fifth of WordSim353's pairs), so one run's
figures move by a few hundredths from seed to seed: each repeat uses another
seed (the fastText tool has none; its two threads' races vary its runs) and
the table shows the mean over the repeats, with WordSim353's standard deviation.

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_embed.py
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETTINGS = dict(dim=100, window=5, negative=5, sample=1e-3, epochs=5, min_count=5)

GENSIM = """
import sys
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
m = Word2Vec(LineSentence(sys.argv[1]), vector_size={dim}, window={window}, negative={negative},
             sample={sample}, epochs={epochs}, min_count={min_count}, workers=2, sg={sg},
             alpha={alpha}, seed=int(sys.argv[3]))
m.wv.save_word2vec_format(sys.argv[2])
"""

FASTTEXT = """
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


def nlpkit_cmd(model, corpus, out, *extra):
    """The CLI command; the seed is appended by :func:`main` (``--seed N``)."""
    s = SETTINGS
    cmd = [sys.executable, "-c", "from nlpkit.cli.main import main; main()", "--threads", "2",
           "--quiet", "embed", "train", corpus, "-o", out, "--model", model,
           "--dim", str(s["dim"]), "--window", str(s["window"]),
           "--negative", str(s["negative"]), "--sample", str(s["sample"]), "--epochs",
           str(s["epochs"]), "--min-count", str(s["min_count"])]
    if model == "cbow":
        cmd += ["--alpha", "0.05"]
    return cmd + list(extra)


def runs(args, corpus, tmp):
    s = SETTINGS
    out = os.path.join(tmp, "vectors.txt")
    # each command takes its seed as a last argument (a function of the repeat)
    yield "SGNS", "nlpkit", lambda r: nlpkit_cmd("sgns", corpus, out, "--seed", str(r)), out
    yield "SGNS", "nlpkit-pair", lambda r: nlpkit_cmd("sgns", corpus, out, "--per-pair-negatives",
                                                      "--seed", str(r)), out
    yield "SGNS", "gensim", lambda r: [sys.executable, "-c", GENSIM.format(sg=1, alpha=0.025, **s),
                                       corpus, out, str(r)], out
    yield "CBOW", "nlpkit", lambda r: nlpkit_cmd("cbow", corpus, out, "--seed", str(r)), out
    yield "CBOW", "gensim", lambda r: [sys.executable, "-c", GENSIM.format(sg=0, alpha=0.05, **s),
                                       corpus, out, str(r)], out
    yield "fastText", "nlpkit", lambda r: nlpkit_cmd("fasttext", corpus, out, "--seed", str(r)), out
    yield "fastText", "fasttext", lambda r: [sys.executable, "-c", FASTTEXT.format(**s), corpus,
                                             out], out


def quality(path):
    import gensim
    from nlpkit.embed import load
    data = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
    kv = load(path, "word2vec")
    _, ws353, oov = kv.evaluate_word_pairs(os.path.join(data, "wordsim353.tsv"))
    _, simlex, _ = kv.evaluate_word_pairs(os.path.join(data, "simlex999.txt"))
    acc, sections = kv.evaluate_word_analogies(os.path.join(data, "questions-words.txt"))
    n = sections[-1]["correct"] + sections[-1]["incorrect"]
    return ws353, simlex, acc, oov, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=7, help="KJV train copies in the corpus")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma list of SGNS,CBOW,fastText")
    args = ap.parse_args()
    try:
        import numpy  # noqa: F401  (load BLAS so threadpoolctl sees it)
        from threadpoolctl import threadpool_info
        print("BLAS:", ", ".join(f"{i.get('internal_api')} {i.get('architecture')}"
                                for i in threadpool_info()), file=sys.stderr)
    except ImportError:
        pass
    from nlpkit import corpora
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with gzip.open(corpora.path("kjv"), "rb") as fh:
            text = fh.read()
        with open(corpus, "wb") as fh:
            for _ in range(args.copies):
                fh.write(text)
        tokens = len(text.split()) * args.copies
        print(f"corpus: {tokens:,} tokens; settings {SETTINGS}; 2 threads", file=sys.stderr)
        # warm the Numba cache so no run pays the first compilation
        small = os.path.join(tmp, "small.txt")
        with open(small, "wb") as fh:
            fh.write(text[:200_000])
        for model in ("sgns", "cbow", "fasttext"):
            subprocess.run(nlpkit_cmd(model, small, os.path.join(tmp, "w.txt")), check=True,
                           stdout=subprocess.DEVNULL)
        results = {}
        only = set(args.only.split(",")) if args.only else None
        for model, who, cmd, out in runs(args, corpus, tmp):
            if only and model not in only:
                continue
            times, qs = [], []
            for r in range(1, args.repeats + 1):
                t = time.perf_counter()
                subprocess.run(cmd(r), check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - t)
                q = quality(out)
                qs.append(q[:3])
                print(f"{model:9s} {who:11s} seed {r}  {times[-1]:7.2f} s  "
                      f"{tokens * SETTINGS['epochs'] / times[-1] / 1e3:6.0f}k words/s  "
                      f"ws353 {q[0]:.3f} (oov {q[3]:.0f}%)  simlex {q[1]:.3f}  "
                      f"analogy {q[2]:.3f} ({q[4]} q)", file=sys.stderr)
            sec = statistics.median(times)
            ws_sd = statistics.stdev([q[0] for q in qs]) if len(qs) > 1 else float("nan")
            results[(model, who)] = (sec, [statistics.mean(c) for c in zip(*qs)], ws_sd)
    spread = f"mean ± sd of {args.repeats}" if args.repeats > 1 else "1 run"
    print(f"\n| model | trainer | seconds (whole process) | words/s | vs peer | WordSim353 ρ "
          f"({spread}) | SimLex-999 ρ | analogy acc |")
    print("|---|---|---|---|---|---|---|---|")
    for (model, who), (sec, q, ws_sd) in results.items():
        peer = [v for (m, w), v in results.items() if m == model and not w.startswith("nlpkit")]
        ratio = f"{peer[0][0] / sec:.2f}x" if who.startswith("nlpkit") and peer else ""
        print(f"| {model} | {who} | {sec:.1f} | {tokens * SETTINGS['epochs'] / sec / 1e3:.0f}k | "
              f"{ratio} | {q[0]:.3f}{f' ± {ws_sd:.3f}' if args.repeats > 1 else ''} | "
              f"{q[1]:.3f} | {q[2]:.3f} |")


if __name__ == "__main__":
    main()
