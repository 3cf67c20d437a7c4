"""Linear, Embedding, Dropout, activations, LayerNorm: finite differences and torch parity."""
import numpy as np
import pytest

from nlpkit import nn

DTYPES = [(np.float64, 1e-6), (np.float32, 1e-4)]


def _parity(torch, ours, theirs, x, rel_err, tol, dtype):
    """Same weights in both; compare output, input gradient and every parameter gradient."""
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(3)
    y = ours(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    assert rel_err(y, yt) <= tol
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(g)
    yt.backward(torch.tensor(g))
    assert rel_err(dx, xt.grad) <= tol
    for name, p in theirs.named_parameters():
        assert rel_err(ours.grads[name], p.grad) <= tol, name


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("make", [
    lambda t, d: (nn.Linear(5, 3, dtype=d), t.nn.Linear(5, 3)),
    lambda t, d: (nn.Linear(5, 3, bias=False, dtype=d), t.nn.Linear(5, 3, bias=False)),
    lambda t, d: (nn.LayerNorm(5, dtype=d), t.nn.LayerNorm(5)),
    lambda t, d: (nn.Tanh(dtype=d), t.nn.Tanh()),
    lambda t, d: (nn.Sigmoid(dtype=d), t.nn.Sigmoid()),
    lambda t, d: (nn.ReLU(dtype=d), t.nn.ReLU()),
    lambda t, d: (nn.GELU(dtype=d), t.nn.GELU()),
    lambda t, d: (nn.GELU("tanh", dtype=d), t.nn.GELU("tanh")),
    lambda t, d: (nn.Dropout(0.3, dtype=d).eval(), t.nn.Dropout(0.3).eval()),
], ids=["linear", "linear-nobias", "layernorm", "tanh", "sigmoid", "relu", "gelu", "gelu-tanh",
        "dropout-eval"])
def test_parity_with_torch(torch, nn_rel_err, make, dtype, tol):
    ours, theirs = make(torch, dtype)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    if isinstance(ours, nn.LayerNorm):  # non-trivial affine parameters
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(dtype) * 2
    _parity(torch, ours, theirs, x, nn_rel_err, tol, dtype)


@pytest.mark.parametrize("layer", [
    nn.Linear(4, 3, dtype=np.float64), nn.LayerNorm(4, dtype=np.float64), nn.Tanh(dtype=np.float64),
    nn.Sigmoid(dtype=np.float64), nn.GELU(dtype=np.float64), nn.GELU("tanh", dtype=np.float64),
    nn.ReLU(dtype=np.float64), nn.Dropout(0.4, dtype=np.float64, rng=0),
], ids=lambda m: type(m).__name__)
def test_finite_differences(nn_numeric_check, layer):
    rng = np.random.default_rng(2)
    for p in layer.parameters():
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((3, 4)) + 0.05  # keep ReLU away from its kink
    r = rng.standard_normal((3, layer.out_features if isinstance(layer, nn.Linear) else 4))
    layer(x)
    dx = layer.backward(r)
    grads = [g.copy() for g in layer.gradients()]
    if isinstance(layer, nn.Dropout):  # freeze the mask: compare against x * mask
        mask = layer._cache[0]
        assert np.allclose(dx, r * mask)
        assert set(np.unique(mask)) <= {0.0, 1 / 0.6}
        return
    nn_numeric_check(lambda: float((layer(x) * r).sum()), [x] + layer.parameters(), [dx] + grads)


def test_embedding_parity_and_sparse_rows(torch, nn_rel_err):
    ours = nn.Embedding(10, 3, padding_idx=0, dtype=np.float64)
    theirs = torch.nn.Embedding(10, 3, padding_idx=0).double()
    ours.load_state_dict(theirs.state_dict())
    ids = np.array([[1, 2, 2], [0, 7, 1]])
    y = ours(ids)
    yt = theirs(torch.tensor(ids))
    assert nn_rel_err(y, yt) == 0
    g = np.random.default_rng(0).standard_normal(y.shape)
    ours.backward(g)
    yt.backward(torch.tensor(g))
    assert nn_rel_err(ours.grads["weight"], theirs.weight.grad) <= 1e-12
    untouched = np.setdiff1d(np.arange(10), [1, 2, 7])
    assert not ours.grads["weight"][untouched].any()
    assert list(ours.last_rows) == [0, 1, 2, 7]


def test_embedding_rejects_out_of_range_ids():
    from nlpkit.errors import NlpkitError
    with pytest.raises(NlpkitError, match=r"ids must lie in \[0, 4\)"):
        nn.Embedding(4, 2)(np.array([1, 4]))


def test_dropout_train_mask_statistics():
    layer = nn.Dropout(0.25, rng=0)
    y = layer(np.ones((200, 50), np.float32))
    kept = (y != 0).mean()
    assert abs(kept - 0.75) < 0.02
    assert np.allclose(y[y != 0], 1 / 0.75)
