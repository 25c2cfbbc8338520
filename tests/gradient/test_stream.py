"""Streamed Adam (gradient/stream.py): gradient.fit on a Parquet path.

A log of one row group without a validation split must give in-memory Adam's iterates (the
same minibatches in the same order); with several row groups and a held-out fraction, the
held-out sessions must be the same every epoch and the reported objective must be the exact
objective of the returned parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradient
from benchmarks.simulate import simulate
from clicklog.io_parquet import iter_parquet, write_parquet
from gradient.stream import split_group

SETTINGS = {"optimizer": "adam", "batch_size": 128, "learning_rate": 0.05}


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    sessions = simulate("dbn", 1500, seed=4, n_queries=20, K=6, min_length=4).sessions
    sessions = sessions.with_weight(np.random.default_rng(1).integers(1, 3, sessions.n))
    folder = tmp_path_factory.mktemp("gradient-stream")
    whole, groups = folder / "whole.parquet", folder / "groups.parquet"
    write_parquet(sessions, whole, row_group_size=10_000)
    write_parquet(sessions, groups, row_group_size=400)
    return sessions, whole, groups


@pytest.mark.parametrize("model", ["pbm", "dbn"])
def test_one_row_group_streams_the_in_memory_minibatches(model, log):
    sessions, whole, _ = log
    memory = gradient.fit(model, sessions, epochs=3, validation=None, **SETTINGS)
    streamed = gradient.fit(model, whole, epochs=3, validation=None, **SETTINGS)
    for name, value in memory.params.items():
        np.testing.assert_allclose(streamed.params[name], value, rtol=1e-5, atol=1e-6)
    assert [h["objective"] for h in streamed.history] == pytest.approx(
        [h["objective"] for h in memory.history], abs=1e-5)
    assert streamed.settings["streamed"] == str(whole) and streamed.settings["row_groups"] == 1


def test_row_groups_validation_and_exact_objective(log):
    sessions, _, groups = log
    fitted = gradient.fit("pbm", groups, epochs=40, validation=0.2, patience=1, min_delta=1e-4,
                          dtype="float64", **SETTINGS)
    held = [split_group(chunk, g, 0, 0.2)[1] for g, chunk in enumerate(iter_parquet(groups))]
    again = [split_group(chunk, g, 0, 0.2)[1] for g, chunk in enumerate(iter_parquet(groups))]
    assert all(np.array_equal(a.query, b.query) for a, b in zip(held, again, strict=True))
    n_held = sum(h.n for h in held)
    assert fitted.settings["train_sessions"] == sessions.n - n_held
    assert 0.1 * sessions.n < n_held < 0.3 * sessions.n
    history = fitted.history
    assert fitted.converged and len(history) < 40  # early stopping ended it
    best = fitted.settings["best_epoch"]
    assert history[best - 1]["validation"] == max(h["validation"] for h in history)
    objective = [h["objective"] for h in history]
    assert objective[-1] > objective[0] + 0.02
    assert np.all(np.diff([h["seconds"] for h in history]) > 0)

    whole = gradient.fit("pbm", groups, epochs=5, validation=None, dtype="float64", **SETTINGS)
    assert whole.history[-1]["objective"] == pytest.approx(whole.objective(sessions), abs=1e-9)


def test_refusals(log):
    _, whole, _ = log
    with pytest.raises(ValueError, match="optimizer='adam'"):
        gradient.fit("pbm", whole)
    with pytest.raises(ValueError, match="fraction"):
        gradient.fit("pbm", whole, optimizer="adam", validation=1.5)
