"""Hugging Face's ``tokenizer.json``: read into a fitted BPE or WordPiece.

The writer is :meth:`SubwordTokenizer.to_json`.  Reading checks every entry:
what nlpkit cannot reproduce exactly (dropout, byte fallback, truncation,
a pre-tokenizer or normalizer it does not implement) raises an error naming it,
rather than encoding differently.
"""
from __future__ import annotations

import json

import numpy as np

from ...errors import InputFileError
from . import pipeline as pl


def read_tokenizer_json(path, classes):
    # ``classes``: {'BPE': cls, 'WordPiece': cls}, given by model.py (which imports this
    # module), so that the reader and the estimators do not import each other.
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not a tokenizer.json file ({exc})") from None
    try:
        return from_json(data, classes)
    except pl.UnsupportedConfig as exc:
        raise InputFileError(path, str(exc).replace("tokenizer.json: ", "")) from None
    except InputFileError as exc:  # from_json names no file: name this one
        raise InputFileError(path, exc.problem, exc.line) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InputFileError(path, f"not a tokenizer.json file (bad or missing entry {exc})") \
            from None


# The types of the entries nlpkit reads, wherever they appear (the pipeline stages take
# them as they are: a number where a string belongs would fail at the first encode, not
# here).  "vocab" and "merges" are checked where they are read.
_STRINGS = {"type", "prepend", "content", "String", "Regex", "replacement", "prepend_scheme",
            "suffix", "prefix", "continuing_subword_prefix", "end_of_word_suffix", "unk_token"}
_NULLABLE = {"type", "continuing_subword_prefix", "end_of_word_suffix", "unk_token",
             "strip_accents"}
_BOOLS = {"clean_text", "handle_chinese_chars", "lowercase", "add_prefix_space", "use_regex",
          "trim_offsets", "split", "cleanup", "fuse_unk", "ignore_merges", "byte_fallback",
          "special", "single_word", "lstrip", "rstrip", "normalized", "strip_accents"}
_INTS = {"max_input_chars_per_word", "type_id"}


def _check_types(value, depth=0):
    if depth > 50:
        raise InputFileError("tokenizer.json", "entries nested too deep")
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, v in items:
        if key in ("vocab", "merges"):
            continue
        if v is None and key in _NULLABLE:
            continue
        want = (str if key in _STRINGS else bool if key in _BOOLS else int if key in _INTS
                else None)
        if want is not None and (not isinstance(v, want) or (want is int and isinstance(v, bool))):
            raise InputFileError("tokenizer.json", f"entry {key!r} should be a "
                                 f"{want.__name__}, not {v!r:.40}")
        _check_types(v, depth + 1)


def _check_model(model):
    vocab, merges = model.get("vocab"), model.get("merges", [])
    if not isinstance(vocab, dict) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in vocab.values()):
        raise InputFileError("tokenizer.json", "the vocabulary is not a map of tokens to ids")
    if not isinstance(merges, list) or not all(
            (isinstance(m, str) and " " in m) or (isinstance(m, list) and len(m) == 2 and all(
                isinstance(x, str) for x in m)) for m in merges):
        raise InputFileError("tokenizer.json", "the merges are not pairs of tokens")


