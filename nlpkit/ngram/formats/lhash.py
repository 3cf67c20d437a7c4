"""The iteration order of SRILM's ``LHash`` tables, which fixes the line order of count files."""
import numba
import numpy as np


@numba.njit(cache=True)
def _lhash_slot(key, bits):
    h = (np.uint64(key) * np.uint64(1103515245) + np.uint64(12345)) >> np.uint64(30 - bits)
    return np.int64(h & np.uint64((1 << bits) - 1))


@numba.njit(cache=True)
def _round_size(size):
    if size < 8:
        return size
    return np.int64(np.float32(size + 1) / np.float32(0.8))


@numba.njit(cache=True)
def lhash_positions(perm, gstart, keys, pos):
    """Where SRILM's ``LHash`` iteration puts each entry of each group.

    Group ``g`` holds the keys ``keys[perm[gstart[g]:gstart[g+1]]]`` in insertion
    order.  The table (dstruct/src/LHash.cc) starts with 1 slot and grows to the
    power of two >= ``roundSize(n + 1)`` when full; below 8 slots it is a plain
    array in insertion order, from 8 on linear probing on
    ``(k * 1103515245 + 12345) >> (30 - bits)``, rehashing in slot order.
    Iteration visits the slots in order; ``pos[perm[q]]`` gets the rank.
    """
    for g in range(gstart.shape[0] - 1):
        a = gstart[g]
        n = gstart[g + 1] - a
        if n <= 4:  # never leaves linear mode
            for q in range(n):
                pos[perm[a + q]] = q
            continue
        bits = 0
        table = np.full(1, -1, dtype=np.int64)  # entry index (into the group) per slot
        for q in range(n):
            need = _round_size(q + 1)
            if need > (1 << bits):
                old = table
                old_bits = bits
                while (1 << bits) < need:
                    bits += 1
                table = np.full(1 << bits, -1, dtype=np.int64)
                if bits < 3:
                    for i in range(q):
                        table[i] = old[i]
                else:
                    for i in range(1 << old_bits):
                        e = old[i]
                        if e >= 0:
                            s = _lhash_slot(keys[perm[a + e]], bits)
                            while table[s] >= 0:
                                s = (s + 1) & ((1 << bits) - 1)
                            table[s] = e
            if bits < 3:
                table[q] = q
            else:
                s = _lhash_slot(keys[perm[a + q]], bits)
                while table[s] >= 0:
                    s = (s + 1) & ((1 << bits) - 1)
                table[s] = q
        rank = 0
        for i in range(table.shape[0]):
            if table[i] >= 0:
                pos[perm[a + table[i]]] = rank
                rank += 1
