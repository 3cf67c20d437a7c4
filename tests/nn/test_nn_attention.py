"""Attention, MultiheadAttention and transformer layers through the Tensor API: torch parity
(outputs, input gradients, every parameter gradient) and finite differences."""
import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError
from nlpkit.nn import functional as F

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
def test_multihead_attention_parity(torch, nn_parity, case, dtype, tol):
    c = MHA_CASES[case]
    bf = c.get("batch_first", False)
    ours = nn.MultiheadAttention(E, H, batch_first=bf, dtype=dtype)
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=bf).to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    rng = np.random.default_rng(0)
    n_k = L if c["fused"] else S
    q = rng.standard_normal((N, L, E) if bf else (L, N, E)).astype(dtype)
    kv = rng.standard_normal((N, S, E) if bf else (S, N, E)).astype(dtype)
    masks = {}
    if c.get("padding"):
        pad = np.zeros((N, n_k), bool)
        if c["padding"] == "left":
            pad[1, :2] = pad[2, 0] = True
        else:
            pad[1, -2:] = pad[2, -1] = True
        masks["key_padding_mask"] = pad
    if c.get("bool_mask"):
        m = rng.random((L, n_k)) < 0.3
        m[:, 0] = False
        masks["attn_mask"] = m
    if c.get("float_mask"):
        masks["attn_mask"] = rng.standard_normal((N * H, L, n_k)).astype(dtype)
    if c.get("causal"):
        masks["is_causal"] = True

    def call(m, q, kv=None):
        k = q if c["fused"] else kv
        kw = dict(masks)
        if not isinstance(m, nn.Module):
            kw = {key: torch.tensor(v) if isinstance(v, np.ndarray) else v for key, v in kw.items()}
            if c.get("causal"):
                kw["attn_mask"] = torch.tensor(nn.causal_mask(L, dtype))
        return m(q, k, k, need_weights=True, **kw)

    nn_parity(torch, ours, theirs, [q] if c["fused"] else [q, kv], call, tol=tol, n_grad=1)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("dims", [(5, 3), (E, 3), (5, 5)], ids=str)
def test_multihead_attention_kdim_vdim_parity(torch, nn_parity, dims, dtype, tol):
    kdim, vdim = dims
    ours = nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=True, dtype=dtype)
    theirs = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=True)
    theirs = theirs.to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    rng = np.random.default_rng(7)
    pad = np.zeros((N, S), bool)
    pad[0, -2:] = True
    ins = [rng.standard_normal(s).astype(dtype) for s in ((N, L, E), (N, S, kdim), (N, S, vdim))]

    def call(m, q, k, v):
        kp = pad if isinstance(m, nn.Module) else torch.tensor(pad)
        return m(q, k, v, key_padding_mask=kp, need_weights=True)

    nn_parity(torch, ours, theirs, ins, call, tol=tol, n_grad=1)


@pytest.mark.parametrize("n_q,n_k,fused", [(70, 70, True), (37, 45, False)], ids=str)
def test_multihead_attention_over_several_row_blocks(torch, nn_parity, n_q, n_k, fused):
    """Lengths beyond the kernel's 32-row blocks (with a remainder), causal, with padding."""
    ours = nn.MultiheadAttention(E, H, dtype=np.float64)
    theirs = torch.nn.MultiheadAttention(E, H).double()
    _randomise(torch, theirs)
    rng = np.random.default_rng(9)
    pad = np.zeros((N, n_k), bool)
    pad[1, 3:9] = True
    causal = np.triu(np.ones((n_q, n_k), bool), 1 + n_k - n_q)

    def call(m, q, kv=None):
        k = q if fused else kv
        if isinstance(m, nn.Module):
            return m(q, k, k, key_padding_mask=pad, is_causal=True)
        return m(q, k, k, key_padding_mask=torch.tensor(pad), attn_mask=torch.tensor(causal))

    ins = [rng.standard_normal((n_q, N, E))] + ([] if fused else [rng.standard_normal((n_k, N, E))])
    nn_parity(torch, ours, theirs, ins, call, tol=1e-10, n_grad=1)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_parity(torch, nn_parity, norm_first, activation, dtype, tol):
    kw = dict(dim_feedforward=16, dropout=0.0, activation=activation, norm_first=norm_first)
    ours = nn.TransformerEncoderLayer(E, H, dtype=dtype, **kw)
    theirs = torch.nn.TransformerEncoderLayer(E, H, **kw).to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    x = np.random.default_rng(4).standard_normal((L, N, E)).astype(dtype)
    pad = np.zeros((N, L), bool)
    pad[2, -2:] = True

    def call(m, x):
        if isinstance(m, nn.Module):
            return m(x, src_key_padding_mask=pad, is_causal=True)
        return m(x, src_mask=torch.tensor(nn.causal_mask(L, dtype)),
                 src_key_padding_mask=torch.tensor(pad), is_causal=True)

    nn_parity(torch, ours, theirs, [x], call, tol=tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_parity(torch, nn_parity, norm_first, dtype, tol):
    kw = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first, batch_first=True)
    ours = nn.TransformerDecoderLayer(E, H, dtype=dtype, **kw)
    theirs = torch.nn.TransformerDecoderLayer(E, H, **kw).to(_tdtype(torch, dtype))
    _randomise(torch, theirs)
    rng = np.random.default_rng(5)
    tgt, mem = rng.standard_normal((N, L, E)).astype(
        dtype), rng.standard_normal((N, S, E)).astype(dtype)
    mpad = np.zeros((N, S), bool)
    mpad[0, -3:] = True

    def call(m, tgt, mem):
        if isinstance(m, nn.Module):
            return m(tgt, mem, memory_key_padding_mask=mpad, tgt_is_causal=True)
        return m(tgt, mem, tgt_mask=torch.tensor(nn.causal_mask(L, dtype)),
                 memory_key_padding_mask=torch.tensor(mpad), tgt_is_causal=True)

    nn_parity(torch, ours, theirs, [tgt, mem], call, tol=tol)


