"""`clickfit paper vision-bias` (benchmarks/paper_vision.py and paper_vision_tables.py).

A small run of the two EM column groups writes every table; its numbers are recomputed here
from fresh fits through benchmarks.metrics, and a second run is served from the cache. A
larger standard-EM run (60 iterations rather than the command's 200, for time) checks the
paper's qualitative result: with vision bias in the data, vX-2 beats vX-1 beats X in
log-likelihood (both beat X in perplexity), significantly, with the larger gain on the rarest
queries and at the bottom ranks; without it (the control), vX-2 gains nothing.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from benchmarks import metrics
from benchmarks import paper_vision as pv
from benchmarks import paper_vision_tables as tables
from benchmarks.cli import main

SMALL = pv.Size(train=3_000, test=1_000, queries=150, docs=150)
# The layout test needs fits, not converged ones.
QUICK = partial(pv.fit_model, em_settings={"max_iter": 20, "tol": 1e-7})
MEDIUM = pv.Size(train=20_000, test=5_000, queries=1_000, docs=1_000)
EM_GROUPS = ("em", "em-mlp")


@pytest.fixture(scope="module")
def small_data():
    return pv.make_datasets(SMALL)


def test_small_run_writes_every_table(small_data, tmp_path):
    predictions = pv.run_fits(small_data, SMALL, tmp_path / "cache", EM_GROUPS, fit_fn=QUICK,
                              progress=False)
    out = tmp_path / "results"
    files = tables.write_all(small_data, predictions, EM_GROUPS, out,
                             tables.Layout(pv.MODELS, pv.BASE, pv.ENGINES), "intro")
    names = {f.name for f in files}
    for stem in ["table1-statistics"] + [t[0] for t in tables.TABLES]:
        assert {f"{stem}.md", f"{stem}.csv"} <= names
    assert {"figure3-rank-improvement.png", "README.md", "cells.csv"} <= names
    assert all(f.stat().st_size > 0 for f in files)
    assert "| vision | regression-based EM | vUBM-2 |" in (out / "README.md").read_text()

    # Table 2, recomputed from a fresh fit: LL, improvement and its paired t-test.
    vision = small_data[0]
    test = vision.test
    fresh = {m: QUICK("em", m, vision.train) for m in ("ubm", "vubm-2")}
    cond = {m: f.conditional_click_probs(test) for m, f in fresh.items()}
    ll = {m: metrics.log_likelihood(test, c) for m, c in cond.items()}
    t = metrics.paired_ttest(test, metrics.session_log_likelihood(test, cond["vubm-2"]),
                             metrics.session_log_likelihood(test, cond["ubm"]))
    table2 = pd.read_csv(out / "table2-ll.csv")
    row = table2[(table2.dataset == "vision") & (table2.engine == "em")
                 & (table2.model == "vubm-2")].iloc[0]
    assert row.value == pytest.approx(ll["vubm-2"], rel=1e-9)
    assert row.improvement == pytest.approx(metrics.ll_improvement(ll["ubm"], ll["vubm-2"]),
                                            rel=1e-8)
    assert row.p_value == pytest.approx(t.p_value, rel=1e-9)
    mark = "*" if row.improvement > 0 and row.p_value < tables.SIGNIFICANCE else ""
    assert f"{100 * row.improvement:+.2f}%{mark}" in (out / "table2-ll.md").read_text()

    # Regression-based EM shares EM's base models and differs on the vision models.
    for model, same in (("ubm", True), ("vubm-2", False)):
        a = predictions[("vision", "em", model)].conditional
        b = predictions[("vision", "em-mlp", model)].conditional
        assert np.array_equal(a, b) == same

    # Table 1 counts every training and test session once.
    stats = pd.read_csv(out / "table1-statistics.csv")
    assert stats.train_sessions.sum() == vision.train.n
    assert stats.test_sessions.sum() == test.n

    # A second run refits nothing: every prediction comes from the cache.
    def refuse(engine, model, train):
        raise AssertionError(f"refitted {engine} {model}")

    again = pv.run_fits(small_data, SMALL, tmp_path / "cache", EM_GROUPS, fit_fn=refuse,
                        progress=False)
    for key, value in predictions.items():
        np.testing.assert_array_equal(again[key].click, value.click)


def test_command_line_checks_engines(capsys):
    assert main(["paper", "vision-bias", "--engines", "em,nosuch"]) == 2
    assert "unknown engines" in capsys.readouterr().err


def test_qualitative_result(tmp_path):
    data = pv.make_datasets(MEDIUM)
    fit_fn = partial(pv.fit_model, em_settings={"max_iter": 60, "tol": 1e-7})
    predictions = pv.run_fits(data, MEDIUM, tmp_path, ("em",), fit_fn=fit_fn, progress=False)
    df = tables.cells(data, predictions, ("em",), pv.MODELS, pv.BASE)

    def cell(dataset, table, key, metric, model):
        rows = df[(df.dataset == dataset) & (df.table == table) & (df.key == key)
                  & (df.metric == metric) & (df.model == model)]
        return rows.iloc[0]

    for family in ("ubm", "pbm"):
        one, two = f"v{family}-1", f"v{family}-2"
        for metric in ("ll", "perplexity"):
            gain_1 = cell("vision", "overall", "all", metric, one)
            gain_2 = cell("vision", "overall", "all", metric, two)
            assert gain_1.improvement > 0 and gain_2.improvement > 0, (family, metric)
            assert gain_2.p_value < 0.01 and gain_1.p_value < 0.01
            assert cell("control", "overall", "all", metric, two).improvement < 0.001
            if metric == "ll":  # at this size the two variants' perplexities are within noise
                assert gain_2.improvement > gain_1.improvement
        rare = cell("vision", "bucket", "1-10", "ll", one).improvement
        frequent = cell("vision", "bucket", metrics.FREQUENCY_LABELS[4], "ll", one).improvement
        assert rare > frequent
        top = cell("vision", "rank", "2", "perplexity", two).improvement
        bottom = cell("vision", "rank", "10", "perplexity", two).improvement
        assert bottom > top
