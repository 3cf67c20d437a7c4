"""Structured mutations of a valid file: what a damaged or hostile file looks like.

One function, :func:`mutate`, driven by a :class:`random.Random`: the property
tests (``tests/fuzz``) hand it hypothesis's ``st.randoms()``, the atheris
harness (``fuzz/run.py``) one seeded by libFuzzer.  Besides byte-level damage
(truncation, flipped bytes, inserted bytes) it makes the mutations a byte
fuzzer finds slowly: lines duplicated, dropped or swapped, and numbers -- in
text or as little-endian integers -- replaced by huge, negative, NaN or
non-numbers, or nudged by a few (a binary header's offset moved by one byte).
"""
from __future__ import annotations

import random
import re
import struct

# text numbers that break readers: past int32/int64, negative, not finite, not numbers,
# and what Python's int() accepts beyond ASCII digits (underscores, other scripts' digits)
NUMBERS = [b"0", b"-1", b"1", b"2147483647", b"2147483648", b"4294967296", b"-2147483649",
           b"9223372036854775807", b"9223372036854775808", b"100000000000000000000",
           b"-100000000000000000000", b"nan", b"NaN", b"inf", b"-inf", b"1e309", b"-1e309",
           b"1e-400", b"x", b"", b"1.5", b"-0", b"0x10", b"1_000", "\u0663".encode(), b"+5",
           b"99999999999999999999999999999999999999999"]
# integers written into binary files
INTS = [0, 1, -1, 2, 7, 8, 64, 255, 256, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
        2 ** 63 - 1, -2 ** 31, -2 ** 63]
BYTES = [b"\x00", b"\xff", b"\n", b"\t", b" ", b"\\", b"\r", b"\xc3", b"\xed\xa0\x80", b"#",
         b"\"", b"{", b"}", b"[", b"]", b",", b":", b"-", b"\x1f\x8b"]

_NUMBER = re.compile(rb"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _lines(data):
    return data.split(b"\n")


def mutate(data: bytes, rnd: random.Random, *, steps: int | None = None) -> bytes:
    """``data`` with 1-3 random mutations (``steps`` of them if given)."""
    for _ in range(rnd.randint(1, 3) if steps is None else steps):
        data = _ONE[rnd.randrange(len(_ONE))](data, rnd)
    return data


def _truncate(data, rnd):
    return data[:rnd.randint(0, len(data))]


def _set_bytes(data, rnd):
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        if b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    return bytes(b)


def _flip_bit(data, rnd):
    if not data:
        return data
    b = bytearray(data)
    i = rnd.randrange(len(b))
    b[i] ^= 1 << rnd.randrange(8)
    return bytes(b)


def _insert(data, rnd):
    i = rnd.randint(0, len(data))
    piece = rnd.choice(BYTES) if rnd.random() < 0.6 else rnd.randbytes(rnd.randint(1, 16))
    return data[:i] + piece * rnd.randint(1, 3) + data[i:]


def _delete(data, rnd):
    if not data:
        return data
    i = rnd.randrange(len(data))
    return data[:i] + data[i + rnd.randint(1, 16):]


def _dup_line(data, rnd):
    lines = _lines(data)
    i = rnd.randrange(len(lines))
    lines[i:i] = [lines[i]] * rnd.randint(1, 3)
    return b"\n".join(lines)


def _drop_line(data, rnd):
    lines = _lines(data)
    del lines[rnd.randrange(len(lines))]
    return b"\n".join(lines)


def _swap_lines(data, rnd):
    lines = _lines(data)
    i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _number(data, rnd):
    """A number in the text replaced by a bad one, or nudged (an offset off by one)."""
    found = list(_NUMBER.finditer(data))
    if not found:
        return _insert(data, rnd)
    m = rnd.choice(found)
    if rnd.random() < 0.5:
        new = rnd.choice(NUMBERS)
    else:
        try:
            v = int(m.group())
        except ValueError:
            v = 0
        new = b"%d" % (v + rnd.choice([-64, -8, -2, -1, 1, 2, 8, 64, v, -2 * v]))
    return data[:m.start()] + new + data[m.end():]


def _binary_int(data, rnd):
    """A little-endian 4- or 8-byte integer (aligned) overwritten by an interesting one."""
    width = rnd.choice([4, 8])
    if len(data) < width:
        return _set_bytes(data, rnd)
    i = rnd.randrange(0, len(data) - width + 1, width if rnd.random() < 0.7 else 1)
    v = rnd.choice(INTS)
    if rnd.random() < 0.5:  # nudge what is there
        old = int.from_bytes(data[i:i + width], "little", signed=True)
        v = old + rnd.choice([-64, -8, -1, 1, 8, 64])
    lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width)) - 1
    v = max(lo, min(hi, v))
    packed = struct.pack("<" + ("i" if width == 4 else "q"), v) if v < (1 << (8 * width - 1)) \
        else v.to_bytes(width, "little")
    return data[:i] + packed + data[i + width:]


# values of other types put in a JSON document in place of one of its values
JSON_VALUES = [None, True, False, 0, -1, 2 ** 31, 2 ** 63, 10 ** 20, 1.5, float("nan"), "",
               "x", "##", [], [1, 2], ["a"], {}, {"type": "x"}, {"a": 1}]


def json_value(data, rnd):
    """A value somewhere in a JSON document (tokenizer.json) replaced by one of another type."""
    import json
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return _number(data, rnd)
    nodes = []  # (container, key) of every value

    def walk(v, depth=0):
        if depth > 20:
            return
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
        for k, child in items:
            nodes.append((v, k))
            walk(child, depth + 1)
    walk(doc)
    if not nodes:
        return _number(data, rnd)
    container, key = rnd.choice(nodes)
    container[key] = rnd.choice(JSON_VALUES)
    return json.dumps(doc).encode()


def _random_bytes(data, rnd):
    return rnd.randbytes(rnd.randint(0, 64))


_ONE = [_truncate, _set_bytes, _flip_bit, _insert, _delete, _dup_line, _drop_line, _swap_lines,
        _number, _number, _number, _binary_int, json_value, _random_bytes]
