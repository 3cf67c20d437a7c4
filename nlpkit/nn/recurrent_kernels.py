"""Recurrent time loops (CPU): one kernel per cell for the forward and the backward pass.

The input projection of every time step is done before (one GEMM over T·B
rows) and the weight gradients after (one GEMM each); what is left here is the
sequential part: per step one BLAS GEMM with the recurrent weights and a fused
element-wise gate update over the batch rows.

Variable lengths: row ``b`` is active at step ``t`` when ``t < lengths[b]``.
An inactive step leaves the state unchanged, writes a zero output and gets no
gradient, so the reverse direction starts at each sequence's own last step.

Arrays: ``xproj`` (T, B, G·H) with the input bias (both biases for RNN/LSTM);
``whh_t`` = W_hh.T (H, G·H) C-contiguous; ``whh`` (G·H, H); ``lengths`` int64.
CUDA twins would take the same arguments.
"""
import math

import numba
import numpy as np


@numba.njit(inline="always")
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@numba.njit(inline="always")
def _step_index(s, n_steps, reverse):
    return n_steps - 1 - s if reverse else s


# ---------------------------------------------------------------- RNN (tanh / relu)
@numba.njit(parallel=True, cache=True)
def rnn_forward(xproj, whh_t, h0, lengths, reverse, relu, out, hprev):
    n_steps, batch, hidden = out.shape
    h = h0.copy()
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        hprev[t] = h
        pre = np.dot(h, whh_t)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    v = pre[b, j] + xproj[t, b, j]
                    if relu:
                        v = v if v > 0 else 0.0
                    else:
                        v = math.tanh(v)
                    h[b, j] = v
                    out[t, b, j] = v
            else:
                for j in range(hidden):
                    out[t, b, j] = 0.0
    return h


@numba.njit(parallel=True, cache=True)
def rnn_backward(dout, dh_n, out, whh, lengths, reverse, relu, dpre):
    n_steps, batch, hidden = out.shape
    dh = dh_n.copy()
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    g = dh[b, j] + dout[t, b, j]
                    y = out[t, b, j]
                    if relu:
                        dpre[t, b, j] = g if y > 0 else 0.0
                    else:
                        dpre[t, b, j] = g * (1.0 - y * y)
            else:
                for j in range(hidden):
                    dpre[t, b, j] = 0.0
        back = np.dot(dpre[t], whh)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    dh[b, j] = back[b, j]
    return dh


# ---------------------------------------------------------------- LSTM (gates i, f, g, o)
@numba.njit(parallel=True, cache=True)
def lstm_forward(xproj, whh_t, h0, c0, lengths, reverse, out, hprev, cprev, gates):
    n_steps, batch, hidden = out.shape
    h = h0.copy()
    c = c0.copy()
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        hprev[t] = h
        cprev[t] = c
        pre = np.dot(h, whh_t)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    gi = _sigmoid(pre[b, j] + xproj[t, b, j])
                    gf = _sigmoid(pre[b, hidden + j] + xproj[t, b, hidden + j])
                    gg = math.tanh(pre[b, 2 * hidden + j] + xproj[t, b, 2 * hidden + j])
                    go = _sigmoid(pre[b, 3 * hidden + j] + xproj[t, b, 3 * hidden + j])
                    cn = gf * c[b, j] + gi * gg
                    hn = go * math.tanh(cn)
                    gates[t, b, j] = gi
                    gates[t, b, hidden + j] = gf
                    gates[t, b, 2 * hidden + j] = gg
                    gates[t, b, 3 * hidden + j] = go
                    c[b, j] = cn
                    h[b, j] = hn
                    out[t, b, j] = hn
            else:
                for j in range(hidden):
                    out[t, b, j] = 0.0
    return h, c


