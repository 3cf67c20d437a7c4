"""The readers nlpkit runs on files from others, each with tiny valid seed files.

Shared by the property tests (``tests/fuzz``) and the atheris harness
(``fuzz/run.py``).  A :class:`Target` reads a file the way a user's call
does and then *uses* what it read the way the next step would (an n-gram
model scores a sentence, a tokenizer encodes one, fastText vectors compose
an unseen word), so a file that loads but breaks a kernel later is caught
too.  The contract every target is held to: the read (and the use) ends in
a result or an :class:`~nlpkit.errors.NlpkitError` whose message names the
file -- no other exception, no hang, no crash, no runaway allocation.
"""
from __future__ import annotations

import gzip
import os
import random
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from typing import Callable

from .mutate import json_value as _json_value, mutate

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")

ARPA = [b"""\\data\\
ngram 1=4
ngram 2=3
ngram 3=1

\\1-grams:
-0.69897\t</s>
-99\t<s>\t-0.3
-0.30103\ta\t-0.2
-0.5228788\tb\t-0.1

\\2-grams:
-0.4771213\t<s> a\t-0.05
-0.39794\ta b\t-0.25
-0.30103\tb a

\\3-grams:
-0.1760913\t<s> a b

\\end\\
""", b"""\\data\\
ngram 1=5
ngram 2=2

\\1-grams:
-1.0\t<unk>
-0.69897\t</s>
-99\t<s>\t-0.3
-0.30103\ta\t-0.2
-0.5228788\tb

\\2-grams:
-0.4771213\t<s> a
-0.39794\ta b

\\end\\
"""]

COUNTS = [b"<s>\t2\n<s> a\t1\n<s> a a\t1\n<s> b\t1\n<s> b a\t1\na\t5\na a\t2\na a b\t2\n"
          b"a b\t2\na b a\t1\na b </s>\t1\na </s>\t1\nb\t3\nb a\t2\nb a </s>\t1\nb </s>\t1\n"
          b"</s>\t2\n", b"a b\t3\nb\t1\n"]
VOCAB = [b"#nlpkit-vocab specials=<s>,</s>,<unk>\n<s>\t0\n</s>\t2\n<unk>\t0\na\t5\nb\t3\n",
         b"a 5\nb 3\nc\n\nd 1\n"]
WORDLIST = [b"a\nb\n<s>\n</s>\n## a comment\nc d\n", b"x\ty\n\nz\n"]
W2V_TEXT = [b"3 4\na 0.1 0.2 0.3 0.4\nb -1 2.5e-3 0 1\ncat 1 2 3 4\n",
            b"2 3\n\xc3\xa9t\xc3\xa9 0.5 0.25 -0.125 \nb 1e3 -1e-3 7 \n"]  # fastText .vec style
GLOVE = [b"a 0.1 0.2 0.3\nb -1 2.5e-3 0\nnew york 1 2 3\n", b"x 1\ny 2\n"]
CONLL = [b"In\tO\nthe\tO\nbeginning\tO\n\nGod\tB-PER\ncreated\tO\n", b"a b c\n\nd\te\n"]
LABELLED = [b"__label__pos good film\nneg\tbad film\n__label__x __label__y a b\n"]


def _kv(subwords=False):
    import numpy as np
    from nlpkit.embed.keyedvectors import KeyedVectors
    rng = np.random.default_rng(0)
    words = ["a", "b", "cat", "\u00e9t\u00e9"]
    ngrams = rng.standard_normal((8, 3)).astype(np.float32) if subwords else None
    return KeyedVectors(words, rng.standard_normal((4, 3)).astype(np.float32), [5, 4, 3, 1],
                        ngrams=ngrams, minn=2, maxn=3)


