"""Helpers shared by the n-gram tests (model surgery: pruning, mixing; the pipeline's
builds)."""
import random

import numpy as np
import pytest

from nlpkit.ngram.editing.index import ModelIndex


def context_sums(model):
    """For every context h, the sum over every predictable word of p(w | h), per order.

    Order 1: the unigram probabilities summed (<s>, never predicted, left out).  A row h
    of order n: the explicit p(hw) plus bow(h) times the mass its back-off gives the
    other words, 1 - sum p_bo(w | h') over the explicit w; that is the whole sum once
    the order below sums to one, which the same list asserts.  A row that nothing
    extends backs off with its whole weight, which must then be 1.
    """
    idx = ModelIndex(model)
    bos = model.word_id("<s>")
    predicted = model.ngrams[0][:, 0] != bos
    sums = [np.array([np.sum(10.0 ** model.logprob[0][predicted].astype(np.float64))])]
    for k in range(model.order - 1):
        above, ctx, n = model.ngrams[k + 1], idx.prefix_rows[k + 1], model.ngrams[k].shape[0]
        explicit = np.bincount(ctx, weights=10.0 ** model.logprob[k + 1].astype(np.float64),
                               minlength=n)
        lower = np.bincount(ctx, weights=10.0 ** idx.logprob(above[:, 1:k + 1], above[:, k + 1]),
                            minlength=n)
        sums.append(explicit + 10.0 ** model.backoff[k].astype(np.float64) * (1.0 - lower))
    return sums


@pytest.fixture(scope="session")
def every_context_sums_to_one():
    def check(model, tol=1e-6):
        for n, s in enumerate(context_sums(model), 1):
            worst = float(np.abs(s - 1).max()) if s.size else 0.0
            assert worst < tol, f"order-{n} contexts: a sum is off by {worst:.3g}"
    return check


@pytest.fixture(scope="session")
def noisy_kjv_lines(data_dir):
    """KJV test verses, and lines with sentence marks, pauses and <unk> mid-line (SRILM's
    fixups): a corpus that takes every branch of the Katz pipeline."""
    lines = (data_dir / "ngram" / "kjv" / "test.txt").read_text().splitlines()
    rng = random.Random(0)
    noise = ["a", "b", "c", "<s>", "</s>", "-pau-", "<unk>"]
    lines += [" ".join(rng.choice(noise) for _ in range(rng.randint(1, 8))) for _ in range(300)]
    return lines
