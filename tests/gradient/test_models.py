"""The gradient engine's model functions against hand-computed numbers and brute force.

Everything here evaluates the models at given parameters (no fitting), in float64, through
the public gradient.conditional_click_probs / click_probs / objective.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference

import gradient
from clicklog import catalogue
from clicklog.sessions import from_arrays
from gradient.batch import padded_rows, to_batch
from gradient.logmath import LOGIT_BOUND, logits
from gradient.objective import loss

# One page of three results (qd 0, 1, 2) clicked at ranks 0 and 2: c = (1, 0, 1).
ATTRACTION = np.array([0.5, 0.4, 0.8])
HAND_PARAMS = {
    "gctr": {"ctr": np.array(0.3)},
    "rctr": {"ctr": np.array([0.5, 0.3, 0.2])},
    "dctr": {"attraction": ATTRACTION},
    "pbm": {"attraction": ATTRACTION, "examination": np.array([0.9, 0.5, 0.25])},
    "cm": {"attraction": ATTRACTION},
    "ubm": {
        "attraction": ATTRACTION,
        # gamma[r, j]; entries with j > r are never used.
        "examination": np.array([[0.9, 0.5, 0.5], [0.6, 0.7, 0.5], [0.3, 0.5, 0.8]]),
    },
    "dcm": {"attraction": ATTRACTION, "continuation": np.array([0.6, 0.7, 0.5])},
    "ccm": {
        "attraction": ATTRACTION,
        "tau1": np.array(0.9),
        "tau2": np.array(0.6),
        "tau3": np.array(0.2),
    },
    "dbn": {
        "attraction": ATTRACTION,
        "satisfaction": np.array([0.7, 0.2, 0.5]),
        "continuation": np.array(0.9),
    },
    "sdbn": {"attraction": ATTRACTION, "satisfaction": np.array([0.7, 0.2, 0.5])},
}
# (P(C_r = 1 | c_<r), P(C_r = 1)) worked out by hand from each model's formulas.
HAND_EXPECTED = {
    "gctr": ([0.3, 0.3, 0.3], [0.3, 0.3, 0.3]),
    "rctr": ([0.5, 0.3, 0.2], [0.5, 0.3, 0.2]),
    "dctr": ([0.5, 0.4, 0.8], [0.5, 0.4, 0.8]),
    # a_r * gamma_r
    "pbm": ([0.45, 0.2, 0.2], [0.45, 0.2, 0.2]),
    # conditional: 0 after the first click; unconditional 0.5, 0.5 * 0.4, 0.5 * 0.6 * 0.8
    "cm": ([0.5, 0.0, 0.0], [0.5, 0.2, 0.24]),
    # conditional: j = 0, 1, 1 -> 0.5 * 0.9, 0.4 * 0.7, 0.8 * 0.5.
    # unconditional: q_1 = (0.55, 0.45) -> 0.4 * (0.55 * 0.6 + 0.45 * 0.7) = 0.258;
    # q_2 = (0.55 * 0.76, 0.45 * 0.72, 0.258) = (0.418, 0.324, 0.258)
    # -> 0.8 * (0.418 * 0.3 + 0.324 * 0.5 + 0.258 * 0.8) = 0.39504
    "ubm": ([0.45, 0.28, 0.4], [0.45, 0.258, 0.39504]),
    # e_1 = lambda_0 = 0.6; e_2 = 0.6 * 0.6 / (1 - 0.24) = 0.36 / 0.76.
    # P(E_1) = 0.5 * 0.6 + 0.5 = 0.8; P(E_2) = 0.8 * (0.4 * 0.7 + 0.6) = 0.704
    "dcm": ([0.5, 0.24, 0.8 * 0.36 / 0.76], [0.5, 0.32, 0.5632]),
    # e_1 = 0.5 * 0.2 + 0.5 * 0.6 = 0.4; e_2 = 0.4 * 0.6 * 0.9 / (1 - 0.16) = 0.216 / 0.84.
    # P(E_1) = 0.5 * 0.4 + 0.5 * 0.9 = 0.65; P(E_2) = 0.65 * (0.4 * 0.44 + 0.6 * 0.9) = 0.4654
    "ccm": ([0.5, 0.16, 0.8 * 0.216 / 0.84], [0.5, 0.26, 0.37232]),
    # e_1 = 0.3 * 0.9 = 0.27; e_2 = 0.27 * 0.6 * 0.9 / (1 - 0.108) = 0.1458 / 0.892.
    # P(E_1) = 0.9 * (0.5 * 0.3 + 0.5) = 0.585; P(E_2) = 0.585 * 0.9 * (0.4 * 0.8 + 0.6) = 0.48438
    "dbn": ([0.5, 0.108, 0.8 * 0.1458 / 0.892], [0.5, 0.234, 0.387504]),
    # e_1 = 0.3; e_2 = 0.3 * 0.6 / (1 - 0.12) = 0.18 / 0.88.
    # P(E_1) = 0.65; P(E_2) = 0.65 * (0.4 * 0.8 + 0.6) = 0.598
    "sdbn": ([0.5, 0.12, 0.8 * 0.18 / 0.88], [0.5, 0.26, 0.4784]),
}


@pytest.mark.parametrize("model", gradient.MODELS)
def test_hand_computed_click_probabilities(model):
    sessions = from_arrays(np.array([0]), np.array([[0, 1, 2]]), np.array([[1, 0, 1]]))
    conditional, unconditional = HAND_EXPECTED[model]
    params = HAND_PARAMS[model]
    got_cond = gradient.conditional_click_probs(model, params, sessions)
    got_uncond = gradient.click_probs(model, params, sessions)
    np.testing.assert_allclose(got_cond[0], conditional, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_uncond[0], unconditional, rtol=0, atol=1e-12)


def random_params(model: str, K: int, n_qd: int, rng: np.random.Generator) -> dict:
    shapes = catalogue.parameter_shapes(model, K, n_qd, n_docs=1)
    return {name: rng.uniform(0.05, 0.95, shape) for name, shape in shapes.items()}


def every_click_vector(K: int, lengths: tuple[int, ...], rng: np.random.Generator):
    """Sessions of one query covering every click vector of every length, shuffled pages."""
    docs, clicks, length = [], [], []
    for L in lengths:
        for clicks_l in reference.all_click_vectors(L):
            docs.append(rng.permutation(K + 2)[:K])
            clicks.append(list(clicks_l) + [0] * (K - L))
            length.append(L)
    n = len(docs)
    weight = rng.uniform(0.5, 3.0, n)
    return from_arrays(np.zeros(n, int), np.array(docs), np.array(clicks), np.array(length), weight)


def brute_force(model: str, params: dict, sessions):
    """Reference conditional/unconditional probabilities and the objective's log-likelihood."""
    n, K = sessions.qd.shape
    cond = np.zeros((n, K))
    uncond = np.zeros((n, K))
    loglik = 0.0
    for i in range(n):
        L = int(sessions.length[i])
        qd = sessions.qd[i, :L]
        paths = reference.enumerate_session(model, reference.session_params(model, params, qd), L)
        clicks = sessions.click[i, :L].astype(int)
        cond[i, :L] = reference.conditional_click_probs(paths, clicks, L)
        uncond[i, :L] = reference.unconditional_click_probs(paths, L)
        # The objective's ranks: all real ranks, or up to the first click for CM.
        last = int(np.argmax(clicks)) if model == "cm" and clicks.any() else L - 1
        p = cond[i, : last + 1]
        c = clicks[: last + 1]
        loglik += sessions.weight[i] * np.sum(np.log(np.where(c == 1, p, 1.0 - p)))
        if model != "cm":
            full = reference.session_likelihood(paths, clicks)
            assert np.log(full) == pytest.approx(np.sum(np.log(np.where(c == 1, p, 1 - p))))
    return cond, uncond, loglik


