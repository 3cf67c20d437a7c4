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
    assert [n for n, _ in ours.named_parameters()] == list(theirs_sd)
    assert all(p.requires_grad and isinstance(p, nn.Parameter) for p in ours.parameters())


def test_lstm_names_match_torch(torch):
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


def test_gradients_accumulate_until_zero_grad(nn_fd_check):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64, rng=1), nn.GELU(dtype=np.float64),
                          nn.Linear(5, 2, dtype=np.float64, rng=2))
    x = rng.standard_normal((4, 3))
    nn_fd_check(model, [x])
    model.zero_grad()
    model(x).sum().backward()
    first = model[0].weight.grad.copy()
    model(x).sum().backward()  # accumulates, as in PyTorch
    assert np.allclose(model[0].weight.grad, 2 * first)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_tied_parameters_are_one_parameter(torch, nn_rel_err):
    emb, out = nn.Embedding(6, 4, dtype=np.float64, rng=0), nn.Linear(4, 6, dtype=np.float64)
    out.weight = emb.weight
    net = nn.Sequential(emb, out)
    assert len(net.parameters()) == 2  # the shared weight once, the bias
    assert set(net.state_dict()) == {"0.weight", "1.weight", "1.bias"}  # as torch lists them
    ids = np.array([[1, 2, 3]])
    net(ids).sum().backward()
    w = torch.tensor(emb.weight.numpy(), requires_grad=True)
    (torch.nn.functional.embedding(torch.tensor(ids), w) @ w.T + torch.tensor(
        out.bias.numpy())).sum().backward()
    assert nn_rel_err(emb.weight.grad, w.grad) <= 1e-12


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
    assert np.array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert model[1].training


def test_shape_and_dtype_errors_name_layer_and_shapes():
    layer = nn.Linear(4, 3)
    with pytest.raises(NlpkitError,
                       match=r"Linear: input expected shape \(\.\.\., 4\), got \(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(NlpkitError, match="Linear: input dtype must be float32.*got float64"):
        layer(np.zeros((2, 4)))
    with pytest.raises(NlpkitError, match=r"GRU: input expected shape \(\.\.\., 3\)"):
        nn.GRU(3, 2)(np.zeros((4, 2, 5), np.float32))
    with pytest.raises(NlpkitError, match=r"LSTM: h0 expected shape \(1, 2, 2\), got \(1, 3, 2\)"):
        nn.LSTM(3, 2)(np.zeros((4, 2, 3), np.float32), (np.zeros((1, 3, 2), np.float32),) * 2)
    with pytest.raises(NlpkitError, match="load_state_dict: weight expected shape"):
        nn.Linear(4, 3).load_state_dict({"weight": np.zeros((3, 5)), "bias": np.zeros(3)})
    with pytest.raises(NlpkitError, match="missing keys"):
        nn.Linear(4, 3).load_state_dict({"weight": np.zeros((3, 4))})
    with pytest.raises(NlpkitError, match="dtype must be float32 or float64"):
        nn.Linear(2, 2, dtype=np.int32)


# Every layer: a float64 input to a float32 layer and an input of the wrong feature size each
# raise one line naming the layer.  (factory, a valid input shape, a wrong one)
BAD_INPUT_LAYERS = {
    "Linear": (lambda: nn.Linear(4, 3), (2, 4), (2, 5)),
    "Dropout": (lambda: nn.Dropout(0.5), (2, 4), None),
    "Tanh": (lambda: nn.Tanh(), (2, 4), None),
    "ReLU": (lambda: nn.ReLU(), (2, 4), None),
    "GELU": (lambda: nn.GELU(), (2, 4), None),
    "LayerNorm": (lambda: nn.LayerNorm(4), (2, 4), (2, 5)),
    "RNN": (lambda: nn.RNN(4, 3), (5, 2, 4), (5, 2, 6)),
    "LSTM": (lambda: nn.LSTM(4, 3), (5, 2, 4), (5, 2, 6)),
    "GRU": (lambda: nn.GRU(4, 3), (5, 2, 4), (5, 2, 6)),
    "Conv1d": (lambda: nn.Conv1d(4, 3, 2), (2, 4, 6), (2, 5, 6)),
    "MaxPoolTime": (lambda: nn.MaxPoolTime(), (2, 4, 6), None),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2), (3, 2, 4), (3, 2, 6)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, 8), (3, 2, 4),
                                (3, 2, 6)),
    "SinusoidalPositionalEncoding": (lambda: nn.SinusoidalPositionalEncoding(4), (2, 3, 4),
                                     (2, 3, 6)),
}


@pytest.mark.parametrize("name", list(BAD_INPUT_LAYERS))
def test_every_layer_reports_bad_input(name):
    make, good, wrong = BAD_INPUT_LAYERS[name]
    layer = make()

    def call(x):
        return layer(x, x, x) if isinstance(layer, nn.MultiheadAttention) else layer(x)

    with pytest.raises(NlpkitError, match=f"^{name}: .*dtype must be float32.*got float64"):
        call(np.zeros(good))
    if wrong is not None:
        got = str(wrong).replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(NlpkitError, match=f"^{name}: .*expected shape .*got {got}"):
            call(np.zeros(wrong, np.float32))
    call(np.zeros(good, np.float32))


def test_no_layer_or_model_defines_backward():
    """Layers and networks are forward code: the graph gives the backward."""
    import inspect

    import nlpkit.models.classifier as c
    import nlpkit.models.encoders as e
    import nlpkit.models.layers as ml
    import nlpkit.models.neural_lm as lm
    import nlpkit.models.seq2seq as s
    import nlpkit.models.tagger as t
    classes = [obj for mod in (nn, c, e, ml, lm, s, t) for obj in vars(mod).values()
               if inspect.isclass(obj) and issubclass(obj, nn.Module)]
    assert len(classes) > 25
    assert not [cls.__name__ for cls in classes if "backward" in vars(cls)]


def test_check_finite_stops_on_nan_and_inf():
    assert nn.check_finite(1.5, "step 1") == 1.5
    for bad in (float("nan"), float("inf"), np.array([0.5, -np.inf])):
        with pytest.raises(NlpkitError, match=r"^step 7: the loss became .*\(NaN or inf\)"):
            nn.check_finite(bad, "step 7")
