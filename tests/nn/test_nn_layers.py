"""Linear, Embedding, Dropout, activations, LayerNorm through the Tensor API: torch parity
(outputs, input gradients, every parameter gradient) and finite differences."""
import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError

DTYPES = [(np.float64, 1e-6), (np.float32, 1e-4)]

MAKERS = {
    "linear": lambda t, d: (nn.Linear(5, 3, dtype=d), t.nn.Linear(5, 3)),
    "linear-nobias": lambda t, d: (nn.Linear(5, 3, bias=False, dtype=d),
                                   t.nn.Linear(5, 3, bias=False)),
    # more outputs than inputs: the weight gradient's product in the other orientation
    "linear-widening": lambda t, d: (nn.Linear(5, 8, dtype=d), t.nn.Linear(5, 8)),
    "layernorm": lambda t, d: (nn.LayerNorm(5, dtype=d), t.nn.LayerNorm(5)),
    "tanh": lambda t, d: (nn.Tanh(dtype=d), t.nn.Tanh()),
    "sigmoid": lambda t, d: (nn.Sigmoid(dtype=d), t.nn.Sigmoid()),
    "relu": lambda t, d: (nn.ReLU(dtype=d), t.nn.ReLU()),
    "gelu": lambda t, d: (nn.GELU(dtype=d), t.nn.GELU()),
    "gelu-tanh": lambda t, d: (nn.GELU("tanh", dtype=d), t.nn.GELU("tanh")),
    "dropout-eval": lambda t, d: (nn.Dropout(0.3, dtype=d).eval(), t.nn.Dropout(0.3).eval()),
}


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("name", list(MAKERS))
def test_parity_with_torch(torch, nn_parity, name, dtype, tol):
    ours, theirs = MAKERS[name](torch, dtype)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    if name == "layernorm":  # non-trivial affine parameters
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(dtype) * 2
    nn_parity(torch, ours, theirs, [x], tol=tol)


@pytest.mark.parametrize("layer", [
    nn.Linear(4, 3, dtype=np.float64), nn.Linear(4, 6, dtype=np.float64),
    nn.LayerNorm(4, dtype=np.float64), nn.Tanh(dtype=np.float64),
    nn.Sigmoid(dtype=np.float64), nn.GELU(dtype=np.float64), nn.GELU("tanh", dtype=np.float64),
    nn.ReLU(dtype=np.float64),
], ids=lambda m: type(m).__name__)
def test_finite_differences(nn_fd_check, layer):
    rng = np.random.default_rng(2)
    for p in layer.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((3, 4)) + 0.05  # keep ReLU away from its kink
    nn_fd_check(layer, [x])


def test_dropout_mask_is_per_call_and_its_gradient(nn_rel_err):
    layer = nn.Dropout(0.4, dtype=np.float64, rng=0)
    x = nn.tensor(np.ones((3, 4)), requires_grad=True)
    y1, y2 = layer(x), layer(x)  # two calls, two masks, each kept on its own graph node
    assert not np.array_equal(y1.numpy(), y2.numpy())
    r = np.random.default_rng(1).standard_normal((3, 4))
    (y1 * r).sum().backward()
    assert set(np.unique(y1.numpy())) <= {0.0, 1 / 0.6}
    assert nn_rel_err(x.grad, r * y1.numpy()) == 0


def test_dropout_train_mask_statistics():
    y = nn.Dropout(0.25, rng=0)(np.ones((200, 50), np.float32)).numpy()
    assert abs((y != 0).mean() - 0.75) < 0.02
    assert np.allclose(y[y != 0], 1 / 0.75)


def test_embedding_parity_and_padding(torch, nn_rel_err):
    ours = nn.Embedding(10, 3, padding_idx=0, dtype=np.float64)
    theirs = torch.nn.Embedding(10, 3, padding_idx=0).double()
    ours.load_state_dict(theirs.state_dict())
    ids = np.array([[1, 2, 2], [0, 7, 1]])
    y, yt = ours(ids), theirs(torch.tensor(ids))
    assert nn_rel_err(y.numpy(), yt) == 0
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * g).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    assert nn_rel_err(ours.weight.grad, theirs.weight.grad) <= 1e-12
    untouched = np.setdiff1d(np.arange(10), [1, 2, 7])
    assert not ours.weight.grad[untouched].any()


def test_embedding_rejects_out_of_range_ids():
    with pytest.raises(NlpkitError, match=r"^Embedding: ids must lie in \[0, 4\)"):
        nn.Embedding(4, 2)(np.array([1, 4]))
    with pytest.raises(NlpkitError, match="^Embedding: ids must be integers"):
        nn.Embedding(4, 2)(np.array([1.0]))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_large_inputs_run_the_parallel_kernels_with_torch_parity(torch, nn_parity, dtype, tol):
    """LayerNorm, Linear (its bias gradient: column sums) and ReLU at a transformer
    layer's sizes, above PARALLEL_MIN: the parallel kernels (reassociated sums, sums by
    slices of rows) against torch."""
    from nlpkit.nn.kernels.jit import PARALLEL_MIN
    ours = nn.Sequential(nn.Linear(64, 256, dtype=dtype), nn.ReLU(dtype=dtype),
                         nn.LayerNorm(256, dtype=dtype))
    theirs = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                 torch.nn.LayerNorm(256))
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        theirs[2].weight.normal_()
        theirs[2].bias.normal_()
    x = np.random.default_rng(3).standard_normal((8, 160, 64)).astype(dtype)
    assert 8 * 160 * 256 >= PARALLEL_MIN
    nn_parity(torch, ours, theirs, [x], tol=tol)


@pytest.mark.parametrize("n", [5, 1 << 19])  # one thread, and the parallel kernel
def test_relu_kernel_keeps_numpys_nan_and_inf(n):
    from nlpkit.nn.kernels import elementwise as E
    rng = np.random.default_rng(4)
    x = rng.standard_normal(n).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)
    x[:5] = [np.nan, -np.inf, np.inf, -0.0, 0.0]
    dy[:5] = [1.0, np.inf, 2.0, np.nan, -3.0]
    np.testing.assert_array_equal(E.activation("relu", x), np.maximum(x, 0))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(E.activation_grad("relu", x, None, dy), dy * (x > 0))
    assert E.activation("relu", np.float64(-2.0)) == 0.0  # a 0-d array stays 0-d
    assert np.shape(E.activation("relu", np.array(3.0))) == ()


@pytest.mark.parametrize("shape", [(7, 3), (2048, 256), (3, 200_000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col_sums_by_slices_of_rows(shape, dtype):
    from nlpkit.nn.kernels import arrays, elementwise as E
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for weights in (None, w):
        ref = (x if weights is None else x * weights).astype(np.float64).sum(axis=0)
        got = arrays.colsum(x, weights)
        assert got.dtype == dtype and got.shape == (shape[1],)
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.sqrt(shape[0]))
        out = np.ones(shape[1], dtype)
        E.col_sums(x, out, weights=weights)  # accumulates
        np.testing.assert_allclose(out, ref + 1, rtol=tol, atol=tol * np.sqrt(shape[0]))
