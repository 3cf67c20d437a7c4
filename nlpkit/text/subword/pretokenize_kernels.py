"""Pre-tokenization kernels (CPU): GPT-2's byte-level split and BERT's split of ASCII text,
sentencepiece's word starts (Metaspace) of UTF-8 text.

GPT-2's expression (``pipeline.ByteLevel``) run by Python's ``re`` costs most of
byte-level training: every character of the corpus goes through the regex engine,
and the text splits into half as many pieces again as at whitespace.  On ASCII text
its classes are fixed (letters ``A-Za-z``, numbers ``0-9``, whitespace
``\\t \\v \\f \\r`` and space) and the expression
``'s|'t|'re|'ve|'m|'ll|'d| ?L+| ?N+| ?[^sLN]+|s+(?!S)|s+`` becomes a scan that looks
at most three bytes ahead.  Non-ASCII lines stay with the regex (``re`` with the
classes built for their characters).

BERT's pre-tokenizer (``[^PS]+|[P]``: punctuation characters alone, whitespace
dropped) is the same kind of scan.  Metaspace cuts at the space byte alone, which never
occurs inside another character's UTF-8 bytes, so it takes any text.

Strings never enter: UTF-8 bytes of ``\\n``-separated lines in, the pieces' bytes back
to back (the line feeds dropped) and each piece's end offset out.
"""
import numba
import numpy as np

_SPACE, _LETTER, _NUMBER, _OTHER = 0, 1, 2, 3


@numba.njit(cache=True)
def _ascii_classes():
    cls = np.full(256, _OTHER, np.int8)  # (bytes past ASCII: never given, but defined)
    for b in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20):
        cls[b] = _SPACE
    for b in range(ord("A"), ord("Z") + 1):
        cls[b] = _LETTER
    for b in range(ord("a"), ord("z") + 1):
        cls[b] = _LETTER
    for b in range(ord("0"), ord("9") + 1):
        cls[b] = _NUMBER
    return cls


@numba.njit(cache=True)
def _outputs(n):
    """The split's outputs for ``n`` bytes of input: room for them all (pieces drop bytes,
    never add any) and for an end per byte."""
    return np.empty(n, np.uint8), np.empty(n + 1, np.int64)


@numba.njit(cache=True, inline="always")
def _emit(buf, p, q, out, ends, n_out, n_pieces):
    """Append the piece ``buf[p:q]`` to ``out`` (filled to ``n_out``) and its end to ``ends``
    (``n_pieces`` so far); the new sizes.  (Inlined: it runs once per piece, in the scan's
    inner loop.)"""
    for i in range(p, q):
        out[n_out + i - p] = buf[i]
    n_out += q - p
    ends[n_pieces] = n_out
    return n_out, n_pieces + 1


@numba.njit(cache=True)
def _contraction(buf, p, e):
    """Length of the contraction (``'s 't 're 've 'm 'll 'd``) at ``buf[p] == "'"``, or 0."""
    if p + 1 >= e:
        return 0
    c = buf[p + 1]
    if c == 0x73 or c == 0x74 or c == 0x6D or c == 0x64:  # s t m d
        return 2
    if p + 2 < e:
        d = buf[p + 2]
        if (c == 0x72 and d == 0x65) or (c == 0x76 and d == 0x65) or (c == 0x6C and d == 0x6C):
            return 3  # re ve ll
    return 0


@numba.njit(cache=True)
def split_bytelevel_ascii(buf):
    """GPT-2's pieces of the ASCII lines ``buf`` (separated by ``\\n``; no piece spans one).

    Returns ``(pieces, ends)``: the pieces' bytes back to back (uint8) and the end of
    each in it (int64), piece ``j`` being ``pieces[ends[j - 1]:ends[j]]``."""
    cls = _ascii_classes()
    n = buf.shape[0]
    out, ends = _outputs(n)
    n_out = n_pieces = np.int64(0)
    p = np.int64(0)
    while p < n:
        e = p  # the line: buf[p:e]
        while e < n and buf[e] != 0x0A:
            e += 1
        while p < e:
            c = buf[p]
            q = p
            k = _contraction(buf, p, e) if c == 0x27 else 0
            if k:
                q = p + k
            else:
                kind = cls[c]
                if c == 0x20 and p + 1 < e and cls[buf[p + 1]] != _SPACE:
                    kind = cls[buf[p + 1]]  # ' ?X+': the space leads a run of X
                    q = p + 1
                if kind != _SPACE:
                    while q < e and cls[buf[q]] == kind:
                        q += 1
                else:
                    # 's+(?!S)' takes a run that ends the line, or all of it but the last
                    # character before a non-space (which then leads the next piece, or
                    # stands alone if it is not a space); 's+' takes a single one
                    while q < e and cls[buf[q]] == _SPACE:
                        q += 1
                    if q < e and q - p >= 2:
                        q -= 1
            n_out, n_pieces = _emit(buf, p, q, out, ends, n_out, n_pieces)
            p = q
        p = e + 1
    return out[:n_out], ends[:n_pieces]


@numba.njit(cache=True)
def split_bert_ascii(buf):
    """BERT's pieces of the ASCII text ``buf``: runs of characters that are neither
    whitespace nor punctuation (every non-alphanumeric printable character), and each
    punctuation character alone.  Returns ``(pieces, ends)`` as
    :func:`split_bytelevel_ascii`."""
    cls = _ascii_classes()
    n = buf.shape[0]
    out, ends = _outputs(n)
    n_out = n_pieces = np.int64(0)
    p = np.int64(0)
    while p < n:
        c = buf[p]
        k = cls[c]
        if k == _SPACE:
            p += 1
            continue
        q = p + 1
        if not (k == _OTHER and 0x21 <= c <= 0x7E):  # a word: up to whitespace or punctuation
            while q < n:
                d = buf[q]
                if cls[d] == _SPACE or (cls[d] == _OTHER and 0x21 <= d <= 0x7E):
                    break
                q += 1
        n_out, n_pieces = _emit(buf, p, q, out, ends, n_out, n_pieces)
        p = q
    return out[:n_out], ends[:n_pieces]


@numba.njit(cache=True)
def split_spaces(buf):
    """Metaspace's words (a ``▁`` prepended, every space one; ``pipeline.Metaspace``) of the
    UTF-8 lines ``buf`` (separated by ``\\n``), without their leading ``▁``: each line's text
    between single spaces.  A space that starts a line gives no empty piece before it (the
    prepended ``▁`` is that space's); an empty line gives none.  A piece may be empty: the
    word ``▁`` alone, from two spaces in a row or one that ends a line.  Returns ``(pieces,
    ends)`` as :func:`split_bytelevel_ascii` (a line of k bytes gives at most k pieces)."""
    n = buf.shape[0]
    out, ends = _outputs(n)
    n_out = n_pieces = np.int64(0)
    line = q = np.int64(0)  # where the current line and piece start
    for s in range(n + 1):  # one pass; the end of the buffer ends a line
        c = buf[s] if s < n else 0x0A
        if c == 0x0A:
            if s > line:
                n_out, n_pieces = _emit(buf, q, s, out, ends, n_out, n_pieces)
            line = q = s + 1
        elif c == 0x20:
            if s > line:
                n_out, n_pieces = _emit(buf, q, s, out, ends, n_out, n_pieces)
            q = s + 1
    return out[:n_out], ends[:n_pieces]
