"""The documentation builds with warnings as errors (issue 21: "the docs build with -W in CI").

``pytest -m docs`` runs only this.  The build is the one README gives,
``sphinx-build -W -b html docs docs/_build/html``, into a temporary folder: the API reference
from the docstrings, the CLI reference from the click group, and the gallery, whose scripts
run on the bundled corpora (nothing is downloaded).
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.docs
@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    out = tmp_path / "html"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, (
        f"sphinx-build -W failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
    # every part of the site was built, and the gallery's examples ran
    for page in ("index.html", "cli.html", "guide/ngram.html", "development.html",
                 "api/generated/nlpkit.ngram.lm.NGramLM.html",
                 "api/generated/nlpkit.models.classifier.TextClassifier.html",
                 "auto_examples/index.html"):
        assert (out / page).is_file(), page
    cli = (out / "cli.html").read_text(encoding="utf-8")
    for anchor in ("nlpkit-ngram-build", "cmdoption-nlpkit-ngram-build-scheduler",
                   "nlpkit-embed-train", "nlpkit-seq2seq-predict"):
        assert f'id="{anchor}"' in cli, anchor  # sections and options made from click
    ngram = (out / "auto_examples" / "plot_ngram_kjv.html").read_text(encoding="utf-8")
    assert "perplexity" in ngram and "reloaded" in ngram  # the script's printed output
