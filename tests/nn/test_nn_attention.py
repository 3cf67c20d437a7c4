"""Attention, MultiheadAttention and transformer layers: torch parity and finite differences."""
import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError

L, S, N, E, H = 5, 6, 3, 8, 2
DTYPES = [(np.float64, 1e-6), (np.float32, 1e-4)]


def _tdtype(torch, dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _randomise(torch, module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)


MHA_CASES = {
    "self": dict(fused=True),
    "self-causal": dict(fused=True, causal=True),
    "cross-padding": dict(fused=False, padding=True),
    "cross-boolmask-padding": dict(fused=False, padding=True, bool_mask=True),
    "self-floatmask-perhead": dict(fused=True, float_mask=True),
    "batch-first-cross": dict(fused=False, batch_first=True, padding=True),
    # the first key masked: the softmax sum must not start from a -inf score
    "self-left-padding": dict(fused=True, padding="left"),
}


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_parity(torch, nn_rel_err, case, dtype, tol):
    c = MHA_CASES[case]
    bf = c.get("batch_first", False)
    ours = nn.MultiheadAttention(E, H, batch_first=bf, dtype=dtype)
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=bf).to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(0)
    shape_q = (N, L, E) if bf else (L, N, E)
    n_k = L if c["fused"] else S
    q = rng.standard_normal(shape_q).astype(dtype)
    k = q if c["fused"] else rng.standard_normal((N, S, E) if bf else (S, N, E)).astype(dtype)
    v = q if c["fused"] else rng.standard_normal(k.shape).astype(dtype)
    kw, kw_t = {}, {}
    if c.get("padding"):
        pad = np.zeros((N, n_k), bool)
        if c["padding"] == "left":
            pad[1, :2] = True
            pad[2, 0] = True
        else:
            pad[1, -2:] = True
            pad[2, -1] = True
        kw["key_padding_mask"], kw_t["key_padding_mask"] = pad, torch.tensor(pad)
    if c.get("causal"):
        kw["is_causal"] = True
        kw_t.update(attn_mask=torch.tensor(nn.causal_mask(L, dtype)), is_causal=True)
    if c.get("bool_mask"):
        m = rng.random((L, n_k)) < 0.3
        m[:, 0] = False
        kw["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
    if c.get("float_mask"):
        m = rng.standard_normal((N * H, L, n_k)).astype(dtype)
        kw["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
    out, w = ours(q, k, v, need_weights=True, **kw)
    qt = torch.tensor(q, requires_grad=True)
    kt = qt if c["fused"] else torch.tensor(k, requires_grad=True)
    vt = qt if c["fused"] else torch.tensor(v, requires_grad=True)
    out_t, w_t = theirs(qt, kt, vt, need_weights=True, **kw_t)
    assert nn_rel_err(out, out_t) <= tol
    assert nn_rel_err(w, w_t) <= tol
    g = rng.standard_normal(out.shape).astype(dtype)
    dq, dk, dv = ours.backward(g)
    out_t.backward(torch.tensor(g))
    if c["fused"]:
        assert nn_rel_err(dq + dk + dv, qt.grad) <= tol
    else:
        for a, b in ((dq, qt), (dk, kt), (dv, vt)):
            assert nn_rel_err(a, b.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol, name


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("dims", [(5, 3), (E, 3), (5, 5)], ids=str)
def test_multihead_attention_kdim_vdim_parity(torch, nn_rel_err, dims, dtype, tol):
    kdim, vdim = dims
    ours = nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=True, dtype=dtype)
    theirs = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=True)
    theirs = theirs.to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(7)
    q = rng.standard_normal((N, L, E)).astype(dtype)
    k = rng.standard_normal((N, S, kdim)).astype(dtype)
    v = rng.standard_normal((N, S, vdim)).astype(dtype)
    pad = np.zeros((N, S), bool)
    pad[0, -2:] = True
    out, w = ours(q, k, v, key_padding_mask=pad, need_weights=True)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out_t, w_t = theirs(*ts, key_padding_mask=torch.tensor(pad), need_weights=True)
    assert nn_rel_err(out, out_t) <= tol and nn_rel_err(w, w_t) <= tol
    g = rng.standard_normal(out.shape).astype(dtype)
    grads = ours.backward(g)
    out_t.backward(torch.tensor(g))
    for a, b in zip(grads, ts):
        assert nn_rel_err(a, b.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol, name


def test_multihead_attention_kdim_vdim_finite_differences_and_errors(nn_numeric_check):
    rng = np.random.default_rng(8)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5, dtype=np.float64, rng=0)
    for p in m.parameters():
        p[...] = rng.standard_normal(p.shape) * 0.5
    x, k, v = (rng.standard_normal((3, 2, d)) for d in (4, 3, 5))
    run = lambda: m(x, k, v, is_causal=True)[0]  # noqa: E731
    r = rng.standard_normal(run().shape)
    m.zero_grad()
    run()
    grads = list(m.backward(r))
    pgrads = [g.copy() for g in m.gradients()]
    nn_numeric_check(lambda: float((run() * r).sum()), [x, k, v] + m.parameters(),
                     grads + pgrads, max_entries=10)
    with pytest.raises(NlpkitError, match=r"MultiheadAttention: key expected shape \(\.\.\., 3\), "
                                          r"got \(3, 2, 4\)"):
        m(x, x, v)


@pytest.mark.parametrize("n_q,n_k,fused", [(70, 70, True), (37, 45, False)], ids=str)
def test_multihead_attention_parity_over_several_row_blocks(torch, nn_rel_err, n_q, n_k, fused):
    """Lengths beyond the kernel's 32-row blocks (with a remainder), causal, with padding."""
    ours = nn.MultiheadAttention(E, H, dtype=np.float64)
    theirs = torch.nn.MultiheadAttention(E, H).double()
    _randomise(torch, theirs)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(9)
    q = rng.standard_normal((n_q, N, E))
    k = q if fused else rng.standard_normal((n_k, N, E))
    v = q if fused else rng.standard_normal((n_k, N, E))
    pad = np.zeros((N, n_k), bool)
    pad[1, 3:9] = True
    out, w = ours(q, k, v, key_padding_mask=pad, need_weights=True, is_causal=True)
    qt = torch.tensor(q, requires_grad=True)
    kt = qt if fused else torch.tensor(k, requires_grad=True)
    vt = qt if fused else torch.tensor(v, requires_grad=True)
    causal = torch.tensor(np.triu(np.ones((n_q, n_k), bool), 1 + n_k - n_q))
    out_t, w_t = theirs(qt, kt, vt, key_padding_mask=torch.tensor(pad), attn_mask=causal,
                        need_weights=True)
    assert nn_rel_err(out, out_t) <= 1e-10 and nn_rel_err(w, w_t) <= 1e-10
    g = rng.standard_normal(out.shape)
    grads = ours.backward(g)
    out_t.backward(torch.tensor(g))
    if fused:
        assert nn_rel_err(grads[0], qt.grad) <= 1e-10
    else:
        for a, b in zip(grads, (qt, kt, vt)):
            assert nn_rel_err(a, b.grad) <= 1e-10
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= 1e-10, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_kernels_match_reference_sdpa(dtype):
    """The fused MHA kernels against the unfused sdpa path, where causal rows see no key at
    all (more queries than keys), with a float mask and dropout."""
    from nlpkit.nn import attention as A
    from nlpkit.nn import attention_kernels as K
    rng = np.random.default_rng(10)
    n, h, n_q, n_k, d = 2, 3, 41, 35, 4
    q, k, v = (rng.standard_normal((n, h, m, d)).astype(dtype) for m in (n_q, n_k, n_k))
    bias = rng.standard_normal((n, 1, n_q, n_k)).astype(dtype)
    keep = ((rng.random((n, h, n_q, n_k)) > 0.2) / 0.8).astype(dtype)
    ref, probs_ref, dropped = A.sdpa_forward(q, k, v, 0.3, bias, True, keep)
    probs, ctx = np.empty((n, h, n_q, n_k), dtype), np.empty_like(q)
    K.attention_forward(q, k, v, 0.3, bias, True, True, keep, True, probs, ctx)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert np.abs(probs[:, :, :6]).max() == 0  # rows 0..5 see no key: zero weights
    assert np.abs(ctx - ref).max() <= tol and np.abs(probs - probs_ref).max() <= tol
    dout = rng.standard_normal(ctx.shape).astype(dtype)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    K.attention_backward(dout, q, k, v, 0.3, probs, True, keep, True, dq, dk, dv)
    for ours, theirs in zip((dq, dk, dv), A.sdpa_backward(dout, q, k, v, 0.3, probs_ref, dropped,
                                                          keep)):
        assert np.abs(ours - theirs).max() <= tol * max(1.0, np.abs(theirs).max())


def test_per_head_weights(torch, nn_rel_err):
    ours = nn.MultiheadAttention(E, H, dtype=np.float64)
    theirs = torch.nn.MultiheadAttention(E, H).double()
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(1).standard_normal((L, N, E))
    _, w = ours(x, x, x, need_weights=True, average_attn_weights=False)
    xt = torch.tensor(x)
    _, w_t = theirs(xt, xt, xt, need_weights=True, average_attn_weights=False)
    assert w.shape == (N, H, L, L) and nn_rel_err(w, w_t) <= 1e-12


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_parity(torch, nn_rel_err, norm_first, activation, dtype, tol):
    ours = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, activation=activation,
                                      norm_first=norm_first, dtype=dtype)
    theirs = torch.nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, activation=activation,
                                              norm_first=norm_first).to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(2)
    x = rng.standard_normal((L, N, E)).astype(dtype)
    pad = np.zeros((N, L), bool)
    pad[0, -2:] = True
    y = ours(x, src_key_padding_mask=pad, is_causal=True)
    xt = torch.tensor(x, requires_grad=True)
    causal = torch.tensor(np.triu(np.ones((L, L), bool), 1))
    y_t = theirs(xt, src_mask=causal, src_key_padding_mask=torch.tensor(pad), is_causal=True)
    assert nn_rel_err(y, y_t) <= tol
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(g)
    y_t.backward(torch.tensor(g))
    assert nn_rel_err(dx, xt.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol, name


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_layer_parity(torch, nn_rel_err, norm_first, dtype, tol):
    ours = nn.TransformerDecoderLayer(E, H, 16, dropout=0.0, activation="gelu",
                                      norm_first=norm_first, batch_first=True, dtype=dtype)
    theirs = torch.nn.TransformerDecoderLayer(E, H, 16, dropout=0.0, activation="gelu",
                                              norm_first=norm_first, batch_first=True)
    theirs = theirs.to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, L, E)).astype(dtype)
    mem = rng.standard_normal((N, S, E)).astype(dtype)
    mpad = np.zeros((N, S), bool)
    mpad[1, -3:] = True
    y = ours(x, mem, memory_key_padding_mask=mpad, tgt_is_causal=True)
    xt, mt = torch.tensor(x, requires_grad=True), torch.tensor(mem, requires_grad=True)
    y_t = theirs(xt, mt, tgt_mask=torch.tensor(nn.causal_mask(L, dtype)),
                 memory_key_padding_mask=torch.tensor(mpad), tgt_is_causal=True)
    assert nn_rel_err(y, y_t) <= tol
    g = rng.standard_normal(y.shape).astype(dtype)
    dx, dmem = ours.backward(g)
    y_t.backward(torch.tensor(g))
    assert nn_rel_err(dx, xt.grad) <= tol
    assert nn_rel_err(dmem, mt.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol, name


def test_sdpa_parity_and_finite_differences(torch, nn_rel_err, nn_numeric_check):
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 3, n, 4)) for n in (5, 6, 6))
    att = nn.ScaledDotProductAttention(dtype=np.float64)
    out = att(q, k, v, is_causal=True)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    ref = torch.nn.functional.scaled_dot_product_attention(
        *ts, attn_mask=torch.tensor(np.tril(np.ones((5, 6), bool), 1)))
    assert nn_rel_err(out, ref) <= 1e-12
    r = rng.standard_normal(out.shape)
    grads = att.backward(r)
    ref.backward(torch.tensor(r))
    for a, b in zip(grads, ts):
        assert nn_rel_err(a, b.grad) <= 1e-12
    nn_numeric_check(lambda: float((att(q, k, v, is_causal=True) * r).sum()), [q, k, v],
                     list(grads))


