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
from numba import types
from numba.extending import overload


def _tanh(v):
    return math.tanh(v)


def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@numba.njit(inline="always", error_model="numpy")
def _tanh_f32(x):
    """Rational tanh for float32 (Eigen's coefficients, a few ulp): plain arithmetic,
    so LLVM vectorises the gate loops where libm's tanh/exp would stay scalar."""
    x = min(max(x, np.float32(-7.9053111)), np.float32(7.9053111))
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    p = x * p
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return p / q


@overload(_tanh, inline="always")
def _tanh_impl(v):
    if v == types.float32:
        return lambda v: _tanh_f32(v)
    return lambda v: math.tanh(v)


@overload(_sigmoid, inline="always")
def _sigmoid_impl(v):
    if v == types.float32:
        half = np.float32(0.5)
        return lambda v: half + half * _tanh_f32(half * v)

    def exact(v):
        if v >= 0:
            return 1.0 / (1.0 + math.exp(-v))
        e = math.exp(v)
        return e / (1.0 + e)
    return exact


@numba.njit(inline="always")
def _step_index(s, n_steps, reverse):
    return n_steps - 1 - s if reverse else s


# Kernel options: ``error_model='numpy'`` drops the divide-by-zero branch and
# ``fastmath`` lets LLVM vectorise the gate loops over the hidden units.
JIT = dict(cache=True, error_model="numpy", fastmath=True)


@numba.njit(inline="always")
def _copy_row(src, dst):
    for j in range(src.shape[0]):
        dst[j] = src[j]


@numba.njit(inline="always")
def _zero_row(dst):
    for j in range(dst.shape[0]):
        dst[j] = 0


def gemm(a, b, trans_a=False, trans_b=False):
    """``op(a) @ op(b)`` of 2-D arrays through :func:`dot`: the recurrent layers' big
    products (input projection, weight gradients) use the BLAS of their time loops."""
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    if not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b)
    return dot(a, b)


@numba.njit(cache=True)
def dot(a, b):
    """``a @ b`` for 2-D C- or F-contiguous arrays through the BLAS Numba links (SciPy's).

    The per-step products inside the kernels go through that BLAS, so the
    layers call this one for their big products too: NumPy may link another
    OpenBLAS, and two thread pools that spin-wait in turn fight for the cores.
    """
    return np.dot(a, b)


# ---------------------------------------------------------------- RNN (tanh / relu)
@numba.njit(**JIT)
def _rnn_row(xr, pr, hr, outr, relu):
    for j in range(hr.shape[0]):
        v = pr[j] + xr[j]
        if relu:
            y = v if v > 0 else 0.0
            hr[j] = y
            outr[j] = y
        else:
            y2 = _tanh(v)  # kept apart from y so float32 stays float32
            hr[j] = y2
            outr[j] = y2


@numba.njit(**JIT)
def rnn_forward(xproj, whh_t, h0, lengths, reverse, relu, out, hprev):
    n_steps, batch, hidden = out.shape
    h = h0.copy()
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        hprev[t] = h
        pre = np.dot(h, whh_t)
        for b in range(batch):
            if t < lengths[b]:
                _rnn_row(xproj[t, b], pre[b], h[b], out[t, b], relu)
            else:
                _zero_row(out[t, b])
    return h


@numba.njit(**JIT)
def _rnn_back_row(dhr, doutr, outr, dpr, relu):
    for j in range(dhr.shape[0]):
        g = dhr[j] + doutr[j]
        y = outr[j]
        if relu:
            dpr[j] = g if y > 0 else 0.0
        else:
            dpr[j] = g * (1 - y * y)


@numba.njit(**JIT)
def rnn_backward(dout, dh_n, out, whh, lengths, reverse, relu, dpre):
    n_steps, batch, hidden = out.shape
    dh = dh_n.copy()
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        for b in range(batch):
            if t < lengths[b]:
                _rnn_back_row(dh[b], dout[t, b], out[t, b], dpre[t, b], relu)
            else:
                _zero_row(dpre[t, b])
        back = np.dot(dpre[t], whh)
        for b in range(batch):
            if t < lengths[b]:
                _copy_row(back[b], dh[b])
    return dh


