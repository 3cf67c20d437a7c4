"""
Word vectors with skip-gram
===========================

Train skip-gram with negative sampling (word2vec's SGNS) on the bundled KJV training
verses and ask for the nearest neighbours of a few words.  The corpus is small, so the
vectors are rough; the API is the same for a corpus of billions of words (a path is
streamed from disk).
"""
import nlpkit
from nlpkit import Word2Vec

corpus = nlpkit.corpora.path("kjv", "train")  # a gzipped file, one verse per line
model = Word2Vec(vector_size=50, window=5, min_count=5, epochs=1, seed=1).fit(corpus)
wv = model.wv
print(f"{len(wv.key_to_index)} words, {wv.vectors.shape[1]} dimensions")

# %%
# ``wv`` is a :class:`~nlpkit.embed.keyedvectors.KeyedVectors` with gensim's queries.

for word in ("king", "water"):
    neighbours = ", ".join(w for w, _ in wv.most_similar(word, topn=5))
    print(f"{word}: {neighbours}")
print(f"similarity(king, prince) = {wv.similarity('king', 'prince'):.2f}")

# %%
# As a scikit-learn transformer, the model turns documents into the mean of their words'
# vectors.

features = model.transform(["in the beginning god created the heaven and the earth"])
print(features.shape)
