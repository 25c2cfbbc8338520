"""Train/test splits (DESIGN.md section 2). Both parts keep the whole vocabularies, so that
parameters fitted on the training part index the test part directly. Both are made with
Sessions.subset, so per-row fields (weights, bias features) go with their rows and the
per-pair ones (qd_features, labels) stay whole."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from clicklog.sessions import Sessions


class Restricted(NamedTuple):
    """Test sessions restricted to training queries, and what the restriction removed."""

    sessions: Sessions
    removed_sessions: int
    removed_weight: float
    removed_queries: int


def split_by_order(sessions: Sessions, train_fraction: float) -> tuple[Sessions, Sessions]:
    """The first floor(train_fraction * n) rows train, the rest test, as PyClick and CLAX
    split a log (for logs in time order: train on the past, test on the future)."""
    if not 0.0 <= train_fraction <= 1.0:
        raise ValueError(f"train_fraction must lie in [0, 1], got {train_fraction}")
    cut = int(np.floor(train_fraction * sessions.n))
    return sessions.subset(np.arange(cut)), sessions.subset(np.arange(cut, sessions.n))


def split_by_query(
    sessions: Sessions, test_fraction: float, seed: int
) -> tuple[Sessions, Sessions]:
    """Whole queries held out: round(test_fraction * q) of the q queries that occur, drawn at
    random (numpy Generator seeded with `seed`), go to test with all their sessions; row order
    is kept on both sides. Tests generalisation to unseen queries (e.g. of feature-based
    models); restrict_to_seen_queries would empty such a test set."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1], got {test_fraction}")
    present = np.unique(sessions.query)
    chosen = np.random.default_rng(seed).permutation(present)[
        : int(round(test_fraction * present.size))
    ]
    test = np.isin(sessions.query, chosen)
    return sessions.subset(~test), sessions.subset(test)


def restrict_to_seen_queries(test: Sessions, train: Sessions) -> Restricted:
    """Test sessions whose query occurs in `train`, as both anchors evaluate. Queries are
    compared by original id, so the two need not share a vocabulary."""
    seen_ids = train.query_ids[np.unique(train.query)]
    test_ids = test.query_ids[test.query]
    keep = np.isin(test_ids, seen_ids)
    dropped = ~keep
    return Restricted(
        sessions=test.subset(keep),
        removed_sessions=int(dropped.sum()),
        removed_weight=float(test.weight[dropped].sum(dtype=np.float64)),
        removed_queries=int(np.unique(test.query[dropped]).size),
    )
