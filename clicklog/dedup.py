"""Deduplication: identical sessions collapse into one row whose weight is the sum of theirs.

Two sessions are identical when they have the same query, the same length, the same qd row
(hence the same documents in the same order), the same click row and, when the sessions carry
them, the same per-impression bias features (a page seen on a phone is not the page seen on a
desktop: the examination sources tell them apart). Every engine and metric
honours `weight`, so the deduplicated log gives the same numbers as the full one, faster
(DESIGN.md section 2). Rows keep the order of their first occurrence.

How, at memory speed: one parallel pass hashes every row's fields to 64 bits; the rows are
bucketed by their hash's low bits and each bucket, in parallel, inserts its rows into an
open-addressing hash table small enough to stay in cache; one last pass numbers the groups
in order of first occurrence. Equal hashes are only a hint: a row joins a group only after
its fields compare equal to the group's first row, so a collision can slow the table down
but never merge two different sessions. Weights are summed in float64 in row order (the
sums a bincount would give) and stored as float32. The previous implementation (np.unique
over byte keys) is the specification tests/clicklog/test_dedup.py checks it against.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numba import njit, prange

from clicklog.sessions import Sessions

HASH_BITS = 64
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
def _hash_rows(query, length, qd, click, bias, keep_mask):
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
def _group(hashes, query, length, qd, click, bias, weight, part_bits):
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


def _bias_bits(sessions: Sessions) -> np.ndarray:
    """The bias features as int32 bit patterns [n, K * B] (an empty [n, 0] without them).
    Compared bit for bit; adding 0 first makes -0.0 and 0.0 one value."""
    if sessions.bias_features is None:
        return np.zeros((sessions.n, 0), np.int32)
    bias = (sessions.bias_features.astype(np.float32) + np.float32(0)).reshape(sessions.n, -1)
    return np.ascontiguousarray(bias).view(np.int32)


def groups(
    sessions: Sessions, hash_bits: int = HASH_BITS, part_bits: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(first row of every distinct session, in order of first occurrence; its summed float64
    weight). `hash_bits` below 64 truncates the hash, so that tests can force collisions;
    `part_bits` sets the number of buckets (2**part_bits; default: about 32k rows each)."""
    if not 1 <= hash_bits <= HASH_BITS:
        raise ValueError(f"hash_bits must be in 1..{HASH_BITS}, got {hash_bits}")
    fields = (
        np.ascontiguousarray(sessions.query),
        np.ascontiguousarray(sessions.length),
        np.ascontiguousarray(sessions.qd),
        np.ascontiguousarray(sessions.click),
        _bias_bits(sessions),
    )
    keep_mask = np.uint64((1 << hash_bits) - 1)
    hashes = _hash_rows(*fields, keep_mask)
    # about 32k rows a bucket: a table of 64k (hash, group) slots, 1 MiB, stays in cache
    if part_bits is None:
        part_bits = min(max(sessions.n.bit_length() - 15, 0), 12, hash_bits)
    if not 0 <= part_bits <= min(hash_bits, 16):
        raise ValueError(f"part_bits must be in 0..{min(hash_bits, 16)}, got {part_bits}")
    return _group(hashes, *fields, np.ascontiguousarray(sessions.weight), part_bits)


def dedup(sessions: Sessions) -> Sessions:
    """Sessions with identical rows merged; weights summed (in float64, stored as float32)."""
    if sessions.n == 0:
        return sessions
    first, weight = groups(sessions)
    return replace(sessions.subset(first), weight=weight.astype(np.float32))
