"""Losses against torch.nn.functional, optimizers against torch.optim step by step,
clipping, the schedule, initialisers."""
import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-4)])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_parity(torch, nn_rel_err, dtype, tol, smoothing, reduction):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((2, 5, 7)) * 3).astype(dtype)
    targets = rng.integers(0, 7, (2, 5))
    targets[0, 1] = targets[1, 3] = -100
    loss = nn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)
    value = loss(logits, targets)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 7), torch.tensor(targets).reshape(-1),
                                            label_smoothing=smoothing, reduction=reduction)
    ref.backward()
    assert abs(value - ref.item()) <= tol * abs(ref.item())
    assert nn_rel_err(loss.backward(), lt.grad) <= tol


def test_cross_entropy_custom_ignore_index_and_none(torch, nn_rel_err):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    targets = np.array([0, 3, 1, 1, 2, 3])
    loss = nn.CrossEntropyLoss(ignore_index=1, reduction="none")
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                                            ignore_index=1, reduction="none")
    assert nn_rel_err(loss(logits, targets), ref) <= 1e-12


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-4)])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_cross_entropy_parity(torch, nn_rel_err, dtype, tol, smoothing, reduction):
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((3, 4, 6)) * 3).astype(dtype)
    targets = rng.integers(0, 6, (3, 4))
    targets[0, 2] = targets[2, 0] = 4  # the custom ignore_index
    weight = rng.uniform(0.2, 3.0, 6)
    loss = nn.CrossEntropyLoss(weight=weight, ignore_index=4, label_smoothing=smoothing,
                               reduction=reduction)
    value = loss(logits, targets)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        lt.reshape(-1, 6), torch.tensor(targets).reshape(-1),
        weight=torch.tensor(weight, dtype=lt.dtype), ignore_index=4, label_smoothing=smoothing,
        reduction=reduction)
    g = rng.standard_normal(targets.shape) if reduction == "none" else 0.7
    ref.backward(torch.tensor(g, dtype=lt.dtype).reshape(ref.shape))
    assert nn_rel_err(np.reshape(value, -1), ref.detach().reshape(-1)) <= tol
    assert nn_rel_err(loss.backward(g), lt.grad) <= tol


def test_weighted_cross_entropy_finite_differences(nn_numeric_check):
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((5, 4))
    targets = np.array([0, -100, 3, 2, 3])
    loss = nn.CrossEntropyLoss(weight=[0.5, 2.0, 1.0, 3.0], label_smoothing=0.1)
    loss(logits, targets)
    grad = loss.backward()
    nn_numeric_check(lambda: loss(logits, targets), [logits], [grad])


def test_cross_entropy_weight_errors():
    with pytest.raises(NlpkitError, match=r"weight expected shape \(4,\) .*got \(3,\)"):
        nn.CrossEntropyLoss(weight=np.ones(3))(np.zeros((2, 4)), np.zeros(2, int))
    with pytest.raises(NlpkitError, match=r"weight expected shape \(C,\)"):
        nn.CrossEntropyLoss(weight=np.ones((2, 2)))


def test_cross_entropy_finite_differences(nn_numeric_check):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 4))
    targets = np.array([0, -100, 3, 2, 1])
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)
    loss(logits, targets)
    grad = loss.backward()
    nn_numeric_check(lambda: loss(logits, targets), [logits], [grad])


def test_bce_with_logits_parity_and_finite_differences(torch, nn_rel_err, nn_numeric_check):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3)) * 5
    y = (rng.random((4, 3)) > 0.5).astype(np.float64)
    loss = nn.BCEWithLogitsLoss()
    value = loss(x, y)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(y))
    ref.backward()
    assert abs(value - ref.item()) <= 1e-12
    grad = loss.backward()
    assert nn_rel_err(grad, xt.grad) <= 1e-12
    nn_numeric_check(lambda: loss(x, y), [x], [grad])


def test_loss_errors():
    with pytest.raises(NlpkitError, match=r"targets expected shape \(3,\)"):
        nn.CrossEntropyLoss()(np.zeros((3, 4)), np.zeros(4, int))
    with pytest.raises(NlpkitError, match="backward called before forward"):
        nn.CrossEntropyLoss().backward()
    with pytest.raises(NlpkitError, match="NaN or inf"):
        nn.check_finite(float("nan"), "epoch 3")


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, eps=1e-6)),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=lambda v: str(v))
def test_optimizer_matches_torch_step_by_step(torch, nn_rel_err, name, kwargs):
    rng = np.random.default_rng(4)
    ours = nn.Linear(3, 2, dtype=np.float64)
    theirs = torch.nn.Linear(3, 2).double()
    ours.load_state_dict(theirs.state_dict())
    opt = getattr(nn, name)(ours, **kwargs)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    for _ in range(5):
        x = rng.standard_normal((4, 3))
        g = rng.standard_normal((4, 2))
        opt.zero_grad()
        ours(x)
        ours.backward(g)
        opt.step()
        opt_t.zero_grad()
        theirs(torch.tensor(x)).backward(torch.tensor(g))
        opt_t.step()
        for k, v in theirs.state_dict().items():
            assert nn_rel_err(ours.state_dict()[k], v) <= 1e-12, k


def test_clip_grad_norm_matches_torch(torch, nn_rel_err):
    ours = nn.Linear(3, 2, dtype=np.float64)
    theirs = torch.nn.Linear(3, 2).double()
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(5).standard_normal((4, 3)) * 10
    ours(x)
    ours.backward(np.ones((4, 2)))
    theirs(torch.tensor(x)).backward(torch.ones(4, 2, dtype=torch.float64))
    total = nn.clip_grad_norm(ours, 0.5)
    ref = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
    assert abs(total - ref.item()) <= 1e-12 * ref.item()
    for k, p in theirs.named_parameters():
        assert nn_rel_err(ours.grads[k], p.grad) <= 1e-12
    assert nn.clip_grad_norm(ours, 1e9) == pytest.approx(0.5, rel=1e-5)


def test_warmup_decay_schedule():
    opt = nn.SGD(nn.Linear(2, 2), lr=1.0)
    sched = nn.WarmupDecay(opt, warmup_steps=4, total_steps=14, decay="linear")
    lrs = [opt.lr] + [sched.step() for _ in range(15)]
    assert lrs[:6] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 0.9])
    assert lrs[14] == pytest.approx(0.0) and lrs[15] == pytest.approx(0.0)
    opt = nn.SGD(nn.Linear(2, 2), lr=1.0)
    sched = nn.WarmupDecay(opt, warmup_steps=0, total_steps=10, decay="cosine", min_lr=0.1)
    assert [sched.lr_at(s) for s in (0, 5, 10)] == pytest.approx([1.0, 0.55, 0.1])


def test_initialisers():
    rng = np.random.default_rng(0)
    w = nn.init.orthogonal_(np.empty((6, 4)), rng=rng)
    assert np.allclose(w.T @ w, np.eye(4))
    w = nn.init.orthogonal_(np.empty((3, 8)), gain=2.0, rng=rng)
    assert np.allclose(w @ w.T, 4 * np.eye(3))
    w = nn.init.xavier_uniform_(np.empty((200, 300)), rng=rng)
    bound = np.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.05 * bound ** 2
    w = nn.init.xavier_normal_(np.empty((200, 300)), rng=rng)
    assert abs(w.std() - np.sqrt(2 / 500)) < 0.02 * np.sqrt(2 / 500)
    lin = nn.Linear(50, 400, rng=rng)
    assert np.abs(lin.weight).max() <= 1 / np.sqrt(50)
    assert np.abs(lin.weight).max() > 0.95 / np.sqrt(50)
