"""Positions inside attention: RoPE and ALiBi in MultiheadAttention against reference code
written here in torch (forward and backward, float64), incremental decoding with cached
keys and values against the whole-sequence forward.

RoPE follows GPT-NeoX and Hugging Face's LLaMA: the "rotate half" pairing (column c of a
head with column c + d/2, ``rotate_half(x) = cat(-x2, x1)``), angles ``p * 10000^(-2c/d)``.
(Meta's original LLaMA code rotates interleaved pairs (2c, 2c+1) as complex numbers; Hugging
Face permutes the q/k projection rows when converting, so the two give the same model.)
ALiBi follows Press et al.: their ``get_slopes`` (with the rule for a number of heads that
is not a power of two) and, for causal attention, fairseq's form ``slope * j`` added to every
query row (equal to ``slope * (j - i)`` after the softmax); an unmasked encoder uses the
symmetric ``-slope |j - i|``.
"""
import math

import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError
from nlpkit.nn import functional as F


# ---------------------------------------------------------------- references (torch)
def press_get_slopes(n):
    """Press et al.'s code (github.com/ofirpress/attention_with_linear_biases)."""
    def get_slopes_power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        ratio = start
        return [start * ratio ** i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return (get_slopes_power_of_2(closest_power_of_2)
            + press_get_slopes(2 * closest_power_of_2)[0::2][:n - closest_power_of_2])


def rotate_half(torch, x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def neox_cos_sin(torch, length, dim, base=10000.0):
    """GPT-NeoX's RotaryEmbedding tables: inv_freq = 1 / base^(arange(0, d, 2) / d)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    t = torch.arange(length, dtype=torch.float64)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def reference_mha(torch, x, p, heads, positions, causal, pad):
    """Self-attention (N, L, E) with torch ops: projections, RoPE / ALiBi, masks, softmax."""
    n, length, e = x.shape
    d = e // heads
    qkv = x @ p["in_proj_weight"].T + p["in_proj_bias"]
    q, k, v = (t.reshape(n, length, heads, d).transpose(1, 2) for t in qkv.split(e, dim=-1))
    if positions == "rope":
        cos, sin = neox_cos_sin(torch, length, d)
        q = q * cos + rotate_half(torch, q) * sin
        k = k * cos + rotate_half(torch, k) * sin
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if positions == "alibi":
        slopes = torch.tensor(press_get_slopes(heads), dtype=x.dtype)
        if causal:  # fairseq's: slope * key position, the same for every query row
            bias = slopes[:, None, None] * torch.arange(length, dtype=x.dtype)[None, None, :]
        else:
            pos = torch.arange(length, dtype=x.dtype)
            bias = -slopes[:, None, None] * (pos[None, :] - pos[:, None]).abs()[None]
        scores = scores + bias[None]
    if causal:
        scores = scores.masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1),
                                    float("-inf"))
    if pad is not None:
        scores = scores.masked_fill(torch.tensor(pad)[:, None, None, :], float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, e)
    return out @ p["out_proj.weight"].T + p["out_proj.bias"]


CASES = [  # positions, heads, embed dim, causal, padding
    ("rope", 2, 8, True, False),
    ("rope", 3, 12, False, True),
    ("alibi", 2, 8, True, False),
    ("alibi", 3, 12, True, True),   # 3 heads: Press's rule for non-powers of two
    ("alibi", 6, 12, False, True),
]


@pytest.mark.parametrize("positions,heads,e,causal,padding", CASES, ids=str)
def test_positions_match_reference_forward_backward(torch, nn_rel_err, positions, heads, e,
                                                    causal, padding):
    rng = np.random.default_rng(0)
    n, length = 3, 7
    m = nn.MultiheadAttention(e, heads, batch_first=True, positions=positions,
                              dtype=np.float64, rng=1)
    for prm in m.parameters():
        prm.data[...] = rng.standard_normal(prm.shape) * 0.5
    x = rng.standard_normal((n, length, e))
    pad = None
    if padding:
        pad = np.zeros((n, length), bool)
        pad[1, -2:] = pad[2, -3:] = True
    g = rng.standard_normal((n, length, e))

    xt = nn.tensor(x, requires_grad=True)
    out, _ = m(xt, xt, xt, key_padding_mask=pad, is_causal=causal, need_weights=False)
    (out * g).sum().backward()

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in m.state_dict().items()}
    tx = torch.tensor(x, requires_grad=True)
    ref = reference_mha(torch, tx, tp, heads, positions, causal, pad)
    (ref * torch.tensor(g)).sum().backward()

    assert nn_rel_err(out.numpy(), ref) < 1e-10
    assert nn_rel_err(xt.grad, tx.grad) < 1e-10
    for name, prm in m.named_parameters():
        assert nn_rel_err(prm.grad, tp[name].grad) < 1e-10, name


def test_alibi_slopes_are_press_et_al(torch):
    for h in (1, 2, 3, 4, 5, 6, 8, 12, 16, 24):
        np.testing.assert_allclose(nn.alibi_slopes(h), press_get_slopes(h), rtol=1e-15)


def test_alibi_kernel_builds_no_host_mask(monkeypatch):
    """ALiBi goes to the kernel as slopes: nothing (L, S)-shaped crosses as a bias."""
    from nlpkit.nn import kernels
    seen = []
    real = kernels.attention.mha

    def spy(q, k, v, num_heads, batch_first, packed, scale, bias, causal, keep, slopes=None):
        seen.append((bias, slopes))
        return real(q, k, v, num_heads, batch_first, packed, scale, bias, causal, keep, slopes)

    monkeypatch.setattr(kernels.attention, "mha", spy)
    m = nn.MultiheadAttention(8, 2, batch_first=True, positions="alibi", rng=0)
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    m(x, x, x, is_causal=True)
    (bias, slopes), = seen
    assert bias is None and slopes.shape == (2,)


def test_rotary_embedding_op_matches_rotary_module_and_its_inverse(nn_rel_err):
    """The fused op on a packed q|k|v projection: q and k rotated as RotaryEmbedding (the
    tensor-op form) rotates each head, v untouched; finite-difference gradient."""
    rng = np.random.default_rng(2)
    n, length, e, heads = 2, 5, 8, 2
    d = e // heads
    qkv = rng.standard_normal((length, n, 3 * e))
    out = F.rotary_embedding(qkv, d, 2 * e, batch_first=False, offset=3).numpy()
    rot = nn.RotaryEmbedding(d, dtype=np.float64)
    for h in range(2 * heads):
        block = qkv[:, :, h * d:(h + 1) * d].transpose(1, 0, 2)  # (N, L, d)
        want = rot(block, offset=3).numpy().transpose(1, 0, 2)
        assert nn_rel_err(out[:, :, h * d:(h + 1) * d], want) < 1e-14
    np.testing.assert_array_equal(out[:, :, 2 * e:], qkv[:, :, 2 * e:])

    from tests.nn.conftest import fd_check

    class Rot(nn.Module):
        def forward(self, x):
            return F.rotary_embedding(x, d, 2 * e, batch_first=True, offset=1)

    fd_check(Rot(np.float64), [rng.standard_normal((n, length, 3 * e))])


@pytest.mark.parametrize("positions", [None, "rope", "alibi"])
def test_decoding_with_cached_keys_values_equals_whole_sequence(nn_rel_err, positions):
    """A causal self-attention run one step at a time, keys and values kept in the cache,
    gives the rows of the whole-sequence causal forward; cross-attention projects the
    memory once."""
    rng = np.random.default_rng(3)
    n, length, e = 2, 6, 8
    sa = nn.MultiheadAttention(e, 2, batch_first=True, positions=positions,
                               dtype=np.float64, rng=0)
    ca = nn.MultiheadAttention(e, 2, batch_first=True, dtype=np.float64, rng=1)
    x = rng.standard_normal((n, length, e))
    mem = rng.standard_normal((n, 4, e))
    mem_pad = np.array([[False] * 4, [False, False, True, True]])
    with nn.no_grad():
        whole, _ = sa(x, x, x, is_causal=True)
        whole_cross, _ = ca(whole, mem, mem, key_padding_mask=mem_pad)
        cache, cross_cache, rows, cross_rows = {}, {}, [], []
        for t in range(length):
            step = x[:, t:t + 1]
            o, _ = sa(step, step, step, is_causal=True, cache=cache)
            rows.append(o.numpy())
            c, _ = ca(o, mem if t == 0 else None, mem if t == 0 else None,
                      key_padding_mask=mem_pad, cache=cross_cache)
            cross_rows.append(c.numpy())
    assert cache["k"].shape == (n, length, e)
    assert nn_rel_err(np.concatenate(rows, 1), whole.numpy()) < 1e-12
    assert nn_rel_err(np.concatenate(cross_rows, 1), whole_cross.numpy()) < 1e-12


def test_positions_errors():
    with pytest.raises(NlpkitError, match="added to the inputs"):
        nn.MultiheadAttention(8, 2, positions="sinusoidal")
    with pytest.raises(NlpkitError, match="even head size"):
        nn.MultiheadAttention(6, 2, positions="rope")
    m = nn.MultiheadAttention(8, 2, positions="rope")
    x, y = np.zeros((3, 1, 8), np.float32), np.zeros((2, 1, 8), np.float32)
    with pytest.raises(NlpkitError, match="self-attention only"):
        m(x, y, y)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_stack_parity(torch, nn_parity, norm_first):
    """nn.Transformer has torch.nn.Transformer's state dict and computes the same (float64,
    outputs, input gradients, every parameter gradient), masks and padding included."""
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=12, dropout=0.0, batch_first=True, norm_first=norm_first)
    ours = nn.Transformer(**kw, dtype=np.float64, rng=0)
    theirs = torch.nn.Transformer(**kw).double()
    rng = np.random.default_rng(4)
    src, tgt = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 4, 8))
    src_pad = np.array([[False] * 5, [False, False, False, True, True]])
    tgt_pad = np.array([[False] * 4, [False, False, False, True]])
    mask = nn.causal_mask(4, np.float64)

    def call(m, s, t):
        conv = (lambda a: a) if isinstance(m, nn.Module) else torch.tensor
        return m(s, t, tgt_mask=conv(mask), src_key_padding_mask=conv(src_pad),
                 tgt_key_padding_mask=conv(tgt_pad), memory_key_padding_mask=conv(src_pad))

    nn_parity(torch, ours, theirs, [src, tgt], call, tol=1e-10)


@pytest.mark.parametrize("positions", [None, "rope", "alibi"])
def test_decoder_stack_cache_equals_whole_sequence(nn_rel_err, positions):
    """A 2-layer decoder run step by step with a cache (reordered as a beam search would)
    gives the whole-sequence causal forward's rows."""
    rng = np.random.default_rng(5)
    layer = nn.TransformerDecoderLayer(8, 2, 12, dropout=0.0, batch_first=True,
                                       positions=positions, dtype=np.float64, rng=0)
    dec = nn.TransformerDecoder(layer, 2, nn.LayerNorm(8, dtype=np.float64))
    tgt, mem = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 4, 8))
    with nn.no_grad():
        whole = dec(tgt, mem, tgt_is_causal=True).numpy()
        # the batch in another order; the cache follows it back after the first step
        perm = np.array([2, 0, 1])
        cache = {}
        rows = [dec(tgt[perm, :1], mem[perm], tgt_is_causal=True, cache=cache).numpy()
                [np.argsort(perm)]]
        nn.reorder_cache(cache, np.argsort(perm))
        for t in range(1, 5):
            rows.append(dec(tgt[:, t:t + 1], None, tgt_is_causal=True, cache=cache).numpy())
    assert nn_rel_err(np.concatenate(rows, 1), whole) < 1e-12
