"""RNN/LSTM/GRU through the Tensor API: parity with torch (weights loaded into both), finite
differences, lengths, dropout, a cell called in a loop."""
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
    return ours, theirs.to(torch.float64 if dtype == np.float64 else torch.float32)


def _run(torch, lengths, batch_first, total):
    """call(module, x, h0[, c0]) for either library; torch packs the padded batch."""
    def call(m, x, h0, c0=None):
        hx = h0 if c0 is None else (h0, c0)
        if isinstance(m, nn.Module):
            return m(x, hx, lengths=lengths)
        inp = x
        if lengths is not None:
            inp = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths),
                                                          batch_first=batch_first,
                                                          enforce_sorted=False)
        out, hn = m(inp, hx)
        if lengths is not None:
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                            total_length=total)
        return out, hn
    return call


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-4)])
@pytest.mark.parametrize("config", CONFIGS,
                         ids=["plain", "2layer-bidir", "batchfirst-bidir", "2layer-nobias"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_parity_with_torch(torch, nn_parity, cell, config, masked, dtype, tol):
    rng = np.random.default_rng(0)
    ours, theirs = _make(torch, cell, dtype, **config)
    t_len, batch = 5, 3
    bf = config.get("batch_first", False)
    x = rng.standard_normal((batch, t_len, 3) if bf else (t_len, batch, 3)).astype(dtype)
    h0 = rng.standard_normal((ours.num_layers * ours.num_directions, batch, 4)).astype(dtype)
    states = [h0, rng.standard_normal(h0.shape).astype(dtype)] if cell == "LSTM" else [h0]
    lengths = np.array([5, 2, 4]) if masked else None
    out = nn_parity(torch, ours, theirs, [x] + states, _run(torch, lengths, bf, t_len), tol=tol)
    if masked:  # padded steps give zeros
        padded = np.arange(t_len)[:, None] >= lengths[None, :]
        assert not out[0].numpy()[padded.T if bf else padded].any()


@pytest.mark.parametrize("cell", list(CELLS))
def test_finite_differences(nn_fd_check, cell):
    rng = np.random.default_rng(1)
    extra = {"nonlinearity": "relu"} if cell == "RNN-relu" else {}
    layer = getattr(nn, CELLS[cell])(2, 3, num_layers=2, bidirectional=True, dtype=np.float64,
                                     rng=0, **extra)
    x = rng.standard_normal((4, 2, 2))
    h0 = rng.standard_normal((4, 2, 3))
    states = [h0, rng.standard_normal(h0.shape)] if cell == "LSTM" else [h0]

    def call(m, x, h0, c0=None):
        return m(x, h0 if c0 is None else (h0, c0), lengths=np.array([4, 2]))

    nn_fd_check(layer, [x] + states, call)


def test_padding_mask_equals_lengths():
    rng = np.random.default_rng(2)
    layer = nn.GRU(3, 4, batch_first=True, rng=0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    mask = np.array([[False] * 5, [False, False, True, True, True]])
    a, ha = layer(x, padding_mask=mask)
    b, hb = layer(x, lengths=[5, 2])
    assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(ha.numpy(), hb.numpy())


def test_dropout_between_layers_only_in_training():
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5, rng=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    assert np.array_equal(a.numpy(), b.numpy())
    layer.train()
    c, _ = layer(nn.tensor(x, requires_grad=True))
    assert not np.allclose(a.numpy(), c.numpy())
    c.sum().backward()
    assert layer.weight_ih_l1.grad.shape == (16, 4)


def test_cell_called_step_by_step_equals_one_call(nn_rel_err):
    """A decoder loop: the cell called T times, each call its own graph node, gives the
    outputs and gradients of one call over the whole sequence."""
    rng = np.random.default_rng(3)
    cell = nn.GRU(3, 4, batch_first=True, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 6, 3))
    r = rng.standard_normal((2, 6, 4))
    out, _ = cell(nn.tensor(x))
    (out * r).sum().backward()
    whole = {n: p.grad.copy() for n, p in cell.named_parameters()}
    cell.zero_grad()
    xt = nn.tensor(x, requires_grad=True)
    h, outs = None, []
    for t in range(6):
        o, h = cell(xt[:, t:t + 1], h)
        outs.append(o)
    stepped = nn.functional.cat(outs, dim=1)
    assert nn_rel_err(stepped.numpy(), out.numpy()) <= 1e-12
    (stepped * r).sum().backward()
    for n, p in cell.named_parameters():
        assert nn_rel_err(p.grad, whole[n]) <= 1e-12, n


@pytest.mark.parametrize("config", CONFIGS,
                         ids=["plain", "2layer-bidir", "batchfirst-bidir", "2layer-nobias"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("blocks", [False, True], ids=["whole", "row-blocks"])
def test_split_over_threads(torch, nn_parity, monkeypatch, cell, config, masked, blocks):
    """The kernels that split a step's hidden units over the threads (taken from a size on
    when BLAS may use as many threads; here forced on a small layer with uneven chunks)
    match torch as the serial ones do; so do they with each step's product made in
    blocks of rows (as under BLAS's small-matrix bound; here 2 rows, a short last block)."""
    from nlpkit import backend
    from nlpkit.nn.kernels import recurrent as R

    asked = []
    monkeypatch.setattr(R, "small_rows", lambda n, k: asked.append(k) or (2 if blocks else 0))
    monkeypatch.setattr(R, "PARALLEL_MIN_MACS", 0)
    monkeypatch.setattr(R, "MIN_CHUNK", 1)
    picked, pick = [], R._pick
    monkeypatch.setattr(R, "_pick", lambda kernel, n: picked.append(n) or pick(kernel, n))
    with backend.threads(2), backend.blas_threads(1):
        assert R._n_chunks(4, 5, 3) == 1  # BLAS on one thread: so are the time loops
    with backend.threads(2), backend.blas_threads(2):
        assert R._n_chunks(4, 5, 3) == 2
        rng = np.random.default_rng(1)
        extra = {"nonlinearity": "relu"} if cell == "RNN-relu" else {}
        ours = getattr(nn, CELLS[cell])(3, 5, dtype=np.float64, **extra, **config)
        theirs = getattr(torch.nn, CELLS[cell])(3, 5, **extra, **config).to(torch.float64)
        t_len, batch = 6, 3
        bf = config.get("batch_first", False)
        x = rng.standard_normal((batch, t_len, 3) if bf else (t_len, batch, 3))
        h0 = rng.standard_normal((ours.num_layers * ours.num_directions, batch, 5))
        states = [h0, rng.standard_normal(h0.shape)] if cell == "LSTM" else [h0]
        lengths = np.array([6, 2, 4]) if masked else None
        nn_parity(torch, ours, theirs, [x] + states, _run(torch, lengths, bf, t_len), tol=1e-8)
        assert picked and set(picked) == {2}  # every kernel took the split path
        assert asked  # the per-step products asked for their blocks
        assert backend.kernel_blas_num_threads() == 2  # set back after the split kernels
