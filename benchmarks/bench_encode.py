"""Corpus encoding speed: whitespace-tokenized text file -> int32 ids + offsets.

Target (issue 2): at least 3M tokens/s on one core.  The peers do the same job
in Python: gensim's LineSentence + Dictionary-style id mapping is not a like-for-like
peer, so we print the plain-Python baseline (split + dict lookup per line) beside
nlpkit, measured in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_encode.py [--times 8]
"""
import argparse
import os
import sys

import numba

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import kjv_repeated, machine, median_time  # noqa: E402

from nlpkit.text import Corpus, iter_lines  # noqa: E402


def python_baseline(path):
    index, ids, offsets = {}, [], [0]
    for line in iter_lines(path):
        toks = line.split()
        if not toks:
            continue
        ids.extend(index.setdefault(t, len(index)) for t in toks)
        offsets.append(len(ids))
    return len(ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--times", type=int, default=8, help="KJV train repeated this many times")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    numba.set_num_threads(1)
    path = kjv_repeated(args.times)
    t_new, corpus = median_time(lambda: Corpus.from_text(path), repeat=args.repeat)
    t_known, _ = median_time(lambda: Corpus.from_text(path, vocab=corpus.vocab), repeat=args.repeat)
    t_py, _ = median_time(lambda: python_baseline(path), repeat=max(1, args.repeat // 2))
    n = corpus.n_tokens
    print(f"# machine: {machine()}")
    print(f"# corpus: KJV train x{args.times}: {n:,} tokens, {corpus.n_sentences:,} sentences; "
          f"1 thread; median of {args.repeat}")
    print("| task | nlpkit | peer | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| encode file, vocabulary built in the same pass | {n / t_new / 1e6:.2f} M tok/s "
          f"| plain Python split+dict {n / t_py / 1e6:.2f} M tok/s | {t_py / t_new:.2f}x |")
    print(f"| encode file with a given vocabulary | {n / t_known / 1e6:.2f} M tok/s | | |")
    print(f"| target (issue 2) | >= 3.00 M tok/s | | {'met' if n / t_new >= 3e6 else 'NOT met'} |")


if __name__ == "__main__":
    main()
