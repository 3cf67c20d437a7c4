"""Recurrent layers on the CPU: one compiled kernel per direction for the forward pass
and one for the backward pass (RNN, LSTM, GRU).

Layout: inside the kernels a step's vectors are stored feature-major, batch-minor
(``gates`` (G·H, T·B), column block ``t`` holding step t's B rows), the layout in
which the per-step product ``W_hh @ h`` (G·H × H times H × B) runs fastest in
OpenBLAS, and in which the element-wise gate math reads and writes unit-stride
rows of B values, so it vectorises.  The forward kernel makes the input
projection of every step with one GEMM straight into ``gates``; per step one
GEMM adds the recurrent part in place (beta = 1) and one pass computes the
gates and the state.  The backward kernel computes per step the gate gradients
and one GEMM for the hidden-state gradient; after the loop the weight
gradients (accumulated over every step by the GEMMs' inner dimension, T·B),
the bias gradients and the input gradient.  The products call BLAS's gemm
through Numba's own binding (:func:`gemm_into`), so no step goes back to
Python and no step allocates.

Variable lengths: row ``b`` is active at step ``t`` when ``t < lengths[b]``.
An inactive step leaves the state unchanged, writes a zero output and gets no
gradient, so the reverse direction starts at each sequence's own last step.

:func:`direction_forward` / :func:`direction_backward` are what
:mod:`nlpkit.nn.functional` calls (per layer and direction); the CUDA twins
in :mod:`nlpkit.nn.cuda.recurrent` take the same arguments and return the same
results (their caches are their own).
"""
import math

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype


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
# ``fastmath`` lets LLVM vectorise the gate loops over the batch rows.
JIT = dict(cache=True, error_model="numpy", fastmath=True)


# ---------------------------------------------------------------- BLAS gemm
def _xxgemm_type(dtype):
    ptr = types.CPointer(dtype)
    return types.ExternalFunction("numba_xxgemm", types.intc(
        types.char, types.char, types.char, types.intp, types.intp, types.intp,
        ptr, ptr, types.intp, ptr, types.intp, ptr, ptr, types.intp))


def gemm_into(a, b, c, trans_a=False, trans_b=False, beta=0.0):
    """``c = op(a) @ op(b) + beta * c`` in place, for 2-D arrays (views too) whose rows
    are unit-stride: BLAS's ``?gemm`` through the helper Numba's ``np.dot`` uses (SciPy's
    BLAS), so it works in compiled code, caches, and can write into a column block of a
    larger array and add to what is there."""
    raise NotImplementedError("gemm_into is called from compiled kernels")


