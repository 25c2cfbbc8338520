"""Examination from bias features: inputs and errors (clicklog/cells.py, em/bias.py,
gradient/bias.py): cells by brute force, the mlp source, long logs through the command line,
clear errors for what is missing, and table examination left exactly as it was."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import em
import gradient
from benchmarks.cli import main
from clicklog import cells, network
from clicklog.io_long import read_long, write_long
from tests.em.test_bias_examination import simulate

SMALL = {"max_iter": 40}


@pytest.fixture(scope="module")
def small():
    sessions, _ = simulate("ubm", n=400, n_queries=4, pool=6, seed=5)
    return sessions


def test_cells_match_a_brute_force_key(small):
    for by_last, model in ((False, "pbm"), (True, "ubm")):
        found = cells.of(small, model, by_last)
        column = cells.last_click_column(small.click)
        keys = {}
        for i, r in zip(*np.nonzero(small.mask), strict=True):
            j = column[i, r] if by_last else 0
            key = (r, j, *small.bias_features[i, r].tolist())
            keys.setdefault(key, found.index[i, r])
            assert keys[key] == found.index[i, r]
            x = found.features[found.index[i, r]]
            assert x[r] == 1 and x[: small.K].sum() == 1
            if by_last:
                assert x[small.K + j] == 1 and x[small.K: 2 * small.K].sum() == 1
            assert np.array_equal(x[-2:], small.bias_features[i, r])
        assert len(keys) == found.n_cells
        assert np.all(found.index[~small.mask] == -1)
        every = cells.of(small, model, True, every_column=True) if by_last else None
        if every is not None:
            i, r = np.nonzero(small.mask)
            assert np.all(every.index[i, r, 0] >= 0)
            assert np.all(every.index[:, np.arange(small.K)[:, None] < np.arange(small.K)] == -1)


def test_a_table_examination_is_unchanged(small):
    """sources={"examination": "table"} is today's fit, to the last bit, in both engines."""
    for model in ("pbm", "ubm"):
        plain = em.fit(model, small, **SMALL)
        table = em.fit(model, small, sources={"examination": "table"}, **SMALL)
        assert np.array_equal(plain.params["examination"], table.params["examination"])
        assert plain.params["examination"].shape == ((small.K,) if model == "pbm"
                                                     else (small.K, small.K))
    plain = gradient.fit("ubm", small, max_iter=20)
    table = gradient.fit("ubm", small, sources={"examination": "table"}, max_iter=20)
    assert np.array_equal(plain.params["examination"], table.params["examination"])


def test_mlp_source_runs_in_both_engines(small):
    source = {"examination": {"kind": "mlp", "hidden": (4,)}}
    fit_em = em.fit("ubm", small, sources=source, **SMALL)
    fit_gd = gradient.fit("ubm", small, sources=source, max_iter=40)
    weights = network.initial_weights(cells.n_inputs(small.K, 2, True), 0, (4,))
    for fit in (fit_em, fit_gd):
        assert set(fit.settings["examination_network"]) == set(weights)
        p = fit.click_probs(small)
        assert np.all((p >= 0) & (p < 1)) and np.all(p[~small.mask] == 0)
    assert abs(fit_em.objective(small) - fit_gd.objective(small)) < 0.01


def test_clear_errors(small):
    bare = replace(small, bias_features=None)
    for fit in (em.fit, gradient.fit):
        with pytest.raises(ValueError, match="bias features.*bias_features is None"):
            fit("pbm", bare, sources={"examination": "linear"})
    for model in ("pbm", "vpbm-1"):
        with pytest.raises(ValueError, match="init cannot set 'examination'"):
            em.fit(model, small, sources={"examination": "linear"}, init={"examination": 0.4})
    with pytest.raises(ValueError, match="EM M-step option"):
        gradient.fit("pbm", small, sources={"examination": {"kind": "linear", "target": "hard"}})


def test_long_log_through_the_command_line(small, tmp_path, capsys):
    path = tmp_path / "log.csv"
    write_long(small, path)
    read = read_long(path)
    assert np.array_equal(read.bias_features[read.mask], small.bias_features[small.mask])
    params = tmp_path / "params.json"
    args = ["fit", "--model", "pbm", "--data", str(path), "--source", "examination=linear",
            "--out", str(tmp_path / "labels.csv"), "--params", str(params), "--no-progress"]
    assert main(args) == 0
    saved = json.loads(params.read_text())
    assert saved["settings"]["sources"] == {"examination": "linear"}
    direct = em.fit("pbm", read, sources={"examination": "linear"})
    assert abs(saved["objective_per_impression"] - direct.objective(read)) < 1e-6