@pytest.mark.parametrize("layer", ["mha", "encoder", "encoder-prenorm", "decoder"])
def test_finite_differences(nn_numeric_check, layer):
    rng = np.random.default_rng(5)
    d = np.float64
    x = rng.standard_normal((3, 2, 4))
    mem = rng.standard_normal((4, 2, 4))
    pad = np.array([[False, False, True], [False, False, False]])
    if layer == "mha":
        m = nn.MultiheadAttention(4, 2, dtype=d, rng=0)
        kpad = np.array([[False, False, False, True], [False, True, False, False]])
        run = lambda: m(x, mem, mem, key_padding_mask=kpad)[0]  # noqa: E731
    elif layer.startswith("encoder"):
        m = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=layer.endswith("prenorm"),
                                       dtype=d, rng=0)
        run = lambda: m(x, src_key_padding_mask=pad, is_causal=True)  # noqa: E731
    else:
        m = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, activation="gelu", dtype=d, rng=0)
        run = lambda: m(x, mem, tgt_is_causal=True)  # noqa: E731
    for p in m.parameters():  # non-trivial norms and biases
        p[...] = rng.standard_normal(p.shape) * 0.5
    r = rng.standard_normal(run().shape)
    m.zero_grad()
    run()
    grads = m.backward(r)
    if layer == "mha":
        inputs, igrads = [x, mem], [grads[0], grads[1] + grads[2]]
    elif layer == "decoder":
        inputs, igrads = [x, mem], list(grads)
    else:
        inputs, igrads = [x], [grads]
    pgrads = [g.copy() for g in m.gradients()]
    nn_numeric_check(lambda: float((run() * r).sum()), inputs + m.parameters(), igrads + pgrads,
                     max_entries=10)


