"""gradient.fit: L-BFGS and Adam on simulated logs, float64 on request, the Fit it returns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradient
from benchmarks.simulate import sample_sessions, simulate
from clicklog import catalogue
from gradient.models import REGISTRY


@pytest.fixture(scope="module")
def pbm_world():
    """A PBM log: 20,000 training sessions of K = 5 on 10 queries, 5,000 held out."""
    sim = simulate("pbm", 20_000, 7, K=5, n_queries=10, pool_size=8, min_length=3)
    return sim, sample_sessions(sim, 5_000, 8)


@pytest.fixture(scope="module")
def pbm_fit(pbm_world):
    sim, _ = pbm_world
    return gradient.fit("pbm", sim.sessions, prior=(2.0, 2.0))


def test_lbfgs_recovers_pbm(pbm_world, pbm_fit):
    sim, test = pbm_world
    fit = pbm_fit
    assert fit.converged and fit.engine == "gradient" and fit.model == "pbm"
    # Position bias is identified up to a common scale: compare gamma_r / gamma_0.
    ratios = fit.params["examination"] / fit.params["examination"][0]
    truth = sim.truth["examination"] / sim.truth["examination"][0]
    np.testing.assert_allclose(ratios, truth, atol=0.03)
    # Held-out click probabilities near the generating model's: with ~600 impressions per
    # pair, sampling error alone puts the mean absolute difference at about 0.01.
    predicted = fit.conditional_click_probs(test)
    true = gradient.conditional_click_probs("pbm", sim.truth, test)
    assert np.abs(predicted - true)[test.mask].mean() < 0.015
    # The MAP fit explains its training data at least as well as the truth does.
    assert fit.objective(sim.sessions) >= gradient.objective(
        "pbm", sim.truth, sim.sessions, (2.0, 2.0)
    )


def test_lbfgs_history(pbm_world, pbm_fit):
    sim, _ = pbm_world
    history = pbm_fit.history
    seconds = [h["seconds"] for h in history]
    objective = np.array([h["objective"] for h in history])
    assert seconds == sorted(seconds) and seconds[0] >= 0
    # The zoom line search only accepts steps that decrease the loss (rounding aside).
    assert np.all(np.diff(objective) > -1e-12)
    assert pbm_fit.objective(sim.sessions) == pytest.approx(objective[-1], abs=1e-9)
    assert pbm_fit.compile_seconds > 0
    # L-BFGS defaults to float64 (gradient/core.py DEFAULT_DTYPE), Adam to float32.
    assert pbm_fit.settings["optimizer"] == "lbfgs" and pbm_fit.settings["dtype"] == "float64"
    assert history[-1]["probability_gradient"] <= pbm_fit.settings["tol"] ** 0.5


def test_fit_shapes_predictions_and_relevance(pbm_world, pbm_fit):
    sim, test = pbm_world
    shapes = catalogue.parameter_shapes("pbm", 5, sim.sessions.n_qd, sim.sessions.n_docs)
    assert {k: v.shape for k, v in pbm_fit.params.items()} == shapes
    for v in pbm_fit.params.values():
        assert v.dtype == np.float64 and np.all((v >= 1e-6) & (v <= 1 - 1e-6))
    uncond = pbm_fit.click_probs(test)
    assert uncond.shape == (test.n, 5) and np.all(uncond[~test.mask] == 0)
    # PBM: conditional == unconditional; relevance is attraction at the shown pair.
    np.testing.assert_allclose(uncond, pbm_fit.conditional_click_probs(test), atol=1e-7)
    rel = pbm_fit.relevance(test)
    i, r = np.nonzero(test.mask)
    np.testing.assert_allclose(rel[i, r], pbm_fit.params["attraction"][test.qd[i, r]])


def test_dbn_relevance_is_attraction_times_satisfaction(pbm_world):
    _, test = pbm_world
    rng = np.random.default_rng(0)
    params = {
        "attraction": rng.uniform(0.1, 0.9, test.n_qd),
        "satisfaction": rng.uniform(0.1, 0.9, test.n_qd),
    }
    rel = REGISTRY["dbn"].relevance(params, test)
    qd = test.qd[0, 0]
    assert rel[0, 0] == pytest.approx(params["attraction"][qd] * params["satisfaction"][qd])
    assert np.all(rel[~test.mask] == 0)


def test_float64_without_touching_global_config():
    """UBM in float64 under an asymmetric Beta(3, 2) prior: the global x64 flag is left as it
    was, the fit reaches a stationary point, and the examination entries no session informs
    (j > r) end at the prior's mode, 2/3."""
    assert not jax.config.jax_enable_x64
    sim = simulate("ubm", 3_000, 11, K=4, n_queries=5, pool_size=6)
    fit = gradient.fit("ubm", sim.sessions, prior=(3.0, 2.0), dtype="float64")
    assert not jax.config.jax_enable_x64 and jnp.ones(1).dtype == jnp.float32
    assert fit.converged and fit.settings["dtype"] == "float64"
    assert fit.history[-1]["gradient"] < 1e-6
    unused = np.triu(np.ones((4, 4), bool), k=1)
    np.testing.assert_allclose(fit.params["examination"][unused], 2.0 / 3.0, atol=1e-4)
    # Float32 gets within float32's reach of the same optimum, even inside a caller's x64
    # context, which it leaves on.
    with jax.enable_x64(True):
        fit32 = gradient.fit("ubm", sim.sessions, prior=(3.0, 2.0), max_iter=300)
        assert jax.config.jax_enable_x64
    assert fit32.objective(sim.sessions) == pytest.approx(fit.objective(sim.sessions), abs=1e-5)
    assert fit.objective(sim.sessions) >= fit32.objective(sim.sessions) - 1e-9


