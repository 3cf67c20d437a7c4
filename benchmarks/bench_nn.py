"""nlpkit.nn against PyTorch (CPU): forward + backward through the Tensor API (autograd),
float32, same thread count, medians.

Run as users run (without the OpenBLAS kernel override these machines set):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_nn.py \\
        [--threads 2] [--repeats 7]

Prints one markdown row per layer for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch

from nlpkit import nn

B, T, I, H = 32, 50, 128, 256
E, HEADS, L, FF = 256, 8, 128, 1024


def median_times(fns, repeats):
    """Median wall time of each function; runs are interleaved so that load from other
    processes on a shared machine falls on both sides alike."""
    for fn in fns:
        fn()  # warm-up (compiles kernels)
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


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
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", nargs="*", help="layers to run (default: all available)")
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (Numba's np.dot calls SciPy's BLAS)
        from threadpoolctl import threadpool_info, threadpool_limits
        # both BLAS copies (NumPy's and SciPy's, loaded above) at the same thread count
        threadpool_limits(args.threads, user_api="blas")
        for lib in threadpool_info():
            print(f"# {lib.get('internal_api')} {lib.get('version')} {lib.get('architecture')} "
                  f"threads={lib.get('num_threads')} ({lib.get('filepath', '').split('/')[-1]})")
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    cases = ["LSTM", "GRU", "RNN"]
    if hasattr(nn, "MultiheadAttention"):
        cases += ["MultiheadAttention"]
    if hasattr(nn, "TransformerEncoderLayer"):
        cases += ["TransformerEncoderLayer"]
    if args.only:
        cases = [c for c in cases if c in args.only]
    print(f"\nforward+backward, float32, threads={args.threads}, median of {args.repeats}\n")
    print("| layer | shape | nlpkit ms | torch ms | nlpkit/torch |")
    print("|---|---|---|---|---|")
    for name in cases:
        if name in ("LSTM", "GRU", "RNN"):
            ours, theirs = recurrent_case(name, rng)
            shape = f"B{B} T{T} I{I} H{H}"
        else:
            ours, theirs = attention_case(name, rng)
            ff = f" FF{FF}" if name != "MultiheadAttention" else ""
            shape = f"B{B} T{L} E{E} heads{HEADS}{ff} causal"
        t_ours, t_theirs = median_times([ours, theirs], args.repeats)
        print(f"| {name} | {shape} | {t_ours * 1e3:.1f} | {t_theirs * 1e3:.1f} | "
              f"{t_ours / t_theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
