"""Properties of the EM loop: monotone objective, weights, stopping, the Fit it returns."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import simulate
from clicklog.dedup import dedup
from clicklog.sessions import from_arrays
from em import MODELS, engine, fit
from em.layout import chunk_starts, layout

EXACT = [m for m in MODELS if not m.endswith("-counting")]


def _log(model: str, n: int = 3000, seed: int = 0):
    """Simulated sessions with pages of 5 to 8 results (padding included)."""
    base = model.removesuffix("-counting")
    return simulate(base, n, seed=seed, n_queries=12, K=8, min_length=5).sessions


@pytest.mark.parametrize("prior", [(2.0, 2.0), None], ids=["beta22", "mle"])
@pytest.mark.parametrize("model", EXACT)
def test_objective_never_decreases(model, prior):
    sessions = _log(model)
    f = fit(model, sessions, prior=prior, max_iter=40, tol=0.0)
    objective = np.array(
        [f.settings["initial_objective"]] + [h["objective"] for h in f.history]
    )
    assert np.all(np.isfinite(objective))
    assert np.all(np.diff(objective) >= -1e-13), np.diff(objective).min()
    assert objective[-1] > objective[0] + 1e-3  # it did move
    assert f.objective(sessions) == pytest.approx(objective[-1], rel=1e-12)


@pytest.mark.parametrize("model", list(MODELS))
def test_weights_equal_replication(model):
    sessions = _log(model, n=1500, seed=1)
    counts = np.random.default_rng(2).integers(1, 4, sessions.n)
    replicated = sessions.subset(np.repeat(np.arange(sessions.n), counts))
    weighted = sessions.with_weight(counts)
    fits = [
        fit(model, s, max_iter=8, tol=0.0) for s in (replicated, weighted, dedup(replicated))
    ]
    for other in fits[1:]:
        for name, value in fits[0].params.items():
            np.testing.assert_allclose(other.params[name], value, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            [h["objective"] for h in other.history],
            [h["objective"] for h in fits[0].history],
            rtol=1e-10,
        )


@pytest.mark.parametrize("model", ["pbm", "ubm", "dcm", "ccm", "dbn", "sdbn"])
def test_session_order_and_chunking_do_not_matter(model):
    sessions = _log(model, n=2000, seed=3)
    shuffled = sessions.subset(np.random.default_rng(4).permutation(sessions.n))
    a = fit(model, sessions, max_iter=5, tol=0.0)
    b = fit(model, shuffled, max_iter=5, tol=0.0)
    for name, value in a.params.items():
        np.testing.assert_allclose(b.params[name], value, rtol=1e-10, atol=1e-14)
    spec = engine.MODELS[model]
    one, _ = spec.estep(layout(sessions, n_chunks=1), a.params)
    many, _ = spec.estep(layout(sessions, n_chunks=7), a.params)
    for name, (s1, t) in one.items():
        np.testing.assert_allclose(many[name][0], s1, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(many[name][1], t, rtol=1e-12, atol=1e-12)


def test_chunks_follow_query_boundaries():
    query = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 4, 4])
    starts = chunk_starts(query, 4)
    assert starts[0] == 0 and starts[-1] == query.size
    assert np.all(np.diff(starts) > 0)
    for cut in starts[1:-1]:
        assert query[cut] != query[cut - 1]
    assert list(chunk_starts(np.zeros(5, np.int32), 8)) == [0, 5]


def test_stopping_rules_and_history():
    sessions = _log("dbn")
    capped = fit("dbn", sessions, max_iter=3, tol=0.0)
    assert capped.iterations == 3 and not capped.converged
    loose = fit("dbn", sessions, max_iter=500, tol=1e-4)
    assert loose.converged and loose.iterations < 500
    objective = [h["objective"] for h in loose.history]
    assert abs(objective[-1] - objective[-2]) < 1e-4 <= abs(objective[-2] - objective[-3])
    seconds = [h["seconds"] for h in loose.history]
    assert all(b >= a for a, b in zip(seconds, seconds[1:], strict=False)) and seconds[0] >= 0
    assert [h["iteration"] for h in loose.history] == list(range(1, loose.iterations + 1))
    assert loose.engine == "em" and loose.model == "dbn" and loose.compile_seconds >= 0


def test_init_is_the_starting_point():
    sessions = _log("ccm")
    default = fit("ccm", sessions, max_iter=1)
    again = fit("ccm", sessions, max_iter=1, init={"tau1": 0.5})
    moved = fit("ccm", sessions, max_iter=1, init={"tau1": 0.2, "attraction": 0.3})
    assert again.params["tau2"] == default.params["tau2"]
    assert moved.params["tau2"] != default.params["tau2"]
    assert moved.settings["initial_objective"] != default.settings["initial_objective"]
    with pytest.raises(ValueError, match="unknown parameters"):
        fit("ccm", sessions, init={"gamma": 0.5})
    with pytest.raises(ValueError, match="probabilities"):
        fit("ccm", sessions, init={"tau1": np.nan})


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: fit("nosuch", s), "unknown click model"),
        (lambda s: fit("pbm", s, prior=(0.5, 2.0)), "prior"),
        (lambda s: fit("pbm", s, max_iter=0), "max_iter"),
        (lambda s: fit("pbm", s.subset(np.zeros(0, int))), "zero sessions"),
    ],
)
def test_bad_calls(call, message):
    with pytest.raises(ValueError, match=message):
        call(_log("pbm", n=50))


@pytest.mark.parametrize("model", list(MODELS))
def test_predictions_are_probabilities(model):
    sessions = _log(model, n=500, seed=5)
    f = fit(model, sessions, max_iter=3)
    for predict in (f.click_probs, f.conditional_click_probs, f.relevance):
        p = predict(sessions)
        assert p.shape == sessions.qd.shape and p.dtype == np.float64
        assert np.all(p[~sessions.mask] == 0)
        assert np.all((p[sessions.mask] > 0) | (model == "cm")) and np.all(p <= 1)


def test_predicting_on_another_vocabulary_is_refused():
    small = simulate("pbm", 200, seed=0, n_queries=2, K=8).sessions
    f = fit("pbm", small, max_iter=2)
    for other in (_log("pbm", n=200), simulate("pbm", 20, seed=0, n_queries=2, K=9).sessions):
        with pytest.raises(ValueError, match="share the training vocabulary"):
            f.conditional_click_probs(other)


def test_cascade_refuses_pages_too_wide_for_its_products():
    wide = from_arrays(np.zeros(2), np.tile(np.arange(51), (2, 1)), np.zeros((2, 51)))
    with pytest.raises(ValueError, match="up to 50 results"):
        fit("dbn", wide)
    assert fit("pbm", wide, max_iter=2).iterations == 2
