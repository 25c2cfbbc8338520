"""Parameter sources (DESIGN.md section 9) in the EM engine and against the gradient engine.

Simulated logs whose truth is in the function class: attraction (and DBN's satisfaction) a
logistic-linear function of 4 query-document features, about a fifth of the pairs never shown;
the vision models' sigma_d a logistic-linear function of document features. With a linear
source both engines start from the same weights (zero: every probability 1/2) and must reach
objectives within 1e-4 nats per impression of each other (EM to tol 1e-8, L-BFGS in float64),
and the fitted function must recover the true one, on the never-shown pairs too. EM with a
function source is generalised EM: its objective never falls.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import em
import gradient
from benchmarks.simulate.core import seeded_world, simulate_world
from benchmarks.simulate.letor import hide_pairs

PRIOR = (2.0, 2.0)
N_FEATURES = 4


def _logistic(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


def feature_log(model: str, seed: int, n_sessions: int = 6_000, n_queries: int = 40):
    """(sessions with qd_features, true attraction, true satisfaction or None)."""
    options = {"n_queries": n_queries, "K": 6, "pool_size": 10, "ranking_noise": 2.0}
    world, truth_rng, session_seed = seeded_world(seed, **options)
    rng = np.random.default_rng(seed + 1)
    world = hide_pairs(world, rng.random(world.n_qd) > 0.2)
    x = rng.standard_normal((world.n_qd, N_FEATURES))
    attraction = _logistic(x, np.array([1.2, -0.8, 0.5, 0.0]), -0.6)
    params = {"attraction": attraction}
    satisfaction = None
    if model == "dbn":
        satisfaction = _logistic(x, np.array([0.0, 0.6, -0.9, 0.4]), 0.2)
        params["satisfaction"] = satisfaction
    sim = simulate_world(model, world, n_sessions, truth_rng, session_seed, params)
    sessions = replace(sim.sessions, qd_features=x.astype(np.float32))
    return sessions, attraction, satisfaction


def _shown(sessions) -> np.ndarray:
    return np.bincount(sessions.qd[sessions.mask], minlength=sessions.n_qd) > 0


@pytest.mark.parametrize("model", ["pbm", "ubm", "dbn"])
def test_linear_sources_agree_across_engines_and_recover_the_truth(model):
    sessions, attraction, satisfaction = feature_log(model, seed=11)
    sources = {"attraction": "linear"}
    if satisfaction is not None:
        sources["satisfaction"] = "linear"
    fit_em = em.fit(model, sessions, prior=PRIOR, sources=sources, max_iter=3_000, tol=1e-8)
    fit_gd = gradient.fit(model, sessions, prior=PRIOR, sources=sources, dtype="float64")
    assert fit_em.converged and fit_gd.converged
    gap = fit_em.objective(sessions) - fit_gd.objective(sessions)
    assert abs(gap) < 1e-4, gap
    objective = [fit_em.settings["initial_objective"]] + [h["objective"] for h in fit_em.history]
    assert np.all(np.diff(objective) >= -1e-12), "generalised EM must never go down"
    hidden = ~_shown(sessions)
    assert hidden.sum() >= 20
    for fit in (fit_em, fit_gd):
        for name, truth in (("attraction", attraction), ("satisfaction", satisfaction)):
            if truth is None:
                continue
            fitted = fit.params[name]
            assert fitted.shape == (sessions.n_qd,)
            error = np.abs(fitted - truth)
            assert error.mean() < 0.05, (fit.engine, name, error.mean())
            assert error[hidden].mean() < 0.06, (fit.engine, name, error[hidden].mean())
            assert np.corrcoef(fitted[hidden], truth[hidden])[0, 1] > 0.95
        assert set(fit.settings["attraction_network"]) == {"w1", "b1"}


def test_same_start_and_mlp_source_agree():
    """An MLP source from the same seed (clicklog.network.initial_weights, used by both
    engines) reaches the same objective within 1e-4 nats per impression in both on PBM, and
    both converge. With a Gaussian prior on the weights (l2): without one the likelihood of a
    tanh network has no finite maximum (units saturate and the weights grow along a ridge,
    to |w| ~ 500 here), so neither engine can converge and where each stops is arbitrary."""
    sessions, attraction, _ = feature_log("pbm", seed=5)
    sources = {"attraction": {"kind": "mlp", "hidden": (4,), "l2": 10.0}}
    em_full = em.fit("pbm", sessions, prior=PRIOR, sources=sources, max_iter=3_000, tol=1e-8,
                     seed=3)
    gd_full = gradient.fit("pbm", sessions, prior=PRIOR, sources=sources, seed=3,
                           dtype="float64")
    assert em_full.converged and gd_full.converged
    assert em_full.settings["sources"]["attraction"]["hidden"] == [4]
    assert em_full.settings["sources"]["attraction"]["l2"] == 10.0
    assert gd_full.settings["sources"] == em_full.settings["sources"]
    gap = em_full.objective(sessions) - gd_full.objective(sessions)
    assert abs(gap) < 1e-4, gap
    assert np.corrcoef(em_full.params["attraction"], attraction)[0, 1] > 0.95


def test_source_options_are_checked():
    sessions, _, _ = feature_log("pbm", seed=1, n_sessions=200)
    cases = [
        ({"attraction": "cnn"}, "must be one of"),
        ({"continuation": "mlp"}, "does not have"),
        ({"examination": "linear"}, "per-impression bias features"),
        ({"attraction": {"kind": "mlp", "activation": "relu"}}, "activation"),
        ({"attraction": {"kind": "linear", "hidden": (3,)}}, "no hidden layers"),
        ({"attraction": {"kind": "mlp", "depth": 2}}, "unknown source options"),
    ]
    for sources, message in cases:
        with pytest.raises(ValueError, match=message):
            em.fit("pbm", sessions, sources=sources)
        with pytest.raises(ValueError, match=message):
            gradient.fit("pbm", sessions, sources=sources)
    bare = replace(sessions, qd_features=None)
    with pytest.raises(ValueError, match="query-document features"):
        em.fit("pbm", bare, sources={"attraction": "linear"})
    with pytest.raises(ValueError, match="accelerate"):
        em.fit("pbm", sessions, sources={"attraction": "linear"}, accelerate=True)
    with pytest.raises(ValueError, match="EM M-step option"):
        gradient.fit("pbm", sessions, sources={"attraction": {"kind": "mlp", "target": "hard"}})
