"""The gradient engine's vision models (gradient/vision.py) at given parameters: exact click
probabilities and objective, the degenerate case, and the network variant's plumbing.

The pages of tests/vision_pages.py (every click vector, two queries sharing documents), shuffled,
with uneven weights; random parameters; float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from vision_pages import pages, random_params

import gradient
from benchmarks.simulate import simulate_image_search
from clicklog import catalogue, network
from em import engine
from gradient.logmath import EPS

BASE = {"vpbm-1": "pbm", "vpbm-2": "pbm", "vubm-1": "ubm", "vubm-2": "ubm"}


@pytest.mark.parametrize("model", catalogue.VISION_MODELS)
def test_exact_probabilities_and_loss(model):
    """Conditional and unconditional click probabilities and the objective equal the EM
    engine's exact ones (tests/em/test_vision.py checks those against brute-force enumeration
    of tests/reference.py); the optimisers' loss is minus this objective for every model
    (tests/gradient/test_models.py)."""
    sessions = pages(np.random.default_rng(0))
    params = random_params(model, sessions, sum(map(ord, model)))
    exact = engine.get_model(model)
    for ours, theirs in ((gradient.conditional_click_probs, exact.conditional),
                         (gradient.click_probs, exact.unconditional)):
        np.testing.assert_allclose(ours(model, params, sessions), theirs(params, sessions),
                                   rtol=0, atol=1e-12)
    loglik = np.dot(sessions.weight, engine.session_loglik(model, params, sessions))
    prior = (2.0, 3.0)
    expected = (loglik + catalogue.log_prior(params, prior)) / sessions.n_impressions
    assert gradient.objective(model, params, sessions, prior) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("model", catalogue.VISION_MODELS)
def test_degenerate_vision_is_the_base_model(model):
    """sigma_d at the edge of the probability range ([EPS, 1 - EPS], so eq. 4's V or eq. 15's
    V is all but certain) gives PBM's / UBM's click probabilities to within EPS."""
    sessions = pages(np.random.default_rng(0))
    base = BASE[model]
    params = random_params(base, sessions, 1)
    edge = EPS if model.endswith("2") else 1.0 - EPS
    vision = {**params, "vision": np.full(sessions.n_docs, edge)}
    for predict in (gradient.conditional_click_probs, gradient.click_probs):
        np.testing.assert_allclose(
            predict(model, vision, sessions), predict(base, params, sessions), rtol=0, atol=2 * EPS
        )


def test_network_variant_fits_and_reports_every_document():
    """vision="mlp" by Adam minibatches (each batch keeps the whole feature table) and by
    L-BFGS: params["vision"] holds sigma_d of every document, equal to the network at the
    fitted weights; the network carries no prior, so the objective is the log-likelihood
    plus the log prior of attraction and examination only."""
    sim = simulate_image_search("vpbm-2", 3000, 4, n_queries=12, n_docs=120, K=5,
                                n_features=3)
    sessions = sim.sessions
    prior = (2.0, 2.0)
    for optimizer, dtype in (("adam", "float32"), ("lbfgs", "float64")):
        fit = gradient.fit("vpbm-2", sessions, prior=prior, optimizer=optimizer, vision="mlp",
                           epochs=5, batch_size=512, max_iter=50, dtype=dtype, seed=3)
        weights = fit.settings["vision_network"]
        assert set(weights) == set(network.NAMES)
        x = network.standardise(sessions.doc_features)
        z = network.logits(weights, x, "tanh", np)
        np.testing.assert_allclose(fit.params["vision"], 1.0 / (1.0 + np.exp(-z)), rtol=1e-12)
        assert fit.params["vision"].shape == (sessions.n_docs,)
        assert np.ptp(fit.params["vision"]) > 0.05
        without_vision = {k: v for k, v in fit.params.items() if k != "vision"}
        expected = gradient.objective("vpbm-2", fit.params, sessions, None, dtype) + (
            catalogue.log_prior(without_vision, prior) / sessions.n_impressions
        )
        assert fit.objective(sessions) == pytest.approx(expected, abs=1e-12)
        if optimizer == "lbfgs":
            assert fit.history[-1]["objective"] == pytest.approx(expected, abs=1e-9)
        assert fit.settings["vision"] == "mlp"
    with pytest.raises(ValueError, match="document features"):
        gradient.fit("vpbm-2", pages(np.random.default_rng(0)), vision="mlp")
    with pytest.raises(ValueError, match="applies to the vision models"):
        gradient.fit("pbm", sessions, vision="mlp")
