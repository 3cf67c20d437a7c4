"""
A neural text classifier
========================

Train a small convolutional :class:`~nlpkit.models.classifier.TextClassifier` to tell which
of eight genres of books a KJV verse comes from (the bundled ``kjv-genre`` corpus), and
score it on held-out verses.  It is a scikit-learn estimator: ``fit``, ``predict``,
``predict_proba`` and ``score``, in pipelines and grid searches alike.
"""
import nlpkit
from nlpkit import TextClassifier

texts, labels = nlpkit.corpora.load("kjv-genre")
test_texts, test_labels = nlpkit.corpora.load("kjv-genre", "test")
texts, labels = texts[::10], labels[::10]  # every tenth verse, to keep the example fast

clf = TextClassifier(encoder="cnn", embedding_dim=32, hidden_size=32, max_epochs=2,
                     early_stopping=False, random_state=0)
clf.fit(texts, labels)
print("classes:", ", ".join(clf.classes_))
print(f"accuracy on 1000 held-out verses: {clf.score(test_texts[:1000], test_labels[:1000]):.2f}")

# %%
# Class probabilities for a few verses.

proba = clf.predict_proba(["blessed are the meek", "in the beginning was the word"])
for row in proba:
    best = row.argmax()
    print(f"{clf.classes_[best]} ({row[best]:.2f})")
