"""The features benchmark: nDCG with ties by hand, the claims' verdicts, and a tiny run end to
end (tiny LETOR file, two seeds) through the report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from features_letor import write_letor

from benchmarks.bench import features, features_claims, features_report

L3 = math.log2(3)


def test_ndcg_and_chance_by_hand():
    query = np.array([0, 0, 0, 1, 1])
    labels = np.array([2, 0, 1, 0, 0])
    # Query 1 has one label only and does not count. Order 1, 2, 0 puts gains 0, 1, 3.
    ideal = 3 + 1 / L3
    assert features.ndcg(query, np.array([1.0, 3.0, 2.0, 0, 0]), labels) == pytest.approx(
        (1 / L3 + 3 / 2) / ideal)
    # All tied: every position gets the mean gain 4/3, the expectation over random orders.
    assert features.chance(query, labels) == pytest.approx(4 / 3 * (1 + 1 / L3 + 1 / 2) / ideal)
    # Scores apart by rounding only (a function flattened to a constant) are tied: chance,
    # not the order their rounding happens to give (here the worst one).
    flat = 0.3 + np.array([0.0, 2e-16, 1e-16, 0, 0]) * 100
    assert features.ndcg(query, flat, labels) == pytest.approx(features.chance(query, labels))


def test_verdicts_by_the_standard_error_of_the_paired_gain():
    # mean 0.15, sd 0.0707, se 0.05: 3 se above zero.
    assert features_claims.verdict(pd.Series([0.1, 0.2])) == "yes"
    assert features_claims.standard_error(pd.Series([0.1, 0.2])) == pytest.approx(0.05)
    # mean 0.1, se 0.2: higher on average, in 1 of 2 seeds, not separated.
    assert features_claims.verdict(pd.Series([0.3, -0.1])) == "not separated"
    # Higher in every seed is not enough: mean 0.1, se 0.0577 < 2 se.
    assert features_claims.verdict(pd.Series([0.1, 0.2, 0.0001])) == "not separated"
    assert features_claims.verdict(pd.Series([-0.1, -0.2])) == "no"
    assert features_claims.verdict(pd.Series([0.01])) == "higher, 1 seed"
    assert features_claims.verdict(pd.Series([0.0])) == "not higher, 1 seed"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A 30-query LETOR file, 20% of its queries judged and a short EM: the tiny runs' setup."""
    monkeypatch.setattr(features, "JUDGED", 0.2)
    monkeypatch.setattr(features, "EM_SETTINGS", {"max_iter": 60, "tol": 1e-4})
    return write_letor(tmp_path / "letor", n_queries=30)


