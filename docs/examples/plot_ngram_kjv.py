"""
N-gram language models on the King James Bible
==============================================

Build a Katz (SRILM's default) and a modified Kneser-Ney (lmplz's) trigram model on part of
the bundled KJV corpus, compare their perplexities on held-out verses, and save one as an
ARPA file that SRILM and KenLM load.
"""
import os
import tempfile

import nlpkit
from nlpkit import NGramLM

verses = nlpkit.corpora.load("kjv", "test")  # a list of sentences, one verse each
train, held_out = verses[:500], verses[500:]
print(f"{len(train)} training verses, {len(held_out)} held out")
print(train[0])

# %%
# Katz back-off with Good-Turing discounts, exactly as ``ngram-count`` computes it by default,
# and interpolated modified Kneser-Ney as ``lmplz`` computes it.

katz = NGramLM(order=3).fit(train)
kn = NGramLM(order=3, smoothing="kn").fit(train)
for name, lm in (("katz", katz), ("kn", kn)):
    print(f"{name}: perplexity {lm.perplexity(held_out):.1f}")

# %%
# ``score`` is scikit-learn's "higher is better" figure, the mean log10 probability per
# scored token (``-log10(perplexity)``); ``transform`` turns documents into features for a
# pipeline: [log10 probability, perplexity, OOV rate] per document; ``sample`` draws
# sentences from the model.

print(f"score {kn.score(held_out):.3f}")
print(kn.transform(held_out[:3]))
print(katz.sample(2, seed=1))

# %%
# Models are saved as ARPA files (optionally gzipped) and read back.

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "kjv3.arpa.gz")
    kn.to_arpa(path)
    again = NGramLM.from_arpa(path)
    print(f"reloaded: perplexity {again.perplexity(held_out):.1f}")
