"""Anderson acceleration (em/anderson.py) and the accelerated loops' stopping rule
(em.loop.window_converged)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from em.anderson import iterate_anderson
from em.loop import MARGIN, WINDOW, Steps, window_converged


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _scripted(mstep_of_logits, objective_of_logits) -> Steps:
    """Steps whose 'E-step' returns the point itself (as S1 of one trial each) and J of its
    logits, and whose M-step is a map of the logits: the accelerator sees exactly the
    fixed-point problem it is given."""
    return Steps(
        estep=lambda params: ({"p": (params["p"], np.ones_like(params["p"]))},
                              objective_of_logits(_logit(params["p"]))),
        mstep=lambda stats: {"p": _sigmoid(mstep_of_logits(_logit(stats["p"][0])))},
        log_prior=lambda params: 0.0,
        n_impressions=1.0,
    )


def test_an_affine_map_is_solved_in_dimension_plus_one_steps():
    """On x -> A x + c in R^3 (rate 0.9, so plain iteration gains a factor 0.9^4 ~ 0.66 in
    four steps), Anderson with a memory of at least 3 is GMRES: x_4 is the fixed point, up to
    the float32 storage of the differences; a few more steps make it exact."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a = q @ np.diag([0.9, 0.5, -0.3]) @ q.T
    target = np.array([-1.0, 0.4, 1.2])
    c = target - a @ target
    steps = _scripted(lambda x: a @ x + c, lambda x: -float(np.sum((x - target) ** 2)))
    start = {"p": _sigmoid(np.zeros(3))}
    four = iterate_anderson(steps, start, max_iter=4, tol=0.0, closed_form=False, start=0.0)
    assert four.esteps == 5
    np.testing.assert_allclose(_logit(four.params["p"]), target, atol=1e-5)
    more = iterate_anderson(steps, start, max_iter=10, tol=0.0, closed_form=False, start=0.0)
    np.testing.assert_allclose(_logit(more.params["p"]), target, atol=1e-9)
    assert [h["step"] for h in four.history] == ["em", "anderson", "anderson", "anderson"]


def _peaked(x):
    """J of the two refusal tests: a peak at x = 1.4, not at the fixed point of F below."""
    return -float(np.sum((x - 1.4) ** 2))


def _refusing_run(max_iter: int):
    """Anderson on F: x -> 2 + (x - 2) / 2 in logits with J = `_peaked`, from x = 0."""
    steps = _scripted(lambda x: 2.0 + 0.5 * (x - 2.0), _peaked)
    return iterate_anderson(steps, {"p": _sigmoid(np.zeros(1))}, max_iter=max_iter, tol=1e-12,
                            closed_form=False, start=0.0)


def test_a_point_that_lowers_the_objective_is_refused_for_the_plain_step():
    """F: x -> 2 + (x - 2) / 2 in logits, J peaking at x = 1.4 (not at F's fixed point). From
    x = 0 the plain step gives 1 (J = -0.16); Anderson's secant through 0 -> 1 -> 1.5 solves
    the affine map exactly, x = 2, where J = -0.36 is lower: refused, the history restarts and
    the iteration takes F(1) = 1.5 (J = -0.01), one E-step more."""
    run = _refusing_run(max_iter=3)
    assert [h["step"] for h in run.history] == ["em", "em"]
    np.testing.assert_allclose([h["objective"] for h in run.history],
                               [_peaked(1.0), _peaked(1.5)], rtol=1e-9)
    np.testing.assert_allclose(_logit(run.params["p"]), [1.5], rtol=1e-9)
    assert run.esteps == 4 and not run.converged


def test_a_refused_point_at_the_last_e_step_returns_the_point_before_it():
    """The refused point of the test above, with no E-step left for the plain one: the run
    returns the last kept point (x = 1), whose arrays the refused point's must not overwrite
    (the next point is written into a second buffer, em/anderson.py)."""
    run = _refusing_run(max_iter=2)
    assert run.esteps == 3 and not run.converged
    np.testing.assert_allclose(_logit(run.params["p"]), [1.0], rtol=1e-9)


def _geometric(first_gain: float, rho: float, n: int) -> list[float]:
    return list(np.cumsum([0.0] + [first_gain * rho**i for i in range(n)]) - 1.0)


def test_window_rule_waits_for_the_estimate_of_what_is_left():
    """Gains g rho^i: a window's gain is rho^WINDOW times the last's, and what is left after
    the values so far is the geometric tail, which the Aitken estimate over windows gives
    exactly. The rule stops at the first point where both the window's gain and that tail are
    below MARGIN * tol, not earlier (a hand loop over the same sums decides where)."""
    tol, rho, gain = 1e-9, 0.97, 1e-8
    values = _geometric(gain, rho, 2000)
    stop = next(n for n in range(len(values)) if window_converged(values[: n + 1], tol))
    expected = None
    for n in range(2 * WINDOW, len(values)):
        window = values[n] - values[n - WINDOW]
        tail = gain * rho**n / (1 - rho)
        if window < MARGIN * tol and tail < MARGIN * tol:
            expected = n
            break
    assert stop == expected
    assert values[-1] - values[stop] < MARGIN * tol * (1 + 1e-9)


def test_window_rule_never_stops_on_gains_that_do_not_shrink():
    flat = [1e-12 * i for i in range(100)]
    assert not any(window_converged(flat[: n + 1], 1e-9) for n in range(len(flat)))
    assert not window_converged([0.0] * (2 * WINDOW), 1e-9)
    assert window_converged([0.0] * (2 * WINDOW + 1), 1e-9)
    assert not window_converged([0.0] * (2 * WINDOW) + [math.inf], 1e-9)


@pytest.mark.parametrize("rho", [0.5, 0.99])
def test_window_rule_tail_bound(rho):
    """Wherever the rule stops on geometric gains, what is left is below MARGIN * tol."""
    values = _geometric(1e-6, rho, 6000)
    stop = next(n for n in range(len(values)) if window_converged(values[: n + 1], 1e-9))
    assert values[-1] - values[stop] < MARGIN * 1e-9 * (1 + 1e-6)


def test_the_norm_weighs_entries_by_their_fisher_information():
    """W = T p (1 - p) per entry, in the layout's order (a per-pair array, then a per-rank
    one): hand values."""
    from em.anderson import Layout

    params = {"attraction": np.array([0.5, 0.2]), "continuation": np.array([[0.9]])}
    stats = {"attraction": (np.zeros(2), np.array([4.0, 10.0])),
             "continuation": (np.zeros((1, 1)), np.array([[100.0]]))}
    layout = Layout(params)
    np.testing.assert_allclose(layout.information(stats, params), [1.0, 1.6, 9.0])
    np.testing.assert_allclose(layout.logits(params),
                               [0.0, np.log(0.25), np.log(9.0)], atol=1e-12)
