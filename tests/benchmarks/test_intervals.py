"""Relevance intervals (benchmarks/intervals.py): exact where the posterior is one Beta, seeded
Monte Carlo for DBN's product, for fits of either engine; and they cover: on simulated logs
whose pairs are mostly seen a few times, as in real logs, the true relevance of at least 85%
of the pairs lies inside its 90% interval, for PBM and DBN."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import em
import gradient
from benchmarks import metrics
from benchmarks.intervals import relevance_intervals
from benchmarks.simulate import simulate


@pytest.mark.parametrize("model", ["pbm", "dbn"])
def test_intervals_cover_the_true_relevance(model):
    # Rankings vary a lot between impressions (ranking_noise=3), so that examination, whose
    # uncertainty the plug-in intervals leave out, is well identified; with less variation
    # the MAP fit's examination scale drifts up by 5-15% and PBM's coverage falls to ~82%.
    sim = simulate(model, 3000, 12, K=5, n_queries=40, pool_size=6, min_length=3,
                   ranking_noise=3.0)
    s = sim.sessions
    fit = em.fit(model, s, prior="empirical", max_iter=1000, tol=1e-9)
    bounds = relevance_intervals(fit, s)
    truth = sim.truth["attraction"] * (sim.truth["satisfaction"] if model == "dbn" else 1.0)
    shown = metrics.qd_counts(s) > 0
    inside = (bounds["relevance_low"] <= truth) & (truth <= bounds["relevance_high"])
    assert shown.sum() > 200
    assert inside[shown].mean() >= 0.85
    assert np.all(bounds["relevance_low"] <= bounds["relevance_high"])


def test_dctr_interval_is_the_beta_posterior_of_its_counts():
    sim = simulate("dctr", 200, 1, K=3, n_queries=3, pool_size=4)
    s = sim.sessions
    fit = em.fit("dctr", s, prior=(2.0, 3.0))
    bounds = relevance_intervals(fit, s, level=0.8)
    clicks = np.bincount(s.qd[s.click & s.mask], minlength=s.n_qd)
    shown = metrics.qd_counts(s)
    a, b = 2.0 + clicks, 3.0 + shown - clicks
    np.testing.assert_allclose(bounds["relevance_low"], stats.beta.ppf(0.1, a, b), atol=1e-9)
    np.testing.assert_allclose(bounds["relevance_high"], stats.beta.ppf(0.9, a, b), atol=1e-9)
    np.testing.assert_allclose(bounds["examinations"], shown)


def test_intervals_of_both_engines_agree_and_are_seeded():
    sim = simulate("dbn", 400, 2, K=4, n_queries=5, pool_size=5, min_length=3)
    s = sim.sessions
    by_em = relevance_intervals(em.fit("dbn", s, max_iter=2000, tol=1e-10), s, seed=3)
    fit = gradient.fit("dbn", s, dtype="float64")
    by_gradient, again = (relevance_intervals(fit, s, seed=3) for _ in range(2))
    for name in by_em:
        np.testing.assert_array_equal(by_gradient[name], again[name])
        np.testing.assert_allclose(by_gradient[name], by_em[name], rtol=1e-3, atol=2e-3)


def test_level_is_checked():
    sim = simulate("pbm", 50, 1, K=3, n_queries=2, pool_size=4)
    fit = em.fit("pbm", sim.sessions, max_iter=3)
    with pytest.raises(ValueError, match="level"):
        relevance_intervals(fit, sim.sessions, level=1.5)
