"""Kneser-Ney 3-gram (and 5-gram) build, end to end: text file in, ARPA file out.

nlpkit's lmplz-exact KN beside KenLM's lmplz.  No lmplz binary installs from the
package registries here, so unless `lmplz` is on PATH the script prints the
figures measured on our 2-core machine for the same corpus size (issue 3/8:
lmplz 5.0 s and 1.07 GB peak for a 3-gram from 6M tokens) and times nlpkit.
The resampled corpus gives an out-of-range D3 at order 3 (lmplz refuses it
too), so the builds pass lmplz's --discount_fallback.  Each build runs
`nlpkit ngram build --smoothing kn` in a fresh process (compile caches warm), so
the time and the peak memory are what a user sees.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ngram_kn.py
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ngram_build import median_run  # noqa: E402  (wall s, peak MB, CPU s of a child)
from common import bench_corpus, machine  # noqa: E402

# the command line exactly as a user types it (bin/nlpkit), in a fresh interpreter
BUILD = [sys.executable, "-c", "from nlpkit.cli import main; main()", "--quiet", "ngram", "build"]
LMPLZ_PUBLISHED = {3: (5.0, 1070.0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--times", type=int, default=8, help="KJV train repeated (8 -> 6.2M tokens)")
    ap.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    corpus = bench_corpus(args.times)
    out_dir = tempfile.mkdtemp()
    print(f"# machine: {machine()}")
    print(f"# corpus: KJV train x{args.times}, 5% of tokens resampled "
          f"({os.path.getsize(corpus) / 1e6:.0f} MB); "
          f"median of {args.repeat} runs; each run a fresh process")
    # CPU seconds help to read a run on a busy machine: waiting for a core inflates the
    # wall time, not the CPU time.
    print("| task | nlpkit | lmplz | ratio (lmplz / nlpkit) |")
    print("| --- | --- | --- | --- |")
    for order in args.orders:
        out = os.path.join(out_dir, f"kn{order}.arpa")
        cmd = BUILD + [corpus, "-o", out, "--order", str(order), "--smoothing", "kn",
                       "--discount-fallback", "default"]
        subprocess.run(cmd, check=True)  # warm the compile cache
        t, mem, cpu = median_run(cmd, args.repeat)
        if shutil.which("lmplz"):
            lm_cmd = ["sh", "-c", f"lmplz -o {order} --discount_fallback < {corpus} "
                                  f"> {out}.lmplz 2>/dev/null"]
            lt, lmem, lcpu = median_run(lm_cmd, args.repeat)
            peer = f"{lt:.2f} s ({lcpu:.2f} s CPU), {lmem:.0f} MB (measured)"
        elif order in LMPLZ_PUBLISHED:
            lt, lmem = LMPLZ_PUBLISHED[order]
            peer = f"{lt:.1f} s, {lmem:.0f} MB (our earlier figure; not installed here)"
        else:
            lt, peer = None, "not installed here"
        ratio = f"{lt / t:.2f}x" if lt else ""
        print(f"| KN {order}-gram build, 6M tokens | {t:.2f} s ({cpu:.2f} s CPU), {mem:.0f} MB peak "
              f"| {peer} | {ratio} |")
    shutil.rmtree(out_dir)


if __name__ == "__main__":
    main()
