"""Sphinx configuration for nlpkit's documentation.

Built with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are
errors, in CI too: tests/test_docs.py).  Nothing here reaches the network: no intersphinx,
and the gallery's examples run on the bundled corpora.
"""
import os
import re
import sys
from pathlib import Path

# document the source tree this file belongs to, not whichever nlpkit is installed
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NLPKIT_DEVICE", "cpu")  # the gallery runs on the CPU unless told otherwise

import nlpkit

project = "nlpkit"
author = "nlpkit developers"
copyright = "nlpkit developers"
release = nlpkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples/GALLERY_HEADER.rst", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
smartquotes = False  # keep "--threads" and 'quotes' in option help as typed
default_role = "code"  # `x` in a docstring is code, not a cross-reference that may not exist

# -- API reference -------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": False,
                           "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
# numpydoc: the Parameters/Returns sections render as field lists; the class pages list
# their own methods through autodoc, not numpydoc's autosummary tables (which would need
# a stub page per inherited scikit-learn method)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- gallery -------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example (they are small)
    "image_scrapers": (),  # the examples print; they draw nothing
    "abort_on_example_error": True,
    "run_stale_examples": True,  # every build shows what this version of the code prints
    "download_all_examples": False,
    "show_memory": False,
    "show_signature": False,
    "reference_url": {},
    "min_reported_time": 1e9,
}

# -- HTML ----------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"nlpkit {release}"
html_static_path = []
html_theme_options = {
    "description": "Numba-accelerated NLP: n-gram LMs, embeddings, subword tokenizers, "
                   "neural layers and models",
    "fixed_sidebar": True,
}


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing methods (set_fit_request, ...): their
    # docstrings point into scikit-learn's own glossary, and they are not nlpkit's API
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


_SECTION = re.compile(r"^\s*(Parameters|Other Parameters|Attributes|Returns|Yields|Raises)\s*$")
_HEADER_LINE = re.compile(r"^\s*-{3,}\s*$")
_PARAM = re.compile(r"^(\s*)([\w*][\w*, ]*?) : (.+)$")
_NAMES = re.compile(r"^[\w*]+( \([^)]*\))?(, [\w*]+( \([^)]*\))?)*$")  # a, b (what), c
_TYPE = re.compile(r"^(\{[^}]*\}|[A-Za-z_][\w.]*(\[[^\]]*\])?( or [A-Za-z_][\w.]*)*)"
                   r"(, optional|, default[^,]*)?$")


def _description_out_of_type(app, what, name, obj, options, lines):
    """Many of nlpkit's docstrings write ``name : what it is`` where numpydoc expects
    ``name : type`` and an indented description; move such text to the description so
    it renders as prose, not as a type.  A real type (``int``, ``{'a', 'b'}``,
    ``str or None, optional``) stays where it is.  A paragraph of prose after the
    parameters becomes a Notes section."""
    if not getattr(obj, "__doc__", None) or \
            not (getattr(obj, "__module__", None) or "").startswith("nlpkit"):
        return  # a docstring inherited from scikit-learn is numpydoc already
    has_notes = any(line.strip() == "Notes" for line in lines)
    section = None  # the indentation of the current section's header
    for i, line in enumerate(list(lines)):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _HEADER_LINE.match(nxt):
            section = line[:len(line) - len(line.lstrip())] if _SECTION.match(line) else None
            continue
        if section is None:
            continue
        m = _PARAM.match(line)
        if m and m.group(1) == section and not _TYPE.match(m.group(3).strip()):
            indent, names, text = m.groups()
            lines[i] = f"{indent}{names}\n{indent}    {text}"
        elif (not has_notes and i > 0 and not lines[i - 1].strip() and line.startswith(section)
              and line[len(section):len(section) + 1].strip() and not m
              and not _NAMES.match(line.strip())):
            # prose after the parameters ("X is a list of strings ..."): a Notes section,
            # not a parameter named by its first sentence
            lines[i] = f"{section}Notes\n{section}-----\n{line}"
            section, has_notes = None, True
    lines[:] = "\n".join(lines).split("\n")


def _escape_click_text(app, ctx, lines):
    # click's help is plain text for a terminal: a '*' in it ('data/*.txt') is a glob, not
    # the start of reStructuredText emphasis
    for i, line in enumerate(lines):
        if not line.lstrip().startswith(".."):
            lines[i] = re.sub(r"(?<!\\)\*", r"\\*", line)


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    # before numpydoc (priority 500) parses the sections
    app.connect("autodoc-process-docstring", _description_out_of_type, priority=400)
    for event in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{event}", _escape_click_text)
