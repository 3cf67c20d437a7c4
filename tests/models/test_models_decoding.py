"""Batched beam search against exhaustive search over a toy decoder with known probabilities."""
import itertools

import numpy as np
import pytest

from nlpkit.models.decoding import beam_search, length_penalty, log_softmax

BOS, EOS, V = 0, 1, 5


class MarkovNet:
    """A decoder whose next-token logits depend on the source's table and the last token."""

    def __init__(self, tables):
        self.tables = tables  # (n_src, V, V): logits[prev] for each source

    def start(self, src, src_lengths):
        return {"src": np.arange(len(src_lengths))}

    def step(self, state, prev):
        return self.tables[state["src"], prev], state

    def reorder(self, state, rows):
        state["src"] = state["src"][rows]
        return state


def best_by_enumeration(table, max_len, alpha):
    lp = log_softmax(table, banned=(BOS,))
    best, best_seq = -np.inf, None
    for n in range(1, max_len + 1):  # n output tokens, then </s>
        for seq in itertools.product(range(2, V), repeat=n):
            path = (BOS,) + seq
            score = sum(lp[a, b] for a, b in zip(path, path[1:])) + lp[path[-1], EOS]
            score /= length_penalty(n + 1, alpha)
            if score > best:
                best, best_seq = score, list(seq)
    return best_seq


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_wide_beam_finds_the_best_sequence_for_every_source_of_a_batch(alpha):
    rng = np.random.default_rng(0)
    tables = rng.normal(0, 2, (6, V, V))
    net = MarkovNet(tables)
    src_lengths = np.full(6, 3)
    max_len = 4
    out = beam_search(net, np.zeros((6, 3), np.int64), src_lengths, 64, max_len, BOS, EOS,
                      alpha, banned=(BOS,))
    assert out == [best_by_enumeration(t, max_len, alpha) for t in tables]
    # each source as it would be decoded alone
    for s in range(6):
        alone = beam_search(MarkovNet(tables[s:s + 1]), np.zeros((1, 3), np.int64),
                            src_lengths[:1], 64, max_len, BOS, EOS, alpha, banned=(BOS,))
        assert alone == out[s:s + 1]


def test_greedy_is_beam_one_and_never_empty():
    rng = np.random.default_rng(1)
    tables = rng.normal(0, 2, (3, V, V))
    tables[:, BOS, EOS] = 50.0  # </s> first would win, but no output is empty
    out = beam_search(MarkovNet(tables), np.zeros((3, 2), np.int64), np.full(3, 2), 1, 6,
                      BOS, EOS, banned=(BOS,))
    for t, seq in zip(tables, out):
        assert seq, "an empty output"
        lp = log_softmax(t, banned=(BOS,))
        prev, want = BOS, []
        for step in range(6):
            z = lp[prev].copy()
            if step == 0:
                z[EOS] = -np.inf
            tok = int(z.argmax())
            if tok == EOS:
                break
            want.append(tok)
            prev = tok
        assert seq == want
