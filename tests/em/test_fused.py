"""The compiled passes of an iteration (em/fused.py, the cascade E-step's statistics) against
the numpy expressions and the per-session posterior tables they replace."""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import catalogue, from_arrays
from em import cascade, fused
from em.engine import get_model, initial_params, map_update, mstep, posteriors
from em.layout import layout
from em.squarem import extrapolate

EPS = 1e-6


def _probabilities(rng, n):
    p = rng.uniform(0.0, 1.0, n)
    p[:5] = [EPS, 1.0 - EPS, 0.5, 1e-3, 1.0 - 1e-3]
    return p


def test_map_update_has_the_bits_of_the_numpy_form():
    rng = np.random.default_rng(0)
    t = rng.choice([0.0, 0.5, 3.0, 1e6], 5000)
    s1 = t * rng.uniform(0.0, 1.0, t.size)
    table = np.stack([s1, t], axis=1)  # strided columns, as the E-steps return them
    for prior in [None, (2.0, 2.0), (1.0, 5.0), (3.5, 1.0)]:
        a, b = prior if prior is not None else (1.0, 1.0)
        num, den = s1 + (a - 1.0), t + (a + b - 2.0)
        expected = np.full(t.shape, catalogue.prior_mode(prior))
        np.divide(num, den, out=expected, where=(t > 0) & (den > 0))
        expected = np.clip(expected, EPS, 1.0 - EPS)
        np.testing.assert_array_equal(map_update(table[:, 0], table[:, 1], prior), expected)
    scalar = map_update(np.asarray(2.0), np.asarray(4.0), (2.0, 2.0))
    assert scalar.shape == () and scalar == pytest.approx(0.5)
    square = map_update(np.ones((3, 3)), np.full((3, 3), 2.0), None)
    np.testing.assert_array_equal(square, np.full((3, 3), 0.5))


@pytest.mark.parametrize("prior", [(2.0, 2.0), (1.0, 1.0), (4.0, 4.0), (1.5, 3.0)])
def test_log_beta_equals_the_catalogue(prior):
    rng = np.random.default_rng(1)
    params = {"attraction": _probabilities(rng, 100_003), "examination": _probabilities(rng, 7),
              "continuation": np.asarray(0.3)}
    got = sum(fused.log_beta(v, *prior) for v in params.values())
    np.testing.assert_allclose(got, catalogue.log_prior(params, prior), rtol=1e-12, atol=1e-9)


def _numpy_extrapolate(theta0, theta1, theta2, step):
    """SQUAREM's point as the numpy expressions before em/fused.py."""
    def logits(p):
        return {k: np.log(v) - np.log1p(-v) for k, v in p.items()}
    x0, x1, x2 = logits(theta0), logits(theta1), logits(theta2)
    r = {k: x1[k] - x0[k] for k in x0}
    v = {k: x2[k] - x1[k] - r[k] for k in x0}
    r2 = sum(float(np.sum(d * d)) for d in r.values())
    v2 = sum(float(np.sum(d * d)) for d in v.values())
    alpha = float(np.clip(np.sqrt(r2 / v2), 1.0, step)) if v2 > 0.0 else 1.0
    bound = fused.LOGIT_BOUND
    point = {k: np.clip(1.0 / (1.0 + np.exp(-np.clip(
        x0[k] + 2.0 * alpha * r[k] + alpha * alpha * v[k], -bound, bound))), EPS, 1.0 - EPS)
        for k in x0}
    return point, alpha


@pytest.mark.parametrize("step", [1.0, 4.0, 1e4])
def test_extrapolate_equals_the_numpy_form(step):
    rng = np.random.default_rng(2)
    thetas = [{"attraction": _probabilities(rng, 20_000),
               "examination": _probabilities(rng, 30).reshape(5, 6)} for _ in range(3)]
    point, alpha = extrapolate(*thetas, step)
    want, want_alpha = _numpy_extrapolate(*thetas, step)
    assert alpha == pytest.approx(want_alpha, rel=1e-12)
    for k in want:
        assert point[k].shape == want[k].shape
        np.testing.assert_allclose(point[k], want[k], rtol=1e-9, atol=1e-15, err_msg=k)


def _sessions(rng, n, K, lengths):
    query = rng.integers(0, 5, n)
    docs = np.stack([rng.permutation(3 * K)[:K] for _ in range(n)])
    click = rng.random((n, K)) < rng.choice([0.0, 0.1, 0.5, 0.9], (n, 1))
    return from_arrays(query, docs, click, lengths, rng.choice([1.0, 3.0], n))


@pytest.mark.parametrize("model", ["dbn", "sdbn", "dcm", "ccm"])
@pytest.mark.parametrize("tiny", [False, True])
def test_estep_statistics_are_the_weighted_posterior_tables(model, tiny):
    """The E-step adds each session's posteriors straight into the statistics; they must be
    the weighted sums of the per-session tables (cascade.posteriors), on pages of up to
    MAX_K results and at probabilities down to 1e-6."""
    rng = np.random.default_rng(4)
    n, K = 300, cascade.MAX_K
    s = _sessions(rng, n, K, rng.integers(1, K + 1, n))
    spec = get_model(model)
    params = initial_params(spec.parameters, s)
    low, high = (EPS, 1.0 - EPS) if tiny else (0.05, 0.95)
    params = {k: rng.choice([low, high, 0.5], np.shape(v)) if np.ndim(v)
              else np.asarray(rng.choice([low, high])) for k, v in params.items()}
    stats, ll = spec.estep(layout(s, n_chunks=3), params)
    hidden = posteriors(model, params, s)
    w = s.weight.astype(np.float64)[:, None]
    mask = s.mask

    def per_qd(*tables):
        return np.bincount(s.qd[mask], (w * sum(tables))[mask], minlength=s.n_qd)

    # CCM's route draws S are attraction draws too
    a_draws = ("A", "S") if model == "ccm" else ("A",)
    a1, at = (per_qd(*(hidden[h][j] for h in a_draws)) for j in (1, 0))
    np.testing.assert_allclose(stats["attraction"][0], a1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats["attraction"][1], at, rtol=1e-10, atol=1e-12)
    if "satisfaction" in stats:
        s1, st = (per_qd(hidden["S"][j]) for j in (1, 0))
        np.testing.assert_allclose(stats["satisfaction"][0], s1, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(stats["satisfaction"][1], st, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ll, np.sum(w[:, 0] * spec.posteriors(params, s)[1]), rtol=1e-12)
    assert all(np.all(np.isfinite(x)) for pair in stats.values() for x in pair)
    mstep(stats, (2.0, 2.0))
