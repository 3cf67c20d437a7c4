"""KeyedVectors: words, their vectors, and the queries people run on them.

Similarity queries work on unit vectors with one matrix-vector (BLAS) product
over the whole vocabulary.  A model with subword information (fastText) also
answers for unseen words: the mean of their n-gram rows.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputFileError, NlpkitError
from ..text import iter_lines
from .subwords import mean_rows_cpu, oov_rows, subword_rows


class UnknownWordError(NlpkitError, KeyError):
    """A word that has no vector (not in the vocabulary, and no n-grams to build one)."""

    def __str__(self):
        return str(self.args[0]) if self.args else "unknown word"


class KeyedVectors:
    """Word vectors in id order.

    Parameters
    ----------
    words : list of str
    vectors : float32 array (len(words), dim)
    counts : optional int array, one count per word
    ngrams : optional float32 array (bucket, dim) of n-gram rows (fastText)
    minn, maxn : n-gram lengths used with ``ngrams``

    With ``ngrams``, ``vectors`` holds each word's *own* input row and
    :meth:`get_vector` returns fastText's word vector: the mean of that row and
    the word's n-gram rows; an unseen word gets the mean of its n-gram rows.
    """

    def __init__(self, words, vectors, counts=None, *, ngrams=None, minn=3, maxn=6):
        self.index_to_key = list(words)
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(self.index_to_key):
            raise NlpkitError(f"KeyedVectors: {len(self.index_to_key)} words but vectors of shape "
                              f"{vectors.shape}")
        self.counts = None if counts is None else np.asarray(counts, np.int64)
        self.ngrams = None if ngrams is None else np.ascontiguousarray(ngrams, dtype=np.float32)
        self.minn, self.maxn = int(minn), int(maxn)
        self.raw = vectors
        self.vectors = self._compose() if self.ngrams is not None else vectors
        self._unit = None

    # --------------------------------------------------------------- basics
    def _compose(self):
        """fastText word vectors: mean of the word row and its n-gram rows."""
        offsets, rows = subword_rows(self.index_to_key, self.minn, self.maxn, self.ngrams.shape[0])
        out = np.empty_like(self.raw)
        mean_rows_cpu(self.raw, self.ngrams, offsets, rows, out)
        return out

    @property
    def vector_size(self) -> int:
        return self.vectors.shape[1]

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, word):
        if word in self.key_to_index:
            return True
        return self.ngrams is not None and self._oov_rows(word).size > 0

    def has_index_for(self, word) -> bool:
        return word in self.key_to_index

    def _oov_rows(self, word):
        return oov_rows(word, self.minn, self.maxn, self.ngrams.shape[0], 0)

    def get_vector(self, word, norm: bool = False) -> np.ndarray:
        i = self.key_to_index.get(word)
        if i is not None:
            v = self.vectors[i]
        elif self.ngrams is not None and (rows := self._oov_rows(word)).size:
            v = self.ngrams[rows].astype(np.float64).mean(axis=0).astype(np.float32)
        else:
            raise UnknownWordError(f"the word {word!r} is not in the vocabulary")
        if norm:
            n = np.linalg.norm(v)
            return v / n if n > 0 else v
        return v

    __getitem__ = get_vector

    @property
    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to length 1 (zero rows stay zero); computed once."""
        if self._unit is None:
            n = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = (self.vectors / np.where(n > 0, n, 1)).astype(np.float32)
        return self._unit

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_unit"] = None
        return state

    def __repr__(self):
        sub = ", subwords" if self.ngrams is not None else ""
        return f"<KeyedVectors {len(self)} words x {self.vector_size}{sub}>"

    # --------------------------------------------------------------- queries
    def similarity(self, w1, w2) -> float:
        return float(np.dot(self.get_vector(w1, True), self.get_vector(w2, True)))

    def _combine(self, positive, negative):
        """Unit mean of +/- unit vectors (3CosAdd) and the in-vocabulary words to skip."""
        if isinstance(positive, (str, np.ndarray)):
            positive = [positive]
        if isinstance(negative, (str, np.ndarray)):
            negative = [negative]
        positive, negative = list(positive or []), list(negative or [])
        if not positive and not negative:
            raise NlpkitError("most_similar needs at least one positive or negative word")
        skip, parts = set(), []
        for sign, items in ((1.0, positive), (-1.0, negative)):
            for w in items:
                if isinstance(w, np.ndarray):
                    v = w / max(np.linalg.norm(w), 1e-12)
                else:
                    v = self.get_vector(w, norm=True)
                    if w in self.key_to_index:
                        skip.add(self.key_to_index[w])
                parts.append(sign * v.astype(np.float32))
        mean = np.mean(parts, axis=0)
        return mean / max(np.linalg.norm(mean), 1e-12), skip

    def _top(self, scores, skip, topn):
        if skip:
            scores[list(skip)] = -np.inf
        topn = min(topn, scores.shape[0])
        best = np.argpartition(-scores, topn - 1)[:topn] if topn < scores.shape[0] else \
            np.arange(scores.shape[0])
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.index_to_key[i], float(scores[i])) for i in best if np.isfinite(scores[i])]

    def most_similar(self, positive=None, negative=None, topn: int = 10, restrict_vocab=None):
        """Words closest to the mean of ``positive`` minus ``negative`` unit vectors (3CosAdd).

        Returns ``[(word, cosine), ...]`` best first, the query words left out.
        """
        mean, skip = self._combine(positive, negative)
        unit = self.unit_vectors if restrict_vocab is None else self.unit_vectors[:restrict_vocab]
        return self._top(unit @ mean, skip, topn)

    def most_similar_cosmul(self, positive=None, negative=None, topn: int = 10):
        """Levy and Goldberg's 3CosMul:
        prod((1+cos)/2 over positives) / (prod(... over negatives) + 1e-6)."""
        positive = [positive] if isinstance(positive, str) else list(positive or [])
        negative = [negative] if isinstance(negative, str) else list(negative or [])
        if not positive and not negative:
            raise NlpkitError("most_similar_cosmul needs at least one word")
        unit = self.unit_vectors
        pos = [(1 + unit @ self.get_vector(w, True)) / 2 for w in positive]
        neg = [(1 + unit @ self.get_vector(w, True)) / 2 for w in negative]
        scores = np.prod(pos, axis=0) / (np.prod(neg, axis=0) + 1e-6)
        skip = {self.key_to_index[w] for w in positive + negative if w in self.key_to_index}
        return self._top(scores.astype(np.float64), skip, topn)

    def doesnt_match(self, words) -> str:
        """The word furthest from the mean of the others' unit vectors."""
        words = [w for w in words if w in self]
        if not words:
            raise NlpkitError("doesnt_match: none of the words is in the vocabulary")
        vecs = np.array([self.get_vector(w, True) for w in words])
        mean = vecs.mean(axis=0)
        mean /= max(np.linalg.norm(mean), 1e-12)
        return words[int(np.argmin(vecs @ mean))]

    # ------------------------------------------------------------ evaluation
    def evaluate_word_pairs(self, path, *, delimiter="\t", restrict_vocab=300000,
                            case_insensitive=True):
        """Pearson, Spearman and OOV share (percent) on a ``word1<TAB>word2<TAB>score``
        file (wordsim353.tsv, simlex999.txt; ``#`` lines are comments).

        Pairs with a word outside the first ``restrict_vocab`` words are skipped,
        as gensim does.  Returns ``(pearson, spearman, oov_percent)``.
        """
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        sims, gold, oov, total = [], [], 0, 0
        for lineno, line in enumerate(iter_lines(path), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(delimiter)
            if len(parts) < 3:
                raise InputFileError(path, "expected 'word1<TAB>word2<TAB>score'", lineno)
            a, b = parts[0].strip(), parts[1].strip()
            try:
                score = float(parts[2])
            except ValueError:
                raise InputFileError(path, f"score {parts[2]!r} is not a number", lineno) from None
            total += 1
            if case_insensitive:
                a, b = a.upper(), b.upper()
            if a not in ok or b not in ok:
                oov += 1
                continue
            ua, ub = self.unit_vectors[ok[a]], self.unit_vectors[ok[b]]
            sims.append(float(ua @ ub))
            gold.append(score)
        if total == 0:
            raise InputFileError(path, "no word pairs found")
        if len(sims) < 2:
            return float("nan"), float("nan"), 100.0 * oov / total
        from scipy import stats  # here: importing scipy.stats costs half a second
        return (float(stats.pearsonr(gold, sims)[0]), float(stats.spearmanr(gold, sims)[0]),
                100.0 * oov / total)

    def _ok_vocab(self, restrict_vocab, case_insensitive):
        words = self.index_to_key[:restrict_vocab]
        if not case_insensitive:
            return {w: i for i, w in enumerate(words)}
        # the most frequent of several case variants wins, as in gensim
        return {w.upper(): i for i, w in reversed(list(enumerate(words)))}

    def evaluate_word_analogies(self, path, *, restrict_vocab=30000, case_insensitive=True):
        """Accuracy on a questions-words.txt file (``: section`` lines, then ``a b c d``).

        The answer to ``a : b :: c : ?`` is the word nearest to ``b - a + c`` (3CosAdd)
        among the first ``restrict_vocab`` words, ``a``, ``b``, ``c`` excluded; questions
        with a word outside those are skipped (as gensim does).  Returns
        ``(accuracy, sections)`` where each section is ``{'section', 'correct', 'incorrect'}``
        and the last is the total.
        """
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        unit = np.ascontiguousarray(self.unit_vectors[:restrict_vocab])
        names, quads, section = [], [], None
        right, asked = np.zeros(0, np.int64), np.zeros(0, np.int64)  # per section

        def answer():  # the questions so far, 2048 at a time: memory holds one block
            nonlocal right, asked
            b = np.array(quads, dtype=np.int64).reshape(-1, 5)
            quads.clear()
            target = unit[b[:, 2]] - unit[b[:, 1]] + unit[b[:, 3]]
            target /= np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)
            scores = target @ unit.T
            rows = np.arange(b.shape[0])
            for col in (1, 2, 3):
                scores[rows, b[:, col]] = -np.inf
            hit = scores.argmax(axis=1) == b[:, 4]
            right = _grow(right, len(names)) + np.bincount(b[hit, 0], minlength=len(names))
            asked = _grow(asked, len(names)) + np.bincount(b[:, 0], minlength=len(names))

        for lineno, line in enumerate(iter_lines(path), 1):
            if line.startswith(":"):
                section = line.lstrip(": ").strip()
                names.append(section)
                continue
            if not line.strip():
                continue
            if section is None:
                raise InputFileError(path, "questions before the first ': section' line", lineno)
            parts = line.upper().split() if case_insensitive else line.split()
            if len(parts) != 4:
                raise InputFileError(path, "expected four words per question", lineno)
            if all(p in ok for p in parts):
                quads.append((len(names) - 1, *(ok[p] for p in parts)))
                if len(quads) == 2048:
                    answer()
        if not names:
            raise InputFileError(path, "no ': section' lines found")
        if quads:
            answer()
        right, asked = _grow(right, len(names)), _grow(asked, len(names))
        sections = [{"section": name, "correct": int(right[k]),
                     "incorrect": int(asked[k] - right[k])} for k, name in enumerate(names)]
        correct, n = int(right.sum()), int(asked.sum())
        sections.append({"section": "Total accuracy", "correct": correct, "incorrect": n - correct})
        return (correct / n if n else 0.0), sections


def _grow(counts, n):
    """``counts`` padded with zeros to length ``n`` (sections seen since)."""
    return np.concatenate([counts, np.zeros(n - len(counts), np.int64)])
