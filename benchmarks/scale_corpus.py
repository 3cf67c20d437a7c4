"""Make a K-times larger corpus whose vocabulary and n-grams also grow about K-fold.

Plain repetition multiplies every count by K and keeps the vocabulary, which flatters anything
that caches per-type tables and breaks Good-Turing and Kneser-Ney count statistics. Instead,
copy k (k = 0..K-1) of the input renames every word outside the ``--keep`` (200) most frequent
ones to ``word_k`` (copy 0 keeps the original words): function words and punctuation stay
shared, so sentence shapes stay real, while content words, and so types and n-grams, multiply::

    python benchmarks/scale_corpus.py /work/data/linuxdoc/linuxdoc.txt 16 -o linuxdoc.x16.txt

Both passes stream the input line by line; memory holds the input's vocabulary, not its text.
Tokens are whitespace-separated; output lines are single-space joined.
"""
from __future__ import annotations

import argparse
import collections
import os


def count_words(path: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            counts.update(line.split())
    return counts


def frequent_words(counts: collections.Counter, keep: int) -> set[str]:
    """The ``keep`` most frequent words, ties broken by the word so the choice is deterministic."""
    return {w for w, _ in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:keep]}


def scale(path: str, copies: int, output: str, keep: int = 200) -> dict:
    counts = count_words(path)
    frequent = frequent_words(counts, keep)
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for k in range(copies):
            rename = {w: (w if k == 0 or w in frequent else f"{w}_{k}") for w in counts}
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    out.write(" ".join(map(rename.__getitem__, line.split())))
                    out.write("\n")
    os.replace(tmp, output)
    rare = [w for w in counts if w not in frequent]
    types = set(counts)
    for k in range(1, copies):
        types.update(f"{w}_{k}" for w in rare)
    n_lines = sum(1 for _ in open(path, encoding="utf-8"))
    return {"sentences": copies * n_lines, "tokens": copies * sum(counts.values()),
            "types": len(types)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="a corpus, one sentence a line, whitespace-separated tokens")
    ap.add_argument("copies", type=int, help="K, how many renamed copies to write")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--keep", type=int, default=200,
                    help="how many of the most frequent words every copy shares (default 200)")
    args = ap.parse_args(argv)
    if args.copies < 1:
        ap.error("copies must be at least 1")
    stats = scale(args.input, args.copies, args.output, args.keep)
    print(f"{args.output}: {stats['sentences']} sentences, {stats['tokens']} tokens, "
          f"{stats['types']} types")


if __name__ == "__main__":
    main()
