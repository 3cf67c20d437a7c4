"""Rotary position kernels (CPU).  Twin: :mod:`nlpkit.nn.cuda.position` (same names and arguments).

:func:`rotary` rotates the query and key heads of MultiheadAttention's projections in
the caller's layout ((L, N, C), or (N, L, C) with ``batch_first``), GPT-NeoX's and
Hugging Face LLaMA's "rotate half" pairing: within each head of ``head_dim`` columns,
column ``c < head_dim / 2`` pairs with ``c + head_dim / 2`` and the pair turns by the
angle ``p * base^(-2c / head_dim)`` of its position ``p``:
``(x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)``.  The first ``n_cols`` columns are
rotated (q, or q and k of a packed (…, 3E) projection), the others copied.  The
backward of a rotation is the rotation by the opposite angles: ``sign=-1``.
"""
import math

import numba
import numpy as np

from .jit import by_size


def angles(n_positions, head_dim, base):
    """``(cos, sin)``, each (n_positions, head_dim / 2) float64: the tables of :func:`rotary`."""
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    theta = np.arange(n_positions, dtype=np.float64)[:, None] * inv_freq[None]
    return np.cos(theta), np.sin(theta)


@by_size
def rotary_kernel(x, cos, sin, out, n_cols, head_dim, batch_first, offset, sign):
    n_a, n_b, n_c = x.shape
    half = head_dim // 2
    for a in numba.prange(n_a):
        for b in range(n_b):
            p = (b if batch_first else a) + offset
            for h in range(n_cols // head_dim):
                base = h * head_dim
                for c in range(half):
                    co = cos[p, c]
                    si = sign * sin[p, c]
                    x1 = x[a, b, base + c]
                    x2 = x[a, b, base + half + c]
                    out[a, b, base + c] = x1 * co - x2 * si
                    out[a, b, base + half + c] = x2 * co + x1 * si
            for c in range(n_cols, n_c):
                out[a, b, c] = x[a, b, c]


def rotary(x, cos, sin, n_cols, head_dim, batch_first, offset, sign=1):
    """``x`` (3-D, caller's layout) with the heads in its first ``n_cols`` columns rotated
    to positions ``offset + t`` (``sign=-1``: rotated back); ``cos``/``sin`` from
    :func:`angles` (at least ``offset + L`` rows), of ``x``'s dtype."""
    out = np.empty(x.shape, x.dtype)
    rotary_kernel(x, cos, sin, out, n_cols, head_dim, batch_first, offset,
                  x.dtype.type(math.copysign(1, sign)))
    return out
