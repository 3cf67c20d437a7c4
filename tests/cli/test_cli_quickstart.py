from click.testing import CliRunner

from nlpkit.cli import quickstart as qs
from nlpkit.cli.main import cli
from nlpkit.text import Vocabulary


def test_quickstart_corpus_step_writes_its_outputs(tmp_path, monkeypatch):
    # The model steps have tests of their own; here the command's frame and the corpus step.
    monkeypatch.setattr(qs, "STEPS", [])
    out = tmp_path / "qs"
    r = CliRunner().invoke(cli, ["quickstart", "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "corpus and vocabulary: vocabulary of 12678 entries" in r.output
    v = Vocabulary.load(out / "kjv.vocab")
    assert len(v) == 12678 and v.itos[3] == "the"


def test_quickstart_lists_the_steps_that_exist():
    titles = [t for t, _ in qs._available_steps()]
    assert titles[0] == "corpus and vocabulary"
    assert set(titles) <= {"corpus and vocabulary", "n-gram language model", "word embeddings",
                           "neural model"}
