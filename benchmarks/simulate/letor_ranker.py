"""A production ranker that is a function of the LETOR features, fitted on a few judged queries.

A real search engine's ranker knows a pair only through its features; before any click data a
team typically has graded judgements for a small set of queries and fits a ranker on them.
`judged_ranker` is that ranker: ridge regression of the graded label on the standardised
query-document features of the pairs of the judged queries (a pointwise linear ranker), with
the ridge strength chosen by cross-validated nDCG@10 over those queries (folds by query), then
scored on every pair. Its scores are rescaled to a fixed standard deviation over the pairs so
the simulator's per-impression Gumbel noise (benchmarks.simulate.world) perturbs its order as
much as it perturbed the former label-driven ranker's (whose scores spread about 1.85 on
MQ2008). Deterministic: the judged queries are chosen by the caller (`judged_queries`), the
folds by the seed.

Feed the result to benchmarks.simulate.letor.simulate_ranking_log(..., ranker_score=...).
"""

from __future__ import annotations

import numpy as np

from benchmarks.simulate.core import Seed, seed_sequence

RIDGE_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
FOLDS = 5
SCORE_SD = 1.85
K = 10

__all__ = ["FOLDS", "RIDGE_GRID", "SCORE_SD", "cross_fitted_ranker", "judged_queries",
           "judged_ranker", "ridge"]


def judged_queries(n_queries: int, share: float, seed: Seed) -> np.ndarray:
    """bool [n_queries]: a seeded `share` of the queries (at least FOLDS of them) that have
    graded judgements."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must lie in (0, 1), got {share}")
    n = max(FOLDS, int(round(share * n_queries)))
    if n >= n_queries:
        raise ValueError(f"{n_queries} queries are too few to judge {n} and keep others")
    chosen = np.zeros(n_queries, bool)
    chosen[np.random.default_rng(seed).permutation(n_queries)[:n]] = True
    return chosen


def ridge(z: np.ndarray, y: np.ndarray, strength: float) -> np.ndarray:
    """Weights [F + 1] (last = intercept, not penalised) minimising
    |y - z w - b|^2 + strength |w|^2."""
    a = np.column_stack([z, np.ones(z.shape[0])])
    penalty = strength * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    return np.linalg.solve(a.T @ a + penalty, a.T @ y)


def _ndcg(query: np.ndarray, score: np.ndarray, labels: np.ndarray) -> float:
    """Mean nDCG@K over queries with two labels or more (ties broken by index; selection
    only)."""
    values = []
    for q in np.unique(query):
        lab, s = labels[query == q], score[query == q]
        if np.unique(lab).size < 2:
            continue
        discount = 1.0 / np.log2(np.arange(2, min(K, lab.size) + 2))
        gain = 2.0 ** lab[np.argsort(-s, kind="stable")][:K] - 1.0
        ideal = 2.0 ** np.sort(lab)[::-1][:K] - 1.0
        values.append(float(gain @ discount / (ideal @ discount)))
    return float(np.mean(values)) if values else 0.0


def _standardised(features: np.ndarray) -> np.ndarray:
    """Each feature centred and scaled to unit sd over all pairs (features only, no labels)."""
    x = np.asarray(features, np.float64)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    return (x - mean) / np.where(sd > 0.0, sd, 1.0)


def _cv_ridge(
    z: np.ndarray, labels: np.ndarray, query: np.ndarray, train: np.ndarray, seed: Seed,
) -> tuple[np.ndarray, float]:
    """(weights, ridge strength) of the ridge fitted on the pairs where `train` holds, the
    strength chosen by FOLDS-fold cross-validated nDCG@K over their queries. Only the labels
    of those pairs are read."""
    if np.unique(labels[train]).size < 2:
        raise ValueError("the judged queries carry a single label: nothing to fit a ranker on")
    zq, yq, qq = z[train], labels[train], query[train]
    queries = np.unique(qq)
    fold_of = np.empty(query.max() + 1, np.int64)
    fold_of[queries] = np.random.default_rng(seed).permutation(queries.size) % FOLDS
    fold = fold_of[qq]
    cv = []
    for strength in RIDGE_GRID:
        predicted = np.empty(yq.size)
        for f in range(FOLDS):
            w = ridge(zq[fold != f], yq[fold != f], strength)
            predicted[fold == f] = zq[fold == f] @ w[:-1] + w[-1]
        cv.append(_ndcg(qq, predicted, yq))
    strength = RIDGE_GRID[int(np.argmax(cv))]
    return ridge(zq, yq, strength), strength


def judged_ranker(
    features: np.ndarray, labels: np.ndarray, query: np.ndarray, judged: np.ndarray,
    seed: Seed, *, score_sd: float = SCORE_SD,
) -> tuple[np.ndarray, float]:
    """(score per pair [n], chosen ridge strength) of the ranker fitted on the pairs of the
    judged queries (module docstring). features [n, F] per pair, labels [n] graded, query [n]
    the pair's query index, judged bool [n_queries]."""
    labels = np.asarray(labels, np.float64)
    query = np.asarray(query)
    z = _standardised(features)
    w, strength = _cv_ridge(z, labels, query, np.asarray(judged, bool)[query], seed)
    score = z @ w[:-1]
    spread = score.std()
    return (score / spread * score_sd if spread > 0.0 else score), strength


def cross_fitted_ranker(
    features: np.ndarray, labels: np.ndarray, query: np.ndarray, seed: Seed,
    folds: int = FOLDS,
) -> tuple[np.ndarray, list[float]]:
    """(score per pair [n], ridge strength per fold) of the same ridge ranker fitted on the
    labels of (almost) all queries, cross-fitted: the queries fall into `folds` seeded folds
    and each fold's pairs are scored by the ranker fitted (its strength cross-validated as in
    judged_ranker) on the other folds' labels, so no score has seen its own query's labels.
    The ceiling of a linear function of the features, as a baseline for rankings within a
    query; scores of different folds come from different fits and are comparable only within
    a query."""
    labels = np.asarray(labels, np.float64)
    query = np.asarray(query)
    n_queries = int(query.max()) + 1
    if folds < 2 or folds > n_queries:
        raise ValueError(f"folds must lie in [2, {n_queries}] (the queries), got {folds}")
    z = _standardised(features)
    outer, *inner = seed_sequence(seed).spawn(folds + 1)
    fold = (np.random.default_rng(outer).permutation(n_queries) % folds)[query]
    score = np.empty(query.size)
    strengths = []
    for f in range(folds):
        w, strength = _cv_ridge(z, labels, query, fold != f, inner[f])
        score[fold == f] = z[fold == f] @ w[:-1]
        strengths.append(strength)
    return score, strengths
