"""SQUAREM's extrapolation and step control (em/squarem.py); what every accelerator must do:
tests/em/test_accelerators.py."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import simulate
from em import fit
from em.loop import Steps
from em.squarem import extrapolate, iterate_squarem


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


@pytest.mark.parametrize("accelerate", ["squarem", "anderson"])
def test_closed_form_models_and_iteration_cap(accelerate):
    sessions = simulate("dbn", 500, seed=1, n_queries=5, K=5).sessions
    for model in ("dctr", "cm", "sdbn-counting"):
        a = fit(model, sessions, accelerate=accelerate)
        b = fit(model, sessions)
        assert a.iterations == 1
        for name, value in b.params.items():
            np.testing.assert_array_equal(a.params[name], value)
    capped = fit("dbn", sessions, max_iter=7, tol=0.0, accelerate=accelerate)
    assert capped.settings["esteps"] == 8 and not capped.converged
    assert capped.settings["accelerate"] == accelerate


def test_a_jump_must_beat_the_plain_em_step_not_only_the_start():
    """A scripted one-parameter map (F a contraction x -> 2 + (x - 2) / 2 in logits, J peaking
    at x = 1.8, not at F's fixed point): cycle 1 keeps the alpha = 1 jump to x = 1.5 (step
    grows to 4); cycle 2's S3 jump from 1.5 lands on x = 2, better than the start (J = -0.04
    against -0.09) but worse than the plain step to 1.75 (-0.0025), so it must be refused and
    the path goes on with F(1.75) = 1.875."""

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    def logit(p):
        return np.log(p) - np.log1p(-p)

    def J(x):
        return -float(np.sum((x - 1.8) ** 2))

    steps = Steps(
        estep=lambda params: (dict(params), J(logit(params["p"]))),
        mstep=lambda stats: {"p": sigmoid(2.0 + 0.5 * (logit(stats["p"]) - 2.0))},
        log_prior=lambda params: 0.0,
        n_impressions=1.0,
    )
    run = iterate_squarem(steps, {"p": sigmoid(np.zeros(1))}, max_iter=5, tol=1e-12,
                          closed_form=False, start=0.0)
    kinds = [h["step"] for h in run.history]
    values = [h["objective"] for h in run.history]
    assert kinds == ["em", "jump", "em", "em"]
    np.testing.assert_allclose(values, [J(1.0), J(1.5), J(1.75), J(1.875)], rtol=1e-9)
    np.testing.assert_allclose(logit(run.params["p"]), [1.875], rtol=1e-9)
