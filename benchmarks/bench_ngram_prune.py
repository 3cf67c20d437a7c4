"""Model size against perplexity under relative-entropy pruning (SRILM's ngram -prune).

Prunes the Katz 3-gram of the KJV training split (SRILM's own model from
tests/data, so the numbers stand beside SRILM's unpruned ppl 71.98) at a range of
thresholds, prints n-grams kept, test perplexity, and the change the pruning
criterion predicts (the sum of the removed n-grams' entropy changes, each judged
alone: a change of the model's own, training-set entropy), and draws the curve
to benchmarks/prune_curve.png when matplotlib (the plot extra) is installed.

With ``$NGRAM`` set to SRILM's ``ngram`` (built from source, see benchmarks/PEERS.md), each
threshold is also run through ``ngram -prune`` on the same model, and the table gains SRILM's
n-grams kept and test perplexity (``ngram -ppl``) beside nlpkit's.

The split has 0.8M tokens, so an n-gram seen once carries about 1.2e-6 of the
training mass: thresholds far below that (SRILM's customary 1e-8 is meant for
corpora of 10^8 tokens) prune only n-grams the back-off already predicts well.

    python benchmarks/bench_ngram_prune.py
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # common.py, and this tree's nlpkit
from common import machine

from nlpkit.ngram.editing.mix import perplexity
from nlpkit.ngram.editing.prune import prune_entropy
from nlpkit.ngram.formats.arpa_reader import read_arpa

DATA = os.path.join(os.path.dirname(HERE), "tests", "data", "ngram", "kjv")
THRESHOLDS = [0, 1e-9, 1e-8, 3e-8, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5]


def srilm_prune(ngram, model, test, threshold, tmp):
    """``(n-grams kept, test ppl)`` of SRILM's ``ngram -prune threshold`` on ``model``."""
    out = os.path.join(tmp, "srilm.pruned.arpa")
    cmd = [ngram, "-order", "3", "-lm", model, "-write-lm", out]
    if threshold:
        cmd += ["-prune", f"{threshold:g}"]
    subprocess.run(cmd, check=True, capture_output=True)
    size = 0
    with open(out, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("ngram "):
                size += int(line.split("=")[1])
            elif line.startswith("\\1-grams:"):
                break
    ppl = subprocess.run([ngram, "-order", "3", "-lm", out, "-ppl", test], check=True,
                         capture_output=True, text=True).stdout
    return size, float(re.search(r" ppl= *([0-9.eE+-]+)", ppl).group(1))


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    ngram = os.environ.get("NGRAM")
    lm_path, test = os.path.join(DATA, "srilm.gt3.arpa.gz"), os.path.join(DATA, "test.txt")
    model = read_arpa(lm_path)
    with open(test, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    base = perplexity(model, lines)["ppl"]
    print(f"# machine: {machine()}")
    print(f"# SRILM ngram: {ngram or 'not found (NGRAM)'}")
    srilm_head = " SRILM n-grams kept | SRILM test ppl |" if ngram else ""
    print("| threshold | n-grams kept | share kept | test ppl | ppl change | predicted | time |"
          + srilm_head)
    print("| --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if ngram else ""))
    tmp = tempfile.mkdtemp(prefix="bench_ngram_prune_")
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
        srilm = ""
        if ngram:
            s_size, s_ppl = srilm_prune(ngram, lm_path, test, th, tmp)
            srilm = f" {s_size:,} | {s_ppl:.3f} |"
        print(f"| {th:g} | {size:,} | {size / sum(model.counts()):.1%} | {ppl:.3f} | "
              f"{ppl / base - 1:+.2%} | {predicted:+.2%} | {dt:.2f} s |" + srilm)
    shutil.rmtree(tmp, ignore_errors=True)
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
