"""The same ops and layers on CUDA device arrays (Numba's CUDA simulator) against the CPU.

A module moved with ``.to('cuda')`` holds device arrays; the ops pick the CUDA twins from
them.  Shapes are tiny: the simulator runs every GPU thread in Python."""
import numpy as np
import pytest

from nlpkit import backend, nn
from nlpkit.nn import functional as F

pytestmark = pytest.mark.cuda
TOL = 1e-9  # float64 on both sides


@pytest.fixture(scope="module", autouse=True)
def simulator():
    if not backend.simulator_enabled() and not backend.cuda_status()[0]:
        pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 (set by tests/conftest.py) or a GPU")


def _same(make, inputs, call=None, nn_rel_err=None, seed=0):
    """Forward + backward of ``make()`` on the CPU and on the device: outputs, input gradients
    and parameter gradients agree; on the device they stay device arrays."""
    from tests.nn.conftest import rel_err
    call = call or (lambda m, *a: m(*a))
    results = []
    for device in ("cpu", "cuda"):
        m = make().to(device)
        ins = [nn.tensor(a, requires_grad=True, device=device)
               if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs]
        out = call(m, *ins)
        outs = out if isinstance(out, (tuple, list)) else [out]
        outs = [o for o in outs if o is not None and not isinstance(o, tuple)]
        assert all(o.device == device for o in outs)
        rng = np.random.default_rng(seed)
        loss = sum((o * rng.standard_normal(o.shape)).sum() for o in outs)
        loss.backward()
        grads = [t.grad for t in ins if isinstance(t, nn.Tensor)]
        grads += [p.grad for p in m.parameters()]
        if device == "cuda":
            assert all(backend.is_device_array(g) for g in grads if g is not None)
        results.append(([o.numpy() for o in outs], [backend.to_host(g) for g in grads]))
    for a, b in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        assert (a is None) == (b is None)
        if a is not None:
            assert rel_err(b, a) <= TOL


D = np.float64


def test_linear_activations_layernorm_dropout_embedding():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4))
    _same(lambda: nn.Sequential(nn.Linear(4, 5, dtype=D, rng=0), nn.GELU(dtype=D),
                                nn.LayerNorm(5, dtype=D), nn.Dropout(0.3, dtype=D, rng=2),
                                nn.Tanh(dtype=D), nn.Linear(5, 3, dtype=D, rng=1)), [x])
    ids = np.array([[1, 2, 0], [3, 3, 1]])
    _same(lambda: nn.Embedding(4, 3, padding_idx=0, dtype=D, rng=0), [ids])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_twins_agree_bit_for_bit(dtype):
    """ReLU's one scalar definition (scalar_math.relu) in the CPU kernel and in the twin:
    NaN stays NaN, negatives and -0 give +0, the gradient passes where x > 0 only."""
    from nlpkit.nn.cuda import elementwise as gpu
    from nlpkit.nn.kernels import elementwise as cpu
    x = np.array([-2.0, -0.0, 0.0, 0.5, np.inf, -np.inf, np.nan, 3.0], dtype)
    dy = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.inf], dtype)
    y = cpu.activation("relu", x)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(np.maximum(x, 0)))
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    y_dev = backend.to_host(gpu.activation("relu", x))
    np.testing.assert_array_equal(np.signbit(y_dev), np.signbit(y))
    np.testing.assert_array_equal(y_dev, y)
    dx = cpu.activation_grad("relu", x, y, dy)
    np.testing.assert_array_equal(dx, dy * (x > 0))
    np.testing.assert_array_equal(backend.to_host(gpu.activation_grad("relu", x, y, dy)), dx)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_recurrent(mode):
    """Both directions, batch_first, padded batch (two layers for LSTM), initial states."""
    rng = np.random.default_rng(2)
    kw = dict(num_layers=2 if mode == "LSTM" else 1, bidirectional=True, batch_first=True,
              dtype=D, rng=0)
    x = rng.standard_normal((2, 3, 3))
    h0 = rng.standard_normal((kw["num_layers"] * 2, 2, 4))

    def call(m, x, h0):
        hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
        out, hn = m(x, hx, lengths=np.array([3, 2]))
        return [out] + (list(hn) if mode == "LSTM" else [hn])

    _same(lambda: getattr(nn, mode)(3, 4, **kw), [x, h0], call)


@pytest.mark.parametrize("self_attn", [True, False])
def test_multihead_attention(self_attn):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 3, 4))
    kv = rng.standard_normal((2, 2, 4))
    pad = np.array([[False, False, True], [False, False, False]]) if self_attn else \
        np.array([[False, True], [False, False]])

    def call(m, q, kv=None):
        k = q if self_attn else kv
        out, w = m(q, k, k, key_padding_mask=pad, is_causal=self_attn)
        return [out, w]

    _same(lambda: nn.MultiheadAttention(4, 2, batch_first=True, dtype=D, rng=1), [q, kv], call)


@pytest.mark.parametrize("positions,causal", [("rope", True), ("alibi", True), ("alibi", False)])
def test_attention_positions(positions, causal):
    """RoPE's rotation kernel and ALiBi's bias inside the softmax kernel: device = CPU,
    forward and backward; 3 heads (ALiBi's slopes for a non-power of two)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6))
    pad = np.array([[False, False, True], [False, False, False]])

    def call(m, x):
        out, w = m(x, x, x, key_padding_mask=pad, is_causal=causal)
        return [out, w]

    _same(lambda: nn.MultiheadAttention(6 if positions == "alibi" else 12, 3, batch_first=True,
                                        positions=positions, dtype=D, rng=1),
          [x if positions == "alibi" else rng.standard_normal((2, 3, 12))], call)


def test_rotary_kernel_twin():
    """The fused rotation (packed q|k|v, offset) and its inverse on the device."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2, 12))

    class Rot(nn.Module):
        def forward(self, x):
            return F.rotary_embedding(x, 2, 8, batch_first=False, offset=2)

    _same(lambda: Rot(D), [x])


