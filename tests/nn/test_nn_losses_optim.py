"""Losses against torch.nn.functional, optimizers against torch.optim step by step,
clipping, the schedule, initialisers."""
import numpy as np
import pytest

from nlpkit import nn
from nlpkit.errors import NlpkitError
from nlpkit.nn import functional as F


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-4)])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_parity(torch, nn_rel_err, dtype, tol, smoothing, reduction, weighted):
    """(N, C, d) logits (classes on dim 1, as torch), ignored targets, class weights."""
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((2, 7, 5)) * 3).astype(dtype)
    targets = rng.integers(0, 7, (2, 5))
    targets[0, 1] = targets[1, 3] = 4
    weight = rng.uniform(0.2, 3.0, 7) if weighted else None
    x = nn.tensor(logits, requires_grad=True)
    value = nn.CrossEntropyLoss(weight, ignore_index=4, label_smoothing=smoothing,
                                reduction=reduction)(x, targets)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        lt, torch.tensor(targets), ignore_index=4, label_smoothing=smoothing, reduction=reduction,
        weight=None if weight is None else torch.tensor(weight, dtype=lt.dtype))
    g = rng.standard_normal(ref.shape).astype(dtype)
    (value * g).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    assert nn_rel_err(value.numpy(), ref) <= tol
    assert nn_rel_err(x.grad, lt.grad) <= tol


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_over_a_word_vocabulary(torch, nn_rel_err, dtype, tol, weighted):
    """A word LM's rows (3000 classes, above the parallel size; float32 takes the vectorised
    exp), masked (-inf) logits, an ignored row: loss and gradient as torch's."""
    rng = np.random.default_rng(6)
    logits = (rng.standard_normal((120, 3000)) * 4).astype(dtype)
    logits[:, 7] = -np.inf  # a class no row may predict
    targets = rng.integers(8, 3000, 120)
    targets[5] = 0  # ignored
    weight = rng.uniform(0.5, 2.0, 3000) if weighted else None
    x = nn.tensor(logits, requires_grad=True)
    value = F.cross_entropy(x, targets, None if weight is None else weight.astype(dtype),
                            ignore_index=0, label_smoothing=0.0)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        lt, torch.tensor(targets), ignore_index=0,
        weight=None if weight is None else torch.tensor(weight, dtype=lt.dtype))
    value.backward()
    ref.backward()
    assert nn_rel_err(value.numpy(), ref) <= tol
    assert nn_rel_err(x.grad, lt.grad) <= tol
    assert np.all(x.grad[:, 7] == 0) and np.all(x.grad[5] == 0)


def test_cross_entropy_finite_differences(nn_numeric_check):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    t = np.array([0, 3, 1, -100, 2, 3])
    w = rng.uniform(0.5, 2, 4)

    def value():
        return F.cross_entropy(logits, t, w, label_smoothing=0.1).item()

    x = nn.tensor(logits, requires_grad=True)
    F.cross_entropy(x, t, w, label_smoothing=0.1).backward()
    nn_numeric_check(value, [logits], [x.grad])


def test_log_softmax_nll_equals_cross_entropy(nn_rel_err):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 6))
    t = np.array([1, 0, 5, 2, 2])
    a = F.nll_loss(F.log_softmax(nn.tensor(logits), dim=1), t)
    assert nn_rel_err(a.numpy(), F.cross_entropy(logits, t).numpy()) <= 1e-12


def test_bce_with_logits_parity(torch, nn_rel_err):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)) * 5
    x[0, :2] = [40, -40]
    y = rng.random((3, 4))
    for reduction in ("mean", "sum", "none"):
        xo, xt = nn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        a = nn.BCEWithLogitsLoss(reduction=reduction)(xo, y)
        b = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(y),
                                                                 reduction=reduction)
        a.sum().backward()
        b.sum().backward()
        assert nn_rel_err(a.numpy(), b) <= 1e-12 and nn_rel_err(xo.grad, xt.grad) <= 1e-12


def test_loss_errors():
    with pytest.raises(NlpkitError, match="^CrossEntropyLoss: target expected shape"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.zeros(3, int))
    with pytest.raises(NlpkitError, match=r"^CrossEntropyLoss: targets must lie in \[0, 3\)"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(NlpkitError, match=r"^CrossEntropyLoss: weight expected shape \(3,\)"):
        nn.CrossEntropyLoss(weight=np.ones(2))(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(NlpkitError, match="reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(NlpkitError, match="^BCEWithLogitsLoss: target expected shape"):
        nn.BCEWithLogitsLoss()(np.zeros((2, 3)), np.zeros(3))


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)), ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[f"{n}-{i}" for i, (n, _) in
                                                         enumerate(OPTIMIZERS)])
def test_optimizer_matches_torch_step_by_step(torch, nn_rel_err, name, kwargs):
    ours = nn.Linear(4, 3, dtype=np.float64, rng=0)
    theirs = torch.nn.Linear(4, 3).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    opt = getattr(nn, name)(ours, **kwargs)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    rng = np.random.default_rng(4)
    for _ in range(4):
        x = rng.standard_normal((5, 4))
        opt.zero_grad()
        (ours(x) ** 2).sum().backward()
        opt.step()
        opt_t.zero_grad()
        (theirs(torch.tensor(x)) ** 2).sum().backward()
        opt_t.step()
    for k, v in theirs.state_dict().items():
        assert nn_rel_err(ours.state_dict()[k], v) <= 1e-10, k


def test_clip_grad_norm_matches_torch(torch, nn_rel_err):
    ours = nn.Linear(4, 3, dtype=np.float64, rng=0)
    theirs = torch.nn.Linear(4, 3).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((5, 4)) * 10
    (ours(x) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    total = nn.clip_grad_norm(ours, 1.0)
    total_t = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    assert abs(total - total_t.item()) <= 1e-9 * total
    for n, p in theirs.named_parameters():
        assert nn_rel_err(dict(ours.named_parameters())[n].grad, p.grad) <= 1e-12


def test_warmup_decay_schedule():
    opt = nn.SGD(nn.Linear(2, 2), lr=1.0)
    sched = nn.WarmupDecay(opt, warmup_steps=2, total_steps=6, decay="linear")
    lrs = [opt.lr] + [sched.step() for _ in range(6)]
    assert np.allclose(lrs, [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(NlpkitError, match="total_steps is needed"):
        nn.WarmupDecay(opt, decay="cosine")


def test_initialisers():
    rng = np.random.default_rng(6)
    a = nn.init.xavier_uniform_(np.empty((300, 200)), rng=rng)
    assert abs(a.std() - np.sqrt(2 / 500)) < 0.002
    q = nn.init.orthogonal_(np.empty((5, 3)), rng=rng)
    assert np.allclose(q.T @ q, np.eye(3))
    p = nn.Linear(3, 2).weight
    nn.init.zeros_(p)
    assert not p.numpy().any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.inf, np.nan, "all-masked"])
def test_cross_entropy_of_diverged_logits_is_nan(torch, dtype, bad):
    """+inf or NaN logits (a diverged model), or a row masked everywhere: NaN, as torch's
    (the estimators stop on it)."""
    logits = np.random.default_rng(8).standard_normal((4, 50)).astype(dtype)
    if bad == "all-masked":
        logits[2] = -np.inf
    else:
        logits[2, 9] = bad
    t = np.array([1, 2, 3, 4])
    ours = F.cross_entropy(nn.tensor(logits), t).numpy()
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(t)).item()
    assert np.isnan(ours) and np.isnan(ref)
