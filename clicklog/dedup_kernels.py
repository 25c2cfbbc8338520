"""The Numba kernels of clicklog.dedup (its docstring says how they work): a 64-bit hash of
every row in one parallel pass, then grouping of equal rows in cache-sized buckets, each row
compared field by field with its group's first row. A module of their own so that importing
clicklog (and `clickfit data stats`) does not load Numba; clicklog.dedup imports it on use."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def _mix(h, word):
    """Fold one 64-bit word into the running hash h."""
    h = (h ^ word) * _MULTIPLIER
    return h ^ (h >> np.uint64(29))


@njit(cache=True)
def _finish(h):
    """splitmix64's finaliser: every output bit depends on every input bit, so the table's
    low-bit slots spread evenly."""
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    return h ^ (h >> np.uint64(31))


@njit(parallel=True, cache=True)
def hash_rows(query, length, qd, click, bias, keep_mask):
    """The 64-bit hash of every row's identity, cut to the bits of keep_mask."""
    n, K = qd.shape
    out = np.empty(n, np.uint64)
    for i in prange(n):
        h = _mix(np.uint64(0x2545F4914F6CDD1D), np.uint64(np.uint32(query[i])))
        h = _mix(h, np.uint64(np.uint32(length[i])))
        clicks = np.uint64(0)
        for r in range(K):
            h = _mix(h, np.uint64(np.uint32(qd[i, r])))
            clicks = (clicks << np.uint64(1)) | np.uint64(click[i, r])
            if r % 64 == 63:
                h = _mix(h, clicks)
                clicks = np.uint64(0)
        h = _mix(h, clicks)
        for j in range(bias.shape[1]):
            h = _mix(h, np.uint64(np.uint32(bias[i, j])))
        out[i] = _finish(h) & keep_mask
    return out


@njit(cache=True)
def _same(i, j, query, length, qd, click, bias):
    """Whether rows i and j are the same session, field by field."""
    if query[i] != query[j] or length[i] != length[j]:
        return False
    for r in range(qd.shape[1]):
        if qd[i, r] != qd[j, r] or click[i, r] != click[j, r]:
            return False
    for k in range(bias.shape[1]):
        if bias[i, k] != bias[j, k]:
            return False
    return True


@njit(cache=True)
def _table_size(n):
    size = 1
    while size < 2 * n:
        size *= 2
    return size


@njit(cache=True)
def _group_part(rows, hashes, query, length, qd, click, bias, weight, shift, first, total):
    """Group `rows` (increasing) with one open-addressing table of (hash, group); fill
    first[:g] and total[:g] and return g, the number of groups."""
    size = _table_size(rows.size)
    table_hash = np.empty(size, np.uint64)
    table_group = np.full(size, -1, np.int64)
    n_groups = 0
    for i in rows:
        h = hashes[i]
        slot = np.int64((h >> shift) & np.uint64(size - 1))
        while True:
            g = table_group[slot]
            if g < 0:
                table_hash[slot] = h
                table_group[slot] = n_groups
                first[n_groups] = i
                total[n_groups] = weight[i]
                n_groups += 1
                break
            if table_hash[slot] == h and _same(i, first[g], query, length, qd, click, bias):
                total[g] += weight[i]
                break
            slot = (slot + 1) & (size - 1)
    return n_groups


@njit(parallel=True, cache=True)
def group(hashes, query, length, qd, click, bias, weight, part_bits):
    """(first row of each group in order of first occurrence, float64 weight of each).

    Rows are bucketed by the low part_bits bits of their hash (equal sessions share a
    bucket), and the buckets grouped in parallel, each with a table small enough to stay in
    cache; each bucket holds its rows in increasing order, so a group's weights are summed
    in row order. The groups are then put in order of their first row in one pass."""
    n = hashes.size
    n_parts = 1 << part_bits
    part_mask = np.uint64(n_parts - 1)
    offsets = np.zeros(n_parts + 1, np.int64)
    for i in range(n):
        offsets[np.int64(hashes[i] & part_mask) + 1] += 1
    for p in range(n_parts):
        offsets[p + 1] += offsets[p]
    fill = offsets[:-1].copy()
    rows = np.empty(n, np.int64)
    for i in range(n):
        p = np.int64(hashes[i] & part_mask)
        rows[fill[p]] = i
        fill[p] += 1
    first = np.empty(n, np.int64)
    total = np.empty(n, np.float64)
    counts = np.zeros(n_parts, np.int64)
    shift = np.uint64(part_bits)
    for p in prange(n_parts):
        a, b = offsets[p], offsets[p + 1]
        counts[p] = _group_part(rows[a:b], hashes, query, length, qd, click, bias, weight,
                                shift, first[a:b], total[a:b])
    group_of = np.full(n, -1, np.int64)
    for p in range(n_parts):
        for g in range(offsets[p], offsets[p] + counts[p]):
            group_of[first[g]] = g
    n_groups = counts.sum()
    out_first = np.empty(n_groups, np.int64)
    out_total = np.empty(n_groups, np.float64)
    k = 0
    for i in range(n):
        g = group_of[i]
        if g >= 0:
            out_first[k] = i
            out_total[k] = total[g]
            k += 1
    return out_first, out_total