def test_tiny_run_end_to_end(tiny, tmp_path):
    path = tiny
    fits, baselines = features.run_fits(path, models=("pbm",), sources=("table", "linear"),
                                        engines=("em",), n_sessions=800, seeds=(0, 1),
                                        first_seed_only=("linear",), sweep=())
    assert list(fits.seed) == [0, 0, 1]  # linear on the first seed only
    assert len(baselines) == 2 and (baselines.judged_pairs == 6 * 6).all()
    held = baselines.held_out_pairs
    assert (held > 0).all() and (baselines.shown_pairs > 0).all()
    # A table knows nothing of a pair never shown: it scores chance exactly.
    table = fits[fits.source == "table"].merge(baselines, on=["seed", "model"])
    np.testing.assert_allclose(table.ndcg_held_out, table.chance_held_out)
    # The label grows with a feature: a linear function and the ranker both beat chance.
    linear = fits[fits.source == "linear"].iloc[0]
    base0 = baselines.iloc[0]
    assert linear.ndcg_held_out > base0.chance_held_out + 0.1
    assert base0.ranker_held_out > base0.chance_held_out + 0.1
    # The cross-fitted ranker on all labels ranks at least as well as one on 20% of them.
    assert (baselines.all_labels_held_out > baselines.chance_held_out + 0.1).all()

    # The columns benchmarks.bench.mstep_speed.measure returns, so the report renders its table.
    speed = pd.DataFrame([{"keys": 10, "features": 2, "source": "linear", "seconds": 0.1,
                           "loss": 0.5, "warm_seconds": 0.05, "before_seconds": 0.2,
                           "before_loss": 0.5, "before_warm_seconds": 0.1,
                           "old_seconds": np.nan, "old_loss": np.nan, "before_speedup": 2.0,
                           "speedup": np.nan}])
    setup = {"order": {"model": ("pbm",), "engine": ("em",), "source": ("table", "linear")},
             "sessions": 800, "held_out": 0.3, "judged": 0.2, "seeds": (0, 1),
             "first_seed_only": ("linear",), "em": {}, "gradient": {}}
    made = features_report.write(tmp_path / "results", fits, baselines, speed, "1 1 1", 2.0,
                                 setup)
    assert all(p.exists() for p in made)
    text = made[0].read_text()
    gain = linear.ndcg_held_out - base0.ranker_held_out
    over = linear.ndcg_held_out - base0.chance_held_out
    expected = "higher, 1 seed" if gain > 0 else "not higher, 1 seed"
    claims = text[text.index("## Claims"):]
    claim = next(line for line in claims.splitlines() if line.startswith("| pbm | em | linear"))
    assert f"| {over:+.4f} | {gain:+.4f} | higher, 1 seed | 1/1 | {expected} |" in claim
    assert "label-copy order" in text and "seed 0 only" in text
    assert "| pbm | linear on all labels, cross-fitted | " in text
    assert "## Clicks against rankers" not in text  # no sweep in this run
    assert len(pd.read_csv(made[1])) == 3
    # The two CSVs alone give the claims table back.
    order = {**setup["order"], "judged": (0.2,)}
    np.testing.assert_allclose(
        features_claims.claims(pd.read_csv(made[1]), pd.read_csv(made[4]), order).gain_mean,
        features_claims.claims(fits, baselines, order).gain_mean, atol=1e-9)
    speed_table = text[text.index("## Speed of the regression M-step"):]
    assert "5c2c45d / new" in speed_table
    assert "| 10 | 2 | linear | 0.100 | 0.200 | 2.0 |" in speed_table


def test_l2_is_chosen_from_the_clicks_of_unseen_queries(tmp_path, monkeypatch):
    from dataclasses import replace

    from benchmarks.metrics import log_likelihood
    from clicklog.split import split_by_query

    path = write_letor(tmp_path / "letor", n_queries=30)
    monkeypatch.setattr(features, "GRADIENT_SETTINGS", {**features.GRADIENT_SETTINGS,
                                                        "max_iter": 20})
    sessions, _, _ = features.make_log(path, "pbm", n_sessions=400, seed=0)
    # Without labels: they play no part in the choice.
    l2, scores = features.choose_l2("pbm", replace(sessions, labels=None), 0, grid=(0.01, 1e4))
    assert set(scores) == {0.01, 1e4} and l2 == max(scores, key=scores.get)
    assert all(np.isfinite(v) and v < 0 for v in scores.values())
    # The score is the validation queries' click log-likelihood of a fit that never saw them.
    train, valid = split_by_query(sessions, features.VALIDATION, 0)
    assert not set(np.unique(train.query)) & set(np.unique(valid.query))
    fit = features._fit("gradient", "pbm", train, {"kind": "mlp", "l2": 1e4})
    assert scores[1e4] == pytest.approx(log_likelihood(valid, fit.conditional_click_probs(valid)))


