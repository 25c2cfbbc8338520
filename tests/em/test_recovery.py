"""Parameter recovery: EM on sessions simulated from known parameters finds them again.

60,000 sessions of 20 Zipf-distributed queries (benchmarks.simulate defaults otherwise),
maximum likelihood (no prior), fitted until the objective moves by less than 1e-7
per impression. Stated tolerances, absolute:

    attraction     of pairs with >= 2,000 impressions    max 0.07, mean 0.02
    satisfaction   of pairs with >= 1,000 clicks          max 0.07, mean 0.02
    per-rank       examination (PBM), ctr (RCTR), continuation (DCM, ranks whose clicks
                   number >= 1,000), UBM examination cells with >= 2,000 impressions:  0.03
    global         ctr, continuation (DBN), tau1..tau3:                                0.01

PBM and UBM only identify attraction * examination: scaling attraction by c and examination
by 1/c leaves every click probability unchanged. Their attraction is compared after
multiplying by examination[0] (PBM) or examination[0, 0] (UBM), their examination after
dividing by it, fitted and true alike.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import simulate
from em import fit
from em.layout import click_ranks

N_SESSIONS = 60_000
ATTRACTION = (0.07, 0.02)
PER_RANK = 0.03
GLOBAL = 0.01


def _check(name, fitted, true, select=None, tolerance=(PER_RANK, None)):
    error = np.abs(np.asarray(fitted) - np.asarray(true))
    if select is not None:
        assert select.sum() >= 5, f"{name}: too few entries to check"
        error = error[select]
    assert error.max() <= tolerance[0], f"{name}: max error {error.max():.4f}"
    if tolerance[1] is not None:
        assert error.mean() <= tolerance[1], f"{name}: mean error {error.mean():.4f}"


def _ubm_impressions(sessions):
    """Impressions per examination cell [r, j] (j = last click above r + 1)."""
    K = sessions.K
    count = np.zeros((K, K))
    clicked_above = np.zeros(sessions.n, np.int64)
    for r in range(K):  # a loop over the K ranks, vectorised over sessions
        shown = sessions.mask[:, r]
        np.add.at(count[r], clicked_above[shown], 1)
        clicked_above = np.where(sessions.click[:, r], r + 1, clicked_above)
    return count


@pytest.mark.slow
@pytest.mark.parametrize(
    "model", ["gctr", "rctr", "dctr", "pbm", "cm", "ubm", "dcm", "ccm", "dbn", "sdbn"]
)
def test_recovery(model):
    sim = simulate(model, N_SESSIONS, seed=11, n_queries=20)
    sessions, truth = sim.sessions, sim.truth
    f = fit(model, sessions, prior=None, max_iter=300, tol=1e-7)
    p = {name: np.array(value) for name, value in f.params.items()}
    truth = {name: np.array(value) for name, value in truth.items()}

    scale = {"pbm": (0,), "ubm": (0, 0)}.get(model)
    if scale is not None:
        fitted_e, true_e = p["examination"][scale], truth["examination"][scale]
        p["attraction"] *= fitted_e
        truth["attraction"] *= true_e
        p["examination"] /= fitted_e
        truth["examination"] /= true_e

    mask = sessions.mask
    impressions = np.bincount(sessions.qd[mask], minlength=sessions.n_qd)
    clicks = np.bincount(sessions.qd[sessions.click], minlength=sessions.n_qd)
    if model == "cm":  # only ranks up to the first click inform CM
        first, _ = click_ranks(sessions.click)
        support = mask & ((np.arange(sessions.K) <= first[:, None]) | (first[:, None] < 0))
        impressions = np.bincount(sessions.qd[support], minlength=sessions.n_qd)
    for name, value in p.items():
        true = truth[name]
        if name == "attraction":
            _check(name, value, true, impressions >= 2000, ATTRACTION)
        elif name == "satisfaction":
            _check(name, value, true, clicks >= 1000, ATTRACTION)
        elif value.ndim == 0:
            _check(name, value, true, tolerance=(GLOBAL, None))
        elif model == "ubm":
            _check(name, value, true, _ubm_impressions(sessions) >= 2000)
        elif model == "dcm":
            rank_clicks = sessions.click[:, :-1].sum(axis=0)
            _check(name, value[:-1], true[:-1], rank_clicks >= 1000)
        else:
            _check(name, value, true)