# ---------------------------------------------------------------- LSTM (gates i, f, g, o)
@numba.njit(**JIT)
def _sigmoid_row(a):
    for j in range(a.shape[0]):
        a[j] = _sigmoid(a[j])


@numba.njit(**JIT)
def _tanh_row(a):
    for j in range(a.shape[0]):
        a[j] = _tanh(a[j])


@numba.njit(**JIT)
def _lstm_cell_row(gr, cr, hr, tcr):
    hidden = hr.shape[0]
    gi, gf, gg, go = gr[:hidden], gr[hidden:2 * hidden], gr[2 * hidden:3 * hidden], gr[3 * hidden:]
    for j in range(hidden):
        cn = gf[j] * cr[j] + gi[j] * gg[j]
        tc = _tanh(cn)
        cr[j] = cn
        tcr[j] = tc
        hr[j] = go[j] * tc


@numba.njit(**JIT)
def _lstm_row(gr, cr, hr, outr, tcr):
    """One row's cell update from its gate pre-activations ``gr`` (overwritten by the gates).
    Several short loops over few arrays each: LLVM gives up vectorising one loop that reads
    and writes six arrays that might alias."""
    hidden = hr.shape[0]
    _sigmoid_row(gr[:2 * hidden])
    _tanh_row(gr[2 * hidden:3 * hidden])
    _sigmoid_row(gr[3 * hidden:])
    _lstm_cell_row(gr, cr, hr, tcr)
    _copy_row(hr, outr)


@numba.njit(**JIT)
def lstm_forward(xproj, whh_t, h0, c0, lengths, reverse, out, hprev, cprev, gates, tanh_c):
    n_steps, batch, hidden = out.shape
    h = h0.copy()
    c = c0.copy()
    # h @ W_hh.T computed transposed, W_hh (C) @ h.T: OpenBLAS runs this skinny product
    # (batch columns) about 25% faster than the row-major form
    whh = np.ascontiguousarray(whh_t.T)
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        hprev[t] = h
        cprev[t] = c
        pre_t = np.dot(whh, h.T)
        for b in range(batch):
            if t < lengths[b]:
                gr = gates[t, b]
                xr = xproj[t, b]
                for j in range(gr.shape[0]):
                    gr[j] = xr[j] + pre_t[j, b]
                _lstm_row(gr, c[b], h[b], out[t, b], tanh_c[t, b])
            else:
                _zero_row(out[t, b])
    return h, c


@numba.njit(**JIT)
def _lstm_back_row(dhr, dcr, doutr, cpr, gr, tcr, dgr):
    """Gate gradients of one row; dh on entry is the gradient of h', dc that of c'.
    Split into loops over few arrays each so that they vectorise."""
    hidden = dhr.shape[0]
    gi, gf, gg, go = gr[:hidden], gr[hidden:2 * hidden], gr[2 * hidden:3 * hidden], gr[3 * hidden:]
    dgi, dgf = dgr[:hidden], dgr[hidden:2 * hidden]
    dgg, dgo = dgr[2 * hidden:3 * hidden], dgr[3 * hidden:]
    for j in range(hidden):  # dh <- total gradient of h'
        dhr[j] += doutr[j]
    for j in range(hidden):
        dgo[j] = dhr[j] * tcr[j] * go[j] * (1 - go[j])
    for j in range(hidden):  # dc <- total gradient of c'
        dcr[j] += dhr[j] * go[j] * (1 - tcr[j] * tcr[j])
    for j in range(hidden):
        dgi[j] = dcr[j] * gg[j] * gi[j] * (1 - gi[j])
        dgg[j] = dcr[j] * gi[j] * (1 - gg[j] * gg[j])
    for j in range(hidden):
        dgf[j] = dcr[j] * cpr[j] * gf[j] * (1 - gf[j])
    for j in range(hidden):
        dcr[j] *= gf[j]


