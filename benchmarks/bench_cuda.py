"""The CUDA kernels beside their CPU twins: time and throughput of each, and the ratio.

Needs a CUDA GPU and numba-cuda (``pip install '.[cuda]'``).  Run as users run:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cuda.py \\
        [--repeats 5] [--dtype float32]

On a machine without a usable GPU it says so in one line and exits with status 1.
``--simulator`` runs every case once on tiny sizes under Numba's CUDA simulator, to check
that the script works end to end; its figures mean nothing.

GPU times include ``cuda.synchronize()``; inputs are on the device beforehand (as during
training), CPU inputs are NumPy arrays.  Kernels compile in a warm-up run first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--simulator", action="store_true",
                    help="tiny sizes under NUMBA_ENABLE_CUDASIM=1 (checks the script only)")
    return ap.parse_args()


ARGS = parse_args()
if ARGS.simulator:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba is imported

import numpy as np  # noqa: E402

from nlpkit import backend  # noqa: E402

SIZES = dict(gemm=1024, B=32, T=50, H=256, G=64, L=128, d=64, rows=8192, D=1024, C=10000,
             elems=1 << 24, E=256, heads=8, sents=50_000, words=5000, dim=100)
if ARGS.simulator:
    SIZES = dict(gemm=6, B=2, T=3, H=4, G=2, L=3, d=4, rows=4, D=6, C=7, elems=64, E=4, heads=2,
                 sents=4, words=6, dim=4)


def fail(msg):
    print(f"bench_cuda: {msg}", file=sys.stderr)
    sys.exit(1)


def check_device():
    ok, reason = backend.cuda_status()
    if not ok:
        fail(f"no CUDA device to benchmark on: {reason}")
    if backend.simulator_enabled() and not ARGS.simulator:
        fail("NUMBA_ENABLE_CUDASIM is set: the simulator is far too slow to benchmark "
             "(use --simulator to check the script only)")


def timed(fn, repeats, sync=None):
    fn()
    if sync:
        sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------ cases
# Each returns (name, size, work units, unit, cpu_fn, cuda_fn).
def cases(dt, rng):
    """The nn kernel twins: the same call on ``nlpkit.nn.kernels`` (host arrays) and on
    ``nlpkit.nn.cuda`` (device arrays), names and arguments alike."""
    from nlpkit.nn import cuda as C
    from nlpkit.nn import kernels as K

    z = SIZES
    dev = C.arrays.asarray

    def rand(*shape):
        return rng.standard_normal(shape).astype(dt)

    n = z["gemm"]
    a, b = rand(n, n), rand(n, n)
    da, db = dev(a), dev(b)
    yield ("matrix product", f"{n}^3", 2 * n ** 3 / 1e9, "GFLOP",
           lambda: K.arrays.gemm(a, b), lambda: C.arrays.gemm(da, db))

    bt, t, h = z["B"], z["T"], z["H"]
    x, w_ih, w_hh, b, h0 = (rand(t, bt, h), rand(4 * h, h) * dt(0.1), rand(4 * h, h) * dt(0.1),
                            rand(4 * h), rand(bt, h))
    lengths = np.full(bt, t, np.int64)
    dout = rand(t, bt, h)

    def lstm(M, x, w_ih, w_hh, b, h0, dout):
        out, _, cache = M.recurrent.direction_forward("LSTM", x, w_ih, w_hh, b, b, h0, h0,
                                                      lengths, False)
        M.recurrent.direction_backward("LSTM", dout, h0, h0, x, w_ih, w_hh, True, lengths,
                                       cache, False)

    host = (x, w_ih, w_hh, b, h0, dout)
    devs = tuple(dev(a) for a in host)
    yield ("LSTM layer fwd+bwd", f"B={bt} T={t} H={h}", bt * t / 1e3, "k tokens",
           lambda: lstm(K, *host), lambda: lstm(C, *devs))

    g_, l_, d_ = z["G"], z["L"], z["d"]
    q, k, v = rand(1, g_, l_, d_), rand(1, g_, l_, d_), rand(1, g_, l_, d_)
    dq, dk, dv = dev(q), dev(k), dev(v)
    scale = 1 / np.sqrt(d_)

    def attention(M, q, k, v):
        out, p = M.attention.attention(q, k, v, scale, None, True, None)
        M.attention.attention_backward(out, q, k, v, scale, p, True, None)

    yield ("attention fwd+bwd (causal)", f"G={g_} L={l_} d={d_}", g_ * l_ / 1e3, "k rows",
           lambda: attention(K, q, k, v), lambda: attention(C, dq, dk, dv))

    rows, dim = z["rows"], z["D"]
    x, w, bias = rand(rows, dim), rand(dim), rand(dim)
    eps = dt(1e-5)

    def layer_norm(M, x, w, bias):
        y, xh, dx = (M.arrays.empty((rows, dim), dt) for _ in range(3))
        rs = M.arrays.empty((rows,), dt)
        M.elementwise.layer_norm_forward(x, w, bias, eps, y, xh, rs)
        M.elementwise.layer_norm_backward(x, xh, rs, w, dx)

    yield ("layer norm fwd+bwd", f"{rows}x{dim}", rows / 1e3, "k rows",
           lambda: layer_norm(K, x, w, bias), lambda: layer_norm(C, dev(x), dev(w), dev(bias)))

    c = z["C"]
    logits, targets = rand(rows, c), rng.integers(0, c, rows).astype(np.int64)

    def cross_entropy(M, logits, targets):
        dl, losses = M.arrays.empty((rows, c), dt), M.arrays.empty((rows,), dt)
        M.elementwise.cross_entropy_rows(logits, targets, np.int64(-100), dt(0.1), dl, losses)

    dlog, dtg = dev(logits), dev(targets)
    yield ("cross-entropy fwd+bwd", f"{rows}x{c}", rows / 1e3, "k rows",
           lambda: cross_entropy(K, logits, targets), lambda: cross_entropy(C, dlog, dtg))

    m = z["elems"]
    xe, dye = rand(m), rand(m)
    dxe, ddye = dev(xe), dev(dye)

    def gelu(M, x, dy):
        y = M.elementwise.activation("gelu", x)
        M.elementwise.activation_grad("gelu", x, y, dy)

    yield ("GELU fwd+bwd", f"{m} elements", m / 1e6, "M elements",
           lambda: gelu(K, xe, dye), lambda: gelu(C, dxe, ddye))

    yield from layer_cases(dt, rng)
    yield from pipeline_cases(rng)


def layer_cases(dt, rng):
    """Whole layers, forward + backward, parameters on each device."""
    from nlpkit import nn
    z = SIZES
    e, heads, bt, t = z["E"], z["heads"], z["B"], z["T"]
    x = nn.tensor(rng.standard_normal((bt, t, e)).astype(dt))
    dx = x.to("cuda")
    for name, build in (("nn.LSTM layer fwd+bwd", lambda d: nn.LSTM(e, e, batch_first=True,
                                                                    dtype=dt, rng=0, device=d)),
                        ("nn.MultiheadAttention fwd+bwd",
                         lambda d: nn.MultiheadAttention(e, heads, batch_first=True, dtype=dt,
                                                         rng=0, device=d))):
        cpu, gpu = build("cpu"), build("cuda")

        def run(layer, inp):
            if isinstance(layer, nn.MultiheadAttention):
                out, _ = layer(inp, inp, inp, is_causal=True, need_weights=False)
            else:
                out, _ = layer(inp)
            out.sum().backward()

        yield (name, f"B={bt} T={t} E={e}", bt * t / 1e3, "k tokens",
               lambda c=cpu: run(c, x), lambda g=gpu: run(g, dx))


def pipeline_cases(rng):
    """The n-gram and embedding kernels through their estimators' ``device=`` switch, on a
    Zipf-distributed synthetic corpus of 20-word sentences (the CPU side on every core)."""
    from nlpkit import FastText, NGramLM, Word2Vec
    z = SIZES
    ranks = np.arange(1, z["words"] + 1)
    p = 1.0 / ranks
    ids = rng.choice(z["words"], size=(z["sents"], 20), p=p / p.sum())
    tokens = [[f"w{i}" for i in row] for row in ids]
    lines = [" ".join(t) for t in tokens]
    n_tok = z["sents"] * 20 / 1e6
    fitted = {d: NGramLM(order=3, device=d).fit(lines) for d in ("cpu", "cuda")}
    yield ("n-gram counting + Katz estimation (NGramLM.fit, order 3)", f"{n_tok:.2g}M tokens",
           n_tok, "M tokens", lambda: NGramLM(order=3, device="cpu").fit(lines),
           lambda: NGramLM(order=3, device="cuda").fit(lines))
    yield ("n-gram batch scoring (perplexity, order 3)", f"{n_tok:.2g}M tokens", n_tok,
           "M tokens", lambda: fitted["cpu"].perplexity(lines),
           lambda: fitted["cuda"].perplexity(lines))
    for name, est in (("SGNS training, 1 epoch", Word2Vec), ("CBOW training, 1 epoch", Word2Vec),
                      ("fastText training, 1 epoch", FastText)):
        kw = dict(vector_size=z["dim"], epochs=1, min_count=1)
        if name.startswith("CBOW"):
            kw["model"] = "cbow"
        if est is FastText:
            kw["bucket"] = 100_000
        yield (name, f"{n_tok:.2g}M tokens dim {z['dim']}", n_tok, "M words",
               lambda e=est, k=kw: e(device="cpu", **k).fit(tokens),
               lambda e=est, k=kw: e(device="cuda", **k).fit(tokens))
    yield from estimator_cases(lines, ids)


def estimator_cases(lines, ids):
    """The neural estimators, one epoch of fit on each device (labels: the first word's
    id modulo 8), batch 32, embedding ``dim``, hidden ``H``."""
    from nlpkit.models import TextClassifier
    n = min(len(lines), 20_000)
    docs, labels = lines[:n], ids[:n, 0] % 8
    for enc in ("lstm", "cnn", "transformer"):
        kw = dict(encoder=enc, embedding_dim=SIZES["dim"], hidden_size=SIZES["H"], max_epochs=1,
                  early_stopping=False, random_state=0)
        yield (f"TextClassifier(encoder='{enc}').fit, 1 epoch", f"{n} docs of 20 words",
               n / 1e3, "k docs",
               lambda k=kw: TextClassifier(device="cpu", **k).fit(docs, labels),
               lambda k=kw: TextClassifier(device="cuda", **k).fit(docs, labels))


def main():
    check_device()
    cuda = backend.get_cuda()
    dt = np.dtype(ARGS.dtype).type
    rng = np.random.default_rng(0)
    repeats = 1 if ARGS.simulator else ARGS.repeats
    name = getattr(cuda.get_current_device(), "name", "simulator")
    name = name.decode() if isinstance(name, bytes) else name
    print(f"device: {name}"
          f"{' (SIMULATOR: figures meaningless)' if ARGS.simulator else ''}; dtype {ARGS.dtype}; "
          f"median of {repeats}")
    print("| kernel | size | CPU s | CUDA s | CPU throughput | CUDA throughput | CUDA / CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, size, work, unit, cpu_fn, gpu_fn in cases(dt, rng):
        t_cpu = timed(cpu_fn, repeats)
        t_gpu = timed(gpu_fn, repeats, sync=cuda.synchronize)
        print(f"| {name} | {size} | {t_cpu:.4f} | {t_gpu:.4f} | {work / t_cpu:.3g} {unit}/s | "
              f"{work / t_gpu:.3g} {unit}/s | {t_cpu / t_gpu:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
