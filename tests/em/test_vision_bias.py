"""The vision models' position examination gamma as a function of per-impression bias features
(em/bias.py with em/vision.cell_kernels, gradient/bias.py with gradient/vision.py,
clicklog/cells.py), both engines.

- Kernels: with every cell's probability set to the table's gamma[r, j], the cell kernels give
  the table model's posteriors, likelihoods, click probabilities and E-step statistics (the
  table model is checked against brute force in tests/em/test_vision.py), for the four models.
- Fits, on simulated logs whose gamma logit is additive in the rank, (vUBM) the column j, a
  device flag and a three-level score (the image-search simulator has no bias features, so
  the log is drawn here): EM and L-BFGS start from the same weights (every probability 1/2)
  and reach objectives within 1e-4 nats per impression; the fitted gamma of every cell
  recovers the true one up to the "-2" models' invariance. Their click probability
  a (g + (1 - g) s) is unchanged by g -> c g + d together with a matching change of the
  attraction a and sigma_d s (tests/gradient/test_vision_engines.py), and the Beta(2, 2) prior
  on a and s picks a point of that family (here about c = 0.7, d = 0.1), so the best affine
  map of the fitted gamma onto the truth (least squares, cells weighted by impressions) is
  taken out before comparing; the click probabilities, which no invariance moves, are
  compared as they are. (The "-1" models' a g s identifies gamma up to a scale; their cell
  kernels are checked above and their gradient twin in tests/gradient/test_vision_bias.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

import em
import gradient
from clicklog import catalogue, cells, network
from clicklog.sessions import from_arrays
from em import bias, engine
from em.layout import layout

K = 5
TRAIN = 6_000
PRIOR = (2.0, 2.0)
DEVICE, SCORE = 0.7, -0.5
# Largest error of a cell's gamma after the affine map; vUBM's cells ((r, j) x bias rows) hold
# fewer impressions each than vPBM's.
TOLERANCE = {"vpbm-2": 0.08, "vubm-2": 0.15}


def true_logit(rank, column, bias_rows, by_last: bool):
    """The generating gamma logit, additive in its inputs, hence in the linear class."""
    base = 0.2 - 0.5 * rank
    if by_last:
        base = base + 0.3 * column
    return base + DEVICE * bias_rows[..., 0] + SCORE * bias_rows[..., 1]


def simulate(model: str, n: int = 6_400, n_queries: int = 10, pool: int = 7, n_docs: int = 30,
             seed: int = 3):
    """(sessions with bias_features [n, K, 2], true attraction per qd, true sigma_d per doc):
    queries draw their pages from overlapping pools of documents, so that a document's sigma_d
    is shared by several pairs."""
    rng = np.random.default_rng(seed)
    by_last, variant = model.startswith("vubm"), int(model[-1])
    query = rng.integers(0, n_queries, n)
    pools = np.stack([rng.choice(n_docs, pool, replace=False) for _ in range(n_queries)])
    docs = np.stack([rng.permutation(pools[q])[:K] for q in query])
    attraction = rng.uniform(0.2, 0.85, (n_queries, n_docs))
    sigma = rng.uniform(0.05, 0.5, n_docs) if variant == 2 else rng.uniform(0.5, 0.95, n_docs)
    length = rng.integers(3, K + 1, n)
    bias_rows = np.zeros((n, K, 2))
    bias_rows[:, :, 0] = (rng.random(n) < 0.4)[:, None]
    bias_rows[:, :, 1] = rng.integers(-1, 2, (n, K))
    click = np.zeros((n, K), bool)
    last = np.zeros(n, int)
    for r in range(K):
        g = 1.0 / (1.0 + np.exp(-true_logit(r, last, bias_rows[:, r], by_last)))
        s = sigma[docs[:, r]]
        e = g + (1.0 - g) * s if variant == 2 else g * s
        c = (rng.random(n) < attraction[query, docs[:, r]] * e) & (r < length)
        click[:, r] = c
        last = np.where(c, r + 1, last) if by_last else last
    bias_rows[np.arange(K)[None, :] >= length[:, None]] = 0.0
    sessions = from_arrays(query, docs, click, length=length,
                           bias_features=bias_rows.astype(np.float32))
    return sessions, attraction[sessions.qd_query, sessions.qd_doc], sigma


def examined(g, s, variant: int):
    """P(E~ = 1): eq. 4 ("-2") or eq. 15 ("-1")."""
    return g + (1.0 - g) * s if variant == 2 else g * s


def cell_truth(sessions, model: str) -> np.ndarray:
    """The true gamma of every cell of clicklog.cells.of's, in its order."""
    by_last = cells.by_last(model)
    f = cells.of(sessions, model, by_last).features
    rank = f[:, :K].argmax(axis=1)
    column = f[:, K:2 * K].argmax(axis=1) if by_last else 0 * rank
    return 1.0 / (1.0 + np.exp(-true_logit(rank, column, f[:, -2:], by_last)))


