"""RNN/LSTM/GRU: parity with torch (weights loaded into both) and finite differences."""
import numpy as np
import pytest

from nlpkit import nn

CELLS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN", "RNN-relu": "RNN"}
CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True),
    dict(batch_first=True, bidirectional=True),
    dict(num_layers=2, bias=False),
]


def _make(torch, cell, dtype, **kw):
    extra = {"nonlinearity": "relu"} if cell == "RNN-relu" else {}
    ours = getattr(nn, CELLS[cell])(3, 4, dtype=dtype, **extra, **kw)
    theirs = getattr(torch.nn, CELLS[cell])(3, 4, **extra, **kw)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _run_torch(torch, theirs, x, hx, lengths, batch_first):
    xt = torch.tensor(x, requires_grad=True)
    hxt = None
    if hx is not None:
        hxt = tuple(torch.tensor(h, requires_grad=True) for h in hx) if isinstance(hx, tuple) \
            else torch.tensor(hx, requires_grad=True)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                      batch_first=batch_first, enforce_sorted=False)
    out, hn = theirs(inp, hxt)
    if lengths is not None:
        total = x.shape[1 if batch_first else 0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                        total_length=total)
    return xt, hxt, out, hn


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-4)])
@pytest.mark.parametrize("config", CONFIGS,
                         ids=["plain", "2layer-bidir", "batchfirst-bidir", "2layer-nobias"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_parity_with_torch(torch, nn_rel_err, cell, config, masked, dtype, tol):
    rng = np.random.default_rng(0)
    ours, theirs = _make(torch, cell, dtype, **config)
    t_len, batch = 5, 3
    bf = config.get("batch_first", False)
    x = rng.standard_normal((batch, t_len, 3) if bf else (t_len, batch, 3)).astype(dtype)
    n_states = ours.num_layers * ours.num_directions
    h0 = rng.standard_normal((n_states, batch, 4)).astype(dtype)
    hx = (h0, rng.standard_normal(h0.shape).astype(dtype)) if cell == "LSTM" else h0
    lengths = np.array([5, 2, 4]) if masked else None

    out, hn = ours(x, hx, lengths=lengths)
    xt, hxt, out_t, hn_t = _run_torch(torch, theirs, x, hx, lengths, bf)
    assert nn_rel_err(out, out_t) <= tol
    hn_list = list(hn) if cell == "LSTM" else [hn]
    hn_t_list = list(hn_t) if cell == "LSTM" else [hn_t]
    for a, b in zip(hn_list, hn_t_list):
        assert nn_rel_err(a, b) <= tol

    g_out = rng.standard_normal(out.shape).astype(dtype)
    g_hn = [rng.standard_normal(h.shape).astype(dtype) for h in hn_list]
    dx, dhx = ours.backward(g_out, tuple(g_hn) if cell == "LSTM" else g_hn[0])
    loss = (out_t * torch.tensor(g_out)).sum()
    loss = loss + sum((h * torch.tensor(g)).sum() for h, g in zip(hn_t_list, g_hn))
    loss.backward()
    assert nn_rel_err(dx, xt.grad) <= tol
    dhx_list = list(dhx) if cell == "LSTM" else [dhx]
    hxt_list = list(hxt) if cell == "LSTM" else [hxt]
    for a, b in zip(dhx_list, hxt_list):
        assert nn_rel_err(a, b.grad) <= tol
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[name], p.grad) <= tol, name
    if masked:  # padded steps give zeros and pass no gradient into x
        padded = (np.arange(t_len)[:, None] >= lengths[None, :])
        if bf:
            padded = padded.T
        assert not out[padded].any() and not dx[padded].any()


@pytest.mark.parametrize("cell", list(CELLS))
def test_finite_differences(nn_numeric_check, cell):
    rng = np.random.default_rng(1)
    extra = {"nonlinearity": "relu"} if cell == "RNN-relu" else {}
    layer = getattr(nn, CELLS[cell])(2, 3, num_layers=2, bidirectional=True, dtype=np.float64,
                                     rng=0, **extra)
    x = rng.standard_normal((4, 2, 2))
    h0 = rng.standard_normal((4, 2, 3))
    hx = (h0, rng.standard_normal(h0.shape)) if cell == "LSTM" else h0
    lengths = np.array([4, 2])
    out, hn = layer(x, hx, lengths=lengths)
    r = rng.standard_normal(out.shape)
    rh = [rng.standard_normal(h0.shape) for _ in (hn if cell == "LSTM" else [hn])]

    def loss():
        o, h = layer(x, hx, lengths=lengths)
        hs = h if cell == "LSTM" else [h]
        return float((o * r).sum() + sum((a * b).sum() for a, b in zip(hs, rh)))

    dx, dhx = layer.backward(r, tuple(rh) if cell == "LSTM" else rh[0])
    states = list(hx) if cell == "LSTM" else [hx]
    dstates = list(dhx) if cell == "LSTM" else [dhx]
    grads = [g.copy() for g in layer.gradients()]
    nn_numeric_check(loss, [x] + states + layer.parameters(), [dx] + dstates + grads,
                     max_entries=12)


def test_padding_mask_equals_lengths():
    rng = np.random.default_rng(2)
    layer = nn.GRU(3, 4, batch_first=True, rng=0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    mask = np.array([[False] * 5, [False, False, True, True, True]])
    a, ha = layer(x, padding_mask=mask)
    b, hb = layer(x, lengths=[5, 2])
    assert np.array_equal(a, b) and np.array_equal(ha, hb)


def test_dropout_between_layers_only_in_training():
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5, rng=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    assert np.array_equal(a, b)
    layer.train()
    c, _ = layer(x)
    assert not np.allclose(a, c)
    dx, _ = layer.backward(np.ones_like(c))
    assert dx.shape == x.shape
