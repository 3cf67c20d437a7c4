"""CUDA twin of the batch scoring kernels in ``kernels.py`` (same tables, same results).

One thread scores one sentence (grid-stride loop); ``<s>``/``</s>`` are added
virtually, and the carried context rows live in a small local array.  The
kernels are compiled lazily on first use, so importing this module needs no
GPU.  Hash arithmetic uses explicit ``np.uint64`` values (the simulator wraps
only NumPy integers).
"""
import functools
import math

import numpy as np

from ... import backend
from .scalar import FNV0, compiled

MAX_ORDER = 16
cuda = None  # numba.cuda, set on first use; a module global so the simulator can swap it


@functools.lru_cache(maxsize=1)
def _kernels():
    global cuda
    cuda = backend.get_cuda()
    M = compiled(cuda.jit(device=True))  # the scalar math shared with scoring.py
    pack_id, hash_id, home_slot, next_slot = (M["pack_id"], M["hash_id"], M["home_slot"],
                                              M["next_slot"])
    backoff_step, token_logprob, slot_row = M["backoff_step"], M["token_logprob"], M["slot_row"]
    tally_token = M["tally_token"]
    CTX = 2 * MAX_ORDER + 2

    @cuda.jit(device=True)
    def tok(ids, a, p, L, bos, eos, bos_id, eos_id):
        # token p of the virtual sequence [<s>] ids[a:b] [</s>]
        if bos and p == 0:
            return bos_id
        if eos and p == L - 1:
            return eos_id
        return ids[a + p - (1 if bos else 0)]

    @cuda.jit(device=True)
    def find(slots, t0, mask, grams, g0, ids, a, L, bos, eos, bos_id, eos_id, start, n, bits,
             packed):
        lo = np.uint64(0)
        hi = np.uint64(0)
        if packed:
            for t in range(n):
                lo, hi = pack_id(lo, hi, tok(ids, a, start + t, L, bos, eos, bos_id, eos_id),
                                 bits)
        else:
            lo = FNV0
            for t in range(n):
                lo = hash_id(lo, tok(ids, a, start + t, L, bos, eos, bos_id, eos_id))
        slot = home_slot(lo, hi, mask)
        while True:
            p = 3 * (t0 + slot)
            r = slot_row(slots, p, lo, hi)
            if r == -1:
                return -1
            if r >= 0:
                same = True
                if not packed:
                    for t in range(n):
                        if grams[g0 + r * n + t] != tok(ids, a, start + t, L, bos, eos, bos_id,
                                                        eos_id):
                            same = False
                            break
                if same:
                    return p
            slot = next_slot(slot, mask)

    @cuda.jit(device=True)
    def score_one(s, ids, offsets, bos, eos, bos_id, eos_id, order, uni, slots,
                  slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits, packed_upto,
                  floor, out_lp, out_len, o0, unk_id, sums):
        ctx = cuda.local.array(CTX, dtype=np.int32)
        a = offsets[s]
        L = offsets[s + 1] - a + (1 if bos else 0) + (1 if eos else 0)
        first = 1 if bos else 0
        m = 1 if first > 0 else 0
        acc = np.float64(0.0)
        acc32 = np.float32(0.0)
        n_oov = 0
        n_zero = 0
        for i in range(first, L):
            w = tok(ids, a, i, L, bos, eos, bos_id, eos_id)
            logp = uni[2 * w]
            bow = np.float32(0.0)
            length = 1
            new_m = 1
            kmax = min(m, order - 1)
            for j in range(1, kmax + 1):
                if j == 1:
                    cb = uni[2 * tok(ids, a, i - 1, L, bos, eos, bos_id, eos_id) + 1]
                else:
                    cb = slots_f[2 * (ctx[j] + 2) + 1]
                n = j + 1
                r = find(slots, tab_off[n], tab_mask[n], grams, gram_off[n], ids, a, L, bos,
                         eos, bos_id, eos_id, i - j, n, bits, n <= packed_upto)
                logp, bow, length, new_m = backoff_step(j, r, cb, order, ctx, slots_f, logp,
                                                        bow, length, new_m)
            v = token_logprob(logp, bow, floor)
            acc, acc32, n_oov, n_zero = tally_token(v, w == unk_id, acc, acc32, n_oov, n_zero)
            if o0 >= 0:
                out_lp[o0 + i - first] = v
                out_len[o0 + i - first] = length
            for j in range(2, new_m + 1):
                ctx[j] = ctx[order + j]
            m = new_m
        sums[0] = acc if floor == -math.inf else np.float64(acc32)
        sums[1] = n_oov
        sums[2] = n_zero

    @cuda.jit
    def tokens_kernel(ids, offsets, bos, eos, bos_id, eos_id, order, uni, slots,
                      slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits, packed_upto,
                      floor, out_off, out_lp, out_len):
        sums = cuda.local.array(3, dtype=np.float64)
        for s in range(cuda.grid(1), offsets.shape[0] - 1, cuda.gridsize(1)):
            score_one(s, ids, offsets, bos, eos, bos_id, eos_id, order, uni, slots,
                      slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits, packed_upto,
                      floor, out_lp, out_len, out_off[s], -1, sums)

    @cuda.jit
    def sentences_kernel(ids, offsets, bos, eos, bos_id, eos_id, unk_id, order, uni,
                         slots, slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits,
                         packed_upto, floor, out_lp, out_len, total, oov, zero):
        sums = cuda.local.array(3, dtype=np.float64)
        for s in range(cuda.grid(1), offsets.shape[0] - 1, cuda.gridsize(1)):
            score_one(s, ids, offsets, bos, eos, bos_id, eos_id, order, uni, slots,
                      slots_f, grams, tab_off, tab_mask, row_off, gram_off, bits, packed_upto,
                      floor, out_lp, out_len, -1, unk_id, sums)
            total[s] = sums[0]
            oov[s] = np.int32(sums[1])
            zero[s] = np.int32(sums[2])

    return tokens_kernel, sentences_kernel


