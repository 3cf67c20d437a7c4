"""Tensor and the graph: each tensor op against torch (values and gradients, NumPy
broadcasting), and the engine's rules (accumulation, reuse, no_grad, retain_grad, errors)."""
import numpy as np
import pytest
import torch as T

from nlpkit import nn
from nlpkit.errors import NlpkitError
from nlpkit.nn import functional as F

RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((3, 1))
POS = RNG.random((2, 3, 4)) + 0.5
IDX = np.array([[0, 2], [1, 1]])

OPS = {  # name: (our op, torch op, inputs)
    "add-broadcast": (lambda a, b: a + b, lambda a, b: a + b, [A, B]),
    "sub-scalar": (lambda a: 2.0 - a - 1.5, lambda a: 2.0 - a - 1.5, [A]),
    "mul-broadcast": (lambda a, b: a * b, lambda a, b: a * b, [A, B]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [A, POS]),
    "neg-pow": (lambda a: -(a ** 3), lambda a: -(a ** 3), [A]),
    "exp-log-sqrt": (lambda a: F.exp(a) + F.log(a) + F.sqrt(a),
                     lambda a: a.exp() + a.log() + a.sqrt(), [POS]),
    "matmul-batched": (lambda a, b: a @ b, lambda a, b: a @ b,
                       [A, RNG.standard_normal((4, 5))]),
    "matmul-vector": (lambda a, b: a @ b, lambda a, b: a @ b, [A, RNG.standard_normal(4)]),
    "matmul-broadcast": (lambda a, b: a @ b, lambda a, b: a @ b,
                         [RNG.standard_normal((2, 1, 3, 4)), RNG.standard_normal((5, 4, 2))]),
    "sum-dims-keepdim": (lambda a: a.sum((0, 2), keepdim=True),
                         lambda a: a.sum((0, 2), keepdim=True), [A]),
    "mean-dim": (lambda a: a.mean(1), lambda a: a.mean(1), [A]),
    "max-dim": (lambda a: a.max(2)[0], lambda a: a.max(2).values, [A]),
    "max-all": (lambda a: a.max(), lambda a: a.max(), [A]),
    "reshape-transpose": (lambda a: a.reshape(6, 4).transpose(0, 1),
                          lambda a: a.reshape(6, 4).transpose(0, 1), [A]),
    "permute-unsqueeze": (lambda a: a.permute(2, 0, 1).unsqueeze(1).squeeze(1),
                          lambda a: a.permute(2, 0, 1).unsqueeze(1).squeeze(1), [A]),
    "getitem-basic": (lambda a: a[1, :, 1:3], lambda a: a[1, :, 1:3], [A]),
    "getitem-index": (lambda a: a[:, IDX], lambda a: a[:, IDX], [A]),
    "gather": (lambda a: F.gather(a, 1, IDX[None].repeat(2, 0)),
               lambda a: a.gather(1, T.tensor(IDX[None].repeat(2, 0))), [A]),
    "cat-stack-split": (lambda a: F.cat(list(F.split(a, [1, 3], dim=2))[::-1], 2)
                        + F.stack([a[0], a[1]]),
                        lambda a: T.cat(list(a.split([1, 3], 2))[::-1], 2)
                        + T.stack([a[0], a[1]]), [A]),
    "where-masked-fill": (lambda a, b: F.where(A > 0, a, b).masked_fill(A < -1, 0.5),
                          lambda a, b: T.where(T.tensor(A > 0), a, b)
                          .masked_fill(T.tensor(A < -1), 0.5), [A, B]),
    "softmax-log-softmax": (lambda a: F.softmax(a, 1) * F.log_softmax(a, -1),
                            lambda a: a.softmax(1) * a.log_softmax(-1), [A]),
    "maximum-normalize": (lambda a: F.normalize(F.maximum(a, 0.1), dim=2),
                          lambda a: T.nn.functional.normalize(a.clamp_min(0.1), dim=2), [A]),
}


@pytest.mark.parametrize("name", list(OPS))
def test_op_matches_torch(torch, nn_rel_err, name):
    ours, theirs, inputs = OPS[name]
    o = [nn.tensor(a, requires_grad=True) for a in inputs]
    t = [torch.tensor(a, requires_grad=True) for a in inputs]
    y, yt = ours(*o), theirs(*t)
    assert nn_rel_err(y.numpy(), yt) <= 1e-12
    g = np.random.default_rng(1).standard_normal(yt.shape)
    (y * g).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for a, b in zip(o, t):
        assert nn_rel_err(a.grad, b.grad) <= 1e-12


def test_a_tensor_used_many_times_sums_its_gradients():
    x = nn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x + x * 2 + x  # x reaches the loss along four paths
    y.sum().backward()
    assert np.allclose(x.grad, 2 * np.array([1.0, 2.0, 3.0]) + 3)


def test_deep_graphs_and_diamonds():
    """A 3000-op chain (deeper than Python's recursion limit) and shared intermediates."""
    x = nn.tensor(np.ones(2), requires_grad=True)
    h = x
    for _ in range(3000):
        h = h * 1.0 + 0.0
    mid = h * 2
    (mid + mid * mid).sum().backward()
    assert np.allclose(x.grad, 2 + 8)


def test_no_grad_retain_grad_detach_and_errors():
    x = nn.tensor(np.ones(3), requires_grad=True)
    with nn.no_grad():
        y = x * 2
    assert not y.requires_grad
    z = x * 3
    z.retain_grad()
    w = (z * z).sum()
    w.backward()
    assert np.allclose(z.grad, 6) and np.allclose(x.grad, 18)
    assert not (x * 2).detach().requires_grad
    with pytest.raises(NlpkitError, match="freed"):
        w.backward()
    with pytest.raises(NlpkitError, match="only for a scalar"):
        (x * 2).backward()
    with pytest.raises(NlpkitError, match="does not require a gradient"):
        nn.tensor(np.ones(2)).sum().backward()
    with pytest.raises(NlpkitError, match="in-place assignment into a tensor that is part"):
        z[0] = 1.0
    v = (x * 2).sum()
    v.backward(retain_graph=True)
    v.backward()  # kept graph: a second pass adds again
    assert np.allclose(x.grad, 18 + 4)


def test_a_custom_function():
    """A user's op: forward and backward on arrays, the ctx of each call."""

    class Cube(nn.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            return 3 * ctx.x ** 2 * g

    x = nn.tensor(np.array([1.0, -2.0]), requires_grad=True)
    (Cube.apply(x) + Cube.apply(x * 2)).sum().backward()
    assert np.allclose(x.grad, 3 * np.array([1.0, 4.0]) * 9)


def test_tensor_facts():
    t = nn.tensor([[1, 2], [3, 4]], dtype=np.float32)
    assert t.shape == (2, 2) and t.dtype == np.float32 and t.device == "cpu" and t.ndim == 2
    assert isinstance(t.numpy(), np.ndarray) and float(t[1, 1]) == 4.0
    assert "tensor(" in repr(t) and (t == 2).numpy().sum() == 1