@numba.njit(**JIT)
def lstm_backward(dout, dh_n, dc_n, cprev, gates, tanh_c, whh, lengths, reverse, dgates):
    n_steps, batch, hidden = dout.shape
    dh = dh_n.copy()
    dc = dc_n.copy()
    # dh = dgates @ W_hh computed transposed, W_hh.T (C) @ dgates.T: OpenBLAS runs this
    # skinny product (batch columns) about 25% faster than the row-major form
    whh_t = np.ascontiguousarray(whh.T)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        for b in range(batch):
            if t < lengths[b]:
                _lstm_back_row(dh[b], dc[b], dout[t, b], cprev[t, b], gates[t, b], tanh_c[t, b],
                               dgates[t, b])
            else:
                _zero_row(dgates[t, b])
        back_t = np.dot(whh_t, dgates[t].T)
        for b in range(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    dh[b, j] = back_t[j, b]
    return dh, dc


# ---------------------------------------------------------------- GRU (gates r, z, n)
@numba.njit(**JIT)
def _gru_row(xr, pr, bhh, hr, outr, gr, hnr):
    hidden = hr.shape[0]
    for j in range(hidden):
        r = _sigmoid(pr[j] + bhh[j] + xr[j])
        z = _sigmoid(pr[hidden + j] + bhh[hidden + j] + xr[hidden + j])
        hn = pr[2 * hidden + j] + bhh[2 * hidden + j]
        n = _tanh(xr[2 * hidden + j] + r * hn)
        hnew = (1 - z) * n + z * hr[j]
        gr[j] = r
        gr[hidden + j] = z
        gr[2 * hidden + j] = n
        hnr[j] = hn
        hr[j] = hnew
        outr[j] = hnew


@numba.njit(**JIT)
def gru_forward(xproj, whh_t, bhh, h0, lengths, reverse, out, hprev, gates, hn_proj):
    """``xproj`` holds only the input bias; ``bhh`` is added to the hidden projection
    because r multiplies the hidden part of n including its bias."""
    n_steps, batch, hidden = out.shape
    h = h0.copy()
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        hprev[t] = h
        pre = np.dot(h, whh_t)
        for b in range(batch):
            if t < lengths[b]:
                _gru_row(xproj[t, b], pre[b], bhh, h[b], out[t, b], gates[t, b], hn_proj[t, b])
            else:
                _zero_row(out[t, b])
    return h


@numba.njit(**JIT)
def _gru_back_row(dhr, doutr, hpr, gr, hnr, dgxr, dghr, directr):
    hidden = dhr.shape[0]
    for j in range(hidden):
        r = gr[j]
        z = gr[hidden + j]
        n = gr[2 * hidden + j]
        g = dhr[j] + doutr[j]
        dn = g * (1 - z) * (1 - n * n)
        dz = g * (hpr[j] - n) * z * (1 - z)
        dr = dn * hnr[j] * r * (1 - r)
        dgxr[j] = dr
        dgxr[hidden + j] = dz
        dgxr[2 * hidden + j] = dn
        dghr[j] = dr
        dghr[hidden + j] = dz
        dghr[2 * hidden + j] = dn * r
        directr[j] = g * z


@numba.njit(**JIT)
def gru_backward(dout, dh_n, hprev, gates, hn_proj, whh, lengths, reverse, dgx, dgh):
    """``dgx`` is the gradient of the input projection, ``dgh`` of the hidden one
    (they differ in the n block, where the hidden part is scaled by r)."""
    n_steps, batch, hidden = dout.shape
    dh = dh_n.copy()
    direct = np.empty_like(dh)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        for b in range(batch):
            if t < lengths[b]:
                _gru_back_row(dh[b], dout[t, b], hprev[t, b], gates[t, b], hn_proj[t, b],
                              dgx[t, b], dgh[t, b], direct[b])
            else:
                _zero_row(dgx[t, b])
                _zero_row(dgh[t, b])
        back = np.dot(dgh[t], whh)
        for b in range(batch):
            if t < lengths[b]:
                for j in range(hidden):
                    dh[b, j] = back[b, j] + direct[b, j]
    return dh
