"""Module base: names, state dicts (torch's), save/load, zero_grad, train/eval, errors."""
import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError


def test_state_dict_names_and_shapes_match_torch(torch):
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.LayerNorm(4))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.LayerNorm(4))
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    assert all(ours_sd[k].shape == tuple(v.shape) for k, v in theirs_sd.items())
    ours.load_state_dict(theirs_sd)
    assert np.array_equal(ours.state_dict()["0.weight"], theirs_sd["0.weight"].numpy())
    assert list(ours.grads) == list(theirs_sd)


def test_lstm_names_match_torch(torch):
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_sequential_forward_backward_and_zero_grad(nn_numeric_check):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64, rng=1), nn.GELU(dtype=np.float64),
                          nn.Linear(5, 2, dtype=np.float64, rng=2))
    x = rng.standard_normal((4, 3))
    r = rng.standard_normal((4, 2))
    model(x)
    dx = model.backward(r)
    grads = [g.copy() for g in model.gradients()]
    nn_numeric_check(lambda: float((model(x) * r).sum()), [x] + model.parameters(), [dx] + grads)
    model.backward(r)  # gradients accumulate, as in PyTorch
    assert np.allclose(model.grads["0.weight"], 2 * grads[0])
    model.zero_grad()
    assert all(not g.any() for g in model.gradients())


def test_save_load_roundtrip(tmp_path):
    a = nn.Sequential(nn.Linear(3, 4, rng=0), nn.LayerNorm(4))
    b = nn.Sequential(nn.Linear(3, 4, rng=5), nn.LayerNorm(4))
    path = tmp_path / "model.npz"
    a.save(path)
    b.load(path)
    for k, v in a.state_dict().items():
        assert np.array_equal(b.state_dict()[k], v)
    assert not list(tmp_path.glob(".*tmp*"))


def test_train_eval_propagates():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.eval()
    assert not model[1].training
    x = np.ones((3, 2), np.float32)
    assert np.array_equal(model(x), model(x))
    model.train()
    assert model[1].training


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(NlpkitError, match="Linear.backward called before forward"):
        nn.Linear(2, 3).backward(np.zeros((1, 3), np.float32))
    with pytest.raises(NlpkitError, match="LSTM.backward called before forward"):
        nn.LSTM(2, 3).backward(np.zeros((1, 1, 3), np.float32))


def test_shape_and_dtype_errors_name_layer_and_shapes():
    layer = nn.Linear(4, 3)
    with pytest.raises(NlpkitError,
                       match=r"Linear: input expected shape \(\.\.\., 4\), got \(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(NlpkitError, match="Linear: input dtype must be float32.*got float64"):
        layer(np.zeros((2, 4)))
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(NlpkitError,
                       match=r"Linear.backward: grad_output expected shape \(2, 3\), got \(2, 4\)"):
        layer.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(NlpkitError, match=r"GRU: input expected shape \(\.\.\., 3\)"):
        nn.GRU(3, 2)(np.zeros((4, 2, 5), np.float32))
    with pytest.raises(NlpkitError, match=r"LSTM: h0 expected shape \(1, 2, 2\), got \(1, 3, 2\)"):
        nn.LSTM(3, 2)(np.zeros((4, 2, 3), np.float32), (np.zeros((1, 3, 2), np.float32),) * 2)
    with pytest.raises(NlpkitError, match="load_state_dict: weight expected shape"):
        nn.Linear(4, 3).load_state_dict({"weight": np.zeros((3, 5)), "bias": np.zeros(3)})
    with pytest.raises(NlpkitError, match="missing keys"):
        nn.Linear(4, 3).load_state_dict({"weight": np.zeros((3, 4))})


def test_float64_layers_keep_float64():
    layer = nn.Linear(2, 2, dtype=np.float64)
    assert layer.weight.dtype == np.float64
    assert layer(np.zeros((1, 2))).dtype == np.float64
    with pytest.raises(NlpkitError, match="dtype must be float32 or float64"):
        nn.Linear(2, 2, dtype=np.int32)


# Every layer (issue 5, "Bad input"): backward before forward, a float64 input to a float32
# layer, and an input of the wrong feature size each raise one line naming the layer.
# (factory, a valid float32 input, an input with the wrong trailing / channel size)
BAD_INPUT_LAYERS = {
    "Linear": (lambda: nn.Linear(4, 3), (2, 4), (2, 5)),
    "Dropout": (lambda: nn.Dropout(0.5), (2, 4), None),
    "Tanh": (lambda: nn.Tanh(), (2, 4), None),
    "Sigmoid": (lambda: nn.Sigmoid(), (2, 4), None),
    "ReLU": (lambda: nn.ReLU(), (2, 4), None),
    "GELU": (lambda: nn.GELU(), (2, 4), None),
    "LayerNorm": (lambda: nn.LayerNorm(4), (2, 4), (2, 5)),
    "RNN": (lambda: nn.RNN(4, 3), (5, 2, 4), (5, 2, 6)),
    "LSTM": (lambda: nn.LSTM(4, 3), (5, 2, 4), (5, 2, 6)),
    "GRU": (lambda: nn.GRU(4, 3), (5, 2, 4), (5, 2, 6)),
    "Conv1d": (lambda: nn.Conv1d(4, 3, 2), (2, 4, 6), (2, 5, 6)),
    "MaxPoolTime": (lambda: nn.MaxPoolTime(), (2, 4, 6), None),
    "MeanPoolTime": (lambda: nn.MeanPoolTime(), (2, 4, 6), None),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2), (3, 2, 4), (3, 2, 6)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, 8), (3, 2, 4),
                                (3, 2, 6)),
    "SinusoidalPositionalEncoding": (lambda: nn.SinusoidalPositionalEncoding(4), (2, 3, 4),
                                     (2, 3, 6)),
}


def _call(layer, x):
    if isinstance(layer, nn.MultiheadAttention):
        return layer(x, x, x)[0]
    out = layer(x)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", list(BAD_INPUT_LAYERS))
def test_every_layer_reports_bad_input(name):
    make, good, wrong = BAD_INPUT_LAYERS[name]
    layer = make()
    with pytest.raises(NlpkitError, match=f"^{name}.backward called before forward"):
        layer.backward(np.zeros(good, np.float32))
    with pytest.raises(NlpkitError, match=f"^{name}: .*dtype must be float32.*got float64"):
        _call(layer, np.zeros(good))
    if wrong is not None:
        got = str(wrong).replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(NlpkitError, match=f"^{name}: .*expected shape .*got {got}"):
            _call(layer, np.zeros(wrong, np.float32))
    out = _call(layer, np.zeros(good, np.float32))
    bad = tuple(s + 1 for s in out.shape)
    with pytest.raises(NlpkitError, match=f"^{name}.backward: grad_output expected shape "):
        layer.backward(np.zeros(bad, np.float32))


def test_check_finite_stops_on_nan_and_inf():
    assert nn.check_finite(1.5, "step 1") == 1.5
    for bad in (float("nan"), float("inf"), np.array([0.5, -np.inf])):
        with pytest.raises(NlpkitError, match=r"^step 7: the loss became .*\(NaN or inf\)"):
            nn.check_finite(bad, "step 7")
