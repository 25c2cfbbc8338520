"""Hand-computed fits on a four-session log, and the M-step rule itself.

The log (one query, documents 0, 1, 2, K = 3):

    session  docs      clicks   weight
    s1       0 1 2     1 0 1    1
    s2       1 0 2     0 1 0    1
    s3       2 1 0     0 0 0    2
    s4       0 2 1     1 1 0    1

Every count below is worked out by hand from this table (weights counted), not by the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import catalogue
from clicklog.sessions import from_arrays
from em import engine, fit
from em.layout import layout

DOCS = [[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 2, 1]]
CLICKS = [[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]]
WEIGHT = [1, 1, 2, 1]
EPS = 1e-6


@pytest.fixture(scope="module")
def log():
    sessions = from_arrays(np.zeros(4), np.array(DOCS), np.array(CLICKS), weight=np.array(WEIGHT))
    # from_arrays numbers qd pairs in first-seen order: doc 0, 1, 2 -> qd 0, 1, 2
    assert list(sessions.qd_doc) == [0, 1, 2]
    return sessions


def _map(s1, t, a=2.0, b=2.0):
    return (np.asarray(s1, float) + a - 1) / (np.asarray(t, float) + a + b - 2)


def test_ctr_models(log):
    # 5 clicks in 15 weighted impressions; per rank 2, 2, 1 clicks of 5; per document
    # doc 0: 3 of 5, doc 1: 0 of 5, doc 2: 2 of 5
    assert fit("gctr", log).params["ctr"] == pytest.approx(_map(5, 15))
    np.testing.assert_allclose(fit("rctr", log).params["ctr"], _map([2, 2, 1], [5, 5, 5]))
    np.testing.assert_allclose(
        fit("dctr", log).params["attraction"], _map([3, 0, 2], [5, 5, 5])
    )
    mle = fit("dctr", log, prior=None).params["attraction"]
    np.testing.assert_allclose(mle, [3 / 5, EPS, 2 / 5])


def test_ctr_objective(log):
    f = fit("gctr", log, prior=None)
    want = (5 * np.log(1 / 3) + 10 * np.log(2 / 3)) / 15
    assert f.history[-1]["objective"] == pytest.approx(want, rel=1e-12)
    assert f.objective(log) == pytest.approx(want, rel=1e-12)
    g = fit("gctr", log)
    theta = 6 / 17
    want = (5 * np.log(theta) + 10 * np.log(1 - theta) + np.log(theta) + np.log(1 - theta)) / 15
    assert g.objective(log) == pytest.approx(want, rel=1e-12)


def test_cm(log):
    # ranks up to the first click: s1 rank 0; s2 ranks 0-1; s3 all (x2); s4 rank 0
    # doc 0: clicks 3 in 5; doc 1: 0 in 3; doc 2: 0 in 2
    f = fit("cm", log)
    np.testing.assert_allclose(f.params["attraction"], _map([3, 0, 0], [5, 3, 2]))
    a = f.params["attraction"]
    cond = f.conditional_click_probs(log)
    np.testing.assert_allclose(cond[0], [a[0], 0, 0])
    np.testing.assert_allclose(cond[1], [a[1], a[0], 0])
    np.testing.assert_allclose(cond[2], [a[2], a[1], a[0]])
    uncond = f.click_probs(log)
    np.testing.assert_allclose(uncond[3], [a[0], (1 - a[0]) * a[2], (1 - a[0]) * (1 - a[2]) * a[1]])
    # its objective covers the 10 supported ranks only, per all 15 impressions
    want = (3 * np.log(a[0]) + 2 * np.log(1 - a[0]) + 3 * np.log(1 - a[1]) + 2 * np.log(1 - a[2]))
    want += catalogue.log_prior(f.params, (2.0, 2.0))
    assert f.history[-1]["objective"] == pytest.approx(want / 15, rel=1e-12)


def test_dcm_counting(log):
    # ranks up to the last click: s1 all, s2 ranks 0-1, s3 all (x2), s4 ranks 0-1
    # doc 0: 3 clicks in 5; doc 1: 0 in 4; doc 2: 2 in 4
    # clicks at rank 0 (s1, s4) both continue; at rank 1 (s2, s4) and rank 2 (s1) all are last
    f = fit("dcm-counting", log)
    np.testing.assert_allclose(f.params["attraction"], _map([3, 0, 2], [5, 4, 4]))
    np.testing.assert_allclose(f.params["continuation"], _map([2, 0, 0], [2, 2, 1]))
    assert f.iterations == 1 and f.converged
    exact = engine.MODELS["dcm"]
    assert f.objective(log) == pytest.approx(
        (exact.estep(layout(log), f.params)[1] + catalogue.log_prior(f.params, (2, 2)))
        / 15
    )


def test_sdbn_counting(log):
    # clicks on doc 0: s1 (not last), s2 (last), s4 (not last); on doc 2: s1, s4 (both last)
    f = fit("sdbn-counting", log, prior=None)
    np.testing.assert_allclose(f.params["attraction"], [3 / 5, EPS, 2 / 4])
    np.testing.assert_allclose(f.params["satisfaction"], [1 / 3, 0.5, 1 - EPS])


def test_pbm_first_iteration(log):
    # From 0.5 everywhere an unclicked rank has P(A = 1 | C = 0) = P(E = 1 | C = 0)
    # = 0.25 / 0.75 = 1/3, so without a prior, one M-step gives
    # attraction = (clicks + unclicked / 3) / impressions, examination likewise per rank.
    f = fit("pbm", log, prior=None, max_iter=1)
    np.testing.assert_allclose(f.params["attraction"], [(3 + 2 / 3) / 5, (5 / 3) / 5, (2 + 1) / 5])
    np.testing.assert_allclose(f.params["examination"], [(2 + 1) / 5, (2 + 1) / 5, (1 + 4 / 3) / 5])


def test_ubm_first_iteration(log):
    # UBM's columns: j = last click above + 1. Impressions per (rank, j) with clicks:
    # (0,0): all 5, 2 clicks; (1,0): s2, s3 x2 -> 3, 1 click; (1,1): s1, s4 -> 2, 1 click;
    # (2,0): s3 x2 -> 2, 0 clicks; (2,1): s1 -> 1, 1 click; (2,2): s2, s4 -> 2, 0 clicks.
    f = fit("ubm", log, prior=None, max_iter=1)
    e = f.params["examination"]
    third = 1 / 3
    np.testing.assert_allclose(
        [e[0, 0], e[1, 0], e[1, 1], e[2, 0], e[2, 1], e[2, 2]],
        [(2 + 3 * third) / 5, (1 + 2 * third) / 3, (1 + third) / 2, third, 1.0 - EPS, third],
    )
    assert e[0, 1] == e[0, 2] == e[1, 2] == 0.5  # never used: no trials


def test_map_update_rule():
    s1 = np.array([0.0, 3.0, 0.0, 2.0])
    t = np.array([0.0, 4.0, 5.0, 2.0])
    np.testing.assert_allclose(engine.map_update(s1, t, (2.0, 2.0)), [0.5, 4 / 6, 1 / 7, 3 / 4])
    np.testing.assert_allclose(
        engine.map_update(s1, t, (3.0, 1.5)), [0.8, 5 / 6.5, 2 / 7.5, 4 / 4.5]
    )
    np.testing.assert_allclose(engine.map_update(s1, t, None), [0.5, 0.75, EPS, 1 - EPS])
    assert catalogue.prior_mode((3.0, 1.5)) == pytest.approx(0.8)


def test_uninformed_parameters_end_at_the_prior_mode():
    # qd 2 is never shown in the fitted sessions; rank 2 of the examination never either
    sessions = from_arrays(np.zeros(3), np.array([[0, 1, 2], [1, 0, 2], [0, 1, 2]]),
                           np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]]), length=np.array([2, 2, 3]))
    fitted = sessions.subset(np.array([0, 1]))
    for model, prior in (("pbm", (3.0, 2.0)), ("dbn", None), ("ccm", (2.0, 5.0))):
        f = fit(model, fitted, prior=prior, max_iter=5)
        mode = catalogue.prior_mode(prior)
        assert f.params["attraction"][2] == mode
        if model == "pbm":
            assert f.params["examination"][2] == mode
        if model == "dbn":
            assert f.params["satisfaction"][2] == mode
