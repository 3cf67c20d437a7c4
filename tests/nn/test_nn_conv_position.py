"""Conv1d, pooling over time and positional encodings through the Tensor API."""
import math

import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError

DTYPES = [(np.float64, 1e-6), (np.float32, 1e-4)]


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, dilation=2),
                                dict(padding="same"), dict(padding="same", kernel_size=4),
                                dict(groups=2, padding=1), dict(groups=4, bias=False)],
                         ids=["plain", "strided", "same", "same-even", "groups", "depthwise"])
def test_conv1d_parity(torch, nn_parity, kw, dtype, tol):
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    ours = nn.Conv1d(4, 4, k, dtype=dtype, **kw)
    theirs = torch.nn.Conv1d(4, 4, k, **kw).to(torch.float64 if dtype == np.float64 else
                                               torch.float32)
    x = np.random.default_rng(0).standard_normal((2, 4, 9)).astype(dtype)
    nn_parity(torch, ours, theirs, [x], tol=tol)


def test_conv1d_finite_differences_and_errors(nn_fd_check):
    conv = nn.Conv1d(4, 2, 3, stride=2, padding="valid", groups=2, dtype=np.float64, rng=0)
    nn_fd_check(conv, [np.random.default_rng(1).standard_normal((2, 4, 7))])
    with pytest.raises(NlpkitError, match="divisible by groups"):
        nn.Conv1d(3, 2, 3, groups=2)
    with pytest.raises(NlpkitError, match=r"Conv1d: input expected shape \(N, 4, L\)"):
        nn.Conv1d(4, 2, 3)(np.zeros((2, 3, 7), np.float32))
    with pytest.raises(NlpkitError, match="shorter than the kernel span"):
        nn.Conv1d(4, 2, 5)(np.zeros((2, 4, 3), np.float32))


@pytest.mark.parametrize("dim", [-1, 1])
def test_pooling_over_time(torch, nn_rel_err, nn_fd_check, dim):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    lengths = np.array([5, 2, 4]) if dim == -1 else np.array([4, 1, 3])
    t_axis = dim % 3
    valid = np.arange(x.shape[t_axis])[None, :] < lengths[:, None]
    shape = [3, 1, 1]
    shape[t_axis] = x.shape[t_axis]
    valid = torch.tensor(valid.reshape(shape))
    for cls, ref in ((nn.MaxPoolTime, lambda t: t.masked_fill(~valid, -math.inf).max(dim).values),
                     (nn.MeanPoolTime, lambda t: (t * valid).sum(dim) /
                      valid.sum(dim).to(t.dtype))):
        layer = cls(dim=dim, dtype=np.float64)
        xo, xt = nn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = layer(xo, lengths), ref(xt)
        assert nn_rel_err(y.numpy(), yt) <= 1e-12
        g = rng.standard_normal(y.shape)
        (y * g).sum().backward()
        yt.backward(torch.tensor(g))
        assert nn_rel_err(xo.grad, xt.grad) <= 1e-12
        nn_fd_check(layer, [x], lambda m, x: m(x, lengths))
    with pytest.raises(NlpkitError, match="^MaxPoolTime: lengths expected shape"):
        nn.MaxPoolTime(dtype=np.float64)(x, np.array([1, 2]))


def test_sinusoidal_encoding_matches_the_formula():
    pe = nn.sinusoidal_table(7, 6, np.float64)
    p, i = 5, 2
    assert np.isclose(pe[p, 2 * i], math.sin(p / 10000 ** (2 * i / 6)))
    assert np.isclose(pe[p, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 6)))
    layer = nn.SinusoidalPositionalEncoding(6, max_len=7, batch_first=True, dtype=np.float64)
    x = nn.tensor(np.zeros((2, 4, 6)), requires_grad=True)
    y = layer(x)
    assert np.allclose(y.numpy()[1], pe[:4])
    y.sum().backward()
    assert np.array_equal(x.grad, np.ones((2, 4, 6)))
    with pytest.raises(NlpkitError, match="exceeds max_len 7"):
        layer(np.zeros((1, 8, 6)))


def test_learned_encoding_gradients(nn_fd_check):
    layer = nn.LearnedPositionalEncoding(6, 3, dtype=np.float64, rng=0)
    x = np.random.default_rng(3).standard_normal((4, 2, 3))
    nn_fd_check(layer, [x])
    layer.zero_grad()
    layer(nn.tensor(x)).sum().backward()
    assert not layer.weight.grad[4:].any() and np.allclose(layer.weight.grad[:4], 2)


def test_alibi():
    slopes = nn.alibi_slopes(8)
    assert np.allclose(slopes, [2 ** -(i + 1) for i in range(8)])
    assert len(nn.alibi_slopes(6)) == 6
    m = nn.alibi_mask(2, 3, dtype=np.float64)
    assert m.shape == (2, 3, 3) and m[1, 2, 0] == -2 * nn.alibi_slopes(2)[1]
    assert np.isinf(m[0, 0, 1])


def test_rotary_embedding(nn_rel_err, nn_fd_check):
    """The GPT-NeoX/LLaMA 'rotate half' form, written here as reference, forward and backward;
    scores of rotated q, k depend on the distance only."""
    rope = nn.RotaryEmbedding(4, dtype=np.float64)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 4))
    inv = 10000.0 ** (-np.arange(0, 4, 2) / 4)
    ang = np.arange(2, 7)[:, None] * inv[None]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))
    ref = x * cos + np.concatenate([-x[..., 2:], x[..., :2]], -1) * sin
    assert nn_rel_err(rope(x, offset=2).numpy(), ref) <= 1e-12
    nn_fd_check(rope, [x], lambda m, x: m(x, offset=2))
    q, k = rng.standard_normal(4), rng.standard_normal(4)
    s1 = rope(np.tile(q, (1, 5, 1)))[0, 3].numpy() @ rope(np.tile(k, (1, 5, 1)))[0, 1].numpy()
    s2 = rope(np.tile(q, (1, 5, 1)))[0, 4].numpy() @ rope(np.tile(k, (1, 5, 1)))[0, 2].numpy()
    assert abs(s1 - s2) < 1e-12
