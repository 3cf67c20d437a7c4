"""Conv1d and pooling over time (torch parity, finite differences); positional encodings."""
import math

import numpy as np
import pytest

from nlpkit import nn

DTYPES = [(np.float64, 1e-6), (np.float32, 1e-4)]
CONV_CASES = [dict(), dict(padding=2), dict(stride=2, padding=1), dict(dilation=2),
              dict(padding="same"), dict(bias=False, stride=3)]


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kw", CONV_CASES, ids=str)
def test_conv1d_parity(torch, nn_rel_err, kw, dtype, tol):
    ours = nn.Conv1d(3, 4, 3, dtype=dtype, **kw)
    theirs = torch.nn.Conv1d(3, 4, 3, **kw)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9)).astype(dtype)
    y = ours(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    assert nn_rel_err(y, yt) <= tol
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(g)
    yt.backward(torch.tensor(g))
    assert nn_rel_err(dx, xt.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol


GROUP_CASES = [dict(groups=2), dict(groups=4, stride=2, padding=1),
               dict(groups=2, dilation=2, padding="same", bias=False)]


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kw", GROUP_CASES, ids=str)
def test_grouped_conv1d_parity(torch, nn_rel_err, kw, dtype, tol):
    ours = nn.Conv1d(4, 8, 3, dtype=dtype, **kw)
    theirs = torch.nn.Conv1d(4, 8, 3, **kw)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9)).astype(dtype)
    y = ours(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    assert nn_rel_err(y, yt) <= tol
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(g)
    yt.backward(torch.tensor(g))
    assert nn_rel_err(dx, xt.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol, name


def test_grouped_conv1d_finite_differences_and_errors(nn_numeric_check):
    rng = np.random.default_rng(4)
    conv = nn.Conv1d(6, 3, 2, groups=3, stride=2, padding=1, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 6, 7))
    r = rng.standard_normal(conv(x).shape)
    dx = conv.backward(r)
    grads = [g.copy() for g in conv.gradients()]
    nn_numeric_check(lambda: float((conv(x) * r).sum()), [x] + conv.parameters(), [dx] + grads)
    from nlpkit.errors import NlpkitError
    with pytest.raises(NlpkitError, match="divisible by groups 2"):
        nn.Conv1d(3, 4, 3, groups=2)


def test_conv1d_finite_differences(nn_numeric_check):
    rng = np.random.default_rng(1)
    conv = nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 2, 7))
    r = rng.standard_normal(conv(x).shape)
    conv(x)
    dx = conv.backward(r)
    grads = [g.copy() for g in conv.gradients()]
    nn_numeric_check(lambda: float((conv(x) * r).sum()), [x] + conv.parameters(), [dx] + grads)


@pytest.mark.parametrize("dim", [-1, 1])
def test_pooling_over_time(torch, nn_rel_err, nn_numeric_check, dim):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    lengths = np.array([5, 2, 3]) if dim == -1 else np.array([4, 1, 2])
    for pool in (nn.MaxPoolTime(dim, dtype=np.float64), nn.MeanPoolTime(dim, dtype=np.float64)):
        y = pool(x)
        xt = torch.tensor(x, requires_grad=True)
        yt = xt.max(dim=dim).values if isinstance(pool, nn.MaxPoolTime) else xt.mean(dim=dim)
        assert nn_rel_err(y, yt) <= 1e-12
        g = rng.standard_normal(y.shape)
        yt.backward(torch.tensor(g))
        assert nn_rel_err(pool.backward(g), xt.grad) <= 1e-12
        # with lengths: padded steps neither win nor count, nor get gradient
        y = pool(x, lengths)
        t_axis = dim % 3
        for b, n in enumerate(lengths):
            part = np.take(x[b:b + 1], np.arange(n), axis=t_axis)
            is_max = isinstance(pool, nn.MaxPoolTime)
            ref = part.max(axis=t_axis) if is_max else part.mean(axis=t_axis)
            assert np.allclose(y[b], ref[0])
        dx = pool.backward(g)
        steps = np.arange(x.shape[t_axis])
        for b, n in enumerate(lengths):
            assert not np.take(dx[b], steps[n:], axis=t_axis - 1).any()
        nn_numeric_check(lambda: float((pool(x, lengths) * g).sum()), [x], [dx])


def test_sinusoidal_encoding_matches_the_formula():
    pe = nn.sinusoidal_table(50, 6, np.float64)
    p, i = 7, 2
    assert pe[p, 2 * i] == pytest.approx(math.sin(p / 10000 ** (2 * i / 6)))
    assert pe[p, 2 * i + 1] == pytest.approx(math.cos(p / 10000 ** (2 * i / 6)))
    enc = nn.SinusoidalPositionalEncoding(6, max_len=50, batch_first=True, dtype=np.float64)
    x = np.zeros((2, 4, 6))
    assert np.array_equal(enc(x)[1], pe[:4])
    assert np.array_equal(enc.backward(np.ones_like(x)), np.ones_like(x))


def test_learned_encoding_gradients(nn_numeric_check):
    rng = np.random.default_rng(3)
    enc = nn.LearnedPositionalEncoding(10, 4, dtype=np.float64, rng=0)
    x = rng.standard_normal((3, 2, 4))
    r = rng.standard_normal(x.shape)
    enc(x)
    dx = enc.backward(r)
    assert not enc.grads["weight"][3:].any()
    nn_numeric_check(lambda: float((enc(x) * r).sum()), [x, enc.weight],
                     [dx, enc.grads["weight"].copy()])


def test_alibi():
    assert np.allclose(nn.alibi_slopes(8), [2 ** -(i + 1) for i in range(8)])
    assert len(nn.alibi_slopes(6)) == 6
    mask = nn.alibi_mask(2, 4, batch_size=3)
    assert mask.shape == (6, 4, 4)
    assert mask[0, 3, 1] == pytest.approx(-2 * 2 ** -4)
    assert mask[1, 3, 1] == pytest.approx(-2 * 2 ** -8)
    assert np.isneginf(mask[0, 1, 2]) and mask[0, 2, 2] == 0
    m = nn.MultiheadAttention(4, 2)
    x = np.random.default_rng(0).standard_normal((4, 3, 4)).astype(np.float32)
    out, _ = m(x, x, x, attn_mask=nn.alibi_mask(2, 4, batch_size=3))
    assert np.isfinite(out).all()


def test_rotary_embedding(nn_numeric_check):
    rng = np.random.default_rng(4)
    rope = nn.RotaryEmbedding(6, dtype=np.float64)
    q = rng.standard_normal((2, 5, 6))
    rq = rope(q)
    assert np.allclose(np.linalg.norm(rq, axis=-1), np.linalg.norm(q, axis=-1))  # a rotation
    # scores depend only on the distance between positions
    a, b = rng.standard_normal(6), rng.standard_normal(6)
    s1 = rope(np.stack([a, b])[None], offset=3)[0]
    s2 = rope(np.stack([a, b])[None], offset=11)[0]
    assert s1[0] @ s1[1] == pytest.approx(s2[0] @ s2[1])
    # the reference "rotate half" formula with position 1, frequency index 0: angle 1 rad
    one = rope(np.tile(np.eye(6)[0], (1, 2, 1)))[0, 1]
    assert one[0] == pytest.approx(math.cos(1.0)) and one[3] == pytest.approx(math.sin(1.0))
    r = rng.standard_normal(rq.shape)
    rope(q)
    dq = rope.backward(r)
    nn_numeric_check(lambda: float((rope(q) * r).sum()), [q], [dq])