@pytest.mark.parametrize("model", gradient.MODELS)
def test_brute_force_every_click_vector(model):
    rng = np.random.default_rng(sum(map(ord, model)))
    K = 4
    sessions = every_click_vector(K, (4, 3), rng)
    params = random_params(model, K, sessions.n_qd, rng)
    cond, uncond, loglik = brute_force(model, params, sessions)
    got_cond = gradient.conditional_click_probs(model, params, sessions)
    got_uncond = gradient.click_probs(model, params, sessions)
    possible = np.isfinite(cond)  # CM: prefixes with two clicks have no conditional
    assert possible.sum() > 0.9 * sessions.mask.sum() or model == "cm"
    np.testing.assert_allclose(got_cond[possible], cond[possible], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got_uncond, uncond, rtol=0, atol=1e-10)
    assert np.all(got_cond[~sessions.mask] == 0) and np.all(got_uncond[~sessions.mask] == 0)

    prior = (2.0, 3.0)
    expected = (loglik + catalogue.log_prior(params, prior)) / sessions.n_impressions
    assert gradient.objective(model, params, sessions, prior) == pytest.approx(expected, abs=1e-12)
    # The loss the optimisers minimise is exactly minus that objective.
    with jax.enable_x64(True):
        theta = {k: jnp.asarray(logits(v)) for k, v in params.items()}
        batch = to_batch(sessions, padded_rows(sessions.n), "float64")
        value = loss(theta, batch, sessions.n_impressions, 1.0, model, prior)
        assert float(value) == pytest.approx(-expected, abs=1e-12)