@overload(gemm_into)
def _gemm_into_impl(a, b, c, trans_a=False, trans_b=False, beta=0.0):
    if a.dtype != b.dtype or a.dtype != c.dtype or a.dtype not in (types.float32, types.float64):
        return None
    fn = _xxgemm_type(a.dtype)
    kind = ord("s" if a.dtype == types.float32 else "d")
    dt = as_dtype(a.dtype)
    size = dt.itemsize

    def impl(a, b, c, trans_a=False, trans_b=False, beta=0.0):
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if (a.shape[1] if trans_a else a.shape[0]) != m or \
                (b.shape[0] if trans_b else b.shape[1]) != n or \
                (b.shape[1] if trans_b else b.shape[0]) != k:
            raise ValueError("gemm_into: shapes do not match")
        if a.strides[1] != size or b.strides[1] != size or c.strides[1] != size:
            raise ValueError("gemm_into: rows must be unit-stride")
        if m == 0 or n == 0:
            return
        if k == 0:
            for i in range(m):
                for j in range(n):
                    c[i, j] = c[i, j] * beta if beta != 0 else 0
            return
        # row-major c = op(a) op(b) is column-major c^T = op(b)^T op(a)^T: swap the operands
        lda = max(a.strides[0] // size, a.shape[1], 1) if a.shape[0] > 1 else max(a.shape[1], 1)
        ldb = max(b.strides[0] // size, b.shape[1], 1) if b.shape[0] > 1 else max(b.shape[1], 1)
        ldc = max(c.strides[0] // size, c.shape[1], 1) if c.shape[0] > 1 else max(c.shape[1], 1)
        alpha, beta_ = np.ones(1, dt), np.full(1, beta, dt)
        fn(kind, ord("t") if trans_b else ord("n"), ord("t") if trans_a else ord("n"), n, m, k,
           alpha.ctypes, b.ctypes, ldb, a.ctypes, lda, beta_.ctypes, c.ctypes, ldc)
    return impl


@numba.njit(inline="always")
def _begin_step(t, lengths, active):
    """Which rows are active at step t: 1 or 0 in ``active``."""
    for b in range(active.shape[0]):
        active[b] = 1 if t < lengths[b] else 0


@numba.njit(inline="always")
def _write_output(out_t, state, active):
    """``out_t`` (B, H) = the state (H, B) transposed, zero in inactive rows."""
    hidden, batch = state.shape
    for b in range(batch):
        if active[b]:
            for j in range(hidden):
                out_t[b, j] = state[j, b]
        else:
            for j in range(hidden):
                out_t[b, j] = 0


@numba.njit(inline="always")
def _transpose_into(src, dst):
    """``dst`` (H, B) = ``src`` (B, H) transposed."""
    hidden, batch = dst.shape
    for b in range(batch):
        for j in range(hidden):
            dst[j, b] = src[b, j]


@numba.njit(inline="always")
def _copy_rows(src, dst):
    for r in range(src.shape[0]):
        s, d = src[r], dst[r]
        for b in range(s.shape[0]):
            d[b] = s[b]


@numba.njit(inline="always")
def _blocks(store, s, n_steps, reverse, batch, last):
    """The forward kernels keep the state before step t in column block t of ``store``
    (which the backward pass needs anyway): (this step's block, the block the new
    state goes to: the next step's, or ``last`` after the last step)."""
    t = _step_index(s, n_steps, reverse)
    cur = store[:, t * batch:(t + 1) * batch]
    if s + 1 < n_steps:
        tn = _step_index(s + 1, n_steps, reverse)
        return cur, store[:, tn * batch:(tn + 1) * batch]
    return cur, last[:, :]


@numba.njit(inline="always")
def _start(store, first, n_steps, reverse):
    """Column block of the first step (in processing order) = ``first`` (B, H) transposed."""
    batch = first.shape[0]
    if n_steps > 0:
        t = _step_index(0, n_steps, reverse)
        _transpose_into(first, store[:, t * batch:(t + 1) * batch])


# ---------------------------------------------------------------- the gate math
# Each loop below runs over one step's B rows (unit stride) and touches few arrays:
# LLVM vectorises such loops, and gives up on one loop that reads and writes many
# arrays that might alias.  ``active[b]`` selects which rows take the new state.
@numba.njit(inline="always")
def _activate_rows(g, lo, hi, bias, first, last, tanh_rows):
    """``g[r, cols] = act(g[r, cols] + bias[r])`` for rows first..last-1 of a step's columns,
    tanh or sigmoid."""
    for r in range(first, last):
        row = g[r, lo:hi]
        br = bias[r]
        if tanh_rows:
            for b in range(row.shape[0]):
                row[b] = _tanh(row[b] + br)
        else:
            for b in range(row.shape[0]):
                row[b] = _sigmoid(row[b] + br)


@numba.njit(inline="always")
def _select(dst, new, old, active):
    """dst[b] = new[b] in active rows, old[b] elsewhere (1-D rows)."""
    for b in range(dst.shape[0]):
        dst[b] = new[b] if active[b] else old[b]


@numba.njit(inline="always")
def _masked(dst, src, active):
    """dst[b] = src[b] in active rows, 0 elsewhere (1-D rows)."""
    for b in range(dst.shape[0]):
        dst[b] = src[b] if active[b] else src[b] - src[b]


@numba.njit(inline="always")
def _keep_active(state, new, active):
    """state[:, b] = new[:, b] for the active rows b."""
    for j in range(state.shape[0]):
        _select(state[j], new[j], state[j], active)


@numba.njit(**JIT)
def _weight_grads(dg, x2, hb, dx2, w_ih, g_ih, g_hh, g_b, dgh):
    """After the time loop: every step's weight, bias and input gradients at once
    (the GEMMs' inner dimension runs over all T·B rows).  ``dgh`` is the gradient of
    the hidden projection when it differs from ``dg`` (GRU), else ``dg`` itself."""
    gemm_into(dg, x2, g_ih)
    gemm_into(dgh, hb, g_hh, False, True)
    gemm_into(dg, w_ih, dx2, True, False)
    for r in range(dg.shape[0]):
        row = dg[r]
        s = row[0] - row[0]
        for col in range(row.shape[0]):
            s += row[col]
        g_b[r] = s


# ---------------------------------------------------------------- RNN (tanh / relu)
@numba.njit(**JIT)
def _rnn_forward(x2, w_ih, w_hh, bias, h0, lengths, reverse, relu, gates, hb, out):
    """``gates`` (H, T·B) ends holding each step's activation; ``hb`` the state before
    each step."""
    n_steps, batch, hidden = out.shape
    gemm_into(w_ih, x2, gates, False, True)
    h_last = np.ascontiguousarray(h0.T)
    active = np.empty(batch, np.uint8)
    _start(hb, h0, n_steps, reverse)
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        h, h_new = _blocks(hb, s, n_steps, reverse, batch, h_last)
        gemm_into(w_hh, h, gates[:, lo:hi], False, False, 1.0)
        _begin_step(t, lengths, active)
        if relu:
            for j in range(hidden):
                row, bj = gates[j, lo:hi], bias[j]
                for b in range(batch):
                    v = row[b] + bj
                    row[b] = v if v > 0 else v - v
        else:
            _activate_rows(gates, lo, hi, bias, 0, hidden, True)
        for j in range(hidden):
            _select(h_new[j], gates[j, lo:hi], h[j], active)
        _write_output(out[t], h_new, active)
    return np.ascontiguousarray(h_last.T)


@numba.njit(**JIT)
def _rnn_backward(dout, dh_n, gates, lengths, reverse, relu, w_hh_t, dg):
    n_steps, batch, hidden = dout.shape
    dh = np.ascontiguousarray(dh_n.T)
    d_out = np.empty((hidden, batch), dh.dtype)
    back = np.empty((hidden, batch), dh.dtype)
    dgs = np.empty((hidden, batch), dh.dtype)  # this step's gate gradient, contiguous
    tmp = np.empty(batch, dh.dtype)
    active = np.empty(batch, np.uint8)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        _begin_step(t, lengths, active)
        _transpose_into(dout[t], d_out)
        for j in range(hidden):
            y, dhj, doj = gates[j, lo:hi], dh[j], d_out[j]
            if relu:
                for b in range(batch):
                    g = dhj[b] + doj[b]
                    tmp[b] = g if y[b] > 0 else g - g
            else:
                for b in range(batch):
                    tmp[b] = (dhj[b] + doj[b]) * (1 - y[b] * y[b])
            _masked(dgs[j], tmp, active)
        gemm_into(w_hh_t, dgs, back)
        _copy_rows(dgs, dg[:, lo:hi])
        _keep_active(dh, back, active)
    return np.ascontiguousarray(dh.T)


# ---------------------------------------------------------------- LSTM (gates i, f, g, o)
@numba.njit(**JIT)
def _lstm_forward(x2, w_ih, w_hh, bias, h0, c0, lengths, reverse, gates, hb, cb, tc, out):
    """``gates`` (4H, T·B) ends holding the gate activations (i, f, g, o); ``hb``/``cb``
    the state before each step, ``tc`` tanh of the new cell."""
    n_steps, batch, hidden = out.shape
    gemm_into(w_ih, x2, gates, False, True)
    h_last = np.ascontiguousarray(h0.T)
    c_last = np.ascontiguousarray(c0.T)
    cn = np.empty(batch, h_last.dtype)
    active = np.empty(batch, np.uint8)
    _start(hb, h0, n_steps, reverse)
    _start(cb, c0, n_steps, reverse)
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        h, h_new = _blocks(hb, s, n_steps, reverse, batch, h_last)
        c, c_new = _blocks(cb, s, n_steps, reverse, batch, c_last)
        gemm_into(w_hh, h, gates[:, lo:hi], False, False, 1.0)
        _begin_step(t, lengths, active)
        _activate_rows(gates, lo, hi, bias, 0, 2 * hidden, False)  # i, f
        _activate_rows(gates, lo, hi, bias, 2 * hidden, 3 * hidden, True)  # g
        _activate_rows(gates, lo, hi, bias, 3 * hidden, 4 * hidden, False)  # o
        for j in range(hidden):
            gi, gf = gates[j, lo:hi], gates[hidden + j, lo:hi]
            gg, go = gates[2 * hidden + j, lo:hi], gates[3 * hidden + j, lo:hi]
            cj, tcj = c[j], tc[j, lo:hi]
            for b in range(batch):
                cn[b] = gf[b] * cj[b] + gi[b] * gg[b]
            for b in range(batch):
                tcj[b] = _tanh(cn[b])
            _select(c_new[j], cn, cj, active)
            for b in range(batch):
                cn[b] = go[b] * tcj[b]
            _select(h_new[j], cn, h[j], active)
        _write_output(out[t], h_new, active)
    return np.ascontiguousarray(h_last.T), np.ascontiguousarray(c_last.T)


@numba.njit(**JIT)
def _lstm_backward(dout, dh_n, dc_n, gates, cb, tc, lengths, reverse, w_hh_t, dg):
    n_steps, batch, hidden = dout.shape
    dh = np.ascontiguousarray(dh_n.T)
    dc = np.ascontiguousarray(dc_n.T)
    d_out = np.empty((hidden, batch), dh.dtype)
    back = np.empty((hidden, batch), dh.dtype)
    dgs = np.empty((4 * hidden, batch), dh.dtype)  # this step's gate gradients, contiguous
    gh = np.empty(batch, dh.dtype)  # total gradient of h'
    d = np.empty(batch, dh.dtype)  # total gradient of c'
    tmp = np.empty(batch, dh.dtype)
    active = np.empty(batch, np.uint8)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        _begin_step(t, lengths, active)
        _transpose_into(dout[t], d_out)
        for j in range(hidden):
            gi, gf = gates[j, lo:hi], gates[hidden + j, lo:hi]
            gg, go = gates[2 * hidden + j, lo:hi], gates[3 * hidden + j, lo:hi]
            tcj, cbj, dhj, dcj, doj = tc[j, lo:hi], cb[j, lo:hi], dh[j], dc[j], d_out[j]
            for b in range(batch):
                gh[b] = dhj[b] + doj[b]
            for b in range(batch):
                d[b] = dcj[b] + gh[b] * go[b] * (1 - tcj[b] * tcj[b])
            for b in range(batch):
                tmp[b] = gh[b] * tcj[b] * go[b] * (1 - go[b])
            _masked(dgs[3 * hidden + j], tmp, active)
            for b in range(batch):
                tmp[b] = d[b] * gg[b] * gi[b] * (1 - gi[b])
            _masked(dgs[j], tmp, active)
            for b in range(batch):
                tmp[b] = d[b] * gi[b] * (1 - gg[b] * gg[b])
            _masked(dgs[2 * hidden + j], tmp, active)
            for b in range(batch):
                tmp[b] = d[b] * cbj[b] * gf[b] * (1 - gf[b])
            _masked(dgs[hidden + j], tmp, active)
            for b in range(batch):
                tmp[b] = d[b] * gf[b]
            _select(dcj, tmp, dcj, active)
        gemm_into(w_hh_t, dgs, back)
        _copy_rows(dgs, dg[:, lo:hi])
        _keep_active(dh, back, active)
    return np.ascontiguousarray(dh.T), np.ascontiguousarray(dc.T)


# ---------------------------------------------------------------- GRU (gates r, z, n)
@numba.njit(**JIT)
def _gru_forward(x2, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse, gates, hn, hb, out):
    """``gates`` (3H, T·B) ends holding r, z, n; ``hn`` the hidden projection of the n
    block with its bias (r scales it), ``hb`` the state before each step."""
    n_steps, batch, hidden = out.shape
    gemm_into(w_ih, x2, gates, False, True)
    h_last = np.ascontiguousarray(h0.T)
    pre = np.empty((3 * hidden, batch), h_last.dtype)
    tmp = np.empty(batch, h_last.dtype)
    bias_rz = b_ih[:2 * hidden] + b_hh[:2 * hidden]
    active = np.empty(batch, np.uint8)
    _start(hb, h0, n_steps, reverse)
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        h, h_new = _blocks(hb, s, n_steps, reverse, batch, h_last)
        gemm_into(w_hh, h, pre)
        _begin_step(t, lengths, active)
        for r in range(2 * hidden):  # r, z: input and hidden parts summed
            row, p = gates[r, lo:hi], pre[r]
            for b in range(batch):
                row[b] += p[b]
        _activate_rows(gates, lo, hi, bias_rz, 0, 2 * hidden, False)
        for j in range(hidden):
            r, z, n = gates[j, lo:hi], gates[hidden + j, lo:hi], gates[2 * hidden + j, lo:hi]
            p, hnj, hj = pre[2 * hidden + j], hn[j, lo:hi], h[j]
            bi, bh = b_ih[2 * hidden + j], b_hh[2 * hidden + j]
            for b in range(batch):
                hnj[b] = p[b] + bh
            for b in range(batch):
                n[b] = _tanh(n[b] + bi + r[b] * hnj[b])
            for b in range(batch):
                tmp[b] = (1 - z[b]) * n[b] + z[b] * hj[b]
            _select(h_new[j], tmp, hj, active)
        _write_output(out[t], h_new, active)
    return np.ascontiguousarray(h_last.T)


@numba.njit(**JIT)
def _gru_backward(dout, dh_n, gates, hn, hb, lengths, reverse, w_hh_t, dgx, dgh):
    """``dgx`` the gradient of the input projection, ``dgh`` of the hidden one (they
    differ in the n block, where the hidden part is scaled by r)."""
    n_steps, batch, hidden = dout.shape
    dh = np.ascontiguousarray(dh_n.T)
    d_out = np.empty((hidden, batch), dh.dtype)
    back = np.empty((hidden, batch), dh.dtype)
    direct = np.empty((hidden, batch), dh.dtype)
    dgs = np.empty((3 * hidden, batch), dh.dtype)  # this step's dgh, contiguous
    gh = np.empty(batch, dh.dtype)
    dn = np.empty(batch, dh.dtype)
    tmp = np.empty(batch, dh.dtype)
    active = np.empty(batch, np.uint8)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        _begin_step(t, lengths, active)
        _transpose_into(dout[t], d_out)
        for j in range(hidden):
            r, z, n = gates[j, lo:hi], gates[hidden + j, lo:hi], gates[2 * hidden + j, lo:hi]
            hnj, hbj, dhj, doj, dirj = hn[j, lo:hi], hb[j, lo:hi], dh[j], d_out[j], direct[j]
            for b in range(batch):
                gh[b] = dhj[b] + doj[b]
            for b in range(batch):
                dn[b] = gh[b] * (1 - z[b]) * (1 - n[b] * n[b])
            for b in range(batch):
                dirj[b] = gh[b] * z[b]
            _masked(dgx[2 * hidden + j, lo:hi], dn, active)
            for b in range(batch):
                tmp[b] = dn[b] * r[b]
            _masked(dgs[2 * hidden + j], tmp, active)
            for b in range(batch):
                tmp[b] = gh[b] * (hbj[b] - n[b]) * z[b] * (1 - z[b])
            _masked(dgx[hidden + j, lo:hi], tmp, active)
            _masked(dgs[hidden + j], tmp, active)
            for b in range(batch):
                tmp[b] = dn[b] * hnj[b] * r[b] * (1 - r[b])
            _masked(dgx[j, lo:hi], tmp, active)
            _masked(dgs[j], tmp, active)
        gemm_into(w_hh_t, dgs, back)
        _copy_rows(dgs, dgh[:, lo:hi])
        for j in range(hidden):
            bj, dirj = back[j], direct[j]
            for b in range(batch):
                tmp[b] = bj[b] + dirj[b]
            _select(dh[j], tmp, dh[j], active)
    return np.ascontiguousarray(dh.T)


# ---------------------------------------------------------------- per direction
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def direction_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse):
    """One direction of one layer over ``x`` (T, B, I): returns ``(out (T, B, H),
    last state (h_n,) or (h_n, c_n), cache)``; ``cache`` is for
    :func:`direction_backward` only.  Biases may be None; ``c0`` is None unless LSTM."""
    n_steps, batch, n_in = x.shape
    hidden = w_hh.shape[1]
    dtype = x.dtype
    x2 = np.ascontiguousarray(x).reshape(n_steps * batch, n_in)
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    h0 = np.ascontiguousarray(h0, dtype)
    lengths = np.ascontiguousarray(lengths, np.int64)
    cols = n_steps * batch
    gh = GATES[mode] * hidden
    gates = np.empty((gh, cols), dtype)
    hb = np.empty((hidden, cols), dtype)
    out = np.empty((n_steps, batch, hidden), dtype)
    if mode == "GRU":
        zero = np.zeros(gh, dtype)
        b_ih = zero if b_ih is None else b_ih
        b_hh = zero if b_hh is None else b_hh
        hn = np.empty((hidden, cols), dtype)
        h_n = _gru_forward(x2, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse, gates, hn, hb,
                           out)
        return out, (h_n,), (gates, hn, hb)
    # RNN and LSTM add both biases to the same sum: add them once
    bias = np.zeros(gh, dtype) if b_ih is None else b_ih + b_hh
    if mode == "LSTM":
        cb, tc = np.empty((hidden, cols), dtype), np.empty((hidden, cols), dtype)
        c0 = np.ascontiguousarray(c0, dtype)
        h_n, c_n = _lstm_forward(x2, w_ih, w_hh, bias, h0, c0, lengths, reverse, gates, hb,
                                 cb, tc, out)
        return out, (h_n, c_n), (gates, hb, cb, tc)
    h_n = _rnn_forward(x2, w_ih, w_hh, bias, h0, lengths, reverse, mode == "RNN_RELU", gates,
                       hb, out)
    return out, (h_n,), (gates, hb)


def direction_backward(mode, dout, dh_last, dc_last, x, w_ih, w_hh, has_bias, lengths, cache,
                       reverse):
    """Gradients of one direction from those of its output ``dout`` (T, B, H) and last
    state: returns ``(first state's gradients (dh0,) or (dh0, dc0), dx,
    [g_w_ih, g_w_hh, g_b_ih, g_b_hh])`` (bias gradients None without bias)."""
    n_steps, batch, n_in = x.shape
    dtype = x.dtype
    dout = np.ascontiguousarray(dout, dtype)
    dh_last = np.ascontiguousarray(dh_last, dtype)
    lengths = np.ascontiguousarray(lengths, np.int64)
    w_ih = np.ascontiguousarray(w_ih)
    w_hh_t = np.ascontiguousarray(np.asarray(w_hh).T)  # the per-step product's fastest form
    x2 = np.ascontiguousarray(x).reshape(n_steps * batch, n_in)
    gates = cache[0]
    dg = np.empty(gates.shape, dtype)
    dgh = dg
    if mode == "LSTM":
        _, hb, cb, tc = cache
        first = _lstm_backward(dout, dh_last, np.ascontiguousarray(dc_last, dtype), gates, cb,
                               tc, lengths, reverse, w_hh_t, dg)
    elif mode == "GRU":
        _, hn, hb = cache
        dgh = np.empty(gates.shape, dtype)
        first = (_gru_backward(dout, dh_last, gates, hn, hb, lengths, reverse, w_hh_t, dg,
                                dgh),)
    else:
        _, hb = cache
        first = (_rnn_backward(dout, dh_last, gates, lengths, reverse, mode == "RNN_RELU",
                               w_hh_t, dg),)
    g_ih, g_hh = np.empty(w_ih.shape, dtype), np.empty(w_hh_t.shape[::-1], dtype)
    g_b = np.empty(gates.shape[0], dtype)
    dx2 = np.empty(x2.shape, dtype)
    _weight_grads(dg, x2, hb, dx2, w_ih, g_ih, g_hh, g_b, dgh)
    g_bih = g_bhh = None
    if has_bias:
        g_bih = g_b
        # LSTM and RNN: one gate gradient for both biases; GRU: the hidden one's
        g_bhh = g_b.copy() if dgh is dg else dgh.sum(axis=1)
    return first, dx2.reshape(x.shape), [g_ih, g_hh, g_bih, g_bhh]
