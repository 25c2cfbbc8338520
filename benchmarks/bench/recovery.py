"""Parameter recovery on simulated data: fitted parameters against the generating ones.

Only entries the training log informs take part: those with at least MIN_COUNT weighted
trials, where an entry's trials are the impressions it is used at (per qd pair, per rank,
per UBM (rank, last click) cell, per document; every impression for a global parameter).
Entries no session informs sit at the prior's mode whatever the truth, and would measure the
prior, not the engine.
"""

from __future__ import annotations

import numpy as np

from benchmarks import metrics
from clicklog import catalogue
from clicklog.sessions import Sessions

MIN_COUNT = 100
MAX_POINTS = 300


def _real_weights(sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
    mask = sessions.mask
    return mask, np.broadcast_to(sessions.weight.astype(np.float64)[:, None], mask.shape)[mask]


def last_click_slot(sessions: Sessions) -> np.ndarray:
    """[n, K]: j = 1 + rank of the last click above r, 0 where nothing above r was clicked."""
    K = sessions.K
    clicked_at = np.where(sessions.click, np.arange(1, K + 1)[None, :], 0)
    before = np.concatenate([np.zeros((sessions.n, 1), np.int64), clicked_at[:, :-1]], axis=1)
    return np.maximum.accumulate(before, axis=1)


def trial_counts(kind: str, sessions: Sessions) -> np.ndarray:
    """Weighted impressions at which a parameter of catalogue kind `kind` is used."""
    mask, w = _real_weights(sessions)
    K = sessions.K
    if kind == "qd":
        return metrics.qd_counts(sessions)
    if kind == "doc":
        return np.bincount(sessions.doc[mask], weights=w, minlength=sessions.n_docs)
    if kind == "rank":
        return sessions.weight.astype(np.float64) @ mask.astype(np.float64)
    if kind == "rank_last":
        rank = np.broadcast_to(np.arange(K)[None, :], mask.shape)[mask]
        cell = rank * K + last_click_slot(sessions)[mask]
        return np.bincount(cell, weights=w, minlength=K * K).reshape(K, K)
    if kind == "global":
        return np.asarray(sessions.n_impressions)
    raise ValueError(f"unknown parameter kind {kind!r}")


def recovery(
    model: str,
    fitted: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    train: Sessions,
    min_count: float = MIN_COUNT,
) -> dict[str, dict]:
    """Per parameter: mean and max absolute error over informed entries, their number, and
    up to MAX_POINTS (true, fitted) pairs of the most often shown entries for a scatter plot."""
    out = {}
    for name, kind in catalogue.parameters(model).items():
        if name not in truth or name not in fitted:
            continue
        counts = np.broadcast_to(trial_counts(kind, train), np.shape(truth[name]))
        informed = counts >= min_count
        if not informed.any():
            continue
        error = metrics.recovery_error(truth[name], fitted[name], counts, min_count)
        order = np.argsort(-counts[informed], kind="stable")[:MAX_POINTS]
        out[name] = {
            "mae": error.mae,
            "max_error": error.max_error,
            "entries": error.entries,
            "true": np.asarray(truth[name], np.float64)[informed][order].tolist(),
            "fitted": np.asarray(fitted[name], np.float64)[informed][order].tolist(),
        }
    return out