def test_adam_minibatches_carry_the_bias_features(small):
    """Minibatches slice the per-session bias features with their rows (gradient/batch.py):
    Adam moves well past the starting point, where every click has probability 1/4."""
    fit = gradient.fit("ubm", small, optimizer="adam", sources={"examination": "linear"},
                       epochs=8, batch_size=64, validation=None, prior=None)
    clicks = small.click[small.mask]
    start = np.mean(np.where(clicks, np.log(0.25), np.log(0.75)))
    assert fit.objective(small) > start + 0.02
    assert fit.params["examination"].shape == (cells.of(small, "ubm", True).n_cells,)


def test_weight_prior_counts_alike_in_both_engines(small):
    """With l2 the examination weights' Gaussian prior is in both objectives, and both fits
    reach the same one."""
    source = {"examination": {"kind": "linear", "l2": 5.0}}
    fit_em = em.fit("pbm", small, sources=source)
    fit_gd = gradient.fit("pbm", small, sources=source)
    assert abs(fit_em.objective(small) - fit_gd.objective(small)) < 1e-4
    w = fit_em.settings["examination_network"]["w1"]
    plain = em.fit("pbm", small, sources={"examination": "linear"})
    assert np.sum(w ** 2) < np.sum(plain.settings["examination_network"]["w1"] ** 2)


def _rank_column(features: np.ndarray, K: int, by_last: bool):
    rank = features[:, :K].argmax(axis=1)
    return rank, features[:, K: 2 * K].argmax(axis=1) if by_last else 0 * rank


@pytest.mark.parametrize("model", ["pbm", "ubm"])
def test_kernels_match_the_table_kernels_when_cells_are_ranks(small, model):
    """With constant bias features every cell is one rank (PBM) or (r, j) (UBM): the cell
    kernels must then give em/position.py's statistics, log-likelihood, posteriors and click
    probabilities (brute-force checked in tests/em/test_bruteforce.py) to rounding."""
    from em import bias, engine, position
    from em.layout import layout

    flat = replace(small, bias_features=np.zeros_like(small.bias_features))
    params = engine.initial_params(model, flat)
    attached = bias.attach(engine.get_model(model), params, flat, {"examination": "linear"}, 0)
    regression, found = attached.examination.regression, attached.examination.cells
    rng = np.random.default_rng(1)
    regression.weights = {k: rng.standard_normal(np.shape(v))
                          for k, v in regression.weights.items()}
    cell_p = regression.table()
    by_last = model == "ubm"
    # the table of every (r, j) the forward pass of UBM's unconditional clicks visits
    every = cells.of(flat, model, True, every_column=True) if by_last else found
    table = np.full((flat.K, flat.K), 0.5)
    table[_rank_column(every.features, flat.K, by_last)] = regression.table(every.features)
    rank, column = _rank_column(found.features, flat.K, by_last)
    table = table if by_last else np.ascontiguousarray(table[:, :1])
    attraction = rng.uniform(0.1, 0.9, flat.n_qd)
    lay = layout(flat)
    stats, ll = attached.spec.estep(lay, {"attraction": attraction, "examination": cell_p})
    attr, (e1, et), ll_table = position.estep(lay, attraction, table, by_last)
    assert ll == pytest.approx(ll_table, rel=1e-12)
    assert np.allclose(stats["attraction"][0], attr[0])
    assert np.allclose(stats["attraction"][1], attr[1])
    assert np.allclose(stats["examination"][0], e1[rank, column])
    assert np.allclose(stats["examination"][1], et[rank, column])
    p = {"attraction": attraction, "examination": cell_p}
    hidden, per_session = attached.spec.posteriors(p, flat)
    hidden_table, per_session_table = position.posteriors(flat, attraction, table, by_last)
    assert np.allclose(per_session, per_session_table)
    for name in ("E", "A"):
        assert np.allclose(hidden[name][1], hidden_table[name][1])
    for conditional, predict in ((True, attached.spec.conditional),
                                 (False, attached.spec.unconditional)):
        expected = position.predict(flat, attraction, table, by_last, conditional)
        assert np.allclose(predict(p, flat), expected)
