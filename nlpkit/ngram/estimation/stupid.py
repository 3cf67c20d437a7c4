"""Stupid back-off (Brants et al. 2007), written as a back-off model.

    S(w | h) = c(h w) / c(h)           if c(h w) > 0
             = alpha * S(w | h')       otherwise (h' is h without its oldest word)
    S(w)     = c(w) / N

are *scores*, not probabilities: they are not normalised (a context's scores sum
to more than one), so a perplexity computed from them is not a perplexity.

Expressed as an ARPA back-off model: each counted n-gram's log10 probability is
log10 S of its relative frequency, and every n-gram that is a context (of order
below the model's) carries the back-off weight log10(alpha).  An ARPA scorer
(nlpkit's, KenLM's, SRILM's) then uses the n-gram's own score when it is stored
and otherwise adds the weight of each context it backs off from: stupid back-off,
with no scoring code of its own.  One difference from Brants et al.'s recursion
remains, and it is ARPA's: backing off from a context the corpus never held
costs nothing (a missing context has weight 1), where the recursion multiplies
by alpha there too: of a 3-gram model, S(b | b b) is alpha * S(b | b) here if
"b b" never occurred, alpha**2 * S(b | b) by the recursion.  The two agree
whenever every context backed off from was seen in training: always for a
2-gram model over known words; no finite ARPA file can do better, since it
would need a weight for every unseen context.

Counts and reading are SRILM's, as for Katz (the same counting stage, in
memory, spilled or on a Dask cluster).  ``<s>`` starts sentences and is never
predicted: like Katz's it gets log10 -inf (printed ``-99``) wherever it ends an
n-gram, keeps its back-off weight, and is not counted in N; N is the number of
tokens counted, ``</s>`` included.  ``c(h)`` is the sum of the counts of ``h``'s
followers, which for the counts of a corpus is ``h``'s own count (every
occurrence of a context is followed, by ``</s>`` at least).  Every other word
(``<unk>`` too, if the text or a closed vocabulary produces it) is scored like
any word; words never seen get no score of their own.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import NlpkitError
from ..counting.runs import GroupBlocks, TableWriter
from ..reading.encode import BOS_ID
from . import joins
from .katz import KatzModel, _context_nodes

ALPHA = 0.4  # Brants et al.'s choice


def check_alpha(alpha):
    """``alpha`` as a float in (0, 1] (None: :data:`ALPHA`).  1 backs off at no cost;
    above 1 a back-off could score higher than the n-gram it stands for."""
    if alpha is None:
        return ALPHA
    if isinstance(alpha, bool):
        raise NlpkitError(f"alpha must be a number in (0, 1]; got {alpha!r}")
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise NlpkitError(f"alpha must be a number in (0, 1]; got {alpha!r}") from None
    if not (0 < a <= 1):  # (NaN fails too)
        raise NlpkitError(f"alpha must be in (0, 1] (Brants et al. use 0.4); got {alpha!r}")
    return a


class StupidModel(KatzModel):
    """Stupid back-off scores as tables in SRILM's ARPA order (rank ids): a
    :class:`~.katz.KatzModel` in layout, printed as SRILM prints one, after the ``#``
    lines that mark the file unnormalised (``meta['smoothing'] == 'stupid'``)."""


def estimate(sc, vocab, *, alpha=ALPHA, plan=None) -> StupidModel:
    """Stupid back-off scores of the sorted counts ``sc`` (rank ids, counting layout
    ``(w[n-1], …, w1, wn)``, as for Katz), one streaming pass per order."""
    from ..plan import IN_MEMORY
    plan = plan or IN_MEMORY
    alpha = check_alpha(alpha)
    N = sc.order
    W = len(vocab)
    bos = int(vocab.rank[BOS_ID])
    bow = np.float32(math.log10(alpha))
    uni_lp = unigram_scores(sc.uni_count, bos)
    uni_bow = np.full(W, bow, np.float32)
    uni_node = np.zeros(W, np.bool_)
    tables, bows = [], []
    counts = [int(np.count_nonzero(uni_lp == uni_lp))]
    for n in range(2, N + 1):
        y, b, rows = _order_pass(sc.table(n), n, bos, bow, uni_node, plan)
        sc.table(n).drop_columns(["count"])
        tables.append(y)
        bows.append(b)
        counts.append(rows)
    nodes = _context_nodes(bows, tables, uni_node, N, W, plan)
    return StupidModel(vocab, N, uni_lp, uni_bow, uni_node, tables, nodes, {}, counts,
                       meta={"smoothing": "stupid", "alpha": alpha})


def unigram_scores(uni_count, bos):
    """log10 S(w) of every word (dense by rank; NaN: never seen)."""
    count = uni_count.astype(np.int64)
    total = int(count.sum() - count[bos])
    if total <= 0:
        raise NlpkitError("stupid back-off: the counts hold no word to score")
    uni_lp = np.full(count.shape[0], np.nan, np.float32)
    seen = count > 0
    with np.errstate(divide="ignore"):
        uni_lp[seen] = np.log10(count[seen] / total).astype(np.float32)
    uni_lp[bos] = -np.inf  # never predicted, listed (as SRILM lists it) for its weight
    return uni_lp


def scores(words, c, n, bos):
    """log10 c(h w) / c(h) of rows ``words`` (order n, counting layout, whole context
    groups) with counts ``c`` (int64); and the row where each context group starts."""
    ends = joins.group_ends(words, 0, words.shape[0], n - 1)
    starts = np.r_[0, ends[:-1]]
    ctx_total = np.add.reduceat(c, starts)
    denom = np.repeat(ctx_total, ends - starts)
    lp = np.log10(c / denom).astype(np.float32)
    lp[words[:, n - 1] == bos] = -np.inf
    return lp, starts


def _order_pass(table, n, bos, bow, uni_node, plan):
    """Order ``n``: every row's log10 relative frequency in its context (rows grouped by
    context), and the contexts (order n-1, suffix layout) with weight ``bow``."""
    space, block = plan.space_for_tables(), plan.block_rows
    yw = TableWriter({"words": (np.int32, (n,)), "lp": (np.float32, ())}, space,
                     stem=f"stupid{n}", capacity=len(table), shared=("words",))
    bw = TableWriter({"words": (np.int32, (n - 1,)), "bow": (np.float32, ())}, space,
                     stem=f"sbow{n - 1}", capacity=len(table)) if n > 2 else None
    rows = 0
    for blk, _final in GroupBlocks(table, ["words", "count"], n - 1, block):
        words, c = blk["words"], blk["count"].astype(np.int64)
        if words.shape[0] == 0:
            continue
        lp, starts = scores(words, c, n, bos)
        if (c <= 0).any():  # (a count file may list n-grams it never counted)
            keep = c > 0
            yw.append(words=words[keep], lp=lp[keep])
            rows += int(keep.sum())
        else:
            yw.append(words=words, lp=lp)
            rows += words.shape[0]
        ctx = words[starts, :n - 1]  # suffix layout: the context's newest word first
        if n == 2:
            uni_node[ctx[:, 0]] = True
        else:
            bw.append(words=ctx, bow=np.full(ctx.shape[0], bow, np.float32))
    return yw.close(), (bw.close() if bw is not None else None), rows
