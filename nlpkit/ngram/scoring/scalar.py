"""The scalar math of n-gram scoring, written once for the CPU kernels and their CUDA twin.

``kernels.py`` compiles these plain functions with ``njit(inline='always')``
and ``kernels_cuda.py`` with ``cuda.jit(device=True)`` (through
:func:`compiled`), so a hash, a slot's home or a back-off step cannot come
out differently on the two devices.  Arithmetic uses explicit ``np.uint64``
and ``np.float32`` values: the CUDA simulator wraps integer overflow only for
NumPy integers, and SRILM sums back-off weights in float32.  (Numba's cache
does not see edits here: the cached kernels of kernels.py inline these, so
clear ``nlpkit/ngram/scoring/__pycache__`` after changing this file.)
"""
import types

import numpy as np

MUL = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xFF51AFD7ED558CCD)
M2 = np.uint64(0xC4CEB9FE1A85EC53)
PRIME = np.uint64(0x100000001B3)
FNV0 = np.uint64(0xCBF29CE484222325)
S33 = np.uint64(33)
S32 = np.uint64(32)
LOW32 = np.uint64(0xFFFFFFFF)


def fmix64(k):
    """murmur3's finaliser: spreads packed keys whose high bits are mostly zero."""
    k ^= k >> S33
    k *= M1
    k ^= k >> S33
    k *= M2
    k ^= k >> S33
    return k


def pack_id(lo, hi, w, bits):
    """The 96-bit key ``(lo, hi)`` with word id ``w`` shifted in at the bottom."""
    b = np.uint64(bits)
    hi = (hi << b) | (lo >> np.uint64(64 - bits))
    lo = (lo << b) | np.uint64(w)
    return lo, hi


def hash_id(lo, w):
    """The 64-bit hash key of an n-gram too long to pack, extended by word id ``w``."""
    return fmix64((lo ^ np.uint64(w)) * PRIME + MUL)


def home_slot(lo, hi, last):
    """Where the key ``(lo, hi)`` starts probing in a table of ``last + 1`` slots (any
    size below 2**32): the top 32 bits of its hash scaled to the size (Lemire's
    multiply-shift, one multiply where a power-of-two size would take a mask)."""
    h = fmix64(lo ^ (hi * MUL)) >> S32
    return np.int64((h * np.uint64(last + 1)) >> S32)


def next_slot(slot, last):
    """The slot after ``slot`` in a table whose last slot is ``last`` (linear probing)."""
    if slot < last:
        return slot + 1
    return slot - slot


def slot_row(slots, a, lo, hi):
    """The row in the slot at word ``a`` (3 words a slot, see scoring.py): -1 if the
    slot is empty, -2 if it holds another key."""
    w = slots[a + 1]
    r = np.int64(w & LOW32) - 1
    if r >= 0 and not (slots[a] == lo and (w >> S32) == hi):
        return np.int64(-2)
    return r


def backoff_step(j, r, cb, order, ctx, slots_f, logp, bow, length, new_m):
    """One step of SRILM's ``wordProbBO`` for the ``j``-word context of a token.

    ``cb`` is that context's back-off weight, added to ``bow``; ``r`` is the
    slot (first word) of the ``(j+1)``-gram ending at the token, or -1.  A hit
    extends the carried contexts (``ctx[order + n]``, while they are unbroken)
    and, unless the row is a node without a probability (NaN), gives the
    token's probability and resets ``bow``.  Returns ``(logp, bow, length, new_m)``.
    """
    bow = np.float32(bow + cb)
    if r >= 0:
        n = j + 1
        if new_m == j:
            new_m = n
            ctx[order + n] = r
        p = slots_f[2 * (r + 2)]
        if p == p:  # not NaN
            logp = p
            bow = np.float32(0.0)
            length = n
    return logp, bow, length, new_m


def token_logprob(logp, bow, floor):
    """The token's log10 probability: ``logp + bow``, with ``floor`` for a -inf ``logp``
    (KenLM's -99, or -inf itself for SRILM's bookkeeping, which ignores ``bow``)."""
    if logp == -np.inf:
        logp = floor
    if logp == -np.inf:
        return np.float32(-np.inf)
    return np.float32(logp + bow)


def tally_token(v, is_unk, acc, acc32, n_oov, n_zero):
    """Add one token's score ``v`` to a sentence's totals, SRILM's ``-ppl`` way: a -inf
    is an OOV (``<unk>``) or a zeroprob and is left out of the sums; the others are
    summed in double (SRILM) and in float32 (as KenLM adds them)."""
    if v == -np.inf:
        if is_unk:
            n_oov += 1
        else:
            n_zero += 1
    else:
        acc += v
        acc32 = np.float32(acc32 + v)
    return acc, acc32, n_oov, n_zero


_FUNCS = (fmix64, pack_id, hash_id, home_slot, next_slot, slot_row, backoff_step, token_logprob,
          tally_token)


def compiled(jit):
    """``{name: function}``: these functions compiled by ``jit``, each calling the others'
    compiled versions.  Bind them to plain names before use: kernels cannot look up
    attributes or dict items at compile time."""
    scope = dict(globals())
    for f in _FUNCS:
        plain = types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__)
        scope[f.__name__] = jit(plain)
    return {f.__name__: scope[f.__name__] for f in _FUNCS}
