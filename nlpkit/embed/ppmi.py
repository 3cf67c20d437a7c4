"""Positive PMI of a co-occurrence matrix and its truncated SVD (Levy, Goldberg & Dagan 2015).

``PMI(w, c) = log( #(w, c) * sum_c' #(c')^alpha / (#(w) * #(c)^alpha) )`` where the
marginals are the matrix's row and column sums and ``alpha`` smooths the context
distribution (0.75; 1 is plain PMI), as hyperwords' ``counts2pmi`` computes it.
Shifted PPMI keeps ``max(PMI - log k, 0)``.  The kernel rewrites the CSR values in
place, one thread per block of rows.

The embedding is ``U * S^eig`` of the rank-``dim`` SVD ``U S V^T`` of the PPMI matrix
(``eig`` 0.5 or 0 work better than the classic 1, per Levy et al.), optionally
summed with the context side ``V * S^eig`` (each row normalised first, as
hyperwords' ``--w+c``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from scipy import sparse

from ..errors import NlpkitError

SOLVERS = ("arpack", "randomized")


@njit(parallel=True, cache=True)
def _ppmi_values(indptr, indices, data, row_sums, col_pow, log_total, log_shift):
    n = indptr.shape[0] - 1
    log_rows = np.log(row_sums)
    log_cols = np.log(col_pow)
    for r in prange(n):
        for p in range(indptr[r], indptr[r + 1]):
            v = np.log(data[p]) + log_total - log_rows[r] - log_cols[indices[p]] - log_shift
            data[p] = v if v > 0.0 else 0.0


def ppmi_matrix(counts: sparse.csr_matrix, alpha: float = 0.75, shift: float = 1.0,
                dtype=np.float32) -> sparse.csr_matrix:
    """The (shifted) positive PMI of a non-negative count matrix, as CSR of ``dtype``
    (cells that are not positive are removed)."""
    if not alpha > 0:
        raise NlpkitError(f"alpha (context-distribution smoothing) must be > 0; got {alpha!r}")
    if not shift >= 1:
        raise NlpkitError(f"shift must be >= 1 (PMI minus log shift); got {shift!r}")
    m = sparse.csr_matrix(counts, dtype=np.float64, copy=True)
    rows = np.asarray(m.sum(axis=1)).ravel()
    cols = np.asarray(m.sum(axis=0)).ravel() ** alpha
    total = cols.sum()
    if m.nnz:
        _ppmi_values(m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data,
                     np.where(rows > 0, rows, 1.0), np.where(cols > 0, cols, 1.0),
                     np.log(total), np.log(shift))
    m.eliminate_zeros()
    return m.astype(dtype)


def truncated_svd(m: sparse.csr_matrix, dim: int, *, solver: str = "arpack", seed: int = 1):
    """``(U, s, Vt)`` of the ``dim`` largest singular values, largest first."""
    k = min(dim, min(m.shape) - 1)
    if k < 1:
        raise NlpkitError(f"the PPMI matrix is {m.shape[0]} x {m.shape[1]}: too small for an SVD")
    if solver == "arpack":
        from scipy.sparse.linalg import svds
        rng = np.random.default_rng(seed)
        v0 = rng.uniform(-1, 1, min(m.shape)).astype(m.dtype)
        u, s, vt = svds(m, k=k, v0=v0, solver="arpack")
    elif solver == "randomized":
        from sklearn.utils.extmath import randomized_svd
        u, s, vt = randomized_svd(m, k, n_iter=5, random_state=seed)
    else:
        raise NlpkitError(f"svd solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    order = np.argsort(-s, kind="stable")
    u, s, vt = u[:, order], s[order], vt[order]
    # a fixed sign per component: the largest-magnitude entry of each left vector positive
    sign = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    sign[sign == 0] = 1
    return u * sign, s, vt * sign[:, None]


def svd_embedding(u, s, vt, *, eig: float = 0.5, add_context: bool = False) -> np.ndarray:
    """Word vectors ``U S^eig`` (plus the normalised context vectors ``V S^eig``)."""
    scale = s ** eig if eig else np.ones_like(s)
    words = u * scale
    if not add_context:
        return np.ascontiguousarray(words, np.float32)
    ctx = vt.T * scale

    def unit(x):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(n > 0, n, 1)
    return np.ascontiguousarray(unit(words) + unit(ctx), np.float32)
