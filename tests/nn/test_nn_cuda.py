"""The CUDA twins of the nn kernels, under Numba's CUDA simulator, against their CPU twins.

Shapes and grids are tiny (the simulator runs every GPU thread in Python);
sizes are chosen so that the grid-stride loops wrap and tiles are partial.
"""
import numpy as np
import pytest

from nlpkit import backend
from nlpkit.nn import attention, attention_kernels, elementwise_kernels, layers
from nlpkit.nn import recurrent_kernels as RK

pytestmark = pytest.mark.cuda
DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-6, np.float32: 1e-4}  # as for the layers against PyTorch


@pytest.fixture(scope="module", autouse=True)
def simulator():
    if not backend.simulator_enabled() and not backend.cuda_status()[0]:
        pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 (set by tests/conftest.py) or a GPU")


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _dev(a):
    from nlpkit.nn import cuda_support
    return cuda_support.to_device(a)


def _host(a):
    return a.copy_to_host()


@pytest.fixture(autouse=True)
def _rel_err(nn_rel_err):
    global rel_err
    rel_err = nn_rel_err


def _close(got, want, dtype):
    err = rel_err(got, want)
    assert err < TOL[dtype], err


# ------------------------------------------------------------------ matrix product
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_matches_numpy(dtype):
    from nlpkit.nn.matmul_cuda import gemm
    rng = np.random.default_rng(0)
    a, b = _rand(rng, (9, 6), dtype), _rand(rng, (6, 5), dtype)
    _close(_host(gemm(_dev(a), _dev(b))), RK.dot(a, b), dtype)
    # transposed operands, accumulate into out with alpha and beta
    c = _rand(rng, (9, 5), dtype)
    out = _dev(c)
    gemm(_dev(a.T.copy()), _dev(b.T.copy()), out=out, trans_a=True, trans_b=True, alpha=0.5,
         beta=2.0)
    _close(_host(out), 0.5 * (a @ b) + 2.0 * c, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_gemm_broadcasts_a_batch_of_one(dtype):
    from nlpkit.nn.matmul_cuda import gemm
    rng = np.random.default_rng(1)
    a, b = _rand(rng, (3, 5, 4), dtype), _rand(rng, (1, 6, 4), dtype)
    _close(_host(gemm(_dev(a), _dev(b), trans_b=True)), np.matmul(a, b.transpose(0, 2, 1)),
           dtype)


# ------------------------------------------------------------------ element-wise
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["tanh", "sigmoid", "relu", "gelu", "gelu_tanh"])
def test_activations_forward_backward(kind, dtype):
    from nlpkit.nn import elementwise_kernels_cuda as E
    rng = np.random.default_rng(2)
    x, dy = _rand(rng, (3, 7), dtype) * 3, _rand(rng, (3, 7), dtype)
    if kind.startswith("gelu"):
        layer = layers.GELU("tanh" if kind == "gelu_tanh" else "none", dtype=dtype)
    else:
        layer = layers.ACTIVATIONS[kind](dtype=dtype)
    y = layer(x)
    dx = layer.backward(dy)
    y_d = E.activation_cuda(kind, _dev(x))
    _close(_host(y_d), y, dtype)
    _close(_host(E.activation_grad_cuda(kind, _dev(x), y_d, _dev(dy))), dx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_forward_backward(dtype):
    from nlpkit.nn import elementwise_kernels_cuda as E
    rng = np.random.default_rng(3)
    x, dy = _rand(rng, (5, 7), dtype), _rand(rng, (5, 7), dtype)
    w, b = _rand(rng, 7, dtype), _rand(rng, 7, dtype)
    eps = dtype(1e-5)
    y, xhat, rstd = np.empty_like(x), np.empty_like(x), np.empty(5, dtype)
    elementwise_kernels.layer_norm_forward(x, w, b, eps, y, xhat, rstd)
    dx = np.empty_like(x)
    elementwise_kernels.layer_norm_backward(dy, xhat, rstd, w, dx)

    y_d, xhat_d, rstd_d, dx_d = (_dev(np.zeros_like(a)) for a in (y, xhat, rstd, dx))
    E.layer_norm_forward_cuda(_dev(x), _dev(w), _dev(b), eps, y_d, xhat_d, rstd_d)
    E.layer_norm_backward_cuda(_dev(dy), xhat_d, rstd_d, _dev(w), dx_d)
    for got, want in ((y_d, y), (xhat_d, xhat), (rstd_d, rstd), (dx_d, dx)):
        _close(_host(got), want, dtype)
    dw = _dev(np.ones(7, dtype))  # accumulates, as the layers' gradients do
    E.col_sums_cuda(_dev(dy), dw, weights=xhat_d)
    _close(_host(dw), 1 + (dy * xhat).sum(axis=0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_rows(smoothing, dtype):
    from nlpkit.nn import elementwise_kernels_cuda as E
    rng = np.random.default_rng(4)
    logits = _rand(rng, (5, 6), dtype) * 2
    targets = np.array([0, 5, -100, 2, 3], np.int64)  # one ignored row
    dl, losses = np.empty_like(logits), np.empty(5, dtype)
    elementwise_kernels.cross_entropy_rows(logits, targets, np.int64(-100), dtype(smoothing), dl,
                                           losses)
    dl_d, losses_d = _dev(np.full_like(logits, 7)), _dev(np.full(5, 7, dtype))
    E.cross_entropy_rows_cuda(_dev(logits), _dev(targets), -100, smoothing, dl_d, losses_d)
    _close(_host(losses_d), losses, dtype)
    _close(_host(dl_d), dl, dtype)
    g = _rand(rng, 5, dtype)
    _close(_host(E.scale_rows_cuda(dl_d, 0.5, row_grad=_dev(g))), dl * g[:, None] * 0.5, dtype)
    w = rng.random(6).astype(dtype) + dtype(0.5)  # class weights
    elementwise_kernels.cross_entropy_rows_weighted(logits, targets, np.int64(-100),
                                                    dtype(smoothing), w, dl, losses)
    E.cross_entropy_rows_weighted_cuda(_dev(logits), _dev(targets), -100, smoothing, w, dl_d,
                                       losses_d)
    _close(_host(losses_d), losses, dtype)
    _close(_host(dl_d), dl, dtype)


# ------------------------------------------------------------------ attention
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_q,n_k", [(3, 3), (2, 5)])
def test_masked_softmax_matches_cpu(n_q, n_k, dtype):
    from nlpkit.nn import attention_kernels_cuda as A
    rng = np.random.default_rng(5)
    heads, n = 2, 2
    raw = _rand(rng, (n * heads, n_q, n_k), dtype)
    bias = _rand(rng, (1, n_q, n_k), dtype)
    kp = np.zeros((n, n_k), bool)
    kp[1, -2:] = True
    kp[0, :] = True  # every key of batch 0 masked: zero weights
    for causal in (False, True):
        scores = raw * dtype(0.5) + bias
        scores += np.where(np.repeat(kp, heads, axis=0), -np.inf, 0)[:, None, :].astype(dtype)
        want = np.empty_like(scores)
        attention_kernels.softmax_forward(np.ascontiguousarray(scores), causal, want)
        got = A.masked_softmax_cuda(_dev(raw), 0.5, _dev(bias), _dev(kp.view(np.uint8)), heads,
                                    causal)
        _close(_host(got), want, dtype)
        dp = _rand(rng, want.shape, dtype)
        ds = np.empty_like(want)
        attention_kernels.softmax_backward(want, dp, ds)
        _close(_host(A.softmax_backward_cuda(got, _dev(dp), 0.5)), ds * dtype(0.5), dtype)


def test_masked_softmax_with_the_first_keys_masked():
    """Left padding: NumPy's softmax over the visible keys is the reference."""
    from nlpkit.nn import attention_kernels_cuda as A
    raw = np.random.default_rng(5).standard_normal((2, 2, 4))
    kp = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], np.uint8)
    e = np.exp(raw) * (1 - kp)[:, None, :]
    _close(_host(A.masked_softmax_cuda(_dev(raw), key_padding=_dev(kp))),
           e / e.sum(axis=-1, keepdims=True), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_forward_backward(dtype):
    from nlpkit.nn import attention_kernels_cuda as A
    rng = np.random.default_rng(6)
    q, k, v = (_rand(rng, (4, 3, 4), dtype) for _ in range(3))
    dout = _rand(rng, (4, 3, 4), dtype)
    drop = (rng.random((4, 3, 3)) > 0.3).astype(dtype) / dtype(0.7)
    out, probs, dropped = attention.sdpa_forward(q, k, v, 0.5, None, True, drop)
    grads = attention.sdpa_backward(dout, q, k, v, 0.5, probs, dropped, drop)
    dq, dk, dv = (_dev(a) for a in (q, k, v))
    out_d, probs_d, dropped_d = A.sdpa_forward_cuda(dq, dk, dv, 0.5, causal=True,
                                                    drop_mask=_dev(drop))
    _close(_host(out_d), out, dtype)
    got = A.sdpa_backward_cuda(_dev(dout), dq, dk, dv, 0.5, probs_d, dropped_d, _dev(drop))
    for g, w in zip(got, grads):
        _close(_host(g), w, dtype)


# ------------------------------------------------------------------ recurrent time loops
T, B, H = 3, 2, 4
LENGTHS = np.array([3, 2], np.int64)  # the second row is padded: masking is exercised


def _rec_inputs(dtype, gates, seed):
    rng = np.random.default_rng(seed)
    xproj = _rand(rng, (T, B, gates * H), dtype)
    whh = (_rand(rng, (gates * H, H), dtype) * dtype(0.5))
    h0 = _rand(rng, (B, H), dtype)
    dout = _rand(rng, (T, B, H), dtype)
    dh_n = _rand(rng, (B, H), dtype)
    return rng, xproj, whh, np.ascontiguousarray(whh.T), h0, dout, dh_n


def _zeros(*shapes, dtype):
    return [_dev(np.zeros(s, dtype)) for s in shapes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_rnn_forward_backward(relu, reverse, dtype):
    from nlpkit.nn import recurrent_kernels_cuda as RC
    _, xproj, whh, whh_t, h0, dout, dh_n = _rec_inputs(dtype, 1, 7)
    out, hprev, dpre = (np.empty((T, B, H), dtype) for _ in range(3))
    h_n = RK.rnn_forward(xproj, whh_t, h0, LENGTHS, reverse, relu, out, hprev)
    dh0 = RK.rnn_backward(dout, dh_n, out, whh, LENGTHS, reverse, relu, dpre)
    out_d, hprev_d, dpre_d = _zeros((T, B, H), (T, B, H), (T, B, H), dtype=dtype)
    h_n_d = RC.rnn_forward(_dev(xproj), _dev(whh_t), _dev(h0), LENGTHS, reverse, relu, out_d,
                           hprev_d)
    dh0_d = RC.rnn_backward(_dev(dout), _dev(dh_n), out_d, _dev(whh), LENGTHS, reverse, relu,
                            dpre_d)
    for got, want in ((out_d, out), (hprev_d, hprev), (h_n_d, h_n), (dpre_d, dpre),
                      (dh0_d, dh0)):
        _close(_host(got), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_forward_backward(reverse, dtype):
    from nlpkit.nn import recurrent_kernels_cuda as RC
    rng, xproj, whh, whh_t, h0, dout, dh_n = _rec_inputs(dtype, 4, 8)
    c0, dc_n = _rand(rng, (B, H), dtype), _rand(rng, (B, H), dtype)
    out, hprev, cprev, tanh_c = (np.zeros((T, B, H), dtype) for _ in range(4))
    gates, dgates = np.zeros((T, B, 4 * H), dtype), np.zeros((T, B, 4 * H), dtype)
    h_n, c_n = RK.lstm_forward(xproj, whh_t, h0, c0, LENGTHS, reverse, out, hprev, cprev, gates,
                               tanh_c)
    dh0, dc0 = RK.lstm_backward(dout, dh_n, dc_n, cprev, gates, tanh_c, whh, LENGTHS, reverse,
                                dgates)
    out_d, hprev_d, cprev_d, tanh_c_d = _zeros(*[(T, B, H)] * 4, dtype=dtype)
    gates_d, dgates_d = _zeros((T, B, 4 * H), (T, B, 4 * H), dtype=dtype)
    h_n_d, c_n_d = RC.lstm_forward(_dev(xproj), _dev(whh_t), _dev(h0), _dev(c0), LENGTHS, reverse,
                                   out_d, hprev_d, cprev_d, gates_d, tanh_c_d)
    dh0_d, dc0_d = RC.lstm_backward(_dev(dout), _dev(dh_n), _dev(dc_n), cprev_d, gates_d,
                                    tanh_c_d, _dev(whh), LENGTHS, reverse, dgates_d)
    for got, want in ((out_d, out), (h_n_d, h_n), (c_n_d, c_n), (dgates_d, dgates),
                      (dh0_d, dh0), (dc0_d, dc0)):
        _close(_host(got), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_forward_backward(reverse, dtype):
    from nlpkit.nn import recurrent_kernels_cuda as RC
    rng, xproj, whh, whh_t, h0, dout, dh_n = _rec_inputs(dtype, 3, 9)
    bhh = _rand(rng, 3 * H, dtype)
    out, hprev, hn_proj = (np.zeros((T, B, H), dtype) for _ in range(3))
    gates, dgx, dgh = (np.zeros((T, B, 3 * H), dtype) for _ in range(3))
    h_n = RK.gru_forward(xproj, whh_t, bhh, h0, LENGTHS, reverse, out, hprev, gates, hn_proj)
    dh0 = RK.gru_backward(dout, dh_n, hprev, gates, hn_proj, whh, LENGTHS, reverse, dgx, dgh)
    out_d, hprev_d, hn_proj_d = _zeros(*[(T, B, H)] * 3, dtype=dtype)
    gates_d, dgx_d, dgh_d = _zeros(*[(T, B, 3 * H)] * 3, dtype=dtype)
    h_n_d = RC.gru_forward(_dev(xproj), _dev(whh_t), _dev(bhh), _dev(h0), LENGTHS, reverse, out_d,
                           hprev_d, gates_d, hn_proj_d)
    dh0_d = RC.gru_backward(_dev(dout), _dev(dh_n), hprev_d, gates_d, hn_proj_d, _dev(whh),
                            LENGTHS, reverse, dgx_d, dgh_d)
    for got, want in ((out_d, out), (h_n_d, h_n), (dgx_d, dgx), (dgh_d, dgh), (dh0_d, dh0)):
        _close(_host(got), want, dtype)


# ------------------------------------------------------------------ layers with device='cuda'
def _same_grads(cpu, gpu, dtype):
    cg, gg = cpu.grads, gpu.grads
    assert cg.keys() == gg.keys()
    for name in cg:
        _close(_host(gg[name]), cg[name], dtype)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_recurrent_layer_on_cuda_matches_cpu(mode):
    """Both directions, batch_first, padded batch (two layers for LSTM): forward and backward."""
    from nlpkit import nn
    dtype = np.float64
    cls = getattr(nn, mode)
    kw = dict(num_layers=2 if mode == "LSTM" else 1, bidirectional=True, batch_first=True,
              dtype=dtype)
    cpu, gpu = cls(3, 4, rng=0, **kw), cls(3, 4, rng=0, device="cuda", **kw)
    assert gpu.device == "cuda" and not isinstance(gpu.weight_ih_l0, np.ndarray)
    rng = np.random.default_rng(10)
    x = _rand(rng, (B, T, 3), dtype)
    lengths = np.array([3, 2])
    out_c, hn_c = cpu(x, lengths=lengths)
    out_g, hn_g = gpu(_dev(x), lengths=lengths)
    _close(_host(out_g), out_c, dtype)
    dy = _rand(rng, out_c.shape, dtype)
    if mode == "LSTM":
        for a, b in zip(hn_g, hn_c):
            _close(_host(a), b, dtype)
        dh = (_rand(rng, hn_c[0].shape, dtype), _rand(rng, hn_c[1].shape, dtype))
        dx_c, dh0_c = cpu.backward(dy, dh)
        dx_g, dh0_g = gpu.backward(_dev(dy), tuple(_dev(a) for a in dh))
        for a, b in zip(dh0_g, dh0_c):
            _close(_host(a), b, dtype)
    else:
        _close(_host(hn_g), hn_c, dtype)
        dh = _rand(rng, hn_c.shape, dtype)
        dx_c, dh0_c = cpu.backward(dy, dh)
        dx_g, dh0_g = gpu.backward(_dev(dy), _dev(dh))
        _close(_host(dh0_g), dh0_c, dtype)
    _close(_host(dx_g), dx_c, dtype)
    _same_grads(cpu, gpu, dtype)


@pytest.mark.parametrize("fused,kdim", [(True, None), (False, None), (False, 3)])
def test_multihead_attention_on_cuda_matches_cpu(fused, kdim):
    """Self-attention (causal) and cross-attention, with key padding; kdim = vdim != embed_dim
    uses PyTorch's separate projection weights."""
    from nlpkit import nn
    dtype = np.float64
    kw = dict(batch_first=True, dtype=dtype, rng=1, kdim=kdim, vdim=kdim)
    cpu = nn.MultiheadAttention(4, 2, **kw)
    gpu = nn.MultiheadAttention(4, 2, **kw).to("cuda")
    rng = np.random.default_rng(11)
    q = _rand(rng, (2, 3, 4), dtype)
    kv = q if fused else _rand(rng, (2, 3, kdim or 4), dtype)
    pad = np.array([[False, False, True], [False, False, False]])
    out_c, w_c = cpu(q, kv, kv, key_padding_mask=pad, need_weights=True, is_causal=fused)
    dq = _dev(q)
    dkv = dq if fused else _dev(kv)
    out_g, w_g = gpu(dq, dkv, dkv, key_padding_mask=pad, need_weights=True, is_causal=fused)
    _close(_host(out_g), out_c, dtype)
    _close(w_g, w_c, dtype)
    dy = _rand(rng, out_c.shape, dtype)
    for a, b in zip(gpu.backward(_dev(dy)), cpu.backward(dy)):
        _close(_host(a), b, dtype)
    _same_grads(cpu, gpu, dtype)


def test_scaled_dot_product_attention_layer_on_cuda():
    """(N, H, L, d) inputs, a boolean attn_mask and dropout (same generator on both sides)."""
    from nlpkit import nn
    dtype = np.float64
    rng = np.random.default_rng(13)
    q, k, v = (_rand(rng, (2, 2, 3, 4), dtype) for _ in range(3))
    mask = np.array([[False, True, True], [False, False, True], [False, False, False]])
    cpu = nn.ScaledDotProductAttention(0.3, dtype=dtype, rng=4)
    gpu = nn.ScaledDotProductAttention(0.3, dtype=dtype, rng=4, device="cuda")
    _close(_host(gpu(_dev(q), _dev(k), _dev(v), attn_mask=mask)), cpu(q, k, v, attn_mask=mask),
           dtype)
    dy = _rand(rng, (2, 2, 3, 4), dtype)
    for a, b in zip(gpu.backward(_dev(dy)), cpu.backward(dy)):
        _close(_host(a), b, dtype)


def test_transformer_layers_on_cuda_match_cpu():
    """A post-LN encoder layer and a pre-LN decoder layer (causal self-attention)."""
    from nlpkit import nn
    dtype = np.float64
    kw = dict(dim_feedforward=6, dropout=0.0, activation="gelu", batch_first=True,
              norm_first=False, dtype=dtype, rng=5)
    rng = np.random.default_rng(12)
    x, mem = _rand(rng, (1, 3, 4), dtype), _rand(rng, (1, 2, 4), dtype)  # the simulator is slow
    dy = _rand(rng, (1, 3, 4), dtype)
    enc_c, enc_g = nn.TransformerEncoderLayer(4, 2, **kw), nn.TransformerEncoderLayer(4, 2, **kw)
    enc_g.to("cuda")
    _close(_host(enc_g(_dev(x), is_causal=True)), enc_c(x, is_causal=True), dtype)
    _close(_host(enc_g.backward(_dev(dy))), enc_c.backward(dy), dtype)
    _same_grads(enc_c, enc_g, dtype)
    kw["norm_first"] = True
    dec_c, dec_g = nn.TransformerDecoderLayer(4, 2, **kw), nn.TransformerDecoderLayer(4, 2, **kw)
    dec_g.to("cuda")
    _close(_host(dec_g(_dev(x), _dev(mem), tgt_is_causal=True)),
           dec_c(x, mem, tgt_is_causal=True), dtype)
    for a, b in zip(dec_g.backward(_dev(dy)), dec_c.backward(dy)):
        _close(_host(a), b, dtype)
    _same_grads(dec_c, dec_g, dtype)


def test_training_steps_stay_on_the_device_and_match_cpu():
    """Embedding → Linear → GELU → LayerNorm → Dropout(eval) → Linear, cross-entropy with
    ignore_index and smoothing, clipping and Adam: two steps on each device."""
    from nlpkit import nn

    def build(device):
        return nn.Sequential(nn.Embedding(7, 4, padding_idx=0, dtype=np.float64, rng=2),
                             nn.Linear(4, 5, dtype=np.float64, rng=3), nn.GELU(dtype=np.float64),
                             nn.LayerNorm(5, dtype=np.float64), nn.Dropout(0.5, dtype=np.float64),
                             nn.Linear(5, 6, dtype=np.float64, rng=4)).to(device)

    ids = np.array([[1, 2, 0], [3, 3, 6]])
    targets = np.array([[1, 5, -100], [0, 2, 3]])
    results = []
    for device, opt_cls in (("cpu", nn.Adam), ("cuda", nn.Adam), ("cpu", nn.SGD),
                            ("cuda", nn.SGD)):
        model = build(device).eval()
        opt = opt_cls(model, lr=0.1, **({"momentum": 0.9} if opt_cls is nn.SGD else {}))
        loss_fn = nn.CrossEntropyLoss(weight=np.linspace(0.5, 1.5, 6), label_smoothing=0.1)
        losses = []
        for _ in range(2):
            model.zero_grad()
            losses.append(loss_fn(model(ids), targets))
            model.backward(loss_fn.backward())
            nn.clip_grad_norm(model, 0.5)
            opt.step()
        if device == "cuda":  # parameters, gradients and optimizer state never left the device
            arrays = model.parameters() + model.gradients()
            arrays += [a for st in opt.state for a in st.values()]
            assert all(hasattr(a, "copy_to_host") for a in arrays)
        results.append((losses, model.state_dict()))
    for (l_c, s_c), (l_g, s_g) in (results[:2], results[2:]):
        np.testing.assert_allclose(l_g, l_c, rtol=1e-9)
        assert all(isinstance(v, np.ndarray) for v in s_g.values())
        for name in s_c:
            _close(s_g[name], s_c[name], np.float64)


def test_moving_back_to_cpu_and_unsupported_layers():
    from nlpkit import nn
    from nlpkit.errors import NlpkitError
    lin = nn.Linear(3, 2, dtype=np.float64, rng=0, device="cuda")
    x = np.arange(6.0).reshape(2, 3)
    y = _host(lin(x))
    lin.to("cpu")
    assert lin.device == "cpu" and isinstance(lin.weight, np.ndarray)
    np.testing.assert_allclose(lin(x), y)

    class Custom(nn.Module):  # a user's layer with its own NumPy forward has no device twin
        pass

    with pytest.raises(NlpkitError, match="Custom: no CUDA implementation yet"):
        nn.Sequential(nn.Linear(2, 2), Custom(np.float32)).to("cuda")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_in_training_draws_the_cpu_mask(dtype):
    """A seeded Dropout gives the same mask on both devices, float32 included."""
    from nlpkit import nn
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(dtype)
    cpu = nn.Dropout(0.4, dtype=dtype, rng=7).train()
    gpu = nn.Dropout(0.4, dtype=dtype, rng=7).to("cuda").train()
    y = cpu(x)
    np.testing.assert_array_equal(_host(gpu(_dev(x))), y)
    g = np.ones_like(x)
    np.testing.assert_array_equal(_host(gpu.backward(_dev(g))), cpu.backward(g))


# ------------------------------------------------------------------ Conv1d and pooling over time
def _layer_pair(make):
    return make(), make().to("cuda")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, dilation=2),
                                dict(groups=2, padding="same", bias=False)])
def test_conv1d_on_cuda_matches_cpu(kw, dtype):
    """Strided, dilated, padded windows, and grouped channels: forward and backward."""
    from nlpkit import nn
    cpu, gpu = _layer_pair(lambda: nn.Conv1d(4, 2, 3, dtype=dtype, rng=0, **kw))
    rng = np.random.default_rng(20)
    x = _rand(rng, (2, 4, 6), dtype)
    y = cpu(x)
    _close(_host(gpu(_dev(x))), y, dtype)
    dy = _rand(rng, y.shape, dtype)
    _close(_host(gpu.backward(_dev(dy))), cpu.backward(dy), dtype)
    _same_grads(cpu, gpu, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool,dim", [("MaxPoolTime", -1), ("MeanPoolTime", -1),
                                      ("MaxPoolTime", 1), ("MeanPoolTime", 1)])
def test_pooling_over_time_on_cuda_matches_cpu(pool, dim, dtype):
    """(N, C, L) and (N, L, C) layouts, with and without per-sequence lengths."""
    from nlpkit import nn
    cpu, gpu = _layer_pair(lambda: getattr(nn, pool)(dim=dim, dtype=dtype))
    rng = np.random.default_rng(21)
    x = _rand(rng, (2, 3, 4), dtype)
    if dim == -1:  # ties: the gradient goes to the first maximum on both devices
        x[0, :, 1] = x[0, :, 0]
    else:
        x[0, 1] = x[0, 0]
    for lengths in (None, np.array([2, 3] if dim == 1 else [4, 2])):
        y = cpu(x, lengths=lengths)
        _close(_host(gpu(_dev(x), lengths=lengths)), y, dtype)
        dy = _rand(rng, y.shape, dtype)
        _close(_host(gpu.backward(_dev(dy))), cpu.backward(dy), dtype)


def test_cnn_classifier_stack_trains_on_cuda_like_cpu():
    """Embedding → Conv1d → ReLU → max over time → Linear, one SGD step on each device."""
    from nlpkit import nn
    from nlpkit.nn import conv_kernels_cuda as C

    def swap(a):  # (N, L, E) <-> (N, E, L)
        return C.swap12_cuda(a) if hasattr(a, "copy_to_host") else a.transpose(0, 2, 1).copy()

    ids, targets = np.array([[1, 2, 3, 0], [4, 5, 5, 2]]), np.array([0, 1])
    states = []
    for device in ("cpu", "cuda"):
        f64 = dict(dtype=np.float64)
        model = nn.Sequential(nn.Embedding(6, 3, rng=1, **f64), nn.Conv1d(3, 4, 2, rng=2, **f64),
                              nn.ReLU(**f64), nn.MaxPoolTime(**f64),
                              nn.Linear(4, 2, rng=3, **f64)).to(device)
        emb, conv, act, pool, out = model
        opt, loss_fn = nn.SGD(model, lr=0.5), nn.CrossEntropyLoss()
        model.zero_grad()
        loss_fn(out(pool(act(conv(swap(emb(ids)))))), targets)
        g = conv.backward(act.backward(pool.backward(out.backward(loss_fn.backward()))))
        emb.backward(swap(g))
        opt.step()
        states.append(model.state_dict())
    for name in states[0]:
        _close(states[1][name], states[0][name], np.float64)


# ------------------------------------------------------------------ positional encodings
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,batch_first", [("Sinusoidal", False), ("Learned", True)])
def test_added_positional_encodings_on_cuda_match_cpu(kind, batch_first, dtype):
    """x + table[:L] in both layouts; the learned table's gradient sums over the batch."""
    from nlpkit import nn
    if kind == "Sinusoidal":
        def make():
            return nn.SinusoidalPositionalEncoding(4, max_len=5, batch_first=batch_first,
                                                   dtype=dtype)
    else:
        def make():
            return nn.LearnedPositionalEncoding(5, 4, batch_first=batch_first, dtype=dtype,
                                                rng=0)
    cpu, gpu = _layer_pair(make)
    rng = np.random.default_rng(30)
    x = _rand(rng, (2, 3, 4), dtype)
    for _ in range(2):  # twice: the gradient accumulates
        y = cpu(x)
        _close(_host(gpu(_dev(x))), y, dtype)
        dy = _rand(rng, y.shape, dtype)
        _close(_host(gpu.backward(_dev(dy))), cpu.backward(dy), dtype)
    _same_grads(cpu, gpu, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rotary_embedding_on_cuda_matches_cpu(dtype):
    """(N, H, L, d) queries at an offset, forward and backward."""
    from nlpkit import nn
    cpu, gpu = _layer_pair(lambda: nn.RotaryEmbedding(4, dtype=dtype))
    rng = np.random.default_rng(31)
    x, dy = _rand(rng, (1, 2, 3, 4), dtype), _rand(rng, (1, 2, 3, 4), dtype)
    for offset in (0, 2):
        _close(_host(gpu(_dev(x), offset=offset)), cpu(x, offset=offset), dtype)
        _close(_host(gpu.backward(_dev(dy))), cpu.backward(dy), dtype)


# ------------------------------------------------------------------ binary cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_on_cuda_matches_cpu(reduction, dtype):
    """Large logits of both signs (the stable form), soft targets; loss and its gradient."""
    from nlpkit import nn
    rng = np.random.default_rng(40)
    x = (_rand(rng, (3, 4), dtype) * 4).astype(dtype)
    x[0, :2] = [30, -30]
    y = rng.random((3, 4)).astype(dtype)
    cpu, gpu = nn.BCEWithLogitsLoss(reduction), nn.BCEWithLogitsLoss(reduction)
    want, got = cpu(x, y), gpu(_dev(x), y)
    if reduction == "none":
        _close(_host(got), want, dtype)
        g = _rand(rng, (3, 4), dtype)
        _close(_host(gpu.backward(_dev(g))), cpu.backward(g), dtype)
    else:
        assert isinstance(got, float)
        _close(np.array([got]), np.array([want]), dtype)
        _close(_host(gpu.backward(0.5)), cpu.backward(0.5), dtype)
