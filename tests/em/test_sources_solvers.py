"""em/newton.py and em/sources.py's solvers: Newton reaches the exact optimum of the convex
linear M-step (its gradient vanishes, and it agrees with scipy's L-BFGS-B to rounding), the
L2 prior is in the loss and gradient as -(l2 / 2)|w|^2, an L-BFGS M-step never raises the loss,
and
the solvers give the same bits on 1 and 2 threads."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize

from clicklog import network
from em import newton, sources


def _problem(n=3_000, f=5, seed=0):
    rng = np.random.default_rng(seed)
    x = network.standardise(rng.standard_normal((n, f)))
    t = rng.uniform(0.0, 4.0, n)
    p = 1.0 / (1.0 + np.exp(-(x @ rng.standard_normal(f) - 0.3)))
    return x, rng.binomial(np.round(t).astype(int), p).astype(float), np.round(t)


@pytest.mark.parametrize("l2", [0.0, 5.0])
def test_newton_reaches_the_optimum(l2):
    x, s1, t = _problem()
    f = x.shape[1]
    w, b, start, end = newton.minimise(x, np.zeros(f), 0.0, s1, t, steps=20, l2=l2)
    assert start == pytest.approx(np.log(2.0)) and end < start
    _, grad = newton.loss(x, w, b, s1, t, l2)
    assert np.max(np.abs(grad)) < 1e-8

    def fun(v):
        value, g = sources.loss_and_gradient({"w1": v[:f], "b1": v[f]}, x, s1, t, l2=l2)
        return value, np.append(g["w1"], g["b1"])

    reference = minimize(fun, np.zeros(f + 1), jac=True, method="L-BFGS-B",
                         options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 1000})
    np.testing.assert_allclose(np.append(w, b), reference.x, atol=1e-6)
    assert end == pytest.approx(reference.fun, abs=1e-12)


def test_subsampled_hessian_still_converges():
    """More keys than the Hessian's sample: the step is approximate, the optimum exact."""
    x, s1, t = _problem(n=newton.HESSIAN_ROWS + 5_000, f=3, seed=2)
    sample = newton.Sample.of(x)
    assert sample.rows.size == newton.HESSIAN_ROWS
    w, b, _, _ = newton.minimise(x, np.zeros(3), 0.0, s1, t, steps=40, sample=sample)
    assert np.max(np.abs(newton.loss(x, w, b, s1, t, 0.0)[1])) < 1e-8


def test_weight_prior_in_loss_and_gradient():
    x, s1, t = _problem(n=200, f=3)
    weights = network.initial_weights(3, seed=4, hidden=(4,))
    weights["w2"] = np.array([0.5, -1.0, 0.2, 0.1])
    plain, g0 = sources.loss_and_gradient(weights, x, s1, t)
    penalised, g1 = sources.loss_and_gradient(weights, x, s1, t, l2=3.0)
    squares = np.sum(weights["w1"] ** 2) + np.sum(weights["w2"] ** 2)
    assert penalised - plain == pytest.approx(1.5 * squares / t.sum(), rel=1e-12)
    np.testing.assert_allclose(g1["w1"] - g0["w1"], 3.0 * weights["w1"] / t.sum(), rtol=1e-10)
    np.testing.assert_allclose(g1["b1"], g0["b1"], rtol=1e-12)  # biases are free
    assert network.weight_log_prior(weights, 3.0) == pytest.approx(-1.5 * squares)


def test_lbfgs_mstep_never_raises_the_loss():
    x, s1, t = _problem(n=500, f=3, seed=5)
    regression = sources.Regression(network.parse({"kind": "mlp", "hidden": (4,), "steps": 3}),
                                    x, seed=1)
    losses = [sources.loss_and_gradient(regression.weights, regression.x, s1, t)[0]]
    for _ in range(5):
        regression(s1, t)
        losses.append(sources.loss_and_gradient(regression.weights, regression.x, s1, t)[0])
    assert np.all(np.diff(losses) < 0.0)


_SCRIPT = """
import numpy as np
from clicklog import network
from em import sources
rng = np.random.default_rng(3)
x = rng.standard_normal((20_000, 6))
t = rng.uniform(0, 3, 20_000)
s1 = t / (1 + np.exp(-x[:, 0]))
out = []
for kind in ("linear", {"kind": "mlp", "hidden": (4,), "steps": 5}):
    r = sources.Regression(network.parse(kind), x, seed=0)
    out.append(r(s1, t))
print(np.concatenate(out).tobytes().hex())
"""


def test_same_bits_on_one_and_two_threads():
    runs = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "OMP_NUM_THREADS": threads,
               "OPENBLAS_NUM_THREADS": threads,
               "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'false' if threads == '1' else 'true'}"}
        done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                              text=True, timeout=120, check=True)
        runs.append(done.stdout)
    assert runs[0] == runs[1]