def _written(write, suffix):
    """The bytes a writer puts in a file of that suffix."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed" + suffix)
        write(path)
        with open(path, "rb") as fh:
            return fh.read()


def _binary_seeds():
    from nlpkit.ngram.formats.arpa_reader import read_arpa
    from nlpkit.ngram.formats.binary import save_binary
    from nlpkit.ngram.scoring.scorer import NGramScorer
    out = []
    for text in ARPA:
        with tempfile.TemporaryDirectory() as tmp:
            arpa = os.path.join(tmp, "m.arpa")
            with open(arpa, "wb") as fh:
                fh.write(text)
            scorer = NGramScorer(read_arpa(arpa))
        out.append(_written(lambda p: save_binary(scorer, p), ".nlpkit"))
    return out


def _w2v_binary_seeds():
    from nlpkit.embed.formats import write_word2vec
    return [_written(lambda p: write_word2vec(_kv(), p, binary=True), ".bin")]


def _fasttext_seeds():
    from nlpkit.embed.formats import write_fasttext_bin
    return [_written(lambda p: write_fasttext_bin(_kv(True), p), ".bin"),
            _written(lambda p: write_fasttext_bin(_kv(False), p), ".bin")]


def _tokenizer_seeds():
    out = []
    for name in sorted(os.listdir(SEEDS)):
        if name.startswith("tokenizer-"):
            with open(os.path.join(SEEDS, name), "rb") as fh:
                out.append(fh.read())
    return out


def _corpus_seeds():
    from nlpkit.text.corpus import Corpus
    c = Corpus.from_text(["in the beginning", "god created the heaven", ""])
    return [_written(c.save, ".npz")]


def _model_file_seeds():
    """Tiny fitted estimators saved as model files: a classifier (vocabulary, labels, an LSTM's
    weights) and a tagger (tag set, a bidirectional LSTM, character CNN)."""
    from nlpkit.models import SequenceTagger, TextClassifier
    from nlpkit.models.io import save_model
    docs = ["in the beginning", "god created the heaven", "and the earth", "the light was good"]
    clf = TextClassifier(embedding_dim=4, hidden_size=3, max_epochs=1, batch_size=2,
                         random_state=0).fit(docs, ["a", "b", "a", "b"])
    tokens = [d.split() for d in docs]
    tagger = SequenceTagger(embedding_dim=4, hidden_size=3, char_dim=3, max_epochs=1,
                            batch_size=2, random_state=0).fit(
        tokens, [["O" if w != "god" else "NAME" for w in t] for t in tokens])
    return [_written(lambda p, m=m: save_model(m, p), ".nlpkit") for m in (clf, tagger)]


# --- reading, then using ---------------------------------------------------------------
def _load_model(path):
    from nlpkit.ngram.formats.binary import load
    return load(path)


def _score(scorer):
    scorer.score("a b a")
    scorer.full_scores("b zz a </s>")
    scorer.perplexity_stats(["a b", "zz b a", ""])


def _read_model_file(path):
    from nlpkit.models.io import load_model
    return load_model(path)


def _use_model_file(model):
    if type(model).__name__ == "SequenceTagger":
        model.predict([["in", "zz", "god"], ["the"]])
    else:
        model.predict(["in the zz", "god"])


def _read_counts(path):
    from nlpkit.ngram.formats.countfile import read_counts
    return read_counts(path)


def _use_counts(counts):
    counts.sizes()
    counts.to_sorted()


def _read_vocab(path):
    from nlpkit.text.vocab import Vocabulary
    return Vocabulary.load(path)


def _use_vocab(vocab):
    ids = vocab.encode(["a", "zz"])
    vocab.decode(ids[ids >= 0])  # -1: unknown word and no <unk>


def _read_wordlist(path):
    from nlpkit.ngram.reading.vocab_file import read_vocab_file
    return read_vocab_file(path)


def _vectors(fmt):
    def read(path):
        from nlpkit.embed.formats import load, read_word2vec
        if fmt == "auto-word2vec":
            return read_word2vec(path)
        return load(path, fmt)
    return read


def _use_vectors(kv):
    for w in ("a", "unseen"):
        if w in kv:
            kv.get_vector(w, norm=True)
    if len(kv):
        kv.most_similar(kv.index_to_key[0], topn=2)


def _read_conll(path):
    from nlpkit.models.data import read_conll
    return read_conll(path)


def _read_labelled(path):
    from nlpkit.models.data import read_labelled
    return read_labelled(path)


def _read_tokenizer(path):
    from nlpkit.text.subword.model import SubwordTokenizer
    return SubwordTokenizer.load(path)


def _use_tokenizer(tok):
    ids = tok.encode("the cat sat on a hat \u00e9t\u00e9")
    tok.decode(ids)
    tok.encode_batch(["dog", ""])


def _read_corpus(path):
    from nlpkit.text.corpus import Corpus
    return Corpus.load(path)


def _use_corpus(corpus):
    corpus.vocab.decode(corpus.ids[:100])
    corpus.sentence(corpus.n_sentences - 1)


@dataclass
class Target:
    name: str
    suffix: str
    seeds: Callable[[], list]
    read: Callable
    use: Callable | None = None
    # which mutations fit best: 'text', 'binary', 'gzip', 'json', 'zip' or 'nlpkit-binary'
    kind: str = "text"

    def mutate(self, data: bytes, rnd: random.Random) -> bytes:
        """A mutated file: for gzip targets either the text mutated then compressed, or the
        compressed bytes mutated."""
        if self.kind == "gzip" and rnd.random() < 0.6:
            try:
                text = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):  # (atheris hands in damaged ones too)
                return mutate(data, rnd)
            return gzip.compress(mutate(text, rnd), mtime=0)
        if self.kind == "nlpkit-binary" and rnd.random() < 0.4:
            return _mutate_binary_header(data, rnd)
        if self.kind == "json" and rnd.random() < 0.5:
            return _json_value(data, rnd)
        if self.kind == "zip" and rnd.random() < 0.6:
            return _mutate_zip_member(data, rnd)
        return mutate(data, rnd)

    def check(self, data: bytes, workdir: str) -> str:
        """Write ``data`` to a file and read (and use) it; returns 'ok' or 'error'.

        Anything but a result or an NlpkitError naming the file propagates."""
        from nlpkit.errors import NlpkitError
        path = os.path.join(workdir, f"input{self.suffix}")
        with open(path, "wb") as fh:
            fh.write(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                obj = self.read(path)
                if self.use is not None:
                    self.use(obj)
            except NlpkitError as exc:
                if path not in str(exc):
                    raise AssertionError(f"the error does not name the file: {exc}") from exc
                return "error"
        return "ok"


def _mutate_binary_header(data, rnd):
    """A ``.nlpkit`` file whose JSON header has one value changed (an offset, shape, dtype,
    the order...), padded to its old length so the arrays stay where they were."""
    import json
    import struct
    if len(data) < 16:
        return mutate(data, rnd)
    hlen = struct.unpack("<I", data[12:16])[0]
    if hlen > len(data) - 16:  # a length already damaged: padding to it would take gigabytes
        return mutate(data, rnd)
    head = data[16:16 + hlen]
    new = _json_value(head, rnd) if rnd.random() < 0.5 else mutate(head, rnd)
    try:  # compact, so that it fits more often
        new = json.dumps(json.loads(new), separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        pass
    if len(new) <= hlen:
        new += b" " * (hlen - len(new))
    return data[:12] + struct.pack("<I", len(new)) + new + data[16 + hlen:]


def _mutate_zip_member(data, rnd):
    """A model file (a zip) with one member changed -- model.json's values or bytes, the
    safetensors header or its numbers -- and zipped again, so the damage gets past the zip's
    own CRC checks to the readers behind them."""
    import io
    import zipfile
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    except Exception:  # noqa: BLE001  (atheris hands in damaged ones too)
        return mutate(data, rnd)
    if not members:
        return mutate(data, rnd)
    i = rnd.randrange(len(members))
    name, body = members[i]
    if name.endswith(".json") and rnd.random() < 0.5:
        body = _json_value(body, rnd)
    else:
        body = mutate(body, rnd)
    members[i] = (name, body)
    if rnd.random() < 0.05:  # a member dropped
        members.pop(rnd.randrange(len(members)))
    elif rnd.random() < 0.05 and members:  # a member twice
        members.append(members[rnd.randrange(len(members))])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, body in members:
            zf.writestr(name, body)
    return out.getvalue()


def _gz(texts):
    return [gzip.compress(t, mtime=0) for t in texts]


TARGETS = {t.name: t for t in [
    Target("arpa", ".arpa", lambda: ARPA, _load_model, _score),
    Target("arpa-gz", ".arpa.gz", lambda: _gz(ARPA), _load_model, _score, kind="gzip"),
    Target("ngram-binary", ".nlpkit", _binary_seeds, _load_model, _score, kind="nlpkit-binary"),
    Target("counts", ".counts", lambda: COUNTS, _read_counts, _use_counts),
    Target("vocab", ".vocab", lambda: VOCAB, _read_vocab, _use_vocab),
    Target("wordlist", ".txt", lambda: WORDLIST, _read_wordlist),
    Target("word2vec", ".txt", lambda: W2V_TEXT, _vectors("auto-word2vec"), _use_vectors),
    Target("word2vec-binary", ".bin", _w2v_binary_seeds, _vectors("word2vec-binary"),
           _use_vectors, kind="binary"),
    Target("fasttext-vec", ".vec", lambda: W2V_TEXT, _vectors("fasttext-vec"), _use_vectors),
    Target("fasttext-bin", ".bin", _fasttext_seeds, _vectors("fasttext-bin"), _use_vectors,
           kind="binary"),
    Target("vectors-auto", ".txt", lambda: W2V_TEXT + GLOVE, _vectors(None), _use_vectors),
    Target("glove", ".txt", lambda: GLOVE, _vectors("glove"), _use_vectors),
    Target("conll", ".tsv", lambda: CONLL, _read_conll),
    Target("labelled", ".txt", lambda: LABELLED, _read_labelled),
    Target("corpus-npz", ".npz", _corpus_seeds, _read_corpus, _use_corpus, kind="binary"),
    Target("tokenizer-json", ".json", _tokenizer_seeds, _read_tokenizer, _use_tokenizer,
           kind="json"),
    Target("model-file", ".nlpkit", _model_file_seeds, _read_model_file, _use_model_file,
           kind="zip"),
]}
