"""CUDA twins of the recurrent time loops (:mod:`nlpkit.nn.kernels.recurrent`): same arguments,
same results.

The host runs the time loop; per step one matrix product with the recurrent
weights (``matmul.gemm``) and one kernel for the gate math, a thread per
(batch row, hidden unit).  The backward pass adds a small kernel that copies
the propagated gradient into ``dh`` for the rows still active.  Everything
stays on the device: inputs are device arrays (host arrays are copied once),
the ``out``/cache arrays must be device arrays, the returned states are too.

Variable lengths as on the CPU: row ``b`` is active at step ``t`` when
``t < lengths[b]``; an inactive step keeps the state, writes a zero output
and gets no gradient.  The input projection of all steps (one GEMM over T·B
rows) and the weight gradients are done around the loops by
:func:`direction_forward` / :func:`direction_backward`, which
:mod:`nlpkit.nn.functional` calls, as it calls their CPU twins.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import arrays as xp
from . import support as S
from .matmul import gemm as _gemm

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _kernels(dtype_name):
    global cuda
    cuda = S.get_cuda()
    ZERO, ONE = np.dtype(dtype_name).type(0), np.dtype(dtype_name).type(1)  # typed constants

    @cuda.jit(device=True)
    def sigmoid(v):
        if v >= ZERO:
            return ONE / (ONE + math.exp(-v))
        e = math.exp(v)
        return e / (ONE + e)

    @cuda.jit
    def rnn_step(xproj, pre, h, lengths, t, relu, out, hprev):
        batch, hidden = h.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            hprev[t, b, j] = h[b, j]
            if t < lengths[b]:
                v = pre[b, j] + xproj[t, b, j]
                if relu:
                    y = v if v > ZERO else ZERO
                else:
                    y = math.tanh(v)
                h[b, j] = y
                out[t, b, j] = y
            else:
                out[t, b, j] = 0

    @cuda.jit
    def rnn_back_step(dh, dout, out, lengths, t, relu, dpre):
        batch, hidden = dh.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            if t < lengths[b]:
                g = dh[b, j] + dout[t, b, j]
                y = out[t, b, j]
                if relu:
                    dpre[t, b, j] = g if y > ZERO else ZERO
                else:
                    dpre[t, b, j] = g * (ONE - y * y)
            else:
                dpre[t, b, j] = 0

    @cuda.jit
    def merge(back, direct, use_direct, lengths, t, dh):
        """dh[b] = back[b] (+ direct[b]) for the rows active at step t."""
        batch, hidden = dh.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            if t < lengths[b]:
                dh[b, j] = back[b, j] + direct[b, j] if use_direct else back[b, j]

    @cuda.jit
    def lstm_step(xproj, pre, h, c, lengths, t, out, hprev, cprev, gates, tanh_c):
        batch, hidden = h.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            hprev[t, b, j] = h[b, j]
            cprev[t, b, j] = c[b, j]
            if t < lengths[b]:
                gi = sigmoid(pre[b, j] + xproj[t, b, j])
                gf = sigmoid(pre[b, hidden + j] + xproj[t, b, hidden + j])
                gg = math.tanh(pre[b, 2 * hidden + j] + xproj[t, b, 2 * hidden + j])
                go = sigmoid(pre[b, 3 * hidden + j] + xproj[t, b, 3 * hidden + j])
                cn = gf * c[b, j] + gi * gg
                tc = math.tanh(cn)
                gates[t, b, j] = gi
                gates[t, b, hidden + j] = gf
                gates[t, b, 2 * hidden + j] = gg
                gates[t, b, 3 * hidden + j] = go
                tanh_c[t, b, j] = tc
                c[b, j] = cn
                h[b, j] = go * tc
                out[t, b, j] = go * tc
            else:
                out[t, b, j] = 0

    @cuda.jit
    def lstm_back_step(dh, dc, dout, cprev, gates, tanh_c, lengths, t, dgates):
        """dh is the gradient of h' (replaced after the GEMM by merge), dc that of c'."""
        batch, hidden = dh.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            if t < lengths[b]:
                gi = gates[t, b, j]
                gf = gates[t, b, hidden + j]
                gg = gates[t, b, 2 * hidden + j]
                go = gates[t, b, 3 * hidden + j]
                tc = tanh_c[t, b, j]
                g = dh[b, j] + dout[t, b, j]
                dgates[t, b, 3 * hidden + j] = g * tc * go * (ONE - go)
                d = dc[b, j] + g * go * (ONE - tc * tc)
                dgates[t, b, j] = d * gg * gi * (ONE - gi)
                dgates[t, b, 2 * hidden + j] = d * gi * (ONE - gg * gg)
                dgates[t, b, hidden + j] = d * cprev[t, b, j] * gf * (ONE - gf)
                dc[b, j] = d * gf
            else:
                for q in range(4):
                    dgates[t, b, q * hidden + j] = 0

    @cuda.jit
    def gru_step(xproj, pre, bhh, h, lengths, t, out, hprev, gates, hn_proj):
        batch, hidden = h.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            hp = h[b, j]
            hprev[t, b, j] = hp
            if t < lengths[b]:
                r = sigmoid(pre[b, j] + bhh[j] + xproj[t, b, j])
                z = sigmoid(pre[b, hidden + j] + bhh[hidden + j] + xproj[t, b, hidden + j])
                hn = pre[b, 2 * hidden + j] + bhh[2 * hidden + j]
                n = math.tanh(xproj[t, b, 2 * hidden + j] + r * hn)
                hnew = (ONE - z) * n + z * hp
                gates[t, b, j] = r
                gates[t, b, hidden + j] = z
                gates[t, b, 2 * hidden + j] = n
                hn_proj[t, b, j] = hn
                h[b, j] = hnew
                out[t, b, j] = hnew
            else:
                out[t, b, j] = 0

    @cuda.jit
    def gru_back_step(dh, dout, hprev, gates, hn_proj, lengths, t, dgx, dgh, direct):
        batch, hidden = dh.shape
        for e in range(cuda.grid(1), batch * hidden, cuda.gridsize(1)):
            b = e // hidden
            j = e - b * hidden
            if t < lengths[b]:
                r = gates[t, b, j]
                z = gates[t, b, hidden + j]
                n = gates[t, b, 2 * hidden + j]
                g = dh[b, j] + dout[t, b, j]
                dn = g * (ONE - z) * (ONE - n * n)
                dz = g * (hprev[t, b, j] - n) * z * (ONE - z)
                dr = dn * hn_proj[t, b, j] * r * (ONE - r)
                dgx[t, b, j] = dr
                dgx[t, b, hidden + j] = dz
                dgx[t, b, 2 * hidden + j] = dn
                dgh[t, b, j] = dr
                dgh[t, b, hidden + j] = dz
                dgh[t, b, 2 * hidden + j] = dn * r
                direct[b, j] = g * z
            else:
                for q in range(3):
                    dgx[t, b, q * hidden + j] = 0
                    dgh[t, b, q * hidden + j] = 0

    return dict(rnn_step=rnn_step, rnn_back_step=rnn_back_step, merge=merge,
                lstm_step=lstm_step, lstm_back_step=lstm_back_step, gru_step=gru_step,
                gru_back_step=gru_back_step)


def _run(name, batch, hidden, *args):
    blocks, threads = S.grid_1d(batch * hidden)
    _kernels(args[0].dtype.name)[name][blocks, threads](*args)


def _copy(a, dtype):
    """A fresh device copy of ``a`` (host or device)."""
    out = S.empty(a.shape, dtype)
    out.copy_to_device(a if S.is_device_array(a) else np.ascontiguousarray(a, dtype=dtype))
    return out


def _steps(n_steps, reverse):
    return range(n_steps - 1, -1, -1) if reverse else range(n_steps)


def _prep(lengths, *arrays):
    return (S.to_device(np.ascontiguousarray(lengths, dtype=np.int64)),
            *[S.to_device(a) for a in arrays])


def gemm(a, b, trans_a=False, trans_b=False):
    """Twin of ``kernels.recurrent.gemm``: ``op(a) @ op(b)`` of 2-D device arrays."""
    return _gemm(S.to_device(a), S.to_device(b), trans_a=trans_a, trans_b=trans_b)


# ---------------------------------------------------------------- RNN
def rnn_forward(xproj, whh_t, h0, lengths, reverse, relu, out, hprev):
    n_steps, batch, hidden = out.shape
    lengths, xproj, whh_t = _prep(lengths, xproj, whh_t)
    h = _copy(h0, out.dtype)
    pre = S.empty((batch, hidden), out.dtype)
    for t in _steps(n_steps, reverse):
        _gemm(h, whh_t, out=pre)
        _run("rnn_step", batch, hidden, xproj, pre, h, lengths, t, bool(relu), out, hprev)
    return h


def rnn_backward(dout, dh_n, out, whh, lengths, reverse, relu, dpre):
    n_steps, batch, hidden = out.shape
    lengths, dout, whh = _prep(lengths, dout, whh)
    dh = _copy(dh_n, out.dtype)
    back = S.empty((batch, hidden), out.dtype)
    for t in reversed(_steps(n_steps, reverse)):
        _run("rnn_back_step", batch, hidden, dh, dout, out, lengths, t, bool(relu), dpre)
        _gemm(dpre[t], whh, out=back)
        _run("merge", batch, hidden, back, back, False, lengths, t, dh)
    return dh


# ---------------------------------------------------------------- LSTM
def lstm_forward(xproj, whh_t, h0, c0, lengths, reverse, out, hprev, cprev, gates, tanh_c):
    n_steps, batch, hidden = out.shape
    lengths, xproj, whh_t = _prep(lengths, xproj, whh_t)
    h, c = _copy(h0, out.dtype), _copy(c0, out.dtype)
    pre = S.empty((batch, 4 * hidden), out.dtype)
    for t in _steps(n_steps, reverse):
        _gemm(h, whh_t, out=pre)
        _run("lstm_step", batch, hidden, xproj, pre, h, c, lengths, t, out, hprev, cprev, gates,
             tanh_c)
    return h, c


def lstm_backward(dout, dh_n, dc_n, cprev, gates, tanh_c, whh, lengths, reverse, dgates):
    n_steps, batch, hidden = dout.shape
    lengths, dout, whh = _prep(lengths, dout, whh)
    dh, dc = _copy(dh_n, dgates.dtype), _copy(dc_n, dgates.dtype)
    back = S.empty((batch, hidden), dgates.dtype)
    for t in reversed(_steps(n_steps, reverse)):
        _run("lstm_back_step", batch, hidden, dh, dc, dout, cprev, gates, tanh_c, lengths, t,
             dgates)
        _gemm(dgates[t], whh, out=back)
        _run("merge", batch, hidden, back, back, False, lengths, t, dh)
    return dh, dc


# ---------------------------------------------------------------- GRU
def gru_forward(xproj, whh_t, bhh, h0, lengths, reverse, out, hprev, gates, hn_proj):
    n_steps, batch, hidden = out.shape
    lengths, xproj, whh_t, bhh = _prep(lengths, xproj, whh_t, bhh)
    h = _copy(h0, out.dtype)
    pre = S.empty((batch, 3 * hidden), out.dtype)
    for t in _steps(n_steps, reverse):
        _gemm(h, whh_t, out=pre)
        _run("gru_step", batch, hidden, xproj, pre, bhh, h, lengths, t, out, hprev, gates,
             hn_proj)
    return h


def gru_backward(dout, dh_n, hprev, gates, hn_proj, whh, lengths, reverse, dgx, dgh):
    n_steps, batch, hidden = dout.shape
    lengths, dout, whh = _prep(lengths, dout, whh)
    dh = _copy(dh_n, dgx.dtype)
    back = S.empty((batch, hidden), dgx.dtype)
    direct = S.zeros((batch, hidden), dgx.dtype)
    for t in reversed(_steps(n_steps, reverse)):
        _run("gru_back_step", batch, hidden, dh, dout, hprev, gates, hn_proj, lengths, t, dgx,
             dgh, direct)
        _gemm(dgh[t], whh, out=back)
        _run("merge", batch, hidden, back, direct, True, lengths, t, dh)
    return dh


# ---------------------------------------------------------------- per direction
def direction_forward(mode, inp, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse):
    """Twin of ``kernels.recurrent.direction_forward``: one direction of one layer; the
    cache holds this module's (T, B, ·) arrays."""
    n_steps, batch, n_in = inp.shape
    hidden = w_hh.shape[1]
    xproj = gemm(xp.reshape(inp, (-1, n_in)), w_ih, trans_b=True)
    if b_ih is not None:  # GRU keeps b_hh apart: r scales the hidden part with its bias
        xp.add_(xproj, b_ih if mode == "GRU" else xp.add(b_ih, b_hh))
    xproj = xp.reshape(xproj, (n_steps, batch, -1))
    whh_t = xp.permute(w_hh, (1, 0))
    out = xp.empty((n_steps, batch, hidden), inp.dtype)
    hprev = xp.empty((n_steps, batch, hidden), inp.dtype)
    if mode == "LSTM":
        cprev, tanh_c = xp.empty(out.shape, inp.dtype), xp.empty(out.shape, inp.dtype)
        gates = xp.empty((n_steps, batch, 4 * hidden), inp.dtype)
        h_n, c_n = lstm_forward(xproj, whh_t, h0, c0, lengths, reverse, out, hprev, cprev,
                                  gates, tanh_c)
        return out, (h_n, c_n), (hprev, cprev, gates, tanh_c)
    if mode == "GRU":
        hn_proj = xp.empty(out.shape, inp.dtype)
        gates = xp.empty((n_steps, batch, 3 * hidden), inp.dtype)
        bhh = xp.zeros((3 * hidden,), inp.dtype) if b_hh is None else b_hh
        h_n = gru_forward(xproj, whh_t, bhh, h0, lengths, reverse, out, hprev, gates, hn_proj)
        return out, (h_n,), (hprev, gates, hn_proj)
    h_n = rnn_forward(xproj, whh_t, h0, lengths, reverse, mode == "RNN_RELU", out, hprev)
    return out, (h_n,), (out, hprev)


