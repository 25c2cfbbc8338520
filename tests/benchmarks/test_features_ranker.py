"""The features benchmark's production ranker: ridge by hand, judged queries, no label
leakage from unjudged queries, and the simulator's ranker_score option (default unchanged)."""

from __future__ import annotations

import numpy as np
import pytest
from features_letor import write_letor

from benchmarks.simulate import letor_ranker
from benchmarks.simulate.letor import simulate_ranking_log, with_ranker_score
from benchmarks.simulate.letor_ranker import (
    cross_fitted_ranker,
    judged_queries,
    judged_ranker,
    ridge,
)
from clicklog.io_letor import read_letor


@pytest.fixture
def letor(tmp_path):
    return write_letor(tmp_path / "letor")


def test_ridge_by_hand():
    z = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1.0, 3.0, 2.0])
    # Strength 0: least squares, slope 0.5, intercept 1.
    np.testing.assert_allclose(ridge(z, y, 0.0), [0.5, 1.0])
    # Strength s: slope = Sxy / (Sxx + s) with centred sums Sxy = 1, Sxx = 2; the intercept
    # is not penalised, so it puts the line through the means.
    w = ridge(z, y, 2.0)
    np.testing.assert_allclose(w, [0.25, 2.0 - 0.25 * 2.0])


def test_judged_queries_are_seeded_and_checked():
    a = judged_queries(100, 0.1, [3, 7])
    assert a.sum() == 10 and np.array_equal(a, judged_queries(100, 0.1, [3, 7]))
    assert not np.array_equal(a, judged_queries(100, 0.1, [4, 7]))
    assert judged_queries(20, 0.1, 0).sum() == letor_ranker.FOLDS  # at least one per fold
    with pytest.raises(ValueError, match="share"):
        judged_queries(100, 1.0, 0)
    with pytest.raises(ValueError, match="too few"):
        judged_queries(5, 0.5, 0)


def test_ranker_learns_from_judged_labels_only(letor):
    data = read_letor(letor)
    sim = simulate_ranking_log(data, "pbm", 1, 0)
    s = sim.sessions
    judged = judged_queries(s.n_queries, 0.2, 1)
    score, strength = judged_ranker(s.qd_features, s.labels, s.qd_query, judged, 2)
    assert strength in letor_ranker.RIDGE_GRID
    assert score.std() == pytest.approx(letor_ranker.SCORE_SD)
    # The label is monotone in feature 1: the ranker's score must be too.
    f1 = s.qd_features[:, 0]
    assert np.corrcoef(score, f1)[0, 1] > 0.95
    # Labels of unjudged queries never reach the ranker.
    scrambled = s.labels.copy()
    scrambled[~judged[s.qd_query]] = np.random.default_rng(0).permutation(
        scrambled[~judged[s.qd_query]])
    again, _ = judged_ranker(s.qd_features, scrambled, s.qd_query, judged, 2)
    np.testing.assert_array_equal(again, score)
    with pytest.raises(ValueError, match="single label"):
        judged_ranker(s.qd_features, np.zeros_like(s.labels), s.qd_query, judged, 2)


def test_cross_fitted_ranker_never_reads_a_scored_querys_labels(letor):
    s = simulate_ranking_log(read_letor(letor), "pbm", 1, 0).sessions
    score, strengths = cross_fitted_ranker(s.qd_features, s.labels, s.qd_query, 3, folds=5)
    assert len(strengths) == 5 and set(strengths) <= set(letor_ranker.RIDGE_GRID)
    # Fitted on (most) labels, it follows the feature the label grows with.
    assert np.corrcoef(score, s.qd_features[:, 0])[0, 1] > 0.95
    again, _ = cross_fitted_ranker(s.qd_features, s.labels, s.qd_query, 3, folds=5)
    np.testing.assert_array_equal(again, score)
    # Change one query's labels: its own scores stay exactly as they were (its fold's ridge
    # never saw them), while the other folds' rankers, which did see them, move.
    for q in (0, 7, 19):
        at = s.qd_query == q
        changed = s.labels.copy()
        changed[at] = (changed[at] + 1 + np.arange(at.sum())) % 3
        moved, _ = cross_fitted_ranker(s.qd_features, changed, s.qd_query, 3, folds=5)
        np.testing.assert_array_equal(moved[at], score[at])
        assert not np.array_equal(moved[~at], score[~at])
    with pytest.raises(ValueError, match="folds"):
        cross_fitted_ranker(s.qd_features, s.labels, s.qd_query, 3, folds=1)


def test_ranker_score_option_keeps_default_and_orders_pages(letor):
    data = read_letor(letor)
    default = simulate_ranking_log(data, "dbn", 300, 5)
    own = np.full(default.world.n_qd, np.nan)
    valid = default.world.pool_qd >= 0
    own[default.world.pool_qd[valid]] = default.world.score[valid]
    # Passing the label-driven ranker's own scores reproduces the default log exactly: the
    # option changes only the score, not the random streams.
    same = simulate_ranking_log(data, "dbn", 300, 5, ranker_score=own)
    np.testing.assert_array_equal(same.sessions.qd, default.sessions.qd)
    np.testing.assert_array_equal(same.sessions.click, default.sessions.click)
    # Without per-impression noise the page is the pool sorted by the given score, highest first.
    s = simulate_ranking_log(data, "pbm", 50, 5, K=3, ranking_noise=0.0,
                             ranker_score=-np.arange(data.n, dtype=float)).sessions
    for row in range(s.n):
        shown = s.qd[row, : s.length[row]]
        pool = np.flatnonzero(s.qd_query == s.query[row])
        np.testing.assert_array_equal(shown, np.sort(pool)[:3])
    with pytest.raises(ValueError, match="ranker_score must be float"):
        with_ranker_score(default.world, own[:-1])
    with pytest.raises(ValueError, match="finite"):
        with_ranker_score(default.world, own * np.nan)