def test_transformer_layers():
    rng = np.random.default_rng(4)
    x, mem = rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 2, 4))
    kw = dict(dim_feedforward=6, dropout=0.0, batch_first=True, dtype=D, rng=5)
    _same(lambda: nn.TransformerEncoderLayer(4, 2, activation="gelu", **kw), [x],
          lambda m, x: m(x, is_causal=True))
    _same(lambda: nn.TransformerDecoderLayer(4, 2, norm_first=True, **kw), [x, mem],
          lambda m, x, mem: m(x, mem, tgt_is_causal=True))


def test_conv_pooling_positions():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 5))
    _same(lambda: nn.Conv1d(4, 2, 3, stride=2, padding=1, dilation=2, dtype=D, rng=0), [x])
    _same(lambda: nn.Conv1d(4, 2, 3, groups=2, padding="same", dtype=D, rng=0), [x])
    for cls in (nn.MaxPoolTime, nn.MeanPoolTime):
        _same(lambda: cls(dim=-1, dtype=D), [x], lambda m, x: m(x, np.array([5, 2])))
    y = rng.standard_normal((2, 3, 4))
    _same(lambda: nn.LearnedPositionalEncoding(5, 4, batch_first=True, dtype=D, rng=0), [y])
    _same(lambda: nn.RotaryEmbedding(4, dtype=D), [y], lambda m, x: m(x, offset=1))


def test_tensor_ops_and_losses():
    """Broadcasting arithmetic, reductions, indexing, cat, where, softmax, losses."""
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 1))
    t = np.array([1, 0, -100, 2, 3, 3])

    def call(m, a, b):
        y = (a * b + a / (b * b + 1.0) - b) @ rng.standard_normal((4, 2))
        z = F.cat([y[:, 1:], y[:, :1]], dim=1).max(1)[0] + y.sum((0,), keepdim=True).mean()
        w = F.where(a > 0, a, b).masked_fill(a < -1, 0.25)
        ce = F.cross_entropy(F.log_softmax(a.reshape(6, 4), -1), t, label_smoothing=0.1)
        bce = F.binary_cross_entropy_with_logits(a, (a > 0.3) * 1.0)
        return [z, w[:, IDX], ce, bce]

    IDX = np.array([2, 0, 2])
    rng_state = rng.bit_generator.state

    def call_fixed(m, a, b):
        rng.bit_generator.state = rng_state  # the same constant on both devices
        return call(m, a, b)

    _same(lambda: nn.Module(D), [a, b], call_fixed)


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_masked_logits(weighted):
    """A masked (-inf) class and no smoothing: finite losses, zero gradient there, as the CPU."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 6))
    a[:, 2] = -np.inf
    t = np.array([0, 1, 3, -100, 5])
    w = rng.uniform(0.5, 2.0, 6) if weighted else None
    grads = []
    for device in ("cpu", "cuda"):
        x = nn.tensor(a, requires_grad=True, device=device)
        loss = F.cross_entropy(x, t, w)
        loss.backward()
        assert np.isfinite(loss.numpy())
        grads.append((loss.numpy(), backend.to_host(x.grad)))
    (l_cpu, g_cpu), (l_dev, g_dev) = grads
    np.testing.assert_allclose(l_dev, l_cpu, rtol=TOL)
    np.testing.assert_allclose(g_dev, g_cpu, rtol=TOL, atol=TOL)
    assert np.all(g_cpu[:, 2] == 0) and np.all(g_cpu[3] == 0)


@pytest.mark.parametrize("opt", ["Adam", "AdamW", "SGD"])
def test_optimizer_and_clipping_on_the_device(opt):
    """Two steps on each device: the same parameters; state and parameters stay on the GPU."""
    from tests.nn.conftest import rel_err
    x, t = np.random.default_rng(7).standard_normal((4, 3)), np.array([0, 1, 1, 0])
    states = []
    for device in ("cpu", "cuda"):
        m = nn.Linear(3, 2, dtype=D, rng=0).to(device)
        o = getattr(nn, opt)(m, lr=0.1, **({"momentum": 0.9} if opt == "SGD" else {}))
        for _ in range(2):
            o.zero_grad()
            F.cross_entropy(m(nn.tensor(x, device=device)), t).backward()
            nn.clip_grad_norm(m, 0.1)
            o.step()
        if device == "cuda":
            assert all(backend.is_device_array(p.data) for p in m.parameters())
            assert all(backend.is_device_array(v) for s in o.state for v in s.values())
        states.append(m.state_dict())
    for k in states[0]:
        assert rel_err(states[1][k], states[0][k]) <= TOL


def test_module_to_moves_parameters_only_and_back():
    lin = nn.Linear(3, 2, dtype=D, rng=0, device="cuda")
    assert lin.device == "cuda" and backend.is_device_array(lin.weight.data)
    x = np.arange(6.0).reshape(2, 3)
    y = lin(x).numpy()  # a host input meets device parameters: the op runs on the device
    lin.to("cpu")
    assert isinstance(lin.weight.data, np.ndarray)
    np.testing.assert_allclose(lin(x).numpy(), y)
