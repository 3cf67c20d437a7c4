"""A plain-Python BPE/WordPiece learner: the reference the merge kernel is checked against.

It recounts every pair after every merge (no incremental tables, no heap) and
follows the documented order: special tokens, the alphabet by code point, then
the marked characters (prefix/suffix forms) by spelling; merged symbols take
the next ids (a spelling that exists keeps its id); the best pair has the
highest score, ties to the smaller ``(left id, right id)``.
"""
import math
from collections import Counter


def learn(word_counts, *, vocab_size, specials=(), prefix=None, suffix=None, min_frequency=0,
          likelihood=False, initial_alphabet=""):
    alphabet = sorted({c for w in word_counts for c in w} | set(initial_alphabet))
    itos = list(specials) + [c for c in alphabet if c not in specials]

    def spell(c, first, last):
        return (prefix if prefix and not first else "") + c + (suffix if suffix and last else "")

    marked = {spell(c, i == 0, i == len(w) - 1) for w in word_counts for i, c in enumerate(w)}
    itos += sorted(marked - set(itos))
    ids = {s: i for i, s in enumerate(itos)}
    words = [[ids[spell(c, i == 0, i == len(w) - 1)] for i, c in enumerate(w)] for w in word_counts]
    counts = list(word_counts.values())
    sym = Counter()
    for w, c in zip(words, counts):
        for s in w:
            sym[s] += c
    log_n1 = math.log(max(1.0, float(sum(sym.values())))) + 1.0
    merges = []
    while len(itos) < vocab_size:
        pairs = Counter()
        for w, c in zip(words, counts):
            for a, b in zip(w, w[1:]):
                pairs[a, b] += c
        pairs = {p: c for p, c in pairs.items() if c > 0 and c >= min_frequency}
        if not pairs:
            break
        if likelihood:
            best = min(pairs, key=lambda p: (-_gain(pairs[p], sym[p[0]], sym[p[1]], p[0] == p[1],
                                                    log_n1), p))
        else:
            best = min(pairs, key=lambda p: (-pairs[p], p))
        a, b = best
        right = itos[b][len(prefix):] if prefix and itos[b].startswith(prefix) else itos[b]
        new = ids.get(itos[a] + right)
        if new is None:
            new = ids[itos[a] + right] = len(itos)
            itos.append(itos[a] + right)
        merges.append((itos[a], itos[b]))
        for k, (w, c) in enumerate(zip(words, counts)):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    sym[a] -= c
                    sym[b] -= c
                    sym[new] += c
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return itos, merges


def _xlogx(x):
    return x * math.log(x) if x > 0.0 else 0.0


def _gain(c, ca, cb, same, log_n1):
    k, ca, cb = float(c), float(ca), float(cb)
    if same:
        return _xlogx(k) + _xlogx(ca - 2.0 * k) - _xlogx(ca) + k * log_n1
    return _xlogx(k) + _xlogx(ca - k) + _xlogx(cb - k) - _xlogx(ca) - _xlogx(cb) + k * log_n1
