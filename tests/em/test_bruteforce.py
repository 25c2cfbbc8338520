"""The exact E-step against brute-force enumeration (tests/reference.py), for every model.

For pages of K = 5 results (one of them padded to 3 results), random parameters and every
possible click vector, the engine's posteriors of each hidden draw, its session likelihood
and its conditional and unconditional click probabilities must equal the enumerated sums
to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference

from clicklog import catalogue
from clicklog.sessions import from_arrays
from em import engine
from em.layout import layout

K = 5
MODELS = [m for m in engine.MODELS if m not in catalogue.VARIANTS]


def _sessions(model: str):
    """Every click vector on two pages: query 0 with K results, query 1 with 3 of K."""
    rows = []
    for query, length in ((0, K), (1, 3)):
        for clicks in reference.all_click_vectors(length):
            if model == "cm" and sum(clicks) > 1:
                continue  # outside CM's model
            rows.append((query, length, list(clicks) + [0] * (K - length)))
    query = np.array([q for q, _, _ in rows])
    length = np.array([n for _, n, _ in rows])
    click = np.array([c for _, _, c in rows], bool)
    docs = np.where(query[:, None] == 0, np.arange(K), np.arange(K) + K)
    return from_arrays(query, docs, click, length=length)


def _random_params(model: str, sessions, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = catalogue.parameter_shapes(model, K, sessions.n_qd, sessions.n_docs)
    return {name: rng.uniform(0.05, 0.95, shape) for name, shape in shapes.items()}


def _reference(model, params, sessions, i):
    L = int(sessions.length[i])
    sp = reference.session_params(model, params, sessions.qd[i, :L])
    return reference.enumerate_session(model, sp, L), sessions.click[i, :L].astype(int), L


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seed", [0, 1])
def test_posteriors_and_likelihood(model, seed):
    sessions = _sessions(model)
    params = _random_params(model, sessions, seed)
    hidden = engine.posteriors(model, params, sessions)
    loglik = engine.session_loglik(model, params, sessions)
    for i in range(sessions.n):
        paths, clicks, L = _reference(model, params, sessions, i)
        expected = reference.posteriors(paths, clicks)
        assert {name for name, _ in expected} <= set(hidden)
        for name, (drawn, one) in hidden.items():
            for r in range(L):
                want = expected.get((name, r), (0.0, 0.0))
                got = (drawn[i, r], one[i, r])
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{name}{r}")
            assert np.all(drawn[i, L:] == 0) and np.all(one[i, L:] == 0)
        want_ll = np.log(reference.session_likelihood(paths, clicks))
        np.testing.assert_allclose(loglik[i], want_ll, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_click_probabilities(model):
    sessions = _sessions(model)
    params = _random_params(model, sessions, 2)
    spec = engine.MODELS[model]
    conditional = spec.conditional(params, sessions)
    unconditional = spec.unconditional(params, sessions)
    for i in range(sessions.n):
        paths, clicks, L = _reference(model, params, sessions, i)
        want = reference.conditional_click_probs(paths, clicks, L)
        possible = ~np.isnan(want)
        np.testing.assert_allclose(conditional[i, :L][possible], want[possible], rtol=1e-9)
        want_u = reference.unconditional_click_probs(paths, L)
        np.testing.assert_allclose(unconditional[i, :L], want_u, rtol=1e-9, atol=1e-15)
        assert np.all(conditional[i, L:] == 0) and np.all(unconditional[i, L:] == 0)


def _parameter_of(model, name, r, hidden, qd, clicks):
    """(parameter name, index) whose probability the reference's draw `name`_r used, or None
    for variables that are not draws of a parameter (the cascade's examination chain)."""
    if name == "A":
        if model == "gctr":
            return "ctr", ()
        return ("ctr", r) if model == "rctr" else ("attraction", qd[r])
    if name == "E":
        if model == "pbm":
            return "examination", r
        if model == "ubm":
            above = [k for k in range(r) if clicks[k]]
            return "examination", (r, above[-1] + 1 if above else 0)
        return None
    if name == "S":
        return ("attraction" if model == "ccm" else "satisfaction"), qd[r]
    if name == "L":
        return "continuation", r
    if model == "dbn":
        return "continuation", ()
    if not clicks[r]:
        return "tau1", ()
    return ("tau3" if hidden[("S", r)] else "tau2"), ()


@pytest.mark.parametrize("model", MODELS)
def test_estep_statistics(model):
    """Weighted expected successes and trials of every parameter entry, accumulated by the
    query-ordered parallel E-step, equal the sums over all enumerated hidden paths (sessions
    shuffled, weighted, split into several chunks). CM's trials stop at the first click."""
    sessions = _sessions(model)
    rng = np.random.default_rng(3)
    order = rng.permutation(sessions.n)
    sessions = sessions.subset(order).with_weight(rng.integers(1, 4, sessions.n))
    params = _random_params(model, sessions, 4)
    expected = {name: (np.zeros_like(v), np.zeros_like(v)) for name, v in params.items()}
    want_ll = 0.0
    for i in range(sessions.n):
        paths, clicks, L = _reference(model, params, sessions, i)
        w = float(sessions.weight[i])
        first = list(clicks).index(1) if 1 in clicks else L
        z = reference.session_likelihood(paths, clicks)
        want_ll += w * np.log(z)
        for p, c, hidden in paths:
            if c != tuple(clicks):
                continue
            for (name, r), bit in hidden.items():
                entry = _parameter_of(model, name, r, hidden, sessions.qd[i], clicks)
                if entry is None or (model == "cm" and r > first):
                    continue
                s1, t = expected[entry[0]]
                s1[entry[1]] += w * p / z * bit
                t[entry[1]] += w * p / z
    stats, ll = engine.MODELS[model].estep(layout(sessions, n_chunks=3), params)
    assert set(stats) == set(params)
    for name, (s1, t) in stats.items():
        np.testing.assert_allclose(s1, expected[name][0], rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(t, expected[name][1], rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ll, want_ll, rtol=1e-12)
