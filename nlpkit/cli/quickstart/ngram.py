"""The n-gram step: Katz, Kneser-Ney and stupid back-off 3-gram models of the KJV verses, the
Katz model pruned, and a mixture of two Katz models (one of each half of the Bible) with its
weights chosen on held-out verses; perplexities on the test verses."""
from __future__ import annotations

from ..svg import bar_chart
from .text import test_lines, train_lines

ORDER = 3
PRUNE = 1e-6  # relative entropy threshold (SRILM -prune): about a third of the n-grams go


def ngram_step(run):
    from ...ngram import build
    from ...ngram.editing.mix import best_mix, mix_perplexity
    from ...ngram.editing.prune import prune_entropy
    from ...ngram.formats.arpa_srilm import write_arpa
    from ...ngram.scoring.scorer import NGramScorer

    train = train_lines(run.n["ngram_lines"])
    test = test_lines()
    ppl = {}

    def report(family, model, what="test perplexity", note=""):
        stats = NGramScorer(model).perplexity_stats(test)
        ppl[family.split(" (")[0]] = stats.ppl
        counts = "+".join(str(c) for c in model.counts())
        run.row(family, what, f"{stats.ppl:.2f}",
                f"{counts} n-grams; {stats.oovs} OOVs of {stats.words} test words{note}")
        return stats

    katz = build(train, ORDER, "katz")
    path = run.path("kjv.katz3.arpa.gz")
    write_arpa(katz, path)
    report("Katz 3-gram (SRILM)", katz, note=f" -> {path}")
    kn = build(train, ORDER, "kn", discount_fallback=True)
    report("Kneser-Ney 3-gram (KenLM)", kn)
    stupid = build(train, ORDER, "stupid")
    report("stupid back-off 3-gram", stupid, "test score-perplexity",
           " (scores, not probabilities: not a perplexity)")
    pruned = prune_entropy(katz, PRUNE)
    report("pruned Katz 3-gram", pruned, note=f" (entropy pruning at {PRUNE:g}, of "
           f"{sum(katz.counts())})")
    every = max(2, len(train) // run.n["heldout"])  # every k-th verse held out, to mix with
    heldout = train[every - 1::every]
    rest = [line for i, line in enumerate(train) if i % every != every - 1]
    half = len(rest) // 2
    parts = [build(rest[:half], ORDER, "katz"), build(rest[half:], ORDER, "katz")]
    alone = [NGramScorer(m).perplexity_stats(test).ppl for m in parts]
    weights, _ = best_mix(parts, heldout)
    mixed = mix_perplexity(parts, weights, test)
    ppl["mixture of two Katz"] = mixed["ppl"]
    run.row("mixture of two Katz 3-grams", "test perplexity", f"{mixed['ppl']:.2f}",
            f"Katz models of the first and the second half of the training verses less the "
            f"held-out ones "
            f"(perplexity {alone[0]:.1f} and {alone[1]:.1f} alone), weights {weights[0]:.3f} "
            f"and {weights[1]:.3f} chosen by EM on {len(heldout)} held-out verses")
    run.plot("n-gram models: test perplexity", bar_chart(
        list(ppl.items()), title=f"{ORDER}-gram models on the KJV test verses",
        xlabel="perplexity (lower is better; stupid back-off: a score, not a perplexity)",
        width=560),
        "Katz and stupid back-off leave out-of-vocabulary words unscored; Kneser-Ney (as "
        "KenLM) scores them as <unk>, which raises its perplexity.")
