"""`clickfit fit`: relevance labels with impression and click counts, and --params, checked
against counts and DCTR's closed form worked out by hand on a five-session log; the shared
defaults, the not-converged message, --save-model and `clickfit predict` on another log."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest

import clicklog
import em
import gradient
from benchmarks import fit_command, predict_command
from benchmarks.cli import main
from clicklog import defaults

# Five sessions, the third a duplicate of the first (deduplicated before fitting), the fifth
# with weight 2. Hand counts per (query, doc): impressions, clicks.
LOG = """session_id\tquery\tdoc\trank\tclick\tweight
s1\tqa\td1\t1\t1\t1
s1\tqa\td2\t2\t0\t1
s1\tqa\td3\t3\t0\t1
s2\tqa\td2\t1\t0\t1
s2\tqa\td1\t2\t1\t1
s2\tqa\td3\t3\t1\t1
s3\tqa\td1\t1\t1\t1
s3\tqa\td2\t2\t0\t1
s3\tqa\td3\t3\t0\t1
s4\tqb\td1\t1\t0\t1
s4\tqb\td4\t2\t0\t1
s5\tqb\td4\t1\t1\t2
s5\tqb\td1\t2\t0\t2
"""
# (query, doc): (impressions, clicks); DCTR under Beta(2, 2) is (clicks + 1) / (impr. + 2).
COUNTS = {
    ("qa", "d1"): (3, 3),
    ("qa", "d2"): (3, 0),
    ("qa", "d3"): (3, 1),
    ("qb", "d1"): (3, 0),
    ("qb", "d4"): (3, 2),
}


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text(LOG)
    return path


def test_dctr_labels_count_and_rank(log, tmp_path):
    out = tmp_path / "labels.tsv"
    assert main(["fit", "--model", "dctr", "--data", str(log), "--out", str(out)]) == 0
    df = pd.read_csv(out, sep="\t", dtype={"query": str, "doc": str})
    # The columns fit_command documents (intervals of the relevance among them, whose own
    # tests are the prior helper's), the ones checked here first.
    assert list(df.columns) == list(fit_command.LABEL_COLUMNS)
    assert list(df.columns[:3]) == ["query", "doc", "relevance"]
    assert {"impressions", "clicks"} <= set(df.columns)
    # Grouped by query, most relevant first: 4/5, 2/5, 1/5 for qa; 3/5, 1/5 for qb.
    assert list(zip(df["query"], df["doc"], strict=True)) == [
        ("qa", "d1"), ("qa", "d3"), ("qa", "d2"), ("qb", "d4"), ("qb", "d1")]
    for row in df.itertuples():
        impressions, clicks = COUNTS[(row.query, row.doc)]
        assert row.impressions == impressions
        assert row.clicks == clicks
        assert row.relevance == pytest.approx((clicks + 1) / (impressions + 2), abs=1e-9)


def test_no_prior_is_the_click_rate_inside_the_probability_floor(log, tmp_path):
    out = tmp_path / "labels.csv"
    assert main(["fit", "--model", "dctr", "--no-prior", "--data", str(log),
                 "--out", str(out)]) == 0
    df = pd.read_csv(out, dtype={"query": str, "doc": str})
    rate = df["clicks"] / df["impressions"]
    np.testing.assert_allclose(df["relevance"], rate.clip(1e-6, 1 - 1e-6), atol=1e-9)


def test_params_round_trip_against_labels(log, tmp_path):
    out, params = tmp_path / "labels.parquet", tmp_path / "params.json"
    assert main(["fit", "--model", "pbm", "--data", str(log), "--out", str(out),
                 "--params", str(params)]) == 0
    labels = pd.read_parquet(out)
    saved = json.loads(params.read_text())
    assert saved["model"] == "pbm" and saved["engine"] == "em"
    assert set(saved["parameters"]) == {"attraction", "examination"}
    exam = saved["parameters"]["examination"]
    assert exam["keyed_on"] == "rank" and len(exam["value"]) == 3
    attraction = saved["parameters"]["attraction"]
    by_pair = dict(zip(zip(attraction["query"], attraction["doc"], strict=True),
                       attraction["value"], strict=True))
    assert set(by_pair) == set(COUNTS)
    for row in labels.itertuples():
        assert row.relevance == pytest.approx(by_pair[(row.query, row.doc)], abs=1e-12)
        assert (row.impressions, row.clicks) == COUNTS[(row.query, row.doc)]
    assert np.isfinite(saved["objective_per_impression"])


def _summary(err: str, name: str) -> float:
    return float(err.split(name + " ", 1)[1].split()[0])


def test_summary_prints_the_log_likelihood_beside_the_objective(log, tmp_path, capsys):
    # Without a prior PBM's objective is its log-likelihood per impression (up to the metric's
    # floor on probabilities: a never-clicked pair's attraction sits at 1e-6, times
    # examination below the floor); Beta(2, 2) adds log theta (1 - theta) <= log 1/4 per
    # parameter, which only lowers it.
    params = tmp_path / "params.json"
    assert main(["fit", "--model", "pbm", "--no-prior", "--data", str(log),
                 "--out", str(tmp_path / "a.tsv"), "--params", str(params)]) == 0
    err = capsys.readouterr().err
    loglik = _summary(err, "log-likelihood")
    assert loglik == pytest.approx(_summary(err, "included)"), abs=1e-5)
    saved = json.loads(params.read_text())
    assert saved["log_likelihood_per_impression"] == pytest.approx(
        saved["objective_per_impression"], abs=1e-6)
    assert main(["fit", "--model", "pbm", "--data", str(log),
                 "--out", str(tmp_path / "b.tsv")]) == 0
    err = capsys.readouterr().err
    assert _summary(err, "included)") < _summary(err, "log-likelihood") < 0


def test_counting_variant_needs_em(log, tmp_path, capsys):
    code = main(["fit", "--model", "dcm-counting", "--engine", "gradient-adam",
                 "--data", str(log), "--out", str(tmp_path / "x.tsv")])
    assert code == 2
    assert "em engine only" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()


def test_defaults_are_the_engines_and_shown_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {defaults.MAX_ITER})" in text and f"(default: {defaults.TOL:g};" in text
    for option in ("--max-iter", "--tol", "--learning-rate", "--batch-size", "--epochs"):
        assert option in text
    assert inspect.signature(em.fit).parameters["max_iter"].default == defaults.MAX_ITER
    assert inspect.signature(em.fit).parameters["tol"].default == defaults.TOL
    assert inspect.signature(gradient.fit).parameters["max_iter"].default == defaults.MAX_ITER
    assert inspect.signature(gradient.fit).parameters["epochs"].default == defaults.EPOCHS


def test_a_fit_stopped_early_says_so_and_what_to_change(log, tmp_path, capsys):
    assert main(["fit", "--model", "pbm", "--data", str(log), "--out",
                 str(tmp_path / "l.tsv"), "--max-iter", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "NOT converged" in err and "2 iterations" in err
    assert "did not converge" in err and "raise --max-iter or loosen --tol" in err
    # Anderson (the default) stops on gains over a window, so the warning names that rule
    # rather than comparing one iteration's gain, which can be far below --tol, with --tol.
    assert "anderson's stopping rule" in err and "above --tol" not in err
    assert main(["fit", "--model", "pbm", "--data", str(log), "--out", str(tmp_path / "l.tsv"),
                 "--max-iter", "2", "--accelerate", "none", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "did not converge" in err and "above --tol" in err
    assert main(["fit", "--model", "pbm", "--data", str(log), "--out",
                 str(tmp_path / "l.tsv"), "--tol", "1e-4", "--no-progress"]) == 0
    assert "did not converge" not in capsys.readouterr().err


def test_accelerate_reaches_the_same_labels_in_fewer_iterations(log, tmp_path, capsys):
    iterations = {}
    labels = {}
    for method in ("none", "anderson", "squarem"):
        out = tmp_path / f"{method}.tsv"
        params = tmp_path / f"{method}.json"
        assert main(["fit", "--model", "ubm", "--data", str(log), "--out", str(out),
                     "--params", str(params), "--accelerate", method, "--tol", "1e-12",
                     "--no-progress"]) == 0
        err = capsys.readouterr().err
        assert "converged" in err and "NOT converged" not in err
        iterations[method] = int(err.split(" iterations")[0].rsplit(" ", 1)[1])
        labels[method] = pd.read_csv(out, sep="\t")["relevance"].to_numpy()
    assert iterations["anderson"] < iterations["none"]
    for method in ("anderson", "squarem"):
        np.testing.assert_allclose(labels[method], labels["none"], atol=1e-4)
    assert main(["fit", "--model", "ubm", "--engine", "gradient-lbfgs", "--data", str(log),
                 "--out", str(tmp_path / "g.tsv"), "--accelerate", "anderson"]) == 2
    assert "--accelerate is for --engine em" in capsys.readouterr().err


def test_unknown_output_extension_is_an_error_before_fitting(log, tmp_path, capsys):
    assert main(["fit", "--model", "dctr", "--data", str(log),
                 "--out", str(tmp_path / "labels.xlsx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("clickfit: error: --out") and "'.xlsx'" in err
    assert not (tmp_path / "labels.xlsx").exists()


def test_save_model_then_predict_another_log_by_ids(log, tmp_path, capsys):
    model = tmp_path / "model.json"
    assert main(["fit", "--model", "dbn", "--data", str(log), "--out", str(tmp_path / "l.tsv"),
                 "--save-model", str(model), "--no-progress"]) == 0
    saved = json.loads(model.read_text())
    assert saved["model"] == "dbn" and saved["cli_engine"] == "em"
    assert saved["clickfit_version"] and saved["prior"] == [2.0, 2.0]
    # Another log: read alone, so its indices differ; pair (qb, d9) is new.
    other = tmp_path / "other.csv"
    other.write_text("session_id,query,doc,rank,click\n"
                     "x,qb,d9,1,0\nx,qb,d4,2,1\ny,qa,d3,1,1\ny,qa,d1,2,0\n")
    out = tmp_path / "probs.parquet"
    capsys.readouterr()
    assert main(["predict", "--model-file", str(model), "--data", str(other),
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 of 4 (query, document) pairs (1 impressions, 25.0%)" in err
    df = pd.read_parquet(out)
    assert list(df.columns) == list(predict_command.COLUMNS)
    assert list(zip(df["query"], df["doc"], df["rank"], strict=True)) == [
        ("qb", "d9", 1), ("qb", "d4", 2), ("qa", "d3", 1), ("qa", "d1", 2)]
    assert list(df["seen"]) == [False, True, True, True]
    # The same numbers as the fitted model on the training log's own vocabulary (clickfit fit
    # runs Anderson-accelerated EM unless told otherwise).
    fit = em.fit("dbn", clicklog.dedup(clicklog.read(log)), max_iter=defaults.MAX_ITER,
                 accelerate=True)
    train = clicklog.dedup(clicklog.read(log))
    qa_d3 = int(np.flatnonzero((train.query_ids[train.qd_query] == "qa")
                               & (train.doc_ids[train.qd_doc] == "d3"))[0])
    assert df["click_prob"][2] == pytest.approx(fit.params["attraction"][qa_d3], abs=1e-12)
    # Unseen (qb, d9) at rank 1: attraction at the prior's mode, 1/2 under Beta(2, 2).
    assert df["click_prob"][0] == pytest.approx(0.5, abs=1e-12)
    assert df["conditional_click_prob"][0] == pytest.approx(0.5, abs=1e-12)