@numba.njit(parallel=True, cache=True)
def lstm_backward(dout, dh_n, dc_n, cprev, gates, whh, lengths, reverse, dgates):
    n_steps, batch, hidden = dout.shape
    dh = dh_n.copy()
    dc = dc_n.copy()
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    gi = gates[t, b, j]
                    gf = gates[t, b, hidden + j]
                    gg = gates[t, b, 2 * hidden + j]
                    go = gates[t, b, 3 * hidden + j]
                    cp = cprev[t, b, j]
                    tc = math.tanh(gf * cp + gi * gg)
                    ght = dh[b, j] + dout[t, b, j]
                    dct = dc[b, j] + ght * go * (1.0 - tc * tc)
                    dgates[t, b, j] = dct * gg * gi * (1.0 - gi)
                    dgates[t, b, hidden + j] = dct * cp * gf * (1.0 - gf)
                    dgates[t, b, 2 * hidden + j] = dct * gi * (1.0 - gg * gg)
                    dgates[t, b, 3 * hidden + j] = ght * tc * go * (1.0 - go)
                    dc[b, j] = dct * gf
            else:
                for j in range(4 * hidden):
                    dgates[t, b, j] = 0.0
        back = np.dot(dgates[t], whh)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    dh[b, j] = back[b, j]
    return dh, dc


# ---------------------------------------------------------------- GRU (gates r, z, n)
@numba.njit(parallel=True, cache=True)
def gru_forward(xproj, whh_t, bhh, h0, lengths, reverse, out, hprev, gates, hn_proj):
    """``xproj`` holds only the input bias; ``bhh`` is added to the hidden projection
    because r multiplies the hidden part of n including its bias."""
    n_steps, batch, hidden = out.shape
    h = h0.copy()
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        hprev[t] = h
        pre = np.dot(h, whh_t)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    r = _sigmoid(pre[b, j] + bhh[j] + xproj[t, b, j])
                    z = _sigmoid(pre[b, hidden + j] + bhh[hidden + j] + xproj[t, b, hidden + j])
                    hn = pre[b, 2 * hidden + j] + bhh[2 * hidden + j]
                    n = math.tanh(xproj[t, b, 2 * hidden + j] + r * hn)
                    hnew = (1.0 - z) * n + z * h[b, j]
                    gates[t, b, j] = r
                    gates[t, b, hidden + j] = z
                    gates[t, b, 2 * hidden + j] = n
                    hn_proj[t, b, j] = hn
                    h[b, j] = hnew
                    out[t, b, j] = hnew
            else:
                for j in range(hidden):
                    out[t, b, j] = 0.0
    return h


@numba.njit(parallel=True, cache=True)
def gru_backward(dout, dh_n, hprev, gates, hn_proj, whh, lengths, reverse, dgx, dgh):
    """``dgx`` is the gradient of the input projection, ``dgh`` of the hidden one
    (they differ in the n block, where the hidden part is scaled by r)."""
    n_steps, batch, hidden = dout.shape
    dh = dh_n.copy()
    direct = np.empty_like(dh)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    r = gates[t, b, j]
                    z = gates[t, b, hidden + j]
                    n = gates[t, b, 2 * hidden + j]
                    g = dh[b, j] + dout[t, b, j]
                    dn = g * (1.0 - z) * (1.0 - n * n)
                    dz = g * (hprev[t, b, j] - n) * z * (1.0 - z)
                    dr = dn * hn_proj[t, b, j] * r * (1.0 - r)
                    dgx[t, b, j] = dr
                    dgx[t, b, hidden + j] = dz
                    dgx[t, b, 2 * hidden + j] = dn
                    dgh[t, b, j] = dr
                    dgh[t, b, hidden + j] = dz
                    dgh[t, b, 2 * hidden + j] = dn * r
                    direct[b, j] = g * z
            else:
                for j in range(3 * hidden):
                    dgx[t, b, j] = 0.0
                    dgh[t, b, j] = 0.0
        back = np.dot(dgh[t], whh)
        for b in numba.prange(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    dh[b, j] = back[b, j] + direct[b, j]
    return dh
