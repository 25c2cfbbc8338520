"""prior="empirical" in EM: the type-II fit, the binomial-equivalent counts, the fixed point.

clicklog.priors and em/empirical.py define what is checked: fit_beta maximises the
Beta-binomial marginal likelihood inside a, b >= 1; the counts of a pair have the score and
the observed information of its likelihood (checked against finite differences of the exact
log-likelihood); a fit ends at the joint fixed point (its priors are the type-II optimum at
its counts, its parameters the MAP under them) and reports J with normalised Beta densities.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import em
from benchmarks.simulate import simulate
from clicklog import catalogue, priors
from em.empirical import binomial_counts
from em.engine import get_model, mstep
from em.layout import layout


def test_fit_beta_recovers_the_generating_beta():
    rng = np.random.default_rng(0)
    theta = rng.beta(3.0, 7.0, size=20_000)
    trials = rng.integers(5, 40, size=theta.size).astype(float)
    a, b = priors.fit_beta(rng.binomial(trials.astype(int), theta), trials)
    assert a == pytest.approx(3.0, rel=0.1) and b == pytest.approx(7.0, rel=0.1)


def test_fit_beta_is_the_maximum_and_respects_the_bound():
    rng = np.random.default_rng(1)
    trials = rng.integers(1, 20, size=300).astype(float)
    successes = rng.binomial(trials.astype(int), rng.beta(2.0, 5.0, size=300)) + 0.3
    best = priors.fit_beta(successes, trials)
    value = priors.marginal(successes, trials, best)
    for da in (-0.01, 0.01):
        for db in (-0.01, 0.01):
            near = (max(best[0] + da, 1.0), max(best[1] + db, 1.0))
            assert priors.marginal(successes, trials, near) <= value + 1e-9
    # Almost no successes anywhere: the unconstrained optimum has a < 1, held at the bound.
    a, b = priors.fit_beta(np.zeros(200), np.full(200, 10.0))
    assert a == 1.0 and b > 1.0


def test_log_prior_of_a_fitted_prior_keeps_the_normalising_constant():
    params = {"attraction": np.array([0.2, 0.7]), "continuation": np.array(0.9)}
    fitted = {"attraction": (2.5, 4.0), "continuation": (2.0, 2.0)}
    expected = sum(
        np.sum((a - 1) * np.log(params[k]) + (b - 1) * np.log1p(-params[k]))
        - np.size(params[k]) * special.betaln(a, b) for k, (a, b) in fitted.items())
    assert catalogue.log_prior(params, fitted) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("model", ["pbm", "dbn", "ccm", "cm"])
def test_counts_have_the_score_and_information_of_the_likelihood(model):
    sim = simulate(model, 400, 5, K=4, n_queries=4, pool_size=5, min_length=3)
    s = sim.sessions
    params = {k: np.clip(np.asarray(v, float), 0.05, 0.95) for k, v in sim.truth.items()}
    spec = get_model(model)
    stats, _ = spec.estep(layout(s), params)
    counts = binomial_counts(model, spec, s, params, stats)

    def loglik(name, key, dx):
        p = {k: v.copy() for k, v in params.items()}
        x = np.log(p[name][key] / (1 - p[name][key])) + dx
        p[name][key] = 1 / (1 + np.exp(-x))
        return float(np.sum(s.weight * em.session_loglik(model, p, s)))

    h = 1e-4
    for name, (successes, trials) in counts.items():
        # Where the information is not positive, or the score larger than a binomial's can
        # be, no binomial matches and the counts are clipped; elsewhere they match exactly.
        inside = np.flatnonzero((successes > 0) & (successes < trials))[:4]
        assert inside.size >= 2
        for key in inside:
            up, mid, down = (loglik(name, key, d) for d in (h, 0.0, -h))
            score, info = (up - down) / (2 * h), -(up - 2 * mid + down) / h**2
            theta = params[name][key]
            assert successes[key] - theta * trials[key] == pytest.approx(score, abs=1e-5)
            assert theta * (1 - theta) * trials[key] == pytest.approx(info, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("model", ["pbm", "dbn"])
def test_fit_ends_at_the_joint_fixed_point(model):
    sim = simulate(model, 600, 2, K=4, n_queries=10, pool_size=5, min_length=3)
    s = sim.sessions
    fit = em.fit(model, s, prior="empirical", max_iter=2000, tol=1e-11)
    assert fit.converged and fit.settings["prior"] == "empirical"
    assert set(fit.prior) == set(catalogue.parameters(model))
    assert set(fit.settings["learned_prior"]) == set(priors.learned(model))
    spec = get_model(model)
    stats, loglik = spec.estep(layout(s), fit.params)
    counts = binomial_counts(model, spec, s, fit.params, stats)
    for name in priors.learned(model):
        again = priors.fit_beta(*counts[name], start=fit.prior[name])
        assert again == pytest.approx(fit.prior[name], rel=1e-4)
        assert min(fit.prior[name]) >= 1.0
    for name in set(fit.prior) - set(priors.learned(model)):
        assert fit.prior[name] == priors.FALLBACK
    step = mstep(stats, fit.prior)
    for name, value in fit.params.items():
        np.testing.assert_allclose(step[name], value, atol=1e-5)
    expected = (loglik + catalogue.log_prior(fit.params, fit.prior)) / s.n_impressions
    assert fit.objective(s) == pytest.approx(expected, abs=1e-12)
    assert fit.history[-1]["objective"] == pytest.approx(expected, abs=1e-12)


def test_fixed_priors_and_none_are_unchanged():
    sim = simulate("pbm", 300, 3, K=4, n_queries=4, pool_size=5)
    fixed = em.fit("pbm", sim.sessions, prior=(2.0, 2.0), max_iter=5, tol=0.0)
    assert fixed.prior == (2.0, 2.0)
    assert em.fit("pbm", sim.sessions, prior=None, max_iter=5, tol=0.0).prior is None


@pytest.mark.parametrize("model", ["pbm", "ccm"])
def test_plain_and_accelerated_rounds_reach_the_same_fixed_point(model):
    # tol 1e-7: hyper-parameters settled to sqrt(tol) ~ 3e-4 (clicklog.priors.settled).
    sim = simulate(model, 200, 3, K=4, n_queries=5, pool_size=5, min_length=3)
    plain = em.fit(model, sim.sessions, prior="empirical", accelerate=False, max_iter=20_000,
                   tol=1e-7)
    fast = em.fit(model, sim.sessions, prior="empirical", max_iter=20_000, tol=1e-7)
    assert plain.converged and fast.converged
    assert fast.settings["accelerate"] and not plain.settings["accelerate"]
    assert fast.settings["empirical_rounds"] >= 2
    for name, pair in plain.settings["learned_prior"].items():
        np.testing.assert_allclose(fast.settings["learned_prior"][name], pair, rtol=2e-3)
    assert fast.objective(sim.sessions) == pytest.approx(plain.objective(sim.sessions),
                                                         abs=1e-5)


def test_unsupported_empirical_fits_say_why(tmp_path):
    sim = simulate("pbm", 50, 3, K=4, n_queries=3, pool_size=5)
    with pytest.raises(ValueError, match="in memory only"):
        em.engine.check_prior("empirical")
    with pytest.raises(ValueError, match="prior must be"):
        em.fit("pbm", sim.sessions, prior="learned")
