"""The package list in pyproject.toml must name every package, or an install silently lacks it."""
import pathlib
import re
import tomllib

import nlpkit

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "nlpkit").rglob("__init__.py") if "__pycache__" not in p.parts}
    assert found | {"nlpkit.data"} == listed


def test_runtime_dependencies_are_the_six():
    # the brief's five, and safetensors (issue 21: model files that cannot run code)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ;\[]", d)[0] for d in deps}
    assert names == {"numba", "numpy", "scipy", "scikit-learn", "click", "safetensors"}


def test_installed_copy_has_the_corpora():
    from nlpkit import corpora
    assert pathlib.Path(corpora.path("kjv", "test")).stat().st_size > 50_000
    assert isinstance(nlpkit.__version__, str)


def test_public_names_resolve():
    for name in ("Corpus", "Vocabulary", "NGramLM", "Word2Vec", "FastText", "KeyedVectors",
                 "TextClassifier", "SequenceTagger", "NeuralLM", "Seq2Seq", "MaskedLM", "BPE",
                 "WordPiece"):
        assert isinstance(getattr(nlpkit, name), type), name


def test_docs_tools_are_in_the_test_extra():
    # CI installs the test extra and builds the documentation with -W (tests/test_docs.py)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    docs = set(extras["docs"])
    assert {re.split(r"[<>=!~ ;\[]", d)[0] for d in docs} == {
        "sphinx", "numpydoc", "sphinx-click", "sphinx-gallery"}
    assert docs <= set(extras["test"])