def test_objective_gaps_pair_the_engines_by_seed():
    rows = [(0, "em", -0.30), (0, "gradient", -0.30002), (1, "em", -0.41), (1, "gradient", -0.40)]
    fits = pd.DataFrame([{"seed": seed, "model": "pbm", "engine": engine, "source": "mlp",
                          "objective": value} for seed, engine, value in rows])
    order = {"model": ("pbm",), "engine": ("em", "gradient"), "source": ("mlp",)}
    gaps = features_report.objective_gaps(fits, order)
    assert len(gaps) == 1 and gaps.seeds.iloc[0] == 2
    assert gaps.low.iloc[0] == pytest.approx(-0.01) and gaps.high.iloc[0] == pytest.approx(2e-5)
    # One engine alone has nothing to pair.
    assert features_report.objective_gaps(fits[fits.engine == "em"], order).empty


def test_judged_share_sweep_pairs_each_share_with_its_own_ranker(tiny, tmp_path):
    path = tiny
    fits, baselines = features.run_fits(path, models=("pbm",), sources=("table", "linear"),
                                        engines=("em",), n_sessions=800, seeds=(0, 1),
                                        sweep=(0.5,), sweep_sources=("linear",))
    # The table at the main share only; linear at both.
    assert sorted(zip(fits.judged, fits.source, strict=True)) == sorted(
        [(0.2, "table"), (0.2, "linear"), (0.5, "linear")] * 2)
    assert sorted(baselines.judged_queries) == [6, 6, 15, 15]
    # Each share orders its own log: its ranker differs, the cross-fitted one does not.
    by = baselines.set_index(["seed", "judged"])
    assert by.loc[(0, 0.2), "ranker_shown"] != by.loc[(0, 0.5), "ranker_shown"]
    assert by.loc[(0, 0.5), "held_out_pairs"] < by.loc[(0, 0.2), "held_out_pairs"]

    claim = features_claims.claims(fits, baselines, {"judged": (0.2, 0.5), "model": ("pbm",),
                                                     "engine": ("em",), "source": ("linear",)},
                                   features_claims.SWEEP_KEYS)
    assert list(claim.judged) == [0.2, 0.5]
    for row in claim.itertuples():
        part = fits[(fits.judged == row.judged) & (fits.source == "linear")].merge(
            baselines, on=["seed", "judged", "model"])
        gain = part.ndcg_held_out - part.ranker_held_out
        assert row.gain_mean == pytest.approx(gain.mean())
        assert row.beats_ranker == features_claims.verdict(gain)
        assert row.all_gain == pytest.approx((part.ndcg_held_out - part.all_labels_held_out
                                              ).mean())
    line = features_claims.both_engines(claim, ("em",))
    for row in claim.itertuples():
        expected = "linear for pbm" if row.beats_ranker == "yes" else "linear for no model"
        assert f"at {row.judged:.0%} judged: {expected}" in line
    # A model counts only where every engine says yes.
    assert "linear for no model" in features_claims.both_engines(claim, ("em", "gradient"))

    speed = pd.DataFrame([{c.name: 1.0 for c in features_report.mstep_speed.COLUMNS}])
    setup = {"order": {"model": ("pbm",), "engine": ("em",), "source": ("table", "linear")},
             "sessions": 800, "held_out": 0.3, "judged": 0.2, "seeds": (0, 1),
             "first_seed_only": (), "sweep": (0.5,), "sweep_sources": ("linear",),
             "cross_folds": 10, "em": {}, "gradient": {}}
    text = features_report.write(tmp_path / "results", fits, baselines, speed, "1 1 1", 2.0,
                                 setup)[0].read_text()
    sweep = text[text.index("## Clicks against rankers trained on fewer or more judgements"):]
    assert line in sweep
    assert sum(row.startswith("| 20% | 6 | pbm | em | linear") for row in sweep.splitlines()) == 1
    assert sum(row.startswith("| 50% | 15 | pbm | em | linear") for row in sweep.splitlines()) == 1
    # The main tables hold the main share's fits only: table and linear, one row each.
    fits_table = text[text.index("## Fits"):text.index("## Claims")]
    assert sum(row.startswith("| pbm | em |") for row in fits_table.splitlines()) == 2
