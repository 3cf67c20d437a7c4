"""Turn Debian's linux-doc-6.12 reStructuredText into a benchmark corpus: one sentence a line.

The kernel's documentation is about 3.4M words of technical English with a large vocabulary
(identifiers, acronyms, numbers), which is what the n-gram and embedding benchmarks need beside
KJV's 13k word types. Install it with ``apt-get install linux-doc-6.12``, then::

    python benchmarks/corpus_linuxdoc.py -o /work/data/linuxdoc/linuxdoc.txt --test-every 100

What the text becomes:

- Files: ``Documentation/**/*.rst.gz`` in sorted path order, ``translations/`` excluded (it is
  not English). The output is a pure function of those files.
- Dropped markup: comments and hyperlink targets, directives whose body is not prose (code-block,
  literalinclude, kernel-doc, toctree, image, figure, tables, raw, ...; admonitions such as note
  and warning and a few prose containers keep their body), literal blocks (the indented block
  after ``::``), directive options, section adornments, grid and simple tables, lines that look
  like C (``#include``, comments, lines ending in ``);``, ``];``, ``{`` or ``}``).
- Inline markup is unwrapped: roles (``:ref:`text <target>``` gives ``text``), literals,
  emphasis, hyperlink references, substitutions, footnote references, backslash escapes. URLs
  become the token ``URL`` and e-mail addresses ``EMAIL``.
- Paragraphs (separated by blank lines, changes of indentation, titles and list items; list
  markers are dropped) are split into sentences after ``.``, ``!`` or ``?`` followed by a space
  and a capital, a digit or an opening quote, except after a few abbreviations (e.g., i.e., etc.).
- Tokens are split on whitespace and punctuation: a token is a run of word characters joined by
  inner ``-``, ``.`` or ``'`` (``well-advised``, ``v6.12``, ``don't``, ``spin_lock``, ``0x1f``)
  or one punctuation mark (a run of the same mark, such as ``...``, stays one token). Case is
  KEPT: in technical text ``CPU``, ``Rx`` and ``rx`` are different words and the peers are used
  on cased text; lowercase with ``--lower`` when you want KJV's convention.
- A sentence with no letter or digit is dropped.

``--test-every N`` also writes ``<out>.train.txt`` and ``<out>.test.txt`` beside the whole
corpus: sentence i (0-based) goes to test when ``i % N == N - 1``, else to train.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import os
import re
import sys

DEFAULT_ROOT = "/usr/share/doc/linux-doc-6.12/Documentation"

# Directives whose body is prose; every other directive's body (code, tables, includes) is dropped.
PROSE_DIRECTIVES = {
    "note", "warning", "attention", "caution", "danger", "error", "hint", "important", "tip",
    "admonition", "seealso", "topic", "sidebar", "rubric", "glossary", "container", "only",
    "epigraph", "highlights", "pull-quote", "compound", "hlist", "deprecated", "versionadded",
    "versionchanged", "c:function", "c:macro", "c:type", "c:struct", "c:union", "c:member",
    "c:var", "c:enum", "c:enumerator", "function", "option", "envvar", "describe", "cssclass",
}
# Of those, the ones whose argument (the text after "::") is a title worth keeping.
TITLED_DIRECTIVES = {
    "note", "warning", "attention", "caution", "danger", "error", "hint", "important", "tip",
    "admonition", "seealso", "topic", "sidebar", "rubric", "deprecated", "versionadded",
    "versionchanged",
}
ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "cf", "Mr", "Mrs", "Dr", "St", "al", "approx",
                 "Fig", "fig", "No", "no", "Nr", "resp", "ca", "Ch", "Sec", "sec", "viz"}

DIRECTIVE = re.compile(r"^\.\.\s+([\w:.+-]+)::(.*)$")
ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:._<>!$%&,/;?@\\|])\1{2,}\s*$")
SIMPLE_TABLE_BORDER = re.compile(r"^[=\-]+( +[=\-]+)+\s*$")
FIELD = re.compile(r"^:[^:\s][^:]*:(\s+|$)")
BULLET = re.compile(r"^([-*+\u2022]|#\.|\d+[.)]|\(\d+\)|[a-zA-Z][.)]|\([a-zA-Z]\))\s+")
CODE_LIKE = re.compile(r"(^#\s*(include|define|if|ifdef|ifndef|endif|else)\b)|(^/\*)|(\*/$)|([)\]];$)|([{}]$)")

ROLE = re.compile(r":[\w][\w:+.-]*:`([^`]*)`")
TARGETED = re.compile(r"^\s*[~!]?(.*?)\s*<[^<>]*>\s*$", re.S)
LITERAL = re.compile(r"``(.+?)``")
LINK_REF = re.compile(r"`([^`]+?)`__?")
INTERPRETED = re.compile(r"`([^`]+?)`")
STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
FOOTNOTE_REF = re.compile(r"\s*\[(#[\w-]*|\d+|\*)\]_")
NAMED_REF = re.compile(r"(?<=[A-Za-z0-9])_(?=[\s.,;:)!?]|$)")
SUBSTITUTION = re.compile(r"\|([^|\s][^|]*?)\|_?")
URL = re.compile(r"\b(?:https?|ftp|git)://[^\s<>`\"')\]]+")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
ESCAPE = re.compile(r"\\(.)")

SENTENCE_END = re.compile(r"([.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")
TOKEN = re.compile(r"\b(?:e\.g|i\.e|cf|vs|viz|approx)\.|\w+(?:[-.'\u2019]\w+)*|([^\w\s])\1*")
HAS_ALNUM = re.compile(r"[^\W_]")


def _unwrap_target(match: re.Match) -> str:
    inner = match.group(1)
    target = TARGETED.match(inner)
    return target.group(1) if target and target.group(1) else inner.lstrip("~!")


def clean_inline(text: str) -> str:
    """Remove reStructuredText inline markup, keeping the words it wraps."""
    text = URL.sub(" URL ", text)
    text = EMAIL.sub(" EMAIL ", text)
    text = ROLE.sub(_unwrap_target, text)
    text = LITERAL.sub(r"\1", text)
    text = LINK_REF.sub(_unwrap_target, text)
    text = INTERPRETED.sub(r"\1", text)
    text = STRONG.sub(r"\1", text)
    text = EMPHASIS.sub(r"\1", text)
    text = FOOTNOTE_REF.sub("", text)
    text = SUBSTITUTION.sub(r"\1", text)
    text = NAMED_REF.sub("", text)
    return ESCAPE.sub(r"\1", text)


def split_sentences(paragraph: str):
    """Split a paragraph after ., ! or ? followed by a capital, digit or opening quote."""
    start = 0
    for m in SENTENCE_END.finditer(paragraph):
        if m.group(1) == ".":
            before = paragraph[start:m.start()].rsplit(None, 1)
            word = before[-1].lstrip("([\"'") if before else ""
            if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue  # "e.g. Linux", "J. Smith": not a sentence end
        yield paragraph[start:m.end()].strip()
        start = m.end()
    rest = paragraph[start:].strip()
    if rest:
        yield rest


def tokenize(sentence: str) -> list[str]:
    return [m.group(0) for m in TOKEN.finditer(sentence.replace("\u2019", "'"))]


def paragraphs(lines: list[str]):
    """Yield the prose paragraphs of one reStructuredText document, markup lines dropped."""
    para: list[str] = []
    para_indent = -1
    skip_indent = None      # drop blank lines and lines indented deeper than this
    options_indent = None   # drop ":option: value" lines right after a directive
    in_table = False
    n = len(lines)

    def flush():
        nonlocal para, para_indent
        if para:
            yield " ".join(para)
        para, para_indent = [], -1

    for i, raw in enumerate(lines):
        line = raw.expandtabs(8).rstrip()
        stripped = line.strip()
        indent = len(line) - len(stripped)
        if skip_indent is not None:
            if not stripped or indent > skip_indent:
                continue
            skip_indent = None
        if options_indent is not None:
            if stripped and indent > options_indent and FIELD.match(stripped):
                continue
            options_indent = None
        if in_table:
            if SIMPLE_TABLE_BORDER.match(stripped) or (ADORNMENT.match(stripped) and stripped[0] in "=-"):
                if i + 1 >= n or not lines[i + 1].strip():
                    in_table = False
            continue
        if not stripped:
            yield from flush()
            continue
        if SIMPLE_TABLE_BORDER.match(stripped):
            yield from flush()
            in_table = True
            continue
        if ADORNMENT.match(stripped) or stripped.startswith(("+-", "+=")) or stripped.startswith("|"):
            # a section adornment or a grid table row: the text before it was a title or a cell
            yield from flush()
            continue
        if stripped.startswith(".."):
            yield from flush()
            directive = DIRECTIVE.match(stripped)
            if directive and directive.group(1).lower() in PROSE_DIRECTIVES:
                options_indent = indent
                if directive.group(1).lower() in TITLED_DIRECTIVES and directive.group(2).strip():
                    yield directive.group(2).strip()
            else:  # comment, target, footnote, substitution or a code/table/include directive
                skip_indent = indent
            continue
        if CODE_LIKE.search(stripped):
            yield from flush()
            continue
        if i + 1 < n and ADORNMENT.match(lines[i + 1].strip()) and len(lines[i + 1].strip()) >= len(stripped) - 1:
            yield from flush()          # a section title: its own sentence
            yield stripped
            continue
        field = FIELD.match(stripped)
        bullet = BULLET.match(stripped)
        if field or bullet or indent != para_indent:
            yield from flush()
            if field:
                stripped = stripped[field.end():]
            elif bullet:
                stripped = stripped[bullet.end():]
            para_indent = indent + (bullet.end() if bullet else 0)
        literal_block = stripped.endswith("::")
        if literal_block:
            # "text::" reads "text:" and "text ::" reads "text"; the indented block after it is
            # code, dropped, and ends the paragraph
            stripped = stripped[:-2] if stripped[:-2].endswith(" ") or stripped == "::" else stripped[:-1]
            stripped = stripped.rstrip()
            skip_indent = para_indent   # the block is indented deeper than the text (a list item's)
        if stripped:
            para.append(stripped)
        if literal_block:
            yield from flush()
    yield from flush()


def documents(root: str):
    """Paths of the English .rst.gz files under ``root``, in sorted order."""
    found = []
    for directory, subdirs, files in os.walk(root):
        rel = os.path.relpath(directory, root)
        if rel == "translations" or rel.startswith("translations" + os.sep):
            subdirs[:] = []
            continue
        found.extend(os.path.join(rel, f) for f in files if f.endswith(".rst.gz"))
    return [os.path.join(root, p) for p in sorted(p.replace(os.sep, "/") for p in found)]


def sentences(root: str, lower: bool = False):
    """Yield each sentence of the corpus as a list of tokens."""
    for path in documents(root):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        for paragraph in paragraphs(lines):
            for sentence in split_sentences(clean_inline(paragraph)):
                tokens = tokenize(sentence.lower() if lower else sentence)
                if any(HAS_ALNUM.search(t) for t in tokens):
                    yield tokens


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, help="the whole corpus, one sentence a line")
    ap.add_argument("--root", default=DEFAULT_ROOT, help="the Documentation folder (default %(default)s)")
    ap.add_argument("--lower", action="store_true", help="lowercase every token")
    ap.add_argument("--test-every", type=int, default=0, metavar="N",
                    help="also write <out>.train.txt and <out>.test.txt, every N-th sentence to test")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.root):
        sys.exit(f"corpus_linuxdoc: no folder {args.root} (apt-get install linux-doc-6.12)")

    stem = args.output[:-4] if args.output.endswith(".txt") else args.output
    outputs = {"all": args.output}
    if args.test_every:
        outputs.update(train=stem + ".train.txt", test=stem + ".test.txt")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    handles = {k: open(p + ".tmp", "w", encoding="utf-8") for k, p in outputs.items()}
    counts: collections.Counter = collections.Counter()
    n_sentences = n_test = 0
    try:
        for tokens in sentences(args.root, args.lower):
            line = " ".join(tokens) + "\n"
            handles["all"].write(line)
            if args.test_every:
                is_test = n_sentences % args.test_every == args.test_every - 1
                handles["test" if is_test else "train"].write(line)
                n_test += is_test
            counts.update(tokens)
            n_sentences += 1
    finally:
        for h in handles.values():
            h.close()
    for k, p in outputs.items():
        os.replace(p + ".tmp", p)
    n_tokens = sum(counts.values())
    print(f"{args.output}: {n_sentences} sentences, {n_tokens} tokens, {len(counts)} types, "
          f"{sum(1 for c in counts.values() if c == 1)} singletons"
          + (f"; test {n_test} sentences" if args.test_every else ""))


if __name__ == "__main__":
    main()