def _device_args(cuda, args):
    order, *arrays, bits, packed_upto = args
    if order > MAX_ORDER:
        raise ValueError(f"the CUDA scorer handles orders up to {MAX_ORDER}")
    return (order, *[cuda.to_device(np.ascontiguousarray(a)) for a in arrays], bits, packed_upto)


def token_scores_cuda(ids, offsets, bos, eos, bos_id, eos_id, args, floor, out_off):
    """GPU twin of ``scoring.score_tokens`` (same arguments, same outputs)."""
    cuda = backend.get_cuda()
    n_sent = offsets.shape[0] - 1
    total = int(out_off[-1])
    out_lp = cuda.to_device(np.zeros(max(total, 1), dtype=np.float32))
    out_len = cuda.to_device(np.zeros(max(total, 1), dtype=np.int8))
    if n_sent:
        blocks, threads = backend.cuda_grid(n_sent)
        _kernels()[0][blocks, threads](
            cuda.to_device(ids if ids.shape[0] else np.zeros(1, np.int32)), cuda.to_device(offsets),
            bos, eos, bos_id, eos_id, *_device_args(cuda, args), floor, cuda.to_device(out_off),
            out_lp, out_len)
    return out_lp.copy_to_host()[:total], out_len.copy_to_host()[:total]


def sentence_scores_cuda(ids, offsets, bos, eos, bos_id, eos_id, unk_id, args, floor):
    """GPU twin of ``scoring.score_sentences`` (same arguments, same outputs)."""
    cuda = backend.get_cuda()
    n_sent = offsets.shape[0] - 1
    total = cuda.to_device(np.zeros(max(n_sent, 1), dtype=np.float64))
    oov = cuda.to_device(np.zeros(max(n_sent, 1), dtype=np.int32))
    zero = cuda.to_device(np.zeros(max(n_sent, 1), dtype=np.int32))
    dummy_lp = cuda.to_device(np.zeros(1, dtype=np.float32))
    dummy_len = cuda.to_device(np.zeros(1, dtype=np.int8))
    if n_sent:
        blocks, threads = backend.cuda_grid(n_sent)
        _kernels()[1][blocks, threads](
            cuda.to_device(ids if ids.shape[0] else np.zeros(1, np.int32)), cuda.to_device(offsets),
            bos, eos, bos_id, eos_id, unk_id, *_device_args(cuda, args), floor, dummy_lp,
            dummy_len, total, oov, zero)
    return (total.copy_to_host()[:n_sent], oov.copy_to_host()[:n_sent],
            zero.copy_to_host()[:n_sent])