def test_weights_equal_replication():
    rng = np.random.default_rng(3)
    sessions = every_click_vector(4, (4,), rng)
    params = random_params("dbn", 4, sessions.n_qd, rng)
    replicated = sessions.subset(np.repeat(np.arange(sessions.n), 3)).with_weight(
        np.ones(3 * sessions.n)
    )
    weighted = sessions.with_weight(np.full(sessions.n, 3.0))
    a = gradient.objective("dbn", params, replicated, (2.0, 2.0))
    b = gradient.objective("dbn", params, weighted, (2.0, 2.0))
    assert a == pytest.approx(b, abs=1e-12)


@pytest.mark.parametrize("model", ["cm", "ubm", "dbn"])
def test_gradient_finite_at_extremes(model):
    """Probabilities pinned at 1e-6 and 1 - 1e-6 (logits far beyond the bound), multi-click
    pages under CM: the loss and its gradient stay finite."""
    rng = np.random.default_rng(5)
    K = 5
    n = 64
    sessions = from_arrays(
        np.zeros(n, int),
        np.stack([rng.permutation(8)[:K] for _ in range(n)]),
        rng.random((n, K)) < 0.5,
    )
    shapes = catalogue.parameter_shapes(model, K, sessions.n_qd, sessions.n_docs)
    extremes = [-40.0, -LOGIT_BOUND, 0.0, LOGIT_BOUND, 40.0]
    theta = {k: jnp.asarray(rng.choice(extremes, s), jnp.float32) for k, s in shapes.items()}
    batch = to_batch(sessions, padded_rows(n), "float32")
    value, grad = jax.value_and_grad(loss)(theta, batch, sessions.n_impressions, 1.0, model, None)
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grad.values())


def test_dtype_and_vocabulary_checks():
    sessions = from_arrays(np.array([0]), np.array([[0, 1, 2]]), np.array([[1, 0, 1]]))
    with pytest.raises(ValueError, match="dtype"):
        gradient.click_probs("pbm", HAND_PARAMS["pbm"], sessions, dtype="float16")
    wrong = {"attraction": np.full(5, 0.5), "examination": np.full(3, 0.5)}
    with pytest.raises(ValueError, match="vocabulary"):
        gradient.click_probs("pbm", wrong, sessions)
    with pytest.raises(ValueError, match="does not fit"):
        gradient.click_probs("dcm-counting", HAND_PARAMS["dcm"], sessions)
    with pytest.raises(ValueError, match="unknown click model"):
        gradient.click_probs("nope", HAND_PARAMS["pbm"], sessions)
