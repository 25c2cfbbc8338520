"""`clickfit fit`: relevance labels with impression and click counts, and --params, checked
against counts and DCTR's closed form worked out by hand on a five-session log."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.cli import main

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
    assert list(df.columns) == ["query", "doc", "relevance", "impressions", "clicks"]
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


def test_counting_variant_needs_em(log, tmp_path, capsys):
    code = main(["fit", "--model", "dcm-counting", "--engine", "gradient-adam",
                 "--data", str(log), "--out", str(tmp_path / "x.tsv")])
    assert code == 2
    assert "em engine only" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()
