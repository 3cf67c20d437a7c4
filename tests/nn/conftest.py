"""Helpers shared by the nn tests: PyTorch parity through the Tensor API, finite differences."""
import numpy as np
import pytest


def rel_err(ours, theirs):
    """max |ours - theirs| relative to the largest |theirs| (the tolerance the issue states)."""
    if hasattr(theirs, "detach"):
        theirs = theirs.detach().numpy()
    theirs = np.asarray(theirs, dtype=np.float64)
    ours = np.asarray(ours, dtype=np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = max(np.abs(theirs).max(initial=0.0), 1e-12)
    return float(np.abs(ours - theirs).max(initial=0.0) / scale)


TOL = {np.float64: 1e-6, np.float32: 1e-4}


def parity(torch, ours, theirs, inputs, call=None, tol=1e-6, seed=3, n_grad=None):
    """Run ``call(module, *inputs)`` (default ``module(*inputs)``) in nlpkit and torch with the
    same weights (copied from torch) and input tensors that require gradients; weight every
    output by a random array and back-propagate; compare the outputs, the input gradients
    and every parameter gradient (by name).  Float arrays in ``inputs`` get gradients; other
    arguments are passed as they are (torch gets tensors of the same values).  Only the first
    ``n_grad`` outputs are back-propagated (attention weights are compared, not differentiated)."""
    from nlpkit import nn
    call = call or (lambda m, *a: m(*a))
    ours.load_state_dict(theirs.state_dict())
    o_in = [nn.tensor(a, requires_grad=True) if _float(a) else a for a in inputs]
    t_in = [torch.tensor(a, requires_grad=True) if _float(a) else _torch_arg(torch, a)
            for a in inputs]
    o_out, t_out = _flat(call(ours, *o_in)), _flat(call(theirs, *t_in))
    rng = np.random.default_rng(seed)
    o_loss, t_loss = 0, 0
    for i, (a, b) in enumerate(zip(o_out, t_out)):
        assert rel_err(a.numpy(), b) <= tol
        if n_grad is not None and i >= n_grad:
            continue
        g = rng.standard_normal(b.shape).astype(a.dtype)
        o_loss = o_loss + (a * g).sum()
        t_loss = t_loss + (b * torch.tensor(g)).sum()
    o_loss.backward()
    t_loss.backward()
    for a, b in zip(o_in, t_in):
        if _float(a):
            assert rel_err(a.grad, b.grad) <= tol
    params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if p.grad is not None:
            assert rel_err(params[name].grad, p.grad) <= tol, name
    return o_out


def _float(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _torch_arg(torch, a):
    return torch.tensor(a) if isinstance(a, np.ndarray) else a


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o) if x is not None]
    return [out]


def numeric_check(loss_fn, arrays, analytic, eps=1e-6, tol=1e-6, max_entries=40, rng=None):
    """Compare analytic gradients with central differences of ``loss_fn()`` (float64).

    ``arrays`` (NumPy arrays, e.g. a parameter's ``.data``) are perturbed in place;
    ``analytic`` are their gradients.  At most ``max_entries`` entries per array are probed."""
    rng = rng or np.random.default_rng(0)
    for a, g in zip(arrays, analytic):
        assert g.shape == a.shape
        flat, gflat = a.reshape(-1), np.asarray(g).reshape(-1)
        idx = np.arange(flat.size)
        if flat.size > max_entries:
            idx = rng.choice(flat.size, max_entries, replace=False)
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            up = loss_fn()
            flat[i] = old - eps
            down = loss_fn()
            flat[i] = old
            num = (up - down) / (2 * eps)
            assert abs(num - gflat[i]) <= tol * max(1.0, abs(num)), (i, num, gflat[i])


def fd_check(module, inputs, call=None, seed=1, max_entries=12, tol=1e-6):
    """Finite differences through the Tensor API: the gradient of sum(out * r) with respect to
    every float input and every parameter (float64)."""
    from nlpkit import nn
    call = call or (lambda m, *a: m(*a))
    rng = np.random.default_rng(seed)
    outs = _flat(call(module, *inputs))
    rs = [rng.standard_normal(o.shape) for o in outs]

    def value():
        with nn.no_grad():
            return float(sum((o.numpy() * r).sum() for o, r in zip(_flat(call(module, *inputs)),
                                                                   rs)))

    tens = [nn.tensor(a, requires_grad=True) if _float(a) else a for a in inputs]
    module.zero_grad()
    loss = sum((o * r).sum() for o, r in zip(_flat(call(module, *tens)), rs))
    loss.backward()
    arrays = [a for a in inputs if _float(a)] + [p.data for p in module.parameters()]
    grads = [t.grad for t, a in zip(tens, inputs) if _float(a)]
    grads += [p.grad for p in module.parameters()]
    numeric_check(value, arrays, grads, max_entries=max_entries, tol=tol)


@pytest.fixture(scope="module")
def torch():
    import torch as _torch
    _torch.manual_seed(0)
    return _torch


@pytest.fixture(scope="session")
def nn_rel_err():
    return rel_err


@pytest.fixture(scope="session")
def nn_numeric_check():
    return numeric_check


@pytest.fixture(scope="session")
def nn_parity():
    return parity


@pytest.fixture(scope="session")
def nn_fd_check():
    return fd_check
