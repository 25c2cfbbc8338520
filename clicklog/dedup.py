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

import numpy as np

from clicklog.sessions import Sessions

HASH_BITS = 64


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
    # Numba loads here, on the first deduplication, not when clicklog is imported.
    from clicklog import dedup_kernels

    keep_mask = np.uint64((1 << hash_bits) - 1)
    hashes = dedup_kernels.hash_rows(*fields, keep_mask)
    # about 32k rows a bucket: a table of 64k (hash, group) slots, 1 MiB, stays in cache
    if part_bits is None:
        part_bits = min(max(sessions.n.bit_length() - 15, 0), 12, hash_bits)
    if not 0 <= part_bits <= min(hash_bits, 16):
        raise ValueError(f"part_bits must be in 0..{min(hash_bits, 16)}, got {part_bits}")
    return dedup_kernels.group(hashes, *fields, np.ascontiguousarray(sessions.weight),
                               part_bits)


def dedup(sessions: Sessions) -> Sessions:
    """Sessions with identical rows merged; weights summed (in float64, stored as float32)."""
    if sessions.n == 0:
        return sessions
    first, weight = groups(sessions)
    return sessions.subset(first, weight=weight.astype(np.float32))