def from_json(data: dict, classes):
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise InputFileError("tokenizer.json", "no 'model' entry")
    _check_types(data)
    _check_model(data["model"])
    for key in ("truncation", "padding"):
        if data.get(key) is not None:
            raise pl.UnsupportedConfig(key, data[key])
    model = data["model"]
    kind = model.get("type") or ("BPE" if "merges" in model else "WordPiece"
                                 if "max_input_chars_per_word" in model else None)
    added = [dict(t) for t in data.get("added_tokens", [])]
    vocab = model["vocab"]
    itos = _itos(vocab, added)
    specials = [t["content"] for t in added if t.get("special")]
    if kind == "BPE":
        if model.get("dropout") not in (None, 0, 0.0):
            raise pl.UnsupportedConfig("BPE dropout", model["dropout"])
        if model.get("byte_fallback"):
            raise pl.UnsupportedConfig("BPE option", "byte_fallback")
        tok = classes["BPE"]()
        prefix = model.get("continuing_subword_prefix") or None
        tok.model_ = {"unk_token": model.get("unk_token"), "continuing_subword_prefix": prefix,
                      "end_of_word_suffix": model.get("end_of_word_suffix") or None,
                      "fuse_unk": bool(model.get("fuse_unk", False)),
                      "ignore_merges": bool(model.get("ignore_merges", False))}
        merges = [m.split(" ", 1) if isinstance(m, str) else list(m) for m in model["merges"]]
        ids = []
        for a, b in merges:
            right = b[len(prefix):] if prefix and b.startswith(prefix) else b
            try:
                ids.append((vocab[a], vocab[b], vocab[a + right]))
            except KeyError as exc:
                raise InputFileError("tokenizer.json", f"merge {a!r} {b!r} uses {exc.args[0]!r}, "
                                     "which is not in the vocabulary") from None
        tok.merges_ = [tuple(m) for m in merges]
        tok._merge_ids = np.asarray(ids, np.int32).reshape(-1, 3)
    elif kind == "WordPiece":
        tok = classes["WordPiece"]()
        tok.model_ = {"unk_token": model.get("unk_token", "[UNK]"),
                      "continuing_subword_prefix": model.get("continuing_subword_prefix", "##"),
                      "max_input_chars_per_word": int(model.get("max_input_chars_per_word", 100))}
        if not 0 <= tok.model_["max_input_chars_per_word"] < 2 ** 63:  # an int64 in kernels
            raise InputFileError("tokenizer.json", "max_input_chars_per_word "
                                 f"{tok.model_['max_input_chars_per_word']} is out of range")
        if tok.model_["unk_token"] not in vocab:
            raise InputFileError("tokenizer.json", f"the unknown token "
                                 f"{tok.model_['unk_token']!r} is not in the vocabulary")
    else:
        raise pl.UnsupportedConfig("model", model.get("type", "?"))
    unk = tok.model_["unk_token"]
    if unk is not None and unk not in vocab:
        raise InputFileError("tokenizer.json", f"the unknown token {unk!r} is not in the vocabulary")
    tok.normalizer_ = pl.Normalizer.from_json(data.get("normalizer"))
    tok.pre_tokenizer_ = pl.PreTokenizer.from_json(data.get("pre_tokenizer"))
    tok.post_processor_ = pl.PostProcessor.from_json(data.get("post_processor"))
    tok.decoder_ = pl.Decoder.from_json(data.get("decoder"))
    from ..vocab import Vocabulary
    tok.vocab_ = Vocabulary(itos, specials=tuple(specials))
    tok.n_model_tokens_ = max(vocab.values()) + 1 if vocab else 0
    tok.added_tokens_ = added
    if tok.post_processor_ is not None:
        for t in tok.post_processor_.prefix + tok.post_processor_.suffix:
            if t not in tok.vocab_.stoi:
                raise InputFileError("tokenizer.json", f"post-processor token {t!r} has no id")
    tok._cache = None
    return tok


def _itos(vocab, added):
    ids = dict(vocab)
    for t in added:
        ids.setdefault(t["content"], t["id"])
    n = max(ids.values()) + 1 if ids else 0
    if n > len(ids):  # (before allocating: a damaged id can be huge)
        used = set(ids.values())
        missing = next(i for i in range(n) if i not in used)
        raise InputFileError("tokenizer.json", f"no token has id {missing}")
    itos = [None] * n
    for token, i in ids.items():
        if not 0 <= i < n or itos[i] is not None:
            raise InputFileError("tokenizer.json", f"token {token!r} has id {i}, "
                                 f"which is out of range or given twice")
        itos[i] = token
    if None in itos:
        raise InputFileError("tokenizer.json", f"no token has id {itos.index(None)}")
    for t in added:  # the id an added token is encoded as is its own: it must be its id
        i = t["id"]
        if not (isinstance(i, int) and 0 <= i < n and itos[i] == t["content"]):
            raise InputFileError("tokenizer.json", f"added token {t['content']!r} has id {i!r}, "
                                 f"but its id in the vocabulary is {ids[t['content']]}")
    return itos
