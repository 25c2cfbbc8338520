"""Parameter sources in the gradient engine (gradient/sources.py): a function of features
trained end to end, by L-BFGS and by Adam minibatches, and the vision keyword as an alias.

The EM/gradient agreement and recovery tests are in tests/em/test_sources.py; here: the
fitted probabilities are the network at the fitted weights for every key (never-shown ones
included), the function carries no prior, the L-BFGS history ends at the fit's objective, and
vision="mlp" is exactly sources={"vision": "mlp"}.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import gradient
from benchmarks.simulate import simulate_image_search
from clicklog import catalogue, network
from gradient import sources as gradient_sources

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "em"))
from test_sources import feature_log  # noqa: E402

PRIOR = (2.0, 2.0)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_function_source_is_the_network_at_the_fitted_weights(optimizer):
    sessions, attraction, _ = feature_log("dbn", seed=2, n_sessions=3_000)
    sources = {"attraction": "mlp", "satisfaction": "linear"}
    fit = gradient.fit("dbn", sessions, prior=PRIOR, optimizer=optimizer, sources=sources,
                       dtype="float64", epochs=5, batch_size=512, max_iter=200, seed=4)
    x = network.standardise(sessions.qd_features)
    for name, hidden in (("attraction", network.HIDDEN), ("satisfaction", ())):
        weights = fit.settings[f"{name}_network"]
        assert set(weights) == set(network.names(hidden))
        z = network.logits(weights, x, "tanh", np)
        np.testing.assert_allclose(fit.params[name], 1.0 / (1.0 + np.exp(-z)), rtol=1e-12)
        assert fit.params[name].shape == (sessions.n_qd,)
    assert fit.settings["sources"]["attraction"]["kind"] == "mlp"
    assert np.corrcoef(fit.params["attraction"], attraction)[0, 1] > 0.8
    tables = {k: v for k, v in fit.params.items() if k not in sources}
    expected = gradient.objective("dbn", fit.params, sessions, None, "float64") + (
        catalogue.log_prior(tables, PRIOR) / sessions.n_impressions
    )
    assert fit.objective(sessions) == pytest.approx(expected, abs=1e-12)
    if optimizer == "lbfgs":
        assert fit.history[-1]["objective"] == pytest.approx(expected, abs=1e-9)


def test_vision_keyword_is_the_vision_source():
    sessions = simulate_image_search("vpbm-2", 1500, 4, n_queries=8, n_docs=60, K=5,
                                     n_features=3).sessions
    options = {"prior": PRIOR, "max_iter": 30, "dtype": "float64", "seed": 1}
    alias = gradient.fit("vpbm-2", sessions, vision="mlp", **options)
    source = gradient.fit("vpbm-2", sessions, sources={"vision": "mlp"}, **options)
    for name, value in alias.params.items():
        np.testing.assert_array_equal(value, source.params[name])
    with pytest.raises(ValueError, match="not both"):
        gradient.fit("vpbm-2", sessions, vision="mlp", sources={"vision": "linear"})


def test_l2_is_traced_and_in_the_objective():
    """l2 is a leaf of the network's pytree, not static data: two l2 values share one pytree
    structure (so one compiled program), give different fits, and the optimised objective is
    the log-likelihood and tables' prior minus (l2 / 2) |w|^2 at the fitted weights (no
    optimiser moved l2)."""
    sessions, _, _ = feature_log("pbm", seed=3, n_sessions=2_000)
    starts = [gradient_sources.start("pbm", sessions, {"attraction": {"kind": "linear", "l2": l2}},
                                     0, {})["attraction"] for l2 in (0.5, 50.0)]
    assert jax.tree.structure(starts[0]) == jax.tree.structure(starts[1])
    weights = {}
    for l2 in (0.5, 50.0):
        fit = gradient.fit("pbm", sessions, prior=PRIOR, dtype="float64", tol=1e-9,
                           sources={"attraction": {"kind": "linear", "l2": l2}})
        assert fit.converged
        w = fit.settings["attraction_network"]
        penalty = 0.5 * l2 * float(np.sum(np.square(w["w1"])))
        assert fit.history[-1]["objective"] == pytest.approx(
            fit.objective(sessions) - penalty / sessions.n_impressions, abs=1e-9)
        weights[l2] = np.asarray(w["w1"])
    # The stronger prior pulls the weights towards 0 (by far more than the solver's tolerance).
    assert np.sum(weights[50.0] ** 2) < 0.9 * np.sum(weights[0.5] ** 2)
