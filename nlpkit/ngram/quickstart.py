"""The n-gram step of ``nlpkit quickstart``: a Katz 3-gram model of the bundled KJV corpus."""
from __future__ import annotations

import os
import time

from .. import corpora


def quickstart_step(outdir, echo):
    """Build SRILM's default 3-gram model on KJV train, write it as ARPA, report test perplexity."""
    from . import build
    from .formats.arpa_srilm import write_arpa
    from .scoring.scorer import NGramScorer
    from ..text import iter_lines

    t = time.perf_counter()
    model = build(corpora.path("kjv", "train"), 3)
    path = os.path.join(outdir, "kjv.3gram.arpa.gz")
    write_arpa(model, path)
    built = time.perf_counter() - t
    counts = ", ".join(f"{c} {n + 1}-grams" for n, c in enumerate(model.counts()))
    echo(f"  built {counts} in {built:.1f} s -> {path}")
    scorer = NGramScorer(model)
    stats = scorer.perplexity_stats(iter_lines(corpora.path("kjv", "test")))
    echo("  " + stats.srilm_lines("kjv test").replace("\n", "\n  "))
    echo(f"  sample: {scorer.sample(1, seed=1)[0]}")
    return f"3-gram Katz model -> {path}; test perplexity {stats.ppl:.2f}"
