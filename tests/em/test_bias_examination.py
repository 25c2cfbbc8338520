"""Examination as a function of per-impression bias features (em/bias.py, gradient/bias.py,
clicklog/cells.py), PBM and UBM, both engines.

Simulated logs whose truth is in the linear function class: the examination logit of an
impression is additive in its rank, (UBM) its distance to the last click, a device flag and a
three-level score. Both engines start from the same weights (zero: every probability 1/2) and
must reach objectives within 1e-4 nats per impression; the fitted function must recover the
true examination of every cell up to PBM's scale (attraction and examination only meet as a
product, so a * c and e / c fit alike but for the function class' curvature: the best common
scale is taken out before comparing), and the click probabilities without any scale.
"""

from __future__ import annotations

import numpy as np
import pytest

import em
import gradient
from clicklog import cells
from clicklog.sessions import from_arrays

K = 5
TRAIN = 4_000
# Largest error on a cell after the scale: UBM's cells ((r, j) x bias rows) hold fewer
# impressions each than PBM's.
TOLERANCE = {"pbm": 0.05, "ubm": 0.08}
PRIOR = (2.0, 2.0)
DEVICE, SCORE = 0.6, -0.5


def true_logit(rank, column, bias, by_last: bool):
    base = 0.4 - 0.45 * rank
    if by_last:
        # a click just above makes the next result likelier to be examined (additive in r
        # and j, hence in the function class)
        base = base + 0.3 * column
    return base + DEVICE * bias[..., 0] + SCORE * bias[..., 1]


def simulate(model: str, n: int = 4_400, n_queries: int = 12, pool: int = 7, seed: int = 3):
    """(sessions with bias_features [n, K, 2], true attraction by qd index, true logit fn)."""
    rng = np.random.default_rng(seed)
    by_last = model == "ubm"
    query = rng.integers(0, n_queries, n)
    pools = np.arange(n_queries * pool).reshape(n_queries, pool)
    docs = np.stack([rng.permutation(pools[q])[:K] for q in query])
    attraction = rng.uniform(0.15, 0.85, pools.size)
    length = rng.integers(3, K + 1, n)
    bias = np.zeros((n, K, 2))
    bias[:, :, 0] = (rng.random(n) < 0.4)[:, None]
    bias[:, :, 1] = rng.integers(-1, 2, (n, K))
    click = np.zeros((n, K), bool)
    last = np.zeros(n, int)
    for r in range(K):
        e = 1.0 / (1.0 + np.exp(-true_logit(r, last, bias[:, r], by_last)))
        c = (rng.random(n) < attraction[docs[:, r]] * e) & (r < length)
        click[:, r] = c
        last = np.where(c, r + 1, last) if by_last else last
    bias[np.arange(K)[None, :] >= length[:, None]] = 0.0
    sessions = from_arrays(query, docs, click, length=length,
                           bias_features=bias.astype(np.float32))
    return sessions, attraction[sessions.qd_doc]


def cell_truth(sessions, model: str) -> np.ndarray:
    """The true examination of every cell of clicklog.cells.of's, in its order."""
    by_last = model == "ubm"
    f = cells.of(sessions, model, by_last).features
    rank = f[:, :K].argmax(axis=1)
    column = f[:, K:2 * K].argmax(axis=1) if by_last else 0 * rank
    return 1.0 / (1.0 + np.exp(-true_logit(rank, column, f[:, -2:], by_last)))


def true_click_probs(sessions, attraction, model: str) -> np.ndarray:
    by_last = model == "ubm"
    column = cells.last_click_column(sessions.click) if by_last else 0
    logit = true_logit(np.arange(K)[None, :], column, sessions.bias_features, by_last)
    a = np.where(sessions.mask, attraction[np.maximum(sessions.qd, 0)], 0.0)
    return a / (1.0 + np.exp(-logit)) * sessions.mask


@pytest.fixture(scope="module", params=["pbm", "ubm"])
def fitted(request):
    model = request.param
    everything, attraction = simulate(model)
    sessions = everything.subset(np.arange(TRAIN))
    sources = {"examination": "linear"}
    fit_em = em.fit(model, sessions, prior=PRIOR, sources=sources, max_iter=3_000)
    fit_gd = gradient.fit(model, sessions, prior=PRIOR, sources=sources, dtype="float64")
    held_out = everything.subset(np.arange(TRAIN, everything.n))
    return model, sessions, attraction, fit_em, fit_gd, held_out


def test_engines_agree_from_the_same_weights(fitted):
    model, sessions, _, fit_em, fit_gd, _ = fitted
    assert fit_em.converged and fit_gd.converged
    gap = fit_em.objective(sessions) - fit_gd.objective(sessions)
    assert abs(gap) < 1e-4, gap
    objective = [fit_em.settings["initial_objective"]] + [h["objective"] for h in fit_em.history]
    assert np.all(np.diff(objective) >= -1e-12), "generalised EM must never go down"
    n_cells = cells.of(sessions, model, model == "ubm").n_cells
    for fit in (fit_em, fit_gd):
        assert fit.params["examination"].shape == (n_cells,)
        assert fit.settings["sources"]["examination"]["kind"] == "linear"
        assert set(fit.settings["examination_network"]) == {"w1", "b1"}
    assert np.abs(fit_em.params["examination"] - fit_gd.params["examination"]).max() < 0.02


def test_fitted_function_recovers_the_true_examination(fitted):
    model, sessions, attraction, fit_em, fit_gd, _ = fitted
    truth = cell_truth(sessions, model)
    clicks = true_click_probs(sessions, attraction, model)
    for fit in (fit_em, fit_gd):
        e = fit.params["examination"]
        scale = (e @ truth) / (truth @ truth)
        assert 0.7 < scale < 1.4, scale
        error = np.abs(e / scale - truth)
        assert error.max() < TOLERANCE[model], (fit.engine, error.max())
        error = np.abs(fit.conditional_click_probs(sessions) - clicks)[sessions.mask]
        assert error.mean() < 0.03, (fit.engine, error.mean())


def test_predictions_on_other_sessions_agree_across_engines(fitted):
    _, _, _, fit_em, fit_gd, other = fitted
    for probs in ("click_probs", "conditional_click_probs"):
        a, b = getattr(fit_em, probs)(other), getattr(fit_gd, probs)(other)
        assert np.abs(a - b).max() < 0.02
        assert np.all((a >= 0) & (a < 1)) and np.all(a[~other.mask] == 0)
    assert abs(fit_em.objective(other) - fit_gd.objective(other)) < 1e-3