def test_init_and_max_iter(pbm_world):
    sim, _ = pbm_world
    start = gradient.fit("pbm", sim.sessions, init=sim.truth, max_iter=0)
    for name, value in sim.truth.items():  # float32 logits: 1e-7 relative
        np.testing.assert_allclose(start.params[name], value, rtol=1e-6)
    assert start.history == [] and not start.converged
    with pytest.raises(ValueError, match="shape"):
        gradient.fit("pbm", sim.sessions, init={"examination": np.full(3, 0.5)})
    with pytest.raises(ValueError, match="init names"):
        gradient.fit("pbm", sim.sessions, init={"continuation": np.full(5, 0.5)})
    with pytest.raises(ValueError, match="optimizer"):
        gradient.fit("pbm", sim.sessions, optimizer="sgd")
    with pytest.raises(ValueError, match="dtype"):
        gradient.fit("pbm", sim.sessions, dtype="bfloat16")
    with pytest.raises(ValueError, match="does not fit"):
        gradient.fit("dcm-counting", sim.sessions)


def test_adam_early_stopping_and_seed(pbm_world, pbm_fit):
    sim, test = pbm_world
    settings = dict(optimizer="adam", learning_rate=0.05, batch_size=1024, epochs=30)
    fit = gradient.fit("pbm", sim.sessions, validation=0.2, patience=1, seed=1, **settings)
    history = fit.history
    assert 1 <= len(history) <= 30
    assert fit.settings["train_sessions"] == 16_000 and fit.settings["batch_size"] == 1024
    validation = [h["validation"] for h in history]
    best = fit.settings["best_epoch"]
    assert validation[best - 1] >= max(validation) - fit.settings["min_delta"]
    if len(history) < 30:
        # Stopped: the last patience + 1 = 2 epochs did not beat the best by min_delta.
        assert fit.converged and best == len(history) - 2
    # Adam lands near the L-BFGS optimum on held-out data.
    diff = np.abs(fit.conditional_click_probs(test) - pbm_fit.conditional_click_probs(test))
    assert diff[test.mask].mean() < 0.02
    again = gradient.fit("pbm", sim.sessions, validation=0.2, patience=1, seed=1, **settings)
    other = gradient.fit("pbm", sim.sessions, validation=0.2, patience=1, seed=2, **settings)
    np.testing.assert_array_equal(again.params["attraction"], fit.params["attraction"])
    assert not np.array_equal(other.params["attraction"], fit.params["attraction"])


@pytest.fixture(scope="module")
def small_pbm():
    return simulate("pbm", 3_000, 11, K=5, n_queries=6, pool_size=6, min_length=3).sessions


def test_adam_minibatch_likelihood_is_scaled_to_the_full_log(small_pbm):
    """Each of the m minibatches stands for the whole log: its likelihood counts m times
    against the one prior. With a learning rate too small to move the parameters, the mean
    minibatch loss of an epoch is then the full per-impression loss (without the scaling it
    would be about 1/m of it)."""
    fit = gradient.fit("pbm", small_pbm, optimizer="adam", learning_rate=1e-9, batch_size=256,
                       epochs=1, validation=None, prior=(5.0, 5.0))
    (entry,) = fit.history
    assert small_pbm.n > 4 * 256  # several minibatches
    assert entry["train_loss"] == pytest.approx(-entry["objective"], rel=1e-5)


def test_adam_returns_the_best_epoch_not_the_last(small_pbm):
    """Early stopping keeps the parameters of the best held-out epoch: a stopped run returns
    exactly what the same run cut at its best epoch returns (same seed, same path)."""
    settings = dict(optimizer="adam", learning_rate=0.05, batch_size=512, validation=0.2,
                    patience=2, min_delta=2e-4, seed=3)
    stopped = gradient.fit("pbm", small_pbm, epochs=60, **settings)
    best = stopped.settings["best_epoch"]
    assert stopped.converged and best < len(stopped.history)
    cut = gradient.fit("pbm", small_pbm, epochs=best, **settings)
    assert len(cut.history) == best
    for name, value in cut.params.items():
        np.testing.assert_array_equal(stopped.params[name], value, err_msg=name)
    # Every epoch counted as an improvement: the same path, but its last epoch is kept.
    last = gradient.fit("pbm", small_pbm, epochs=len(stopped.history),
                        **{**settings, "min_delta": -np.inf})
    assert last.settings["best_epoch"] == len(stopped.history)
    assert not np.array_equal(last.params["attraction"], stopped.params["attraction"])
