"""The E-step kernels' numerics (em/cascade.py, em/position.py): one logarithm per session must
not underflow on the longest pages at the smallest probabilities, and the statistics must not
depend on how the sessions are cut into chunks (threads)."""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import from_arrays
from em.engine import get_model, initial_params, session_loglik
from em.layout import layout

K = 50
TINY = 1e-6


def one_session(click: np.ndarray):
    return from_arrays(np.zeros(1), np.arange(K)[None, :], click[None, :])


def test_every_click_at_the_smallest_probabilities():
    # 50 clicks, each a factor attraction * continuation = 1e-12: the product, 1e-594, is far
    # below float64's range, so the log-likelihood must be folded before it underflows
    s = one_session(np.ones(K, bool))
    params = {"attraction": np.full(K, TINY), "continuation": np.full(K, TINY)}
    expected = K * np.log(TINY) + (K - 1) * np.log(TINY)
    ll = session_loglik("dcm", params, s)
    assert np.isfinite(ll[0])
    np.testing.assert_allclose(ll, [expected], rtol=1e-12)


@pytest.mark.parametrize("model", ["pbm", "ubm"])
def test_position_models_fold_the_product_of_tiny_clicks(model):
    # every rank clicked at attraction * examination = 1e-12: 1e-600 as one product
    s = one_session(np.ones(K, bool))
    shape = (K,) if model == "pbm" else (K, K)
    params = {"attraction": np.full(K, TINY), "examination": np.full(shape, TINY)}
    _, ll = get_model(model).estep(layout(s), params)
    np.testing.assert_allclose(ll, 2 * K * np.log(TINY), rtol=1e-12)
    np.testing.assert_allclose(session_loglik(model, params, s), [ll], rtol=1e-12)


def _no_click_tail(a: float, gamma: float, ranks: int) -> float:
    """P(no click at the last `ranks` ranks | examined at the first of them) for DBN."""
    b = 1.0
    for _ in range(ranks):
        b = (1.0 - a) * ((1.0 - gamma) + gamma * b)
    return b


def test_clicks_then_a_long_unclicked_tail():
    # clicks on ranks 0..24 at probability 1e-6 each (a product near 1e-150), then 25
    # unclicked, nearly certainly attractive ranks after the last click
    clicks = np.arange(K) < K // 2
    s = one_session(clicks)
    gamma = 1.0 - TINY
    params = {"attraction": np.where(clicks, TINY, 1.0 - TINY),
              "satisfaction": np.full(K, TINY), "continuation": np.asarray(gamma)}
    last = K // 2 - 1
    t1 = (1.0 - TINY) * gamma  # P(E_{r+1} = 1 | click, E_r = 1): unsatisfied, then going on
    z = (1.0 - t1) + t1 * _no_click_tail(1.0 - TINY, gamma, K - last - 1)
    expected = (last + 1) * np.log(TINY) + last * np.log(t1) + np.log(z)
    np.testing.assert_allclose(session_loglik("dbn", params, s), [expected], rtol=1e-12)


def test_no_click_on_a_long_page_of_attractive_results():
    # SDBN always goes on, so P(no click) = (1e-6)^50 = 1e-300, near the bottom of float64's
    # normal range, with nothing to fold it into
    s = one_session(np.zeros(K, bool))
    params = {"attraction": np.full(K, 1.0 - TINY), "satisfaction": np.full(K, 0.5)}
    np.testing.assert_allclose(session_loglik("sdbn", params, s), [K * np.log(TINY)],
                               rtol=1e-9)


@pytest.mark.parametrize("model", ["dbn", "sdbn", "dcm", "ccm", "pbm", "ubm"])
def test_statistics_do_not_depend_on_the_chunks(model):
    rng = np.random.default_rng(3)
    n, k = 400, 6
    query = rng.integers(0, 9, n)
    docs = np.stack([rng.permutation(20)[:k] for _ in range(n)])
    s = from_arrays(query, docs, rng.random((n, k)) < 0.3, rng.integers(1, k + 1, n),
                    rng.choice([1.0, 2.5], n))
    spec = get_model(model)
    params = initial_params(spec.parameters, s)
    params = {name: np.clip(v * rng.uniform(0.2, 1.8, np.shape(v)), 1e-3, 1 - 1e-3)
              for name, v in params.items()}
    one, one_ll = spec.estep(layout(s, n_chunks=1), params)
    many, many_ll = spec.estep(layout(s, n_chunks=7), params)
    assert layout(s, n_chunks=7).starts.size > 2
    np.testing.assert_allclose(many_ll, one_ll, rtol=1e-12)
    for name, (s1, t) in one.items():
        np.testing.assert_allclose(many[name][0], s1, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(many[name][1], t, rtol=1e-12, atol=1e-12, err_msg=name)
