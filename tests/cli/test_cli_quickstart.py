"""``nlpkit quickstart``: every step at the tiny size, its report, and a failing step."""
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from nlpkit.cli import quickstart as qs
from nlpkit.cli.main import cli
from nlpkit.cli.quickstart.warm import Warmer
from nlpkit.errors import NlpkitError
from nlpkit.models.io import load_model
from nlpkit.text import Vocabulary

VOID = {"meta", "br", "img", "hr", "link", "input"}


class Page(HTMLParser):
    """Checks that every element is closed in order; collects the rows of the table."""

    def __init__(self):
        super().__init__()
        self.stack, self.rows, self.row, self.cell, self.tags = [], [], None, None, []
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href")]
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "tr":
            self.row = {"class": dict(attrs).get("class"), "cells": []}
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
        if tag in ("td", "th"):
            self.row["cells"].append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.rows.append(self.row)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def families():
    return [f for _, _, fams in qs.STEPS for f in fams]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "out"
    r = CliRunner().invoke(cli, ["quickstart", "-o", str(out), "--size", "tiny"],
                           catch_exceptions=False)
    return out, r


def test_every_family_runs_and_has_a_row_in_the_report(tiny):
    out, r = tiny
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    page = Page()
    page.feed(html)
    page.close()
    assert page.stack == [] and page.tags[0] == "html"
    assert page.links == [] and "<script" not in html  # self-contained: nothing fetched
    header, *rows = page.rows
    assert header["cells"][:3] == ["family", "measure", "value"]
    by_family = {row["cells"][0]: row for row in rows}
    assert list(by_family) == families()  # each family once, in the steps' order
    for name, row in by_family.items():
        assert row["class"] == "ok" and row["cells"][-1] == "ok", name
        assert re.fullmatch(r"-?\d+(\.\d+)?", row["cells"][2]), (name, row["cells"])
    # all the verses at every size: SRILM's ngram -ppl of the test verses
    assert by_family["Katz 3-gram (SRILM)"]["cells"][2] == "71.98"
    # the terminal summary: one line per family with its figure
    for name in families():
        assert re.search(rf"^  {re.escape(name)} +\S.* -?\d+(\.\d+)?$", r.output, re.MULTILINE), name


def test_the_report_holds_its_plots_as_inline_svg(tiny):
    out, _ = tiny
    html = (out / "report.html").read_text()
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    titles = [ET.fromstring(s).find("{http://www.w3.org/2000/svg}title").text for s in svgs]
    assert len(titles) == 6, titles
    assert titles[0] == "3-gram models on the KJV test verses"
    assert titles[1] == "SGNS word vectors, first two principal components"
    assert titles[2:] == list(qs.page.CURVE_GROUPS)
    ns = "{http://www.w3.org/2000/svg}"
    bars, scatter, *curves = [ET.fromstring(s) for s in svgs]
    assert len(bars.findall(f"{ns}rect")) == 5  # one bar per n-gram model
    labels = {t.text for t in scatter.iter(f"{ns}text")}
    assert {"king", "sheep", "father", "water"} <= labels
    assert [len(c.findall(f"{ns}polyline")) for c in curves] == [3, 1, 2, 2]


def test_the_outputs_are_whole_files(tiny):
    out, _ = tiny
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if ".tmp" in n], names
    assert len(Vocabulary.load(out / "kjv.vocab")) == 12678
    clf = load_model(out / "genre-finetuned.nlpkit", kind="TextClassifier")
    assert len(clf.classes_) == 8
    load_model(out / "reverse-s2s-transformer.nlpkit", kind="Seq2Seq")
    assert (out / "kjv-sgns.vec").read_text().split("\n", 1)[0].split()[1] == "64"


def test_a_failing_step_is_named_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(run):
        run.row("first family", "a figure", "1.0")
        raise KeyError("no such thing")

    monkeypatch.setattr(qs, "STEPS", [qs.STEPS[0], ("broken step", broken,
                                                    ["first family", "second family"])])
    out = tmp_path / "qs"
    r = CliRunner().invoke(cli, ["quickstart", "-o", str(out)])
    assert r.exit_code == 1
    assert "FAILED: broken step: KeyError: 'no such thing'" in r.stderr
    # (main() prints it as one "Error:" line, exit status 1)
    assert isinstance(r.exception, NlpkitError)
    assert str(r.exception).startswith("quickstart: 1 of 2 steps failed (broken step)")
    assert "corpus and vocabulary  word types 12675" in r.stdout
    assert "second family          FAILED: KeyError: 'no such thing'" in r.stdout
    page = Page()
    page.feed((out / "report.html").read_text())
    rows = {row["cells"][0]: row for row in page.rows[1:]}
    assert rows["corpus and vocabulary"]["class"] == "ok"
    assert rows["first family"]["class"] == "ok"
    assert rows["second family"]["class"] == "failed"
    assert rows["second family"]["cells"][-1] == "failed: KeyError: 'no such thing'"


def test_the_warming_process_ends_with_the_quickstart_and_leaves_no_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    warmer = Warmer(len(qs.STEPS))
    proc, folder = warmer.proc, warmer.outdir
    assert proc.poll() is None and os.path.isdir(folder)
    warmer.reached(1)
    warmer.close()  # closes its stdin: it ends at once, whatever it was compiling
    assert proc.returncode is not None
    assert list(tmp_path.iterdir()) == []


def test_a_dead_warming_process_does_not_fail_the_quickstart(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    warmer = Warmer(len(qs.STEPS))
    warmer.proc.kill()
    warmer.proc.wait()
    warmer.reached(4)  # (a broken pipe is ignored)
    warmer.reached(5)
    warmer.close()
    assert list(tmp_path.iterdir()) == []
    assert Warmer(2).proc is None  # no later step to warm: no process