def test_attention_dropout_is_consistent_between_passes():
    m = nn.MultiheadAttention(4, 2, dropout=0.5, dtype=np.float64, rng=0)
    x = np.random.default_rng(6).standard_normal((3, 2, 4))
    out, w = m(x, x, x, need_weights=True)
    assert out.shape == x.shape and w.shape == (2, 3, 3)
    dq, _, _ = m.backward(np.ones_like(out))
    assert np.isfinite(dq).all()


def test_fully_masked_query_gives_zeros_not_nan():
    m = nn.MultiheadAttention(4, 2)
    x = np.ones((3, 1, 4), np.float32)
    out, w = m(x, x, x, key_padding_mask=np.ones((1, 3), bool), need_weights=True)
    assert np.isfinite(out).all() and not w.any()


def test_attention_errors():
    with pytest.raises(NlpkitError, match="not divisible"):
        nn.MultiheadAttention(6, 4)
    m = nn.MultiheadAttention(4, 2)
    x = np.zeros((3, 2, 4), np.float32)
    with pytest.raises(NlpkitError,
                       match=r"key_padding_mask expected shape \(2, 3\), got \(3, 2\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(NlpkitError,
                       match=r"MultiheadAttention: query expected shape \(\.\.\., 4\)"):
        m(np.zeros((3, 2, 5), np.float32), x, x)
