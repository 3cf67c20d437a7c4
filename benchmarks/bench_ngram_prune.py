"""Model size against perplexity under relative-entropy pruning (SRILM's ngram -prune).

Prunes the Katz 3-gram of the KJV training split (SRILM's own model from
tests/data, so the numbers stand beside SRILM's unpruned ppl 71.98) at a range of
thresholds, prints n-grams kept, test perplexity, and the change the pruning
criterion predicts (the sum of the removed n-grams' entropy changes, each judged
alone: a change of the model's own, training-set entropy), and draws the curve
to benchmarks/prune_curve.png when matplotlib (the plot extra) is installed.

The split has 0.8M tokens, so an n-gram seen once carries about 1.2e-6 of the
training mass: thresholds far below that (SRILM's customary 1e-8 is meant for
corpora of 10^8 tokens) prune only n-grams the back-off already predicts well.

    python benchmarks/bench_ngram_prune.py
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import machine  # noqa: E402

from nlpkit.ngram.formats.arpa_reader import read_arpa  # noqa: E402
from nlpkit.ngram.editing.mix import perplexity  # noqa: E402
from nlpkit.ngram.editing.prune import prune_entropy  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "tests", "data", "ngram", "kjv")
THRESHOLDS = [0, 1e-9, 1e-8, 3e-8, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5]


def main():
    model = read_arpa(os.path.join(DATA, "srilm.gt3.arpa.gz"))
    lines = open(os.path.join(DATA, "test.txt"), encoding="utf-8").read().splitlines()
    base = perplexity(model, lines)["ppl"]
    print(f"# machine: {machine()}")
    print("| threshold | n-grams kept | share kept | test ppl | ppl change | predicted | time |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for th in THRESHOLDS:
        t0 = time.perf_counter()
        pruned = prune_entropy(model, th) if th else model
        dt = time.perf_counter() - t0
        size = sum(pruned.counts())
        ppl = perplexity(pruned, lines)["ppl"]
        rows.append((th, size, ppl))
        orders = pruned.meta.get("pruning", {}).get("orders", {}) if th else {}
        predicted = 10 ** sum(o["predicted_delta_log10"] for o in orders.values()) - 1
        print(f"| {th:g} | {size:,} | {size / sum(model.counts()):.1%} | {ppl:.3f} | "
              f"{ppl / base - 1:+.2%} | {predicted:+.2%} | {dt:.2f} s |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install 'nlpkit[plot]')")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r[1] for r in rows], [r[2] for r in rows], "o-")
    for th, size, ppl in rows:
        ax.annotate(f"{th:g}", (size, ppl), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("n-grams in the model")
    ax.set_ylabel("test perplexity")
    ax.set_title("KJV Katz 3-gram: relative-entropy pruning")
    fig.tight_layout()
    out = os.path.join(HERE, "prune_curve.png")
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