def true_conditional(sessions, attraction, sigma, model: str) -> np.ndarray:
    """P(C_r = 1 | c_<r) under the generating parameters."""
    by_last = cells.by_last(model)
    column = cells.last_click_column(sessions.click) if by_last else 0
    g = 1.0 / (1.0 + np.exp(-true_logit(np.arange(K)[None, :], column, sessions.bias_features,
                                         by_last)))
    qd = np.maximum(sessions.qd, 0)
    p = attraction[qd] * examined(g, sigma[np.maximum(sessions.doc, 0)], int(model[-1]))
    return np.where(sessions.mask, p, 0.0)


def key_of(features: np.ndarray, by_last: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(rank, column or None) of every cell, from its one-hot input columns."""
    rank = features[:, :K].argmax(axis=1)
    return rank, features[:, K:2 * K].argmax(axis=1) if by_last else None


def test_every_model_with_an_examination_has_cell_kernels():
    with_examination = {m for m in catalogue.MODELS + catalogue.VISION_MODELS
                        if "examination" in catalogue.parameters(m)}
    assert set(cells.MODELS) == set(bias.KERNELS) == with_examination


@pytest.mark.parametrize("model", catalogue.VISION_MODELS)
def test_cell_kernels_are_the_table_kernels_at_a_table(model):
    """Every cell at the table's gamma[r, j] (the function ignoring the bias features): the
    same numbers as the table model, E-step statistics summed over each (r, j)'s cells."""
    sessions, _, _ = simulate(model, n=300, seed=11)
    rng = np.random.default_rng(7)
    by_last = cells.by_last(model)
    table = rng.uniform(0.1, 0.9, (K, K) if by_last else K)
    params = {"attraction": rng.uniform(0.1, 0.9, sessions.n_qd),
              "vision": rng.uniform(0.1, 0.9, sessions.n_docs), "examination": table}
    function = bias.Examination.of(model, network.parse("linear"), sessions, 0)
    rank, column = key_of(function.cells.features, by_last)
    spec, table_spec = function.spec(), engine.get_model(model)
    at_cells = {**params, "examination": table[rank, column] if by_last else table[rank]}
    np.testing.assert_allclose(spec.conditional(at_cells, sessions),
                               table_spec.conditional(params, sessions), rtol=1e-12)
    if by_last:
        # Rank r under every column j (the forward pass): cells of their own.
        found = cells.of(sessions, model, True, every_column=True)
        got = function.kernels.unconditional(params, sessions,
                                             table[key_of(found.features, True)], found.index)
        np.testing.assert_allclose(got, table_spec.unconditional(params, sessions), rtol=1e-12)
    hidden, ll = spec.posteriors(at_cells, sessions)
    want_hidden, want_ll = table_spec.posteriors(params, sessions)
    np.testing.assert_allclose(ll, want_ll, rtol=1e-12)
    assert set(hidden) == set(want_hidden) == {"P", "V", "E", "A"}
    for name, pair in hidden.items():
        np.testing.assert_allclose(np.stack(pair), np.stack(want_hidden[name]), rtol=1e-12,
                                   atol=1e-15, err_msg=name)
    lay = layout(sessions)
    stats, total = spec.estep(lay, at_cells)
    want, want_total = table_spec.estep(lay, params)
    assert total == pytest.approx(want_total, rel=1e-12)
    for name in ("attraction", "vision"):
        np.testing.assert_allclose(np.stack(stats[name]), np.stack(want[name]), rtol=1e-12)
    key = rank * K + column if by_last else rank
    for got, expected in zip(stats["examination"], want["examination"], strict=True):
        summed = np.bincount(key, got, minlength=np.size(table)).reshape(np.shape(table))
        np.testing.assert_allclose(summed, expected, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module", params=["vpbm-2", "vubm-2"])
def fitted(request):
    model = request.param
    everything, attraction, sigma = simulate(model)
    sessions = everything.subset(np.arange(TRAIN))
    sources = {"examination": "linear"}
    fit_em = em.fit(model, sessions, prior=PRIOR, sources=sources, max_iter=3_000)
    fit_gd = gradient.fit(model, sessions, prior=PRIOR, sources=sources, dtype="float64")
    held_out = everything.subset(np.arange(TRAIN, everything.n))
    return model, sessions, attraction, sigma, fit_em, fit_gd, held_out


def test_engines_agree_from_the_same_weights(fitted):
    model, sessions, _, _, fit_em, fit_gd, held_out = fitted
    assert fit_em.converged and fit_gd.converged
    gap = fit_em.objective(sessions) - fit_gd.objective(sessions)
    assert abs(gap) < 1e-4, gap
    objective = [fit_em.settings["initial_objective"]] + [h["objective"] for h in fit_em.history]
    assert np.all(np.diff(objective) >= -1e-12), "generalised EM must never go down"
    n_cells = cells.of(sessions, model, cells.by_last(model)).n_cells
    for fit in (fit_em, fit_gd):
        assert fit.params["examination"].shape == (n_cells,)
        assert fit.params["vision"].shape == (sessions.n_docs,)
        assert fit.settings["sources"]["examination"]["kind"] == "linear"
    assert np.abs(fit_em.params["examination"] - fit_gd.params["examination"]).max() < 0.02
    for probs in ("click_probs", "conditional_click_probs"):
        a, b = getattr(fit_em, probs)(held_out), getattr(fit_gd, probs)(held_out)
        assert np.abs(a - b).max() < 0.01, probs
        assert np.all((a >= 0) & (a < 1)) and np.all(a[~held_out.mask] == 0)
    assert abs(fit_em.objective(held_out) - fit_gd.objective(held_out)) < 1e-3


def test_fitted_gamma_recovers_the_truth_up_to_the_affine_invariance(fitted):
    model, sessions, attraction, sigma, fit_em, fit_gd, _ = fitted
    truth = cell_truth(sessions, model)
    clicks = true_conditional(sessions, attraction, sigma, model)
    found = cells.of(sessions, model, cells.by_last(model))
    trials = np.bincount(found.index[sessions.mask], minlength=found.n_cells)
    for fit in (fit_em, fit_gd):
        e = fit.params["examination"]
        # the affine map of least squares, each cell weighted by its impressions
        root = np.sqrt(trials)
        (c, d), *_ = np.linalg.lstsq(np.stack([e, np.ones_like(e)], axis=1) * root[:, None],
                                     truth * root, rcond=None)
        error = np.abs(c * e + d - truth)
        assert error.max() < TOLERANCE[model], (fit.engine, error.max(), c, d)
        assert np.corrcoef(e, truth)[0, 1] > 0.97
        # The bias features' effect is learnt: the device flag raises gamma, the score lowers it.
        weights = fit.settings["examination_network"]["w1"].ravel()
        assert weights[-2] > 0 > weights[-1], weights[-2:]
        error = np.abs(fit.conditional_click_probs(sessions) - clicks)[sessions.mask]
        assert error.mean() < 0.03, (fit.engine, error.mean())
