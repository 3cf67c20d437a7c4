"""CUDA twin of :func:`nlpkit.embed.sgns.train_block_cpu` (skip-gram, CBOW, fastText).

Skip-gram draws its negatives per pair (the CPU's shared-negatives variant is
a cache optimisation with no use here); fastText redraws a negative equal to
the target and adds each context word's gradient to the centre's subword rows
and to their mean, as the tool does (the CPU kernel moves the mean the same way
and gives the rows the window's sum at once).

Each GPU thread takes whole chunks of sentences (grid-stride), exactly as a CPU
thread does, and updates the shared matrices without locks (Hogwild).  The chunks
come in the CPU's order, with the CPU's learning rates (the corpus in as many slices
as the CPU has threads, :func:`nlpkit.embed.trainer.thread_slices`); the chunks of one
kernel call run at once on the GPU, where the CPU's threads take them a few at a time.  Random
numbers come from per-thread xoroshiro128p states (numba.cuda.random); each
thread keeps its scratch rows in global arrays indexed by its thread id.  The
kernel is compiled lazily, on first use: importing this module needs no GPU.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from .. import backend


@functools.lru_cache(maxsize=1)
def _kernel():
    backend.get_cuda()
    from numba.cuda.random import xoroshiro128p_uniform_float32 as uniform

    @cuda.jit(device=True)
    def neg_update(h, syn1, target, label, alpha, neu1e, sig, logsig, max_exp):
        dim = h.shape[0]
        f = 0.0
        for k in range(dim):
            f += h[k] * syn1[target, k]
        size = sig.shape[0]
        if f >= max_exp:
            g = (label - 1.0) * alpha
            idx = size - 1
        elif f <= -max_exp:
            g = label * alpha
            idx = 0
        else:
            idx = int((f + max_exp) * (size / max_exp / 2.0))
            if idx >= size:
                idx = size - 1
            g = (label - sig[idx]) * alpha
        for k in range(dim):
            neu1e[k] += g * syn1[target, k]
        for k in range(dim):
            syn1[target, k] += g * h[k]
        return logsig[idx] if label > 0.5 else logsig[size - 1 - idx]

    @cuda.jit(device=True)
    def draw(table, states, tid):
        tsize = table.shape[0]
        return table[min(int(uniform(states, tid) * tsize), tsize - 1)]

    @cuda.jit
    def train(kind, syn0, syn1, ids, offsets, chunks, order, chunk_pos, chunk_scale, j0, j1,
              keep, table, window, negative, alpha0, min_alpha, base_words, total_words, sig,
              logsig, max_exp, sub_offsets, sub_ids, bufs, neu1s, neu1es, states, out_loss,
              out_pairs):
        tid = cuda.grid(1)
        stride = cuda.gridsize(1)
        dim = syn0.shape[1]
        buf = bufs[tid]
        neu1 = neu1s[tid]
        neu1e = neu1es[tid]
        for step in range(j0 + tid, j1, stride):
            c = order[step]
            loss = 0.0
            pairs = 0
            done = base_words + chunk_pos[c]
            for s in range(chunks[c], chunks[c + 1]):
                start, end = offsets[s], offsets[s + 1]
                alpha = alpha0 - (alpha0 - min_alpha) * (done / total_words)
                if alpha < min_alpha:
                    alpha = min_alpha
                done += (end - start) * chunk_scale[c]
                n = 0
                for p in range(start, end):
                    w = ids[p]
                    if keep[w] < 1.0 and keep[w] < uniform(states, tid):
                        continue
                    buf[n] = w
                    n += 1
                for i in range(n):
                    b = int(uniform(states, tid) * window)
                    if b >= window:
                        b = window - 1
                    lo = max(0, i - window + b)
                    hi = min(n, i + window + 1 - b)
                    centre = buf[i]
                    if kind == 1:
                        cw = hi - lo - 1
                        if cw <= 0:
                            continue
                        for k in range(dim):
                            neu1[k] = 0.0
                            neu1e[k] = 0.0
                        for j in range(lo, hi):
                            if j != i:
                                for k in range(dim):
                                    neu1[k] += syn0[buf[j], k]
                        for k in range(dim):
                            neu1[k] /= cw
                        loss += neg_update(neu1, syn1, centre, 1.0, alpha, neu1e, sig, logsig,
                                           max_exp)
                        for d in range(negative):
                            t = draw(table, states, tid)
                            if t != centre:
                                loss += neg_update(neu1, syn1, t, 0.0, alpha, neu1e, sig,
                                                   logsig, max_exp)
                        for j in range(lo, hi):
                            if j != i:
                                for k in range(dim):
                                    syn0[buf[j], k] += neu1e[k]
                        pairs += 1
                    elif kind == 2:
                        if hi - lo <= 1:
                            continue
                        r0, r1 = sub_offsets[centre], sub_offsets[centre + 1]
                        for k in range(dim):
                            neu1[k] = 0.0
                            neu1e[k] = 0.0
                        for r in range(r0, r1):
                            for k in range(dim):
                                neu1[k] += syn0[sub_ids[r], k]
                        for k in range(dim):
                            neu1[k] /= r1 - r0
                        for j in range(lo, hi):
                            if j == i:
                                continue
                            ctx = buf[j]
                            for k in range(dim):
                                neu1e[k] = 0.0
                            loss += neg_update(neu1, syn1, ctx, 1.0, alpha, neu1e, sig, logsig,
                                               max_exp)
                            for d in range(negative):
                                t = draw(table, states, tid)
                                tries = 0
                                while t == ctx and tries < 16:
                                    t = draw(table, states, tid)
                                    tries += 1
                                if t != ctx:
                                    loss += neg_update(neu1, syn1, t, 0.0, alpha, neu1e, sig,
                                                       logsig, max_exp)
                            pairs += 1
                            # fastText: the context word's gradient goes to every row of the
                            # centre, which moves their mean by as much
                            for k in range(dim):
                                neu1[k] += neu1e[k]
                            for r in range(r0, r1):
                                for k in range(dim):
                                    syn0[sub_ids[r], k] += neu1e[k]
                    else:
                        for j in range(lo, hi):
                            if j == i:
                                continue
                            ctx = buf[j]
                            h = syn0[ctx]
                            for k in range(dim):
                                neu1e[k] = 0.0
                            loss += neg_update(h, syn1, centre, 1.0, alpha, neu1e, sig, logsig,
                                               max_exp)
                            for d in range(negative):
                                t = draw(table, states, tid)
                                if t != centre:
                                    loss += neg_update(h, syn1, t, 0.0, alpha, neu1e, sig,
                                                       logsig, max_exp)
                            for k in range(dim):
                                syn0[ctx, k] += neu1e[k]
                            pairs += 1
            out_loss[step - j0] = loss
            out_pairs[step - j0] = pairs

    return train


class CudaTrainer:
    """Keeps the matrices and the corpus on the device across kernel calls."""

    def __init__(self, syn0, syn1, ids, offsets, chunks, schedule, keep, table, sig, logsig,
                 max_len, seed, sub_offsets, sub_ids):
        from numba.cuda.random import create_xoroshiro128p_states
        backend.get_cuda()
        self.host0, self.host1 = syn0, syn1
        to = cuda.to_device
        self.syn0, self.syn1 = to(syn0), to(syn1)
        self.ids, self.offsets, self.chunks = to(ids), to(offsets), to(chunks)
        self.schedule = tuple(to(a) for a in schedule)
        self.keep, self.table, self.sig, self.logsig = to(keep), to(table), to(sig), to(logsig)
        self.sub_offsets, self.sub_ids = to(sub_offsets), to(sub_ids)
        self.blocks, self.threads = backend.cuda_grid(chunks.shape[0] - 1, threads_per_block=64)
        n = self.blocks * self.threads
        dim = syn0.shape[1]
        self.bufs = cuda.device_array((n, max(max_len, 1)), np.int32)
        self.neu1s = cuda.device_array((n, dim), np.float32)
        self.neu1es = cuda.device_array((n, dim), np.float32)
        self.states = create_xoroshiro128p_states(n, seed=int(seed))

    def block(self, kind, j0, j1, window, negative, alpha, min_alpha, base_words, total, max_exp,
              out_loss, out_pairs):
        d_loss = cuda.to_device(np.zeros(j1 - j0, np.float64))
        d_pairs = cuda.to_device(np.zeros(j1 - j0, np.int64))
        _kernel()[self.blocks, self.threads](
            kind, self.syn0, self.syn1, self.ids, self.offsets, self.chunks, *self.schedule, j0,
            j1, self.keep,
            self.table, window, negative, np.float32(alpha), np.float32(min_alpha), base_words,
            total, self.sig, self.logsig, np.float32(max_exp), self.sub_offsets, self.sub_ids,
            self.bufs, self.neu1s, self.neu1es, self.states, d_loss, d_pairs)
        out_loss[:j1 - j0] = d_loss.copy_to_host()
        out_pairs[:j1 - j0] = d_pairs.copy_to_host()

    def finish(self):
        self.host0[:] = self.syn0.copy_to_host()
        self.host1[:] = self.syn1.copy_to_host()
