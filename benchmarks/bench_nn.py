"""nlpkit.nn against PyTorch (CPU): forward + backward through the Tensor API (autograd),
float32, same thread count, medians.

Run as users run (without the OpenBLAS kernel override these machines set):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_nn.py \\
        [--threads 2] [--blas-threads N] [--repeats 7]

Prints one markdown row per layer for benchmarks/RESULTS.md: median wall time of each
side and, in brackets, its median CPU time (every thread of the process), both ratios, and
each side's peak memory: the peak resident size of a fresh process that imports only that
side's library and runs the layer's forward+backward ``--memory-repeats`` times (whole
process: the interpreter and the library's import included, as a user's script has them).
``--no-memory`` skips those processes.

``--rounds N`` (default 3) times each side in its own fresh process, the two sides
alternated N times, and prints the median of the N processes' medians.  Timing the two
libraries in one process lets each one's idle thread pools take the cores from the other:
torch's TransformerEncoderLayer took 285-296 ms beside nlpkit code that left its products to
NumPy's two BLAS threads and 212 ms beside code that did not, so the in-process ratio hid a
25% change on both sides.  ``--rounds 0`` interleaves the two in this process as before.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numba
import numpy as np

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
    import torch

    from nlpkit import nn

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
    import torch

    from nlpkit import nn

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


def one_side(name, side, rng):
    """The forward+backward of ``name`` on one side only, importing only that library
    (for the peak-memory processes)."""
    x_shape = (T, B, I) if name in ("LSTM", "GRU", "RNN") else (L, B, E)
    y_shape = (T, B, H) if name in ("LSTM", "GRU", "RNN") else (L, B, E)
    x = rng.standard_normal(x_shape).astype(np.float32)
    gy = rng.standard_normal(y_shape).astype(np.float32)
    if side == "nlpkit":
        from nlpkit import nn as lib
        xs, g = lib.tensor(x, requires_grad=True), gy
    else:
        import torch
        lib = torch.nn
        xs, g = torch.from_numpy(x).requires_grad_(), torch.from_numpy(gy)
    if name in ("LSTM", "GRU", "RNN"):
        layer = getattr(lib, name)(I, H)
    elif name == "MultiheadAttention":
        layer = lib.MultiheadAttention(E, HEADS)
    else:
        layer = lib.TransformerEncoderLayer(E, HEADS, dim_feedforward=FF, dropout=0.0)
    if side == "torch":
        mask = torch.nn.Transformer.generate_square_subsequent_mask(L)
        extra = {"MultiheadAttention": dict(attn_mask=mask, need_weights=False),
                 "TransformerEncoderLayer": dict(src_mask=mask)}.get(name, {})
    else:
        extra = {"MultiheadAttention": dict(need_weights=False)}.get(name, {})

    def run():
        layer.zero_grad()
        xs.grad = None
        if name == "MultiheadAttention":
            out = layer(xs, xs, xs, is_causal=True, **extra)[0]
        elif name == "TransformerEncoderLayer":
            out = layer(xs, is_causal=True, **extra)
        else:
            out = layer(xs)[0]
        out.backward(g)

    return run


def peak_mb(name, side, threads, repeats):
    """Peak resident MB of a fresh process running ``name``'s forward+backward on ``side``."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, side,
                          "--threads", str(threads), "--memory-repeats", str(repeats)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def set_threads(threads, blas):
    numba.set_num_threads(threads)
    import scipy.linalg.cython_blas  # noqa: F401  (Numba's np.dot calls SciPy's BLAS)
    from threadpoolctl import threadpool_limits
    # both BLAS copies (NumPy's and SciPy's, loaded above) at the same thread count
    threadpool_limits(blas, user_api="blas")


def timed_child(name, side, threads, blas, repeats):
    """Median wall and CPU seconds of ``name``'s forward+backward on one side, in a fresh
    process (the parent's view of the child's imports and pools stays out of it)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--time-child", name, side,
                          "--threads", str(threads), "--blas-threads", str(blas),
                          "--repeats", str(repeats)],
                         capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def child(name, side, threads, repeats, blas=None, timed=False):
    if side == "torch":
        import torch
        torch.set_num_threads(threads)
    set_threads(threads, threads if blas is None else blas)
    run = one_side(name, side, np.random.default_rng(0))
    if timed:
        (wall, cpu), = median_times([run], repeats)
        print(wall, cpu)
        return
    for _ in range(repeats):
        run()
    # VmHWM, the peak of this process's own memory map: ru_maxrss would carry the parent's
    # peak over the fork and exec that started it (and the parent holds both libraries)
    with open("/proc/self/status") as fh:
        hwm = next(line for line in fh if line.startswith("VmHWM:"))
    print(int(hwm.split()[1]) / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                    help="Numba threads and torch.set_num_threads")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="threads of every loaded BLAS (default: --threads)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", nargs="*", help="layers to run (default: all available)")
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the peak-memory processes")
    ap.add_argument("--memory-repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3,
                    help="time each side in its own process, alternated this many times "
                         "(0: both in this process, interleaved)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--time-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.threads, args.memory_repeats)
        return
    if args.time_child:
        child(*args.time_child, args.threads, args.repeats, blas=args.blas_threads, timed=True)
        return
    import torch
    from threadpoolctl import threadpool_info

    blas = args.threads if args.blas_threads is None else args.blas_threads
    torch.set_num_threads(args.threads)
    set_threads(args.threads, blas)
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
    how = (f"each side in its own process, {args.rounds} alternated rounds: median of the "
           f"rounds' medians of {args.repeats}" if args.rounds else
           f"both sides in this process, interleaved: median of {args.repeats}")
    print(f"\nforward+backward, float32, threads={args.threads} (BLAS {blas}), {how}, "
          f"wall ms (CPU ms)\n")
    mem = "" if args.no_memory else " nlpkit MB | torch MB |"
    print("| layer | shape | nlpkit ms | torch ms | nlpkit/torch | CPU ratio |" + mem)
    print("|---|---|---|---|---|---|" + ("---|---|" if mem else ""))
    for name in cases:
        if name in ("LSTM", "GRU", "RNN"):
            shape = f"B{B} T{T} I{I} H{H}"
        else:
            ff = f" FF{FF}" if name != "MultiheadAttention" else ""
            shape = f"B{B} T{L} E{E} heads{HEADS}{ff} causal"
        if args.rounds:
            runs = {"nlpkit": [], "torch": []}
            for r in range(args.rounds):
                for side in (("nlpkit", "torch") if r % 2 == 0 else ("torch", "nlpkit")):
                    runs[side].append(timed_child(name, side, args.threads, blas, args.repeats))
            (w_ours, c_ours), (w_theirs, c_theirs) = [
                tuple(statistics.median(v[i] for v in runs[side]) for i in (0, 1))
                for side in ("nlpkit", "torch")]
        else:
            ours, theirs = (recurrent_case(name, rng) if name in ("LSTM", "GRU", "RNN")
                            else attention_case(name, rng))
            (w_ours, c_ours), (w_theirs, c_theirs) = median_times([ours, theirs], args.repeats)
        row = (f"| {name} | {shape} | {w_ours * 1e3:.1f} ({c_ours * 1e3:.0f}) | "
               f"{w_theirs * 1e3:.1f} ({c_theirs * 1e3:.0f}) | {w_ours / w_theirs:.2f} | "
               f"{c_ours / c_theirs:.2f} |")
        if not args.no_memory:
            row += "".join(f" {peak_mb(name, side, args.threads, args.memory_repeats):.0f} |"
                           for side in ("nlpkit", "torch"))
        print(row, flush=True)
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
