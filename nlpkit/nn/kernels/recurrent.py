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
Python and no step allocates.  The LSTM kernels differ (see their section): one GEMM
per step over [x | h | 1] into a contiguous block per step, so the gate math runs as a
few long loops, and the weight gradients as one GEMM over [x | h | 1].  Every per-step
product runs in blocks of rows small enough for BLAS's small-matrix kernels where it has
them (:func:`~nlpkit.nn.kernels.blas.small_rows`): they skip the copy of W_hh into packed
panels that a larger product makes at every step.

The kernels can split each step over Numba's threads by hidden units (see
:func:`_n_chunks`: when BLAS may use as many threads and the step is large enough),
and the weight gradients likewise.

Variable lengths: row ``b`` is active at step ``t`` when ``t < lengths[b]``.
An inactive step leaves the state unchanged, writes a zero output and gets no
gradient, so the reverse direction starts at each sequence's own last step.

:func:`direction_forward` / :func:`direction_backward` are what
:mod:`nlpkit.nn.functional` calls (per layer and direction); the CUDA twins
in :mod:`nlpkit.nn.cuda.recurrent` take the same arguments and return the same
results (their caches are their own).
"""
import contextlib
import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ... import backend
from .blas import gemm_into, gemm_rows_into, small_rows
from .jit import by_size


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
KERNEL = dict(fastmath=True)  # by_size adds cache=True and error_model='numpy'


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


@by_size(**KERNEL)
def _weight_grads(rows, cols, dg, x2, hb, dx2, w_ih, g_ih, g_hh, g_b, dgh):
    """After the time loop: every step's weight, bias and input gradients at once
    (the GEMMs' inner dimension runs over all T·B rows), split over the threads by
    gate rows (``rows``: chunk bounds) and by T·B rows for the input gradient
    (``cols``).  ``dgh`` is the gradient of the hidden projection when it differs
    from ``dg`` (GRU), else ``dg`` itself."""
    for k in numba.prange(rows.shape[0] - 1):
        r0, r1 = rows[k], rows[k + 1]
        gemm_into(dg[r0:r1], x2, g_ih[r0:r1])
        gemm_into(dgh[r0:r1], hb, g_hh[r0:r1], False, True)
        for r in range(r0, r1):
            row = dg[r]
            total = row[0] - row[0]
            for col in range(row.shape[0]):
                total += row[col]
            g_b[r] = total
        c0, c1 = cols[k], cols[k + 1]
        gemm_into(dg[:, c0:c1], w_ih, dx2[c0:c1], True, False)


# ---------------------------------------------------------------- RNN (tanh / relu)
# Every cell's kernels may split a step over the threads by hidden units: chunk k owns
# units bounds[k]..bounds[k+1]-1 and the gate rows of those units, which the caller lays
# out together (:func:`_chunk_rows`: rows G·bounds[k].. hold the chunk's gate rows, gate
# by gate).  Per step each thread makes its rows' product with W_hh (one BLAS call on
# one thread) and its units' gate math, so the whole step runs on every core with one
# join; the backward step likewise computes its units' share of W_hh^T @ (gate
# gradients of the step before, double buffered) and then their gate gradients.  One
# chunk is the serial kernel.
@by_size(**KERNEL)
def _rnn_forward(bounds, x2, w_ih, w_hh, bias, h0, lengths, reverse, relu, rows, gates, hb,
                 out):
    """``gates`` (H, T·B) ends holding each step's activation; ``hb`` the state before
    each step."""
    n_steps, batch, hidden = out.shape
    n_chunks = bounds.shape[0] - 1
    for k in numba.prange(n_chunks):
        gemm_into(w_ih[bounds[k]:bounds[k + 1]], x2, gates[bounds[k]:bounds[k + 1]], False,
                  True)
    h_last = np.ascontiguousarray(h0.T)
    active = np.empty(batch, np.uint8)
    _start(hb, h0, n_steps, reverse)
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        h, h_new = _blocks(hb, s, n_steps, reverse, batch, h_last)
        _begin_step(t, lengths, active)
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            gemm_rows_into(w_hh[u0:u1], h, gates[u0:u1, lo:hi], rows, 1.0)
            if relu:
                for j in range(u0, u1):
                    row, bj = gates[j, lo:hi], bias[j]
                    for b in range(batch):
                        v = row[b] + bj
                        row[b] = v if v > 0 else v - v
            else:
                _activate_rows(gates, lo, hi, bias, u0, u1, True)
            for j in range(u0, u1):
                _select(h_new[j], gates[j, lo:hi], h[j], active)
            _write_output(out[t][:, u0:u1], h_new[u0:u1], active)
    return np.ascontiguousarray(h_last.T)


@by_size(**KERNEL)
def _rnn_backward(bounds, dout, dh_n, gates, lengths, reverse, relu, w_hh_t, rows, dg):
    n_steps, batch, hidden = dout.shape
    n_chunks = bounds.shape[0] - 1
    dh = np.ascontiguousarray(dh_n.T)
    d_out = np.empty((hidden, batch), dh.dtype)
    back = np.empty((hidden, batch), dh.dtype)
    dgs0, dgs1 = np.empty((hidden, batch), dh.dtype), np.empty((hidden, batch), dh.dtype)
    act0, act1 = np.empty(batch, np.uint8), np.empty(batch, np.uint8)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        dgc, dgp = (dgs0, dgs1) if s & 1 == 0 else (dgs1, dgs0)
        on, on_p = (act0, act1) if s & 1 == 0 else (act1, act0)
        _begin_step(t, lengths, on)
        later = s < n_steps - 1
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            if later:
                gemm_rows_into(w_hh_t[u0:u1], dgp, back[u0:u1], rows, 0.0)
                for j in range(u0, u1):
                    _select(dh[j], back[j], dh[j], on_p)
            _transpose_into(dout[t][:, u0:u1], d_out[u0:u1])
            tmp = np.empty(batch, dh.dtype)
            for j in range(u0, u1):
                y, dhj, doj = gates[j, lo:hi], dh[j], d_out[j]
                if relu:
                    for b in range(batch):
                        g = dhj[b] + doj[b]
                        tmp[b] = g if y[b] > 0 else g - g
                else:
                    for b in range(batch):
                        tmp[b] = (dhj[b] + doj[b]) * (1 - y[b] * y[b])
                _masked(dgc[j], tmp, on)
            _copy_rows(dgc[u0:u1], dg[u0:u1, lo:hi])
    if n_steps > 0:  # the first step's gradient goes back to h0
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            gemm_rows_into(w_hh_t[u0:u1], dgs0, back[u0:u1], rows, 0.0)
            for j in range(u0, u1):
                _select(dh[j], back[j], dh[j], act0)
    return np.ascontiguousarray(dh.T)


# ---------------------------------------------------------------- LSTM (gates i, f, g, o)
# The LSTM kernels keep each step's vectors in one contiguous block, feature-major:
# ``gates`` (T, 4H·B) holds step t's gates as a (4H, B) matrix, ``cb``/``tc`` (T, H·B)
# the cell before the step and tanh of the new one as (H, B) matrices.  One GEMM per
# step makes every gate's pre-activation, bias included:
# ``[W_ih | W_hh | b] @ [x_t ; h ; 1]`` (``xf`` (T, I + H + 1, B) holds [x ; the state
# before the step ; 1] feature-major, so that neither operand is transposed, which the
# small-matrix kernels need; ``xh`` (T·B, I + H + 1) the same batch-major, for the
# weight gradients).  A chunk's gates (and its units' cell) are then one
# contiguous run of memory, so the gate math runs as a few long unit-stride loops
# (vectorised) instead of one short loop per gate row, whose set-up cost as much as its
# B values.  The backward step likewise, and it makes the input's gradient beside the
# state's; the gradients of [W_ih | W_hh | b] are then one GEMM over every step's
# [x | h | 1] (``dg`` (4H, T·B)), the bias gradient included.
# Padded steps (``full`` False: some row shorter than T) are fixed up per row after the
# step's math: the state passes, the output and the gates' gradients are zero.
# The gate math of one chunk of one step, over flat runs of m = (units)·B values.  Each
# loop is a function of its own, not inlined into the kernels: compiled apart, each
# vectorises (inside the large kernels, or several in one function, LLVM left the
# activations' loops scalar, at twice the time).
@numba.njit(**JIT)
def _sigmoid_(a):
    for q in range(a.shape[0]):
        a[q] = _sigmoid(a[q])


@numba.njit(**JIT)
def _tanh_(a):
    for q in range(a.shape[0]):
        a[q] = _tanh(a[q])


@numba.njit(**JIT)
def _lstm_new_cell(g, c, c_new, tc, h_new):
    m = c.shape[0]
    for q in range(m):
        v = g[m + q] * c[q] + g[q] * g[2 * m + q]
        c_new[q] = v
        tc[q] = _tanh(v)
    for q in range(m):
        h_new[q] = g[3 * m + q] * tc[q]


@numba.njit(**JIT)
def _lstm_cell(g, c, c_new, tc, h_new):
    """``g`` the pre-activations of i, f, g, o (4m, activated in place), ``c`` the cell before;
    writes the new cell, its tanh and the new state."""
    m = c.shape[0]
    _sigmoid_(g[:2 * m])  # i, f
    _tanh_(g[2 * m:3 * m])  # g
    _sigmoid_(g[3 * m:])  # o
    _lstm_new_cell(g, c, c_new, tc, h_new)


@numba.njit(**JIT)
def _lstm_cell_grad(g, dg, tc, c, dh, dc, dout, one):
    """From the gradients of the new state (``dh``; ``dout`` is added: that of the output)
    and of the new cell (``dc``, which becomes that of the cell before), the gates' ``dg``
    (4m).  ``one``: 1 in the arrays' type (a literal 1 would compute in float64)."""
    m = c.shape[0]
    for q in range(m):  # of the whole new state
        dh[q] += dout[q]
    for q in range(m):  # of the new cell, and of o
        gh, tv, o = dh[q], tc[q], g[3 * m + q]
        dc[q] += gh * o * (one - tv * tv)
        dg[3 * m + q] = gh * tv * o * (one - o)
    for q in range(m):  # of i, f, g, and of the cell before
        d, i, f, gg = dc[q], g[q], g[m + q], g[2 * m + q]
        dg[q] = d * gg * i * (one - i)
        dg[m + q] = d * c[q] * f * (one - f)
        dg[2 * m + q] = d * i * (one - gg * gg)
        dc[q] = d * f


@by_size(**KERNEL)
def _lstm_forward(bounds, xh, xf, wcat, h0, c0, lengths, full, reverse, rows, gates, cb, tc,
                  out):
    """``xh`` (T·B, I + H + 1) holds x and ones (given) around the state before each step
    (written), batch-major for the weight gradients; ``xf`` (T, I + H + 1, B) the same,
    feature-major, for the per-step product; ``wcat`` (4H, I + H + 1) = [W_ih | W_hh |
    b_ih + b_hh], rows in the gates' order; ``rows``: see :func:`gemm_rows_into`.
    Returns (h_n, c_n)."""
    n_steps, batch, hidden = out.shape
    n_in = xh.shape[1] - hidden - 1
    n_chunks = bounds.shape[0] - 1
    xh_last = np.empty((batch, xh.shape[1]), xh.dtype)  # the state after the last step
    xf_last = np.empty((xh.shape[1], batch), xh.dtype)
    c_last = np.empty(hidden * batch, xh.dtype)
    hf = np.empty(hidden * batch, xh.dtype)  # a step's new state, feature-major
    for b in range(batch):
        for j in range(hidden):
            xh_last[b, n_in + j] = h0[b, j]
            c_last[j * batch + b] = c0[b, j]
    if n_steps > 0:
        t = _step_index(0, n_steps, reverse)
        xh[t * batch:(t + 1) * batch, n_in:n_in + hidden] = h0
        _transpose_into(h0, xf[t, n_in:n_in + hidden])
        cb[t, :] = c_last
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        xt, ft, c, g, tct = xh[t * batch:(t + 1) * batch], xf[t], cb[t], gates[t], tc[t]
        xn, fn, c_new = xh_last, xf_last, c_last
        if s + 1 < n_steps:
            tn = _step_index(s + 1, n_steps, reverse)
            xn, fn, c_new = xh[tn * batch:(tn + 1) * batch], xf[tn], cb[tn]
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            hk, r0, a = u1 - u0, 4 * u0, u0 * batch
            m = hk * batch
            gk = g[r0 * batch:(r0 + 4 * hk) * batch]
            gemm_rows_into(wcat[r0:r0 + 4 * hk], ft, gk.reshape((4 * hk, batch)), rows, 0.0)
            _lstm_cell(gk, c[a:a + m], c_new[a:a + m], tct[a:a + m], hf[a:a + m])
            # the next step's input, feature-major (a copy) and batch-major, and this
            # step's output
            _copy_rows(hf[a:a + m].reshape((hk, batch)), fn[n_in + u0:n_in + u1])
            for b in range(batch):
                xr, o = xn[b], out[t, b]
                if full or t < lengths[b]:
                    for j in range(u0, u1):
                        v = hf[j * batch + b]
                        xr[n_in + j] = v
                        o[j] = v
                else:  # a padded step: the state passes, the output is zero
                    xo = xt[b]
                    for j in range(u0, u1):
                        xr[n_in + j] = xo[n_in + j]
                        fn[n_in + j, b] = ft[n_in + j, b]
                        o[j] = 0
                        c_new[j * batch + b] = c[j * batch + b]
    h_n = np.empty((batch, hidden), xh.dtype)
    c_n = np.empty((batch, hidden), xh.dtype)
    for b in range(batch):
        for j in range(hidden):
            h_n[b, j] = xh_last[b, n_in + j]
            c_n[b, j] = c_last[j * batch + b]
    return h_n, c_n


@numba.njit(inline="always")
def _lstm_back_state(dgp, w_hh_t, dh, back, lengths, tp, full, u0, u1, batch, rows):
    """The gradient of the state before the step after (``dgp`` its gate gradients, (4H·B)
    flat) for units u0..u1-1: W_hh^T's product where that step was active, unchanged
    elsewhere."""
    a, m = u0 * batch, (u1 - u0) * batch
    rhs = dgp.reshape((w_hh_t.shape[1], batch))
    if full:
        gemm_rows_into(w_hh_t[u0:u1], rhs, dh[a:a + m].reshape((u1 - u0, batch)), rows, 0.0)
        return
    gemm_rows_into(w_hh_t[u0:u1], rhs, back[a:a + m].reshape((u1 - u0, batch)), rows, 0.0)
    for b in range(batch):
        if tp < lengths[b]:
            for j in range(u0, u1):
                dh[j * batch + b] = back[j * batch + b]


@numba.njit(inline="always")
def _lstm_back_input(dgp, w_ih_t, dxf, dx_t, i0, i1, batch, rows):
    """Inputs i0..i1-1 of a step's input gradient ``dx_t`` (B, I) from its gate gradients
    (``dgp``, (4H·B) flat): W_ih^T's product, feature-major in ``dxf``, then transposed."""
    gemm_rows_into(w_ih_t[i0:i1], dgp.reshape((w_ih_t.shape[1], batch)), dxf[i0:i1], rows, 0.0)
    for b in range(batch):
        row = dx_t[b]
        for i in range(i0, i1):
            row[i] = dxf[i, b]


@by_size(**KERNEL)
def _lstm_backward(bounds, dout, dh_n, dc_n, gates, cb, tc, lengths, full, reverse, wcat, rows,
                   dg, dx):
    """``wcat`` the forward's [W_ih | W_hh | b] (rows in the gates' order); writes ``dg``
    (4H, T·B), the gates' gradients (zero at padded steps), and ``dx`` (T, B, I), the
    input's.  Returns (dh0, dc0).

    The input gradient is made a step at a time, beside the state's (one step late, from
    the same gate gradients): as products of the per-step shape it runs on BLAS's
    small-matrix kernels, where one product over all T·B rows after the loop (its first
    operand transposed) ran at about half their rate."""
    n_steps, batch, hidden = dout.shape
    n_chunks = bounds.shape[0] - 1
    dt = dout.dtype
    n = hidden * batch
    n_in = wcat.shape[1] - hidden - 1
    # W_hh.T and W_ih.T, the per-step products' fastest form (a transposed operand took 1.3x
    # as long), made here by each thread for its units and inputs rather than by NumPy on
    # one thread before
    w_hh_t = np.empty((hidden, 4 * hidden), dt)
    w_ih_t = np.empty((n_in, 4 * hidden), dt)
    for k in numba.prange(n_chunks):
        for j in range(bounds[k], bounds[k + 1]):  # unit-stride writes: 6x as fast as reads
            dst = w_hh_t[j]
            for r in range(4 * hidden):
                dst[r] = wcat[r, n_in + j]
        for j in range(k * n_in // n_chunks, (k + 1) * n_in // n_chunks):
            dst = w_ih_t[j]
            for r in range(4 * hidden):
                dst[r] = wcat[r, j]
    dxf = np.empty((n_in, batch), dt)
    dh, dc, back, dof = np.empty(n, dt), np.empty(n, dt), np.empty(n, dt), np.empty(n, dt)
    dh_keep, dc_keep = np.empty(n, dt), np.empty(n, dt)
    dgs0, dgs1 = np.empty(4 * n, dt), np.empty(4 * n, dt)  # a step's gate gradients
    one = np.ones(1, dt)[0]  # a literal 1 would turn float32 math into float64
    for b in range(batch):
        for j in range(hidden):
            dh[j * batch + b] = dh_n[b, j]
            dc[j * batch + b] = dc_n[b, j]
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        lo = t * batch
        dgc, dgp = (dgs0, dgs1) if s & 1 == 0 else (dgs1, dgs0)
        later = s < n_steps - 1  # the step after (in processing order) sends its gradient back
        tp = _step_index(s + 1, n_steps, reverse) if later else t
        g, tct, c = gates[t], tc[t], cb[t]
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            hk, r0, a = u1 - u0, 4 * u0, u0 * batch
            m = hk * batch
            if later:
                _lstm_back_state(dgp, w_hh_t, dh, back, lengths, tp, full, u0, u1, batch, rows)
                _lstm_back_input(dgp, w_ih_t, dxf, dx[tp], k * n_in // n_chunks,
                                 (k + 1) * n_in // n_chunks, batch, rows)
            for b in range(batch):  # this step's output gradient, feature-major
                d = dout[t, b]
                for j in range(u0, u1):
                    dof[j * batch + b] = d[j]
            dhk, dck, dok = dh[a:a + m], dc[a:a + m], dof[a:a + m]
            if not full:
                for q in range(m):
                    dh_keep[a + q] = dhk[q]
                    dc_keep[a + q] = dck[q]
            gk, dgk = g[r0 * batch:(r0 + 4 * hk) * batch], dgc[r0 * batch:(r0 + 4 * hk) * batch]
            tk, ck = tct[a:a + m], c[a:a + m]
            _lstm_cell_grad(gk, dgk, tk, ck, dhk, dck, dok, one)
            if not full:  # padded rows: the gradients pass, the gates get none
                for b in range(batch):
                    if t >= lengths[b]:
                        for j in range(hk):
                            dhk[j * batch + b] = dh_keep[a + j * batch + b]
                            dck[j * batch + b] = dc_keep[a + j * batch + b]
                        for r in range(4 * hk):
                            dgk[r * batch + b] = 0
            for r in range(4 * hk):  # into the weight gradients' layout
                src, dst = dgk[r * batch:(r + 1) * batch], dg[r0 + r, lo:lo + batch]
                for b in range(batch):
                    dst[b] = src[b]
    if n_steps > 0:  # the first step's gradient goes back to h0
        t = _step_index(0, n_steps, reverse)
        for k in numba.prange(n_chunks):
            _lstm_back_state(dgs0, w_hh_t, dh, back, lengths, t, full, bounds[k],
                             bounds[k + 1], batch, rows)
            _lstm_back_input(dgs0, w_ih_t, dxf, dx[t], k * n_in // n_chunks,
                             (k + 1) * n_in // n_chunks, batch, rows)
    dh0 = np.empty((batch, hidden), dt)
    dc0 = np.empty((batch, hidden), dt)
    for b in range(batch):
        for j in range(hidden):
            dh0[b, j] = dh[j * batch + b]
            dc0[b, j] = dc[j * batch + b]
    return dh0, dc0


@by_size(**KERNEL)
def _lstm_weight_grads(rows, dg, xh, g_w):
    """After the time loop: the gradients of [W_ih | W_hh | b], one GEMM over every step's
    [x | h | 1], split over the threads by gate rows (``rows``: chunk bounds)."""
    for k in numba.prange(rows.shape[0] - 1):
        r0, r1 = rows[k], rows[k + 1]
        gemm_into(dg[r0:r1], xh, g_w[r0:r1])


# ---------------------------------------------------------------- GRU (gates r, z, n)
@by_size(**KERNEL)
def _gru_forward(bounds, x2, w_ih, w_hh, b_ih, b_hh, h0, lengths, reverse, rows, gates, hn,
                 hb, out):
    """``gates`` (3H, T·B) ends holding r, z, n; ``hn`` the hidden projection of the n
    block with its bias (r scales it), ``hb`` the state before each step."""
    n_steps, batch, hidden = out.shape
    n_chunks = bounds.shape[0] - 1
    for k in numba.prange(n_chunks):
        gemm_into(w_ih[3 * bounds[k]:3 * bounds[k + 1]], x2,
                  gates[3 * bounds[k]:3 * bounds[k + 1]], False, True)
    h_last = np.ascontiguousarray(h0.T)
    pre = np.empty((3 * hidden, batch), h_last.dtype)
    bias_sum = b_ih + b_hh  # r and z add both biases
    active = np.empty(batch, np.uint8)
    _start(hb, h0, n_steps, reverse)
    for s in range(n_steps):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        h, h_new = _blocks(hb, s, n_steps, reverse, batch, h_last)
        _begin_step(t, lengths, active)
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            hk, r0 = u1 - u0, 3 * u0
            gemm_rows_into(w_hh[r0:r0 + 3 * hk], h, pre[r0:r0 + 3 * hk], rows, 0.0)
            for r in range(r0, r0 + 2 * hk):  # r, z: input and hidden parts summed
                row, p = gates[r, lo:hi], pre[r]
                for b in range(batch):
                    row[b] += p[b]
            _activate_rows(gates, lo, hi, bias_sum, r0, r0 + 2 * hk, False)
            tmp = np.empty(batch, h_last.dtype)
            for j in range(u0, u1):
                r = r0 + j - u0
                rr, z, n = gates[r, lo:hi], gates[r + hk, lo:hi], gates[r + 2 * hk, lo:hi]
                p, hnj, hj = pre[r + 2 * hk], hn[j, lo:hi], h[j]
                bi, bh = b_ih[r + 2 * hk], b_hh[r + 2 * hk]
                for b in range(batch):
                    hnj[b] = p[b] + bh
                for b in range(batch):
                    n[b] = _tanh(n[b] + bi + rr[b] * hnj[b])
                for b in range(batch):
                    tmp[b] = (1 - z[b]) * n[b] + z[b] * hj[b]
                _select(h_new[j], tmp, hj, active)
            _write_output(out[t][:, u0:u1], h_new[u0:u1], active)
    return np.ascontiguousarray(h_last.T)


@by_size(**KERNEL)
def _gru_backward(bounds, dout, dh_n, gates, hn, hb, lengths, reverse, w_hh_t, rows, dgx,
                  dgh):
    """``dgx`` the gradient of the input projection, ``dgh`` of the hidden one (they
    differ in the n block, where the hidden part is scaled by r); ``w_hh_t`` = W_hh.T with
    its columns in the gates' row order."""
    n_steps, batch, hidden = dout.shape
    n_chunks = bounds.shape[0] - 1
    dh = np.ascontiguousarray(dh_n.T)
    d_out = np.empty((hidden, batch), dh.dtype)
    back = np.empty((hidden, batch), dh.dtype)
    direct = np.empty((hidden, batch), dh.dtype)  # the part of dh that skips W_hh (z h)
    dgs0 = np.empty((3 * hidden, batch), dh.dtype)  # a step's dgh, contiguous
    dgs1 = np.empty((3 * hidden, batch), dh.dtype)
    act0, act1 = np.empty(batch, np.uint8), np.empty(batch, np.uint8)
    for s in range(n_steps - 1, -1, -1):
        t = _step_index(s, n_steps, reverse)
        lo, hi = t * batch, (t + 1) * batch
        dgc, dgp = (dgs0, dgs1) if s & 1 == 0 else (dgs1, dgs0)
        on, on_p = (act0, act1) if s & 1 == 0 else (act1, act0)
        _begin_step(t, lengths, on)
        later = s < n_steps - 1
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            hk, r0 = u1 - u0, 3 * u0
            gh, dn, tmp = np.empty(batch, dh.dtype), np.empty(batch, dh.dtype), \
                np.empty(batch, dh.dtype)
            if later:
                gemm_rows_into(w_hh_t[u0:u1], dgp, back[u0:u1], rows, 0.0)
                for j in range(u0, u1):
                    bj, dirj = back[j], direct[j]
                    for b in range(batch):
                        tmp[b] = bj[b] + dirj[b]
                    _select(dh[j], tmp, dh[j], on_p)
            _transpose_into(dout[t][:, u0:u1], d_out[u0:u1])
            for j in range(u0, u1):
                r = r0 + j - u0
                rr, z, n = gates[r, lo:hi], gates[r + hk, lo:hi], gates[r + 2 * hk, lo:hi]
                hnj, hbj, dhj, doj, dirj = hn[j, lo:hi], hb[j, lo:hi], dh[j], d_out[j], direct[j]
                for b in range(batch):
                    gh[b] = dhj[b] + doj[b]
                for b in range(batch):
                    dn[b] = gh[b] * (1 - z[b]) * (1 - n[b] * n[b])
                for b in range(batch):
                    dirj[b] = gh[b] * z[b]
                _masked(dgx[r + 2 * hk, lo:hi], dn, on)
                for b in range(batch):
                    tmp[b] = dn[b] * rr[b]
                _masked(dgc[r + 2 * hk], tmp, on)
                for b in range(batch):
                    tmp[b] = gh[b] * (hbj[b] - n[b]) * z[b] * (1 - z[b])
                _masked(dgx[r + hk, lo:hi], tmp, on)
                _masked(dgc[r + hk], tmp, on)
                for b in range(batch):
                    tmp[b] = dn[b] * hnj[b] * rr[b] * (1 - rr[b])
                _masked(dgx[r, lo:hi], tmp, on)
                _masked(dgc[r], tmp, on)
            _copy_rows(dgc[r0:r0 + 3 * hk], dgh[r0:r0 + 3 * hk, lo:hi])
    if n_steps > 0:  # the first step's gradient goes back to h0
        for k in numba.prange(n_chunks):
            u0, u1 = bounds[k], bounds[k + 1]
            gemm_rows_into(w_hh_t[u0:u1], dgs0, back[u0:u1], rows, 0.0)
            tmp = np.empty(batch, dh.dtype)
            for j in range(u0, u1):
                bj, dirj = back[j], direct[j]
                for b in range(batch):
                    tmp[b] = bj[b] + dirj[b]
                _select(dh[j], tmp, dh[j], act0)
    return np.ascontiguousarray(dh.T)


# ---------------------------------------------------------------- per direction
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
# The time loops split a step over Numba's threads when BLAS may use as many
# (``threadpoolctl``/``backend.blas_threads``): the estimators run BLAS on one thread,
# and so the loops on one; a step with fewer multiply-adds than PARALLEL_MIN_MACS in its
# product with W_hh runs on one thread too (starting and joining the threads every step
# would cost more than it saves).  A join per step waits for every thread: on a machine
# busy with other work it waits for the scheduler, so one BLAS thread is the robust
# setting there.
PARALLEL_MIN_MACS = 1 << 20
MIN_CHUNK = 16  # hidden units per thread, at least


def _n_chunks(n_gates, hidden, batch):
    n = numba.get_num_threads()
    blas = backend.kernel_blas_num_threads()
    n = n if blas is None else min(n, blas)
    if n < 2 or n_gates * hidden * hidden * batch < PARALLEL_MIN_MACS:
        return 1
    return max(1, min(n, hidden // MIN_CHUNK))


def _bounds(n, parts):
    return np.arange(parts + 1, dtype=np.int64) * n // parts


def _chunk_rows(n_gates, hidden, bounds):
    """Gate row order with each chunk's rows together: chunk k holds gate q of its units
    at rows n_gates·bounds[k] + q·(its size) + (unit - bounds[k])."""
    return np.concatenate([q * hidden + np.arange(bounds[k], bounds[k + 1])
                           for k in range(len(bounds) - 1) for q in range(n_gates)])


def _threads(n_chunks):
    """Split kernels call BLAS from every thread: BLAS itself on one."""
    return backend.kernel_blas_threads(1) if n_chunks > 1 else contextlib.nullcontext()


def _pick(kernel, n_chunks):
    return kernel.parallel if n_chunks > 1 else kernel.serial


def direction_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse):
    """One direction of one layer over ``x`` (T, B, I): returns ``(out (T, B, H),
    last state (h_n,) or (h_n, c_n), cache)``; ``cache`` is for
    :func:`direction_backward` only.  Biases may be None; ``c0`` is None unless LSTM."""
    n_steps, batch, n_in = x.shape
    hidden = w_hh.shape[1]
    dtype = x.dtype
    n_gates = GATES[mode]
    x2 = np.ascontiguousarray(x).reshape(n_steps * batch, n_in)
    h0 = np.ascontiguousarray(h0, dtype)
    lengths = np.ascontiguousarray(lengths, np.int64)
    cols, gh = n_steps * batch, n_gates * hidden
    if b_ih is None:
        b_ih = b_hh = np.zeros(gh, dtype)
    n = _n_chunks(n_gates, hidden, batch)
    bounds, rows = _bounds(hidden, n), None
    if n > 1 and n_gates > 1:  # each chunk's gate rows together
        rows = _chunk_rows(n_gates, hidden, bounds)
        w_ih, w_hh, b_ih, b_hh = w_ih[rows], w_hh[rows], b_ih[rows], b_hh[rows]
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    out = np.empty((n_steps, batch, hidden), dtype)
    if mode == "LSTM":  # one GEMM per step over [x | h | 1] (see the LSTM kernels)
        width = n_in + hidden + 1
        wcat = np.empty((gh, width), dtype)
        wcat[:, :n_in], wcat[:, n_in:-1], wcat[:, -1] = w_ih, w_hh, b_ih + b_hh
        xh = np.empty((cols, width), dtype)
        xh[:, :n_in], xh[:, -1] = x2, 1
        xf = np.empty((n_steps, width, batch), dtype)  # the same, feature-major
        xf[:, :n_in], xf[:, -1] = np.asarray(x).transpose(0, 2, 1), 1
        gates = np.empty((n_steps, gh * batch), dtype)
        cb, tc = np.empty((n_steps, hidden * batch), dtype), np.empty((n_steps, hidden * batch),
                                                                       dtype)
        full = bool(np.all(lengths >= n_steps))
        with _threads(n):
            h_n, c_n = _pick(_lstm_forward, n)(bounds, xh, xf, wcat, h0,
                                               np.ascontiguousarray(c0, dtype), lengths, full,
                                               reverse, small_rows(batch, width), gates, cb,
                                               tc, out)
        return out, (h_n, c_n), (bounds, rows, gates, xh, cb, tc, full, wcat)
    gates = np.empty((gh, cols), dtype)
    hb = np.empty((hidden, cols), dtype)
    rows_hh = small_rows(batch, hidden)  # the per-step product W_hh @ h
    with _threads(n):
        if mode == "GRU":
            hn = np.empty((hidden, cols), dtype)
            h_n = _pick(_gru_forward, n)(bounds, x2, w_ih, w_hh, b_ih, b_hh, h0, lengths,
                                         reverse, rows_hh, gates, hn, hb, out)
            return out, (h_n,), (bounds, rows, gates, hb, hn)
        bias = b_ih + b_hh  # RNN adds both biases to the same sum: once
        h_n = _pick(_rnn_forward, n)(bounds, x2, w_ih, w_hh, bias, h0, lengths, reverse,
                                     mode == "RNN_RELU", rows_hh, gates, hb, out)
        return out, (h_n,), (bounds, rows, gates, hb)


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
    x2 = np.ascontiguousarray(x).reshape(n_steps * batch, n_in)
    bounds, rows, gates, hb = cache[:4]
    n = len(bounds) - 1
    if mode == "LSTM":  # its weights in the forward's order are in the cache
        return _lstm_direction_backward(dout, dh_last, dc_last, x2, has_bias, lengths, cache,
                                        reverse)
    if rows is not None:  # the gates' rows in the forward kernel's order
        w_ih, w_hh = w_ih[rows], w_hh[rows]
    w_ih = np.ascontiguousarray(w_ih)
    w_hh_t = np.ascontiguousarray(np.asarray(w_hh).T)  # the per-step product's fastest form
    dg = np.empty(gates.shape, dtype)
    dgh = dg
    rows_hh = small_rows(batch, gates.shape[0])  # the per-step product W_hh.T @ dg
    with _threads(n):
        if mode == "GRU":
            dgh = np.empty(gates.shape, dtype)
            first = (_pick(_gru_backward, n)(bounds, dout, dh_last, gates, cache[4], hb,
                                             lengths, reverse, w_hh_t, rows_hh, dg, dgh),)
        else:
            first = (_pick(_rnn_backward, n)(bounds, dout, dh_last, gates, lengths, reverse,
                                             mode == "RNN_RELU", w_hh_t, rows_hh, dg),)
        g_ih, g_hh = np.empty(w_ih.shape, dtype), np.empty(w_hh_t.shape[::-1], dtype)
        g_b = np.empty(gates.shape[0], dtype)
        dx = np.empty(x.shape, dtype)  # returned whole: the autograd engine need not copy it
        _pick(_weight_grads, n)(_bounds(gates.shape[0], n), _bounds(x2.shape[0], n), dg, x2,
                                hb, dx.reshape(x2.shape), w_ih, g_ih, g_hh, g_b, dgh)
    g_bih = g_bhh = None
    if has_bias:
        g_bih = g_b
        # LSTM and RNN: one gate gradient for both biases; GRU: the hidden one's
        g_bhh = g_b.copy() if dgh is dg else dgh.sum(axis=1)
    if rows is not None:  # back to PyTorch's gate order
        g_ih[rows], g_hh[rows] = g_ih.copy(), g_hh.copy()
        if has_bias:
            g_bih[rows], g_bhh[rows] = g_bih.copy(), g_bhh.copy()
    return first, dx, [g_ih, g_hh, g_bih, g_bhh]


def _lstm_direction_backward(dout, dh_last, dc_last, x2, has_bias, lengths, cache, reverse):
    """:func:`direction_backward` of an LSTM (``dout`` and ``dh_last`` contiguous); the
    weights are the forward's [W_ih | W_hh | b] in the cache, rows in the gates' order."""
    bounds, rows, gates, xh, cb, tc, full, wcat = cache
    dtype = gates.dtype
    n = len(bounds) - 1
    n_steps, batch, hidden = dout.shape
    gh, cols, n_in = 4 * hidden, n_steps * batch, x2.shape[1]
    dg = np.empty((gh, cols), dtype)
    g_w = np.empty((gh, xh.shape[1]), dtype)
    dx = np.empty((n_steps, batch, n_in), dtype)  # returned whole (see direction_backward)
    with _threads(n):
        first = _pick(_lstm_backward, n)(bounds, dout, dh_last,
                                         np.ascontiguousarray(dc_last, dtype), gates, cb, tc,
                                         lengths, full, reverse, wcat,
                                         small_rows(batch, gh), dg, dx)
        _pick(_lstm_weight_grads, n)(_bounds(gh, n), dg, xh, g_w)
    order = slice(None) if rows is None else rows  # back to PyTorch's gate order
    g_ih, g_hh = np.empty((gh, n_in), dtype), np.empty((gh, hidden), dtype)
    g_ih[order], g_hh[order] = g_w[:, :n_in], g_w[:, n_in:-1]
    g_bih = g_bhh = None
    if has_bias:
        g_bih = np.empty(gh, dtype)
        g_bih[order] = g_w[:, -1]
        g_bhh = g_bih.copy()
    return first, dx, [g_ih, g_hh, g_bih, g_bhh]