@pytest.mark.parametrize("mask", ["none", "causal", "bool", "float"])
def test_scaled_dot_product_attention_parity(torch, nn_rel_err, mask):
    """F.scaled_dot_product_attention against torch's, (N, H, L, d) and 3-D inputs."""
    rng = np.random.default_rng(6)
    for shape_q, shape_k in (((2, 3, L, 4), (2, 3, S, 4)), ((3, L, 4), (3, S, 4))):
        q, k, v = rng.standard_normal(shape_q), rng.standard_normal(shape_k), \
            rng.standard_normal(shape_k)
        kw, kw_t = {}, {}
        if mask == "causal":
            kw["is_causal"] = kw_t["is_causal"] = True
            kw_t["attn_mask"] = None
        elif mask == "bool":
            m = rng.random((L, S)) < 0.7
            m[:, 0] = True
            kw["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
        elif mask == "float":
            m = rng.standard_normal((L, S))
            kw["attn_mask"], kw_t["attn_mask"] = m, torch.tensor(m)
        ts = [nn.tensor(a, requires_grad=True) for a in (q, k, v)]
        rs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ts, **kw)
        if mask == "causal":  # torch aligns its causal mask at the start: give it ours
            ref = torch.nn.functional.scaled_dot_product_attention(
                *rs, attn_mask=torch.tensor(np.tril(np.ones((L, S), bool), S - L)))
        else:
            ref = torch.nn.functional.scaled_dot_product_attention(*rs, **kw_t)
        assert nn_rel_err(out.numpy(), ref) <= 1e-10
        g = rng.standard_normal(out.shape)
        (out * g).sum().backward()
        ref.backward(torch.tensor(g))
        for a, b in zip(ts, rs):
            assert nn_rel_err(a.grad, b.grad) <= 1e-10


@pytest.mark.parametrize("layer", [
    lambda: nn.MultiheadAttention(4, 2, dtype=np.float64, rng=0),
    lambda: nn.MultiheadAttention(4, 2, kdim=3, vdim=5, dtype=np.float64, rng=0),
    lambda: nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu", dtype=np.float64,
                                       rng=0),
    lambda: nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=True, dtype=np.float64,
                                       rng=0),
], ids=["mha", "mha-kdim-vdim", "encoder", "decoder"])
def test_finite_differences(nn_fd_check, layer):
    m = layer()
    rng = np.random.default_rng(8)
    for p in m.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    if isinstance(m, nn.MultiheadAttention):
        ins = [rng.standard_normal((3, 2, d)) for d in (4, m.kdim, m.vdim)]
        nn_fd_check(m, ins, lambda m, q, k, v: m(q, k, v, is_causal=True, need_weights=False)[0])
    elif isinstance(m, nn.TransformerEncoderLayer):
        nn_fd_check(m, [rng.standard_normal((3, 2, 4))], lambda m, x: m(x, is_causal=True))
    else:
        nn_fd_check(m, [rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 2, 4))],
                    lambda m, t, mem: m(t, mem, tgt_is_causal=True))


def test_attention_dropout_masks_differ_per_call_and_backward_uses_its_own():
    m = nn.MultiheadAttention(4, 2, dropout=0.5, dtype=np.float64, rng=0)
    x = nn.tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    assert not np.allclose(a.numpy(), b.numpy())
    a.sum().backward()
    ga = x.grad.copy()
    x.grad = None
    b.sum().backward()
    assert not np.allclose(ga, x.grad)


def test_fully_masked_query_gives_zeros_not_nan():
    m = nn.MultiheadAttention(4, 1, dtype=np.float64, rng=0)
    x = np.random.default_rng(0).standard_normal((3, 1, 4))
    out, w = m(x, x, x, attn_mask=np.array([[True] * 3, [False] * 3, [False] * 3]))
    assert np.isfinite(out.numpy()).all() and not w.numpy()[0, 0].any()


def test_attention_errors():
    m = nn.MultiheadAttention(4, 2)
    x = np.zeros((3, 2, 4), np.float32)
    with pytest.raises(NlpkitError, match="not divisible by num_heads"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(NlpkitError, match=r"key_padding_mask expected shape \(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 3), bool))
    with pytest.raises(NlpkitError, match=r"attn_mask expected shape"):
        m(x, x, x, attn_mask=np.zeros((2, 2), bool))
    with pytest.raises(NlpkitError, match=r"key expected shape \(\.\.\., 4\), got \(3, 2, 5\)"):
        m(x, np.zeros((3, 2, 5), np.float32), x)
