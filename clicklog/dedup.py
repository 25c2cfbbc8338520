"""Deduplication: identical sessions collapse into one row whose weight is the sum of theirs.

Two sessions are identical when they have the same query, the same length, the same qd row
(hence the same documents in the same order) and the same click row. Every engine and metric
honours `weight`, so the deduplicated log gives the same numbers as the full one, faster
(DESIGN.md section 2). Rows keep the order of their first occurrence.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from clicklog.sessions import Sessions


def session_keys(sessions: Sessions) -> np.ndarray:
    """One opaque, hashable-by-bytes key per row: equal keys <=> identical sessions."""
    fields = np.column_stack(
        [sessions.query, sessions.length.astype(np.int32), sessions.qd, sessions.click]
    ).astype(np.int32)
    return np.ascontiguousarray(fields).view(np.dtype((np.void, fields.shape[1] * 4))).ravel()


def dedup(sessions: Sessions) -> Sessions:
    """Sessions with identical rows merged; weights summed (in float64, stored as float32)."""
    if sessions.n == 0:
        return sessions
    _, first, inverse = np.unique(session_keys(sessions), return_index=True, return_inverse=True)
    weight = np.bincount(inverse.ravel(), weights=sessions.weight.astype(np.float64))
    order = np.argsort(first, kind="stable")
    rows = sessions.subset(first[order])
    return replace(rows, weight=weight[order].astype(np.float32))
