"""nlpkit.nn against PyTorch (CPU): forward + backward through the Tensor API (autograd),
float32, same thread count, medians.

Run as users run (without the OpenBLAS kernel override these machines set):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_nn.py \\
        [--threads 2] [--blas-threads N] [--repeats 7]

Prints one markdown row per layer for benchmarks/RESULTS.md: median wall time of each
side and, in brackets, its median CPU time (every thread of the process), both ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numba
import numpy as np
import torch

from nlpkit import nn

B, T, I, H = 32, 50, 128, 256
E, HEADS, L, FF = 256, 8, 128, 1024


def median_times(fns, repeats):
    """Median wall and CPU time (every thread of the process, user + system) of each
    function; runs are interleaved so that load from other processes on a shared machine
    falls on both sides alike."""
    for fn in fns:
        fn()  # warm-up (compiles kernels)
        fn()
    walls, cpus = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for fn, wall, cpu in zip(fns, walls, cpus):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus)]


def recurrent_case(name, rng):
    ours = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[name](I, H)
    theirs = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[name](I, H)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    gy = rng.standard_normal((T, B, H)).astype(np.float32)
    xt, gyt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(gy)
    xo = nn.tensor(x, requires_grad=True)

    def run_ours():
        ours.zero_grad()
        xo.grad = None
        out, _ = ours(xo)
        out.backward(gy)

    def run_theirs():
        theirs.zero_grad()
        xt.grad = None
        out, _ = theirs(xt)
        out.backward(gyt)

    return run_ours, run_theirs


def attention_case(name, rng):
    if name == "MultiheadAttention":
        ours = nn.MultiheadAttention(E, HEADS)
        theirs = torch.nn.MultiheadAttention(E, HEADS)
    else:
        ours = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FF, dropout=0.0)
        theirs = torch.nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FF, dropout=0.0)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((L, B, E)).astype(np.float32)
    gy = rng.standard_normal((L, B, E)).astype(np.float32)
    xt, gyt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(gy)
    xo = nn.tensor(x, requires_grad=True)
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(L)

    def run_ours():
        ours.zero_grad()
        xo.grad = None
        if name == "MultiheadAttention":
            out, _ = ours(xo, xo, xo, is_causal=True, need_weights=False)
        else:
            out = ours(xo, is_causal=True)
        out.backward(gy)

    def run_theirs():
        theirs.zero_grad()
        xt.grad = None
        if name == "MultiheadAttention":
            out, _ = theirs(xt, xt, xt, attn_mask=mask_t, is_causal=True, need_weights=False)
        else:
            out = theirs(xt, src_mask=mask_t, is_causal=True)
        out.backward(gyt)

    return run_ours, run_theirs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                    help="Numba threads and torch.set_num_threads")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="threads of every loaded BLAS (default: --threads)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", nargs="*", help="layers to run (default: all available)")
    args = ap.parse_args()
    blas = args.threads if args.blas_threads is None else args.blas_threads
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    import scipy.linalg.cython_blas  # noqa: F401  (Numba's np.dot calls SciPy's BLAS)
    from threadpoolctl import threadpool_info, threadpool_limits
    # both BLAS copies (NumPy's and SciPy's, loaded above) at the same thread count
    threadpool_limits(blas, user_api="blas")
    print(f"# numba {numba.__version__} threads={numba.get_num_threads()} "
          f"layer={numba.config.THREADING_LAYER}; torch {torch.__version__} "
          f"threads={torch.get_num_threads()}")
    for lib in threadpool_info():
        print(f"# {lib.get('internal_api')} {lib.get('version')} {lib.get('architecture')} "
              f"threads={lib.get('num_threads')} ({lib.get('filepath', '').split('/')[-1]})")
    print(f"# load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rng = np.random.default_rng(0)
    cases = ["LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer"]
    if args.only:
        cases = [c for c in cases if c in args.only]
    print(f"\nforward+backward, float32, threads={args.threads} (BLAS {blas}), "
          f"median of {args.repeats}, wall ms (CPU ms)\n")
    print("| layer | shape | nlpkit ms | torch ms | nlpkit/torch | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for name in cases:
        if name in ("LSTM", "GRU", "RNN"):
            ours, theirs = recurrent_case(name, rng)
            shape = f"B{B} T{T} I{I} H{H}"
        else:
            ours, theirs = attention_case(name, rng)
            ff = f" FF{FF}" if name != "MultiheadAttention" else ""
            shape = f"B{B} T{L} E{E} heads{HEADS}{ff} causal"
        (w_ours, c_ours), (w_theirs, c_theirs) = median_times([ours, theirs], args.repeats)
        print(f"| {name} | {shape} | {w_ours * 1e3:.1f} ({c_ours * 1e3:.0f}) | "
              f"{w_theirs * 1e3:.1f} ({c_theirs * 1e3:.0f}) | {w_ours / w_theirs:.2f} | "
              f"{c_ours / c_theirs:.2f} |", flush=True)
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
