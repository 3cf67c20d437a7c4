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
    from nlpkit.nn import attention_kernels as AK
    from nlpkit.nn import attention_kernels_cuda as AC
    from nlpkit.nn import cuda_support as S
    from nlpkit.nn import elementwise_kernels as EK
    from nlpkit.nn import elementwise_kernels_cuda as EC
    from nlpkit.nn import layers
    from nlpkit.nn import recurrent_kernels as RK
    from nlpkit.nn import recurrent_kernels_cuda as RC
    from nlpkit.nn.matmul_cuda import gemm

    z = SIZES
    dev = S.to_device

    def rand(*shape):
        return rng.standard_normal(shape).astype(dt)

    n = z["gemm"]
    a, b = rand(n, n), rand(n, n)
    da, db = dev(a), dev(b)
    dc = S.empty((n, n), dt)
    yield ("matrix product", f"{n}^3", 2 * n ** 3 / 1e9, "GFLOP",
           lambda: RK.dot(a, b), lambda: gemm(da, db, out=dc))

    bt, t, h = z["B"], z["T"], z["H"]
    xp, whh, h0 = rand(t, bt, 4 * h), rand(4 * h, h) * dt(0.1), rand(bt, h)
    whh_t = np.ascontiguousarray(whh.T)
    lengths = np.full(bt, t, np.int64)
    host = ([np.empty((t, bt, h), dt) for _ in range(4)]
            + [np.empty((t, bt, 4 * h), dt) for _ in range(2)])
    devs = [S.empty((t, bt, h), dt) for _ in range(4)] + [S.empty((t, bt, 4 * h), dt)
                                                           for _ in range(2)]
    dxp, dwhh_t, dwhh, dh0 = dev(xp), dev(whh_t), dev(whh), dev(h0)
    dout = rand(t, bt, h)
    ddout = dev(dout)

    def lstm_cpu():
        out, hp, cp, tc, g, dg = host
        RK.lstm_forward(xp, whh_t, h0, h0, lengths, False, out, hp, cp, g, tc)
        RK.lstm_backward(dout, h0, h0, cp, g, tc, whh, lengths, False, dg)

    def lstm_gpu():
        out, hp, cp, tc, g, dg = devs
        RC.lstm_forward(dxp, dwhh_t, dh0, dh0, lengths, False, out, hp, cp, g, tc)
        RC.lstm_backward(ddout, dh0, dh0, cp, g, tc, dwhh, lengths, False, dg)

    yield ("LSTM time loop fwd+bwd", f"B={bt} T={t} H={h}", bt * t / 1e3, "k tokens",
           lstm_cpu, lstm_gpu)

    g_, l_, d_ = z["G"], z["L"], z["d"]
    q, k, v = rand(g_, l_, d_), rand(g_, l_, d_), rand(g_, l_, d_)
    dq, dk, dv = dev(q), dev(k), dev(v)
    scale = 1 / np.sqrt(d_)

    def sdpa_cpu():
        from nlpkit.nn.attention import sdpa_backward, sdpa_forward
        out, p, dp = sdpa_forward(q, k, v, scale, None, True)
        sdpa_backward(out, q, k, v, scale, p, dp)

    def sdpa_gpu():
        out, p, dp = AC.sdpa_forward_cuda(dq, dk, dv, scale, causal=True)
        AC.sdpa_backward_cuda(out, dq, dk, dv, scale, p, dp)

    yield ("attention fwd+bwd (causal)", f"G={g_} L={l_} d={d_}", g_ * l_ / 1e3, "k rows",
           sdpa_cpu, sdpa_gpu)

    scores = rand(g_, l_, l_)
    probs = np.empty_like(scores)
    dscores, dprobs = dev(scores), S.empty(scores.shape, dt)
    yield ("masked softmax", f"G={g_} L=S={l_}", g_ * l_ / 1e3, "k rows",
           lambda: AK.softmax_forward(scores, True, probs),
           lambda: AC.masked_softmax_cuda(dscores, 1.0, causal=True, probs=dprobs))

    rows, dim = z["rows"], z["D"]
    x, w, bias = rand(rows, dim), rand(dim), rand(dim)
    y, xh, rs, dx = (np.empty_like(x), np.empty_like(x), np.empty(rows, dt), np.empty_like(x))
    dx_, dw_, dbias = dev(x), dev(w), dev(bias)
    dy_, dxh, drs, ddx = (S.empty(x.shape, dt), S.empty(x.shape, dt), S.empty(rows, dt),
                          S.empty(x.shape, dt))
    eps = dt(1e-5)

    def ln_cpu():
        EK.layer_norm_forward(x, w, bias, eps, y, xh, rs)
        EK.layer_norm_backward(x, xh, rs, w, dx)

    def ln_gpu():
        EC.layer_norm_forward_cuda(dx_, dw_, dbias, eps, dy_, dxh, drs)
        EC.layer_norm_backward_cuda(dx_, dxh, drs, dw_, ddx)

    yield ("layer norm fwd+bwd", f"{rows}x{dim}", rows / 1e3, "k rows", ln_cpu, ln_gpu)

    c = z["C"]
    logits, targets = rand(rows, c), rng.integers(0, c, rows).astype(np.int64)
    dl, losses = np.empty_like(logits), np.empty(rows, dt)
    dlog, dtg, ddl, dlosses = dev(logits), dev(targets), S.empty(logits.shape, dt), S.empty(rows,
                                                                                              dt)
    yield ("cross-entropy fwd+bwd", f"{rows}x{c}", rows / 1e3, "k rows",
           lambda: EK.cross_entropy_rows(logits, targets, np.int64(-100), dt(0.1), dl, losses),
           lambda: EC.cross_entropy_rows_cuda(dlog, dtg, -100, 0.1, ddl, dlosses))

    m = z["elems"]
    xe, dye = rand(m), rand(m)
    dxe, ddye, dye_out, dgrad = dev(xe), dev(dye), S.empty(m, dt), S.empty(m, dt)

    def gelu_cpu():
        layers.gelu_grad(xe, dye)
        layers.gelu(xe)

    def gelu_gpu():
        EC.activation_cuda("gelu", dxe, out=dye_out)
        EC.activation_grad_cuda("gelu", dxe, dye_out, ddye, out=dgrad)

    yield ("GELU fwd+bwd", f"{m} elements", m / 1e6, "M elements", gelu_cpu, gelu_gpu)

    yield from layer_cases(dt, rng)
    yield from pipeline_cases(rng)


def layer_cases(dt, rng):
    """Whole layers, forward + backward, parameters on each device."""
    from nlpkit import nn
    from nlpkit.nn import cuda_support as S
    z = SIZES
    e, heads, bt, t = z["E"], z["heads"], z["B"], z["T"]
    x = rng.standard_normal((bt, t, e)).astype(dt)
    dx = S.to_device(x)
    for name, build in (("nn.LSTM layer fwd+bwd", lambda d: nn.LSTM(e, e, batch_first=True,
                                                                     dtype=dt, rng=0, device=d)),
                        ("nn.MultiheadAttention fwd+bwd",
                         lambda d: nn.MultiheadAttention(e, heads, batch_first=True, dtype=dt,
                                                         rng=0, device=d))):
        cpu, gpu = build("cpu"), build("cuda")

        def run(layer, inp):
            if isinstance(layer, nn.MultiheadAttention):
                out, _ = layer(inp, inp, inp, is_causal=True)
            else:
                out, _ = layer(inp)
            layer.backward(out)

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
