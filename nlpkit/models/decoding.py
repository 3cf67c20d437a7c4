"""Greedy and beam-search decoding of encoder-decoder networks, batched.

Every source of a batch and every hypothesis of its beam advance together: one decoder
call per output step over all of them (a transformer decoder reads its cached keys and
values, so a step costs one position).  The network gives three methods:

* ``start(src, src_lengths) -> state`` (the encoder's work, once),
* ``step(state, prev) -> (logits (R, V), state)``: the next-token logits of every row
  (hypothesis) given its last token ``prev`` (R,),
* ``reorder(state, rows) -> state``: keep the rows ``rows`` (hypotheses that survive, in
  their new order; finished sources drop out of the batch).

Hypotheses are ranked by their log-probability divided by GNMT's length penalty
(Wu et al. 2016): ``lp(Y) = ((5 + |Y|) / 6) ** alpha``, |Y| counting the output tokens
and ``</s>``; ``alpha = 0`` ranks by the log-probability alone (which favours short
outputs).  As in fairseq, the ``2k`` best extensions of a source's ``k`` hypotheses are
read in order: an ``</s>`` among the first ``k`` finishes a hypothesis, the others give
the next beam, and no output is empty (``</s>`` cannot come first; training targets
never are).  A source is done when no open hypothesis can still rank above the best
finished one (its log-probability can only fall, and the penalty's divisor is largest at
the length limit), when ``k`` have finished and the best open one ranks, at its present
length, below the ``k``-th best finished one (Hugging Face's rule), or at its length limit
(where ``</s>`` ends every open hypothesis).  ``k = 1`` is greedy decoding.
"""
from __future__ import annotations

import numpy as np


def length_penalty(length, alpha):
    """GNMT's ``((5 + length) / 6) ** alpha``."""
    return ((5.0 + length) / 6.0) ** alpha


def log_softmax(logits, banned=()):
    """Row-wise log-softmax in float64 of a host array, ``banned`` columns at -inf."""
    z = np.asarray(logits, np.float64).copy()
    if len(banned):
        z[:, list(banned)] = -np.inf
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def beam_search(net, src, src_lengths, beam, max_lengths, bos, eos, alpha=0.0, banned=()):
    """The best output (token ids, without ``</s>``) for each source of the batch.

    ``max_lengths`` (per source, or one int): the most output tokens before ``</s>``."""
    n_src = len(src_lengths)
    max_lengths = np.broadcast_to(np.asarray(max_lengths, np.int64), (n_src,))
    state = net.start(src, src_lengths)
    # the open hypotheses, row by row: (source, tokens, log-probability)
    rows = [(s, [], 0.0) for s in range(n_src)]
    finished = [[] for _ in range(n_src)]  # (normalised score, tokens)
    best_done = np.full(n_src, -np.inf)
    prev = np.full(n_src, bos, np.int64)
    t = 0
    while rows:
        logits, state = net.step(state, prev)
        lp = log_softmax(logits, tuple(banned) + ((eos,) if t == 0 else ()))
        t += 1
        keep, new_rows = [], []
        start = 0
        while start < len(rows):
            s = rows[start][0]
            stop = start
            while stop < len(rows) and rows[stop][0] == s:
                stop += 1
            if len(rows[start][1]) >= max_lengths[s]:  # at the limit: only </s> may follow
                for seq_row in range(start, stop):
                    _, seq, score = rows[seq_row]
                    score += lp[seq_row, eos]
                    finished[s].append((score / length_penalty(len(seq) + 1, alpha), seq))
                start = stop
                continue
            cand = lp[start:stop] + np.array([r[2] for r in rows[start:stop]])[:, None]
            flat = cand.ravel()
            n_best = min(2 * beam, flat.size)
            top = np.argpartition(-flat, n_best - 1)[:n_best]
            top = top[np.argsort(-flat[top], kind="stable")]
            opened = []
            for rank, j in enumerate(top):
                r, tok = divmod(int(j), lp.shape[1])
                score = float(flat[j])
                if score == -np.inf:
                    break
                seq = rows[start + r][1]
                if tok == eos:
                    if rank < beam:
                        norm = score / length_penalty(len(seq) + 1, alpha)
                        finished[s].append((norm, seq))
                        best_done[s] = max(best_done[s], norm)
                elif len(opened) < beam:
                    opened.append((start + r, seq + [tok], score))
            done = not opened
            if not done and best_done[s] > -np.inf:
                best_open = opened[0][2]
                bound = best_open / length_penalty(max_lengths[s] + 1, alpha) \
                    if alpha > 0 else best_open
                done = bound <= best_done[s]
                if not done and len(finished[s]) >= beam:
                    kth = sorted(f[0] for f in finished[s])[-beam]
                    done = best_open / length_penalty(len(opened[0][1]), alpha) <= kth
            if not done:
                for row, seq, score in opened:
                    keep.append(row)
                    new_rows.append((s, seq, score))
            start = stop
        rows = new_rows
        if rows:
            state = net.reorder(state, np.asarray(keep, np.int64))
            prev = np.array([seq[-1] for _, seq, _ in rows], np.int64)
    return [max(f, key=lambda p: p[0])[1] if f else [] for f in finished]
