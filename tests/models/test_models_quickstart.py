"""The neural quickstart step trains, scores and writes a loadable model."""

from nlpkit.models.io import load_model
from nlpkit.models.quickstart import quickstart_step


def test_quickstart_step(tmp_path):
    lines = []
    summary = quickstart_step(str(tmp_path), lines.append)
    clf = load_model(tmp_path / "genre-classifier.nlpkit", kind="TextClassifier")
    assert len(clf.classes_) == 8 and clf.n_epochs_ == 4
    acc = float(summary.split("test accuracy ")[1].split()[0])
    assert acc > 0.5  # the majority genre is 0.23 of the test verses
    assert any(line.startswith("  epoch 4: loss") for line in lines)
