"""Array glue for networks that run on either device: numpy arrays or CUDA device arrays.

A model's own ``forward``/``backward`` (a :func:`~nlpkit.nn.device_ops.composite` module)
calls its children and these few functions, never numpy directly, so the same code
runs on the host and, after ``module.to('cuda')``, on the GPU.  Each function
dispatches on the array it is given: on numpy arrays it is the very numpy call
the models made before (the CPU path neither changes nor slows down); on device
arrays it runs the CUDA twin in ``array_ops_cuda.py`` and leaves the data there.
Only :func:`weighted_sum`, :func:`count_hits` and :func:`to_host` bring values back.
"""
from __future__ import annotations

import functools

import numpy as np

from .cuda_support import is_device_array


def _cuda():
    from . import array_ops_cuda
    return array_ops_cuda


def check_input(layer, x, what="input", last=None, ndim=None):
    """``layer._check_input`` for numpy arrays; the device layers' check for device arrays."""
    if is_device_array(x):
        from .device_ops import _input
        return _input(layer, x, what, last=last, ndim=ndim)
    return layer._check_input(x, what, last=last, ndim=ndim)


def concat_last(arrays):
    """Arrays of the same leading shape joined along their last axis."""
    if is_device_array(arrays[0]):
        return _cuda().concat_last(arrays)
    return np.concatenate(arrays, axis=-1)


def split_last(x, sections):
    """``x`` cut into ``sections`` equal C-contiguous parts along its last axis."""
    if is_device_array(x):
        return _cuda().split_last(x, sections)
    return [np.ascontiguousarray(p) for p in np.split(x, sections, axis=-1)]


def split_at(x, width):
    """``(x[..., :width], x[..., width:])`` as C-contiguous arrays."""
    if is_device_array(x):
        return _cuda().split_at(x, width)
    return np.ascontiguousarray(x[..., :width]), np.ascontiguousarray(x[..., width:])


def swap12(x):
    """``x.transpose(0, 2, 1)`` of a 3-D array, C-contiguous."""
    if is_device_array(x):
        return _cuda().swap12(x)
    return np.ascontiguousarray(x.transpose(0, 2, 1))


def add_all(arrays):
    """The element-wise sum of arrays of one shape (a new array)."""
    if is_device_array(arrays[0]):
        return _cuda().add_all(arrays)
    return functools.reduce(np.add, arrays)


def mul(x, m):
    """``x * m`` element-wise; ``m`` (same shape or broadcasting on the host) may be numpy."""
    if is_device_array(x):
        return _cuda().mul(x, m)
    return x * m


def take_rows(table, index):
    """``table[index]``: rows of a 2-D ``table`` picked by a host int ``index`` of any shape."""
    if is_device_array(table):
        return _cuda().take_rows(table, index)
    return table[index]


def add_rows(index, values, n_rows):
    """The adjoint of :func:`take_rows`: (n_rows, D) zeros plus each ``values`` row added
    into row ``index`` (repeated indices add up)."""
    if is_device_array(values):
        return _cuda().add_rows(index, values, n_rows)
    d = values.shape[-1]
    out = np.zeros((n_rows, d), values.dtype)
    np.add.at(out, index.ravel(), values.reshape(-1, d))
    return out


def take(x, index, axis):
    """``x`` indexed by the host ints ``index`` along ``axis`` (``x[:, index]`` for axis 1).

    On the device the axes before ``axis`` must all have size 1."""
    if is_device_array(x):
        return _cuda().take(x, index, axis)
    return x[(slice(None),) * axis + (index,)]


def zeros_like(x):
    if is_device_array(x):
        from .cuda_support import zeros
        return zeros(x.shape, x.dtype)
    return np.zeros_like(x)


def bmm(a, b, trans_a=False, trans_b=False):
    """The batched product ``op(a) @ op(b)`` of 3-D arrays (``op`` swaps the last two axes)."""
    if is_device_array(a):
        from .matmul_cuda import gemm
        return gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    return (np.swapaxes(a, 1, 2) if trans_a else a) @ (np.swapaxes(b, 1, 2) if trans_b else b)


def masked_softmax(scores, key_padding_mask):
    """Softmax over the last axis of (B, T, S) ``scores``; keys where the host (B, S) bool
    ``key_padding_mask`` is set get no weight."""
    if is_device_array(scores):
        from .attention_kernels_cuda import masked_softmax_cuda
        return masked_softmax_cuda(scores, key_padding=key_padding_mask)
    s = np.where(key_padding_mask[:, None, :], -np.inf, scores)
    s = s - s.max(axis=2, keepdims=True)
    a = np.exp(s)
    a /= a.sum(axis=2, keepdims=True)
    return a


def softmax_backward(probs, dprobs):
    """The scores' gradient of a softmax over the last axis of 3-D ``probs``."""
    if is_device_array(probs):
        from .attention_kernels_cuda import softmax_backward_cuda
        return softmax_backward_cuda(probs, dprobs)
    return probs * (dprobs - (dprobs * probs).sum(axis=2, keepdims=True))


def additive_scores(pq, pk, v):
    """Bahdanau scores ``tanh(pq[:, :, None] + pk[:, None]) @ v`` of (B, T, A) and (B, S, A):
    ``(scores (B, T, S), e = the tanh (B, T, S, A))``."""
    if is_device_array(pq):
        return _cuda().additive_scores(pq, pk, v)
    e = np.tanh(pq[:, :, None, :] + pk[:, None, :, :])
    return e @ v, e


def additive_scores_backward(ds, v, e, grad_v):
    """The adjoint of :func:`additive_scores` for the scores' gradient ``ds``: adds the
    gradient of ``v`` into ``grad_v`` and returns ``(d_pq, d_pk)``."""
    if is_device_array(ds):
        return _cuda().additive_scores_backward(ds, v, e, grad_v)
    grad_v += np.einsum("bts,btsa->a", ds, e)
    dpre = ds[..., None] * v * (1 - e * e)  # (B,T,S,A)
    return np.ascontiguousarray(dpre.sum(axis=2)), np.ascontiguousarray(dpre.sum(axis=1))


def scale_to_norm(x, size):
    """Each ``x[i]`` (all axes after the first) rescaled to L2 norm ``size``; zero stays zero."""
    if is_device_array(x):
        return _cuda().scale_to_norm(x, size)
    flat = x.reshape(len(x), -1)
    norm = np.sqrt(np.einsum("ij,ij->i", flat, flat, dtype=np.float64))
    scale = np.divide(size, norm, out=np.zeros_like(norm), where=norm > 0)
    return (flat * scale[:, None].astype(x.dtype)).reshape(x.shape)


def weighted_sum(values, weights):
    """``float((values * weights).sum())`` for a 1-D array and host weights: a float back."""
    if is_device_array(values):
        return _cuda().weighted_sum(values, weights)
    return float((values * weights).sum())


def count_hits(logits, targets):
    """How many rows' arg max over the last axis equals the (host) target; an int back.

    Targets no class can equal (an ``ignore_index`` < 0) are never counted."""
    if is_device_array(logits):
        return _cuda().count_hits(logits, targets)
    return int((logits.argmax(axis=-1) == targets).sum())


def copy(x):
    """A copy of ``x`` on its device."""
    if is_device_array(x):
        return _cuda().copy(x)
    return x.copy()


def to_host(x):
    """``x`` as a numpy array (numpy arrays are returned as they are)."""
    return x.copy_to_host() if is_device_array(x) else x