def direction_backward(mode, dout, dh_last, dc_last, inp, w_ih, w_hh, has_bias, lengths, cache,
                       reverse):
    """Twin of ``kernels.recurrent.direction_backward``."""
    dout = xp.contiguous(dout)
    if mode == "LSTM":
        hprev, cprev, gates, tanh_c = cache
        dgx = dgh = xp.empty(tuple(gates.shape), gates.dtype)
        first = lstm_backward(dout, dh_last, dc_last, cprev, gates, tanh_c, w_hh, lengths,
                                reverse, dgx)
    elif mode == "GRU":
        hprev, gates, hn_proj = cache
        dgx, dgh = xp.empty(tuple(gates.shape), gates.dtype), xp.empty(tuple(gates.shape),
                                                                       gates.dtype)
        first = (gru_backward(dout, dh_last, hprev, gates, hn_proj, w_hh, lengths, reverse,
                                dgx, dgh),)
    else:
        out, hprev = cache
        dgx = dgh = xp.empty(tuple(out.shape), out.dtype)
        first = (rnn_backward(dout, dh_last, out, w_hh, lengths, reverse, mode == "RNN_RELU",
                                dgx),)
    gh = dgx.shape[2]
    dgx2, dgh2 = xp.reshape(dgx, (-1, gh)), xp.reshape(dgh, (-1, gh))
    g_ih = gemm(dgx2, xp.reshape(inp, (-1, inp.shape[2])), trans_a=True)
    g_hh = gemm(dgh2, xp.reshape(hprev, (-1, hprev.shape[2])), trans_a=True)
    g_bih = g_bhh = None
    if has_bias:
        g_bih = xp.colsum(dgx2)
        # LSTM and RNN pass one gate gradient for both biases: sum it once
        g_bhh = g_bih if dgh is dgx else xp.colsum(dgh2)
    dinp = xp.reshape(gemm(dgx2, w_ih), tuple(inp.shape))
    return first, dinp, [g_ih, g_hh, g_bih, g_bhh]
