"""SQUAREM (em/squarem.py): the same optimum as plain EM in fewer E-steps, never going down."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import simulate
from em import fit
from em.squarem import extrapolate


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_one_jump_solves_a_linear_contraction():
    """For x_{k+1} = x* + a (x_k - x*) in logits, alpha = 1 / (1 - a) lands on x* exactly:
    x' - x* = (x_0 - x*) (1 + alpha (a - 1))^2 = 0."""
    target = np.array([-2.0, 0.3, 1.5])
    a = 0.9
    x0 = np.array([0.5, -1.0, 0.0])
    x1 = target + a * (x0 - target)
    x2 = target + a * (x1 - target)
    theta = [{"p": _sigmoid(x)} for x in (x0, x1, x2)]
    point, alpha = extrapolate(*theta, step=100.0)
    assert alpha == pytest.approx(10.0)
    np.testing.assert_allclose(point["p"], _sigmoid(target), rtol=1e-12)
    capped, alpha = extrapolate(*theta, step=2.0)
    assert alpha == 2.0
    expected = target + (x0 - target) * (1 + 2.0 * (a - 1)) ** 2
    np.testing.assert_allclose(capped["p"], _sigmoid(expected), rtol=1e-12)
    plain, alpha = extrapolate(*theta, step=1.0)
    np.testing.assert_allclose(plain["p"], theta[2]["p"], rtol=1e-12)


@pytest.mark.parametrize("model", ["pbm", "ubm", "dcm", "ccm", "dbn", "sdbn"])
def test_same_optimum_in_fewer_esteps(model):
    sessions = simulate(model, 2000, seed=7, n_queries=10, K=6, min_length=4).sessions
    plain = fit(model, sessions, max_iter=3000, tol=1e-12)
    fast = fit(model, sessions, max_iter=3000, tol=1e-12, accelerate=True)
    assert plain.converged and fast.converged
    assert fast.settings["esteps"] < plain.settings["esteps"] / 2
    objective = np.array([fast.settings["initial_objective"]]
                         + [h["objective"] for h in fast.history])
    assert np.all(np.diff(objective) >= -1e-13)
    assert any(h["step"] == "jump" for h in fast.history)
    # both stop near the one optimum; SQUAREM, moving faster, no further from it
    assert fast.history[-1]["objective"] >= plain.history[-1]["objective"] - 1e-11
    for name, value in plain.params.items():
        np.testing.assert_allclose(fast.params[name], value, atol=2e-3)
    assert fast.objective(sessions) == pytest.approx(fast.history[-1]["objective"], rel=1e-12)


def test_closed_form_models_and_iteration_cap():
    sessions = simulate("dbn", 500, seed=1, n_queries=5, K=5).sessions
    for model in ("dctr", "cm", "sdbn-counting"):
        a = fit(model, sessions, accelerate=True)
        b = fit(model, sessions)
        assert a.iterations == 1
        for name, value in b.params.items():
            np.testing.assert_array_equal(a.params[name], value)
    capped = fit("dbn", sessions, max_iter=7, tol=0.0, accelerate=True)
    assert capped.settings["esteps"] == 8 and not capped.converged
