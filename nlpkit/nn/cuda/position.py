"""CUDA twin of :mod:`nlpkit.nn.kernels.position`: :func:`rotary` with the same arguments
and result, one thread per rotated pair or copied column (grid-stride)."""
from __future__ import annotations

import functools
import math

from ..kernels.position import angles  # noqa: F401  (the same tables on both sides)
from . import support as S

cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=None)
def _kernels(dtype_name):
    global cuda
    cuda = S.get_cuda()

    @cuda.jit
    def rotary_kernel(x, cos, sin, out, n_cols, head_dim, batch_first, offset, sign):
        n_a, n_b, n_c = x.shape
        half = head_dim // 2
        pairs = n_cols // 2  # rotated pairs per row; the other columns are copied
        per_row = pairs + (n_c - n_cols)
        for i in range(cuda.grid(1), n_a * n_b * per_row, cuda.gridsize(1)):
            row = i // per_row
            r = i - row * per_row
            a = row // n_b
            b = row - a * n_b
            if r < pairs:
                h = r // half
                c = r - h * half
                p = (b if batch_first else a) + offset
                co = cos[p, c]
                si = sign * sin[p, c]
                j = h * head_dim + c
                x1 = x[a, b, j]
                x2 = x[a, b, j + half]
                out[a, b, j] = x1 * co - x2 * si
                out[a, b, j + half] = x2 * co + x1 * si
            else:
                j = n_cols + r - pairs
                out[a, b, j] = x[a, b, j]

    return {"rotary": rotary_kernel}


def rotary(x, cos, sin, n_cols, head_dim, batch_first, offset, sign=1):
    """Twin of ``kernels.position.rotary`` on a 3-D device array."""
    x = S.to_device(x)
    dt = x.dtype
    out = S.empty(x.shape, dt)
    n_a, n_b, n_c = x.shape
    n = n_a * n_b * (n_cols // 2 + n_c - n_cols)
    S.launch_1d(_kernels, "rotary", n, dt, x, S.to_device(cos, dt), S.to_device(sin, dt), out,
                int(n_cols), int(head_dim), bool(batch_first), int(offset),
                S.scalar(dt, math.copysign(1, sign)))
    return out
