"""The ranking benchmark: baselines and bucketed nDCG/MRR by hand, held-out pairs, the run."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.bench import ranking, ranking_data, ranking_report
from benchmarks.simulate.letor import pair_rows, simulate_ranking_log
from clicklog.io_letor import read_letor
from clicklog.sessions import Sessions

L3 = math.log2(3)


@pytest.fixture
def log() -> Sessions:
    """One query, pairs 0-3 (= documents a-d); three pages, the last one weighing 2."""
    return Sessions(
        query=np.zeros(3, np.int32),
        qd=np.array([[0, 1, 2, 3], [1, 0, 2, -1], [2, 1, -1, -1]], np.int32),
        doc=np.array([[0, 1, 2, 3], [1, 0, 2, -1], [2, 1, -1, -1]], np.int32),
        click=np.array([[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], bool),
        length=np.array([4, 3, 2], np.int16),
        weight=np.array([1, 1, 2], np.float32),
        query_ids=np.array(["q"]), doc_ids=np.array(list("abcd")),
        qd_query=np.zeros(4, np.int32), qd_doc=np.arange(4, dtype=np.int32),
        labels=np.array([0, 2, 1, 0], np.float32),
    )


def test_baselines_by_hand(log):
    # Impressions (weighted): a 2, b 4, c 4, d 1; clicks: b 1 (page 0), c 2 (page 2).
    np.testing.assert_allclose(ranking_data.ctr(log), [0, 0.25, 0.5, 0])
    # Expected clicks: a 1 + .5; b .5 + 1 + 2 * .5; c .25 + .25 + 2 * 1; d .125.
    exam = np.array([1.0, 0.5, 0.25, 0.125])
    np.testing.assert_allclose(ranking_data.coec(log, exam), [0, 1 / 2.5, 2 / 2.5, 0])
    # Skip-above: page 0 labels a (negative) and b (positive), c and d lie below its last
    # click; page 1 has no click; page 2 labels c positive (twice). d has no label and takes
    # the positive share 3 / 4.
    np.testing.assert_allclose(ranking_data.skip_above(log), [0, 1, 1, 0.75])
    # Mean 1-based shown rank: a (1 + 2) / 2, b (2 + 1 + 2 * 2) / 4, c (3 + 3 + 2 * 1) / 4, d 4.
    np.testing.assert_allclose(ranking_data.shown_order(log), [-1.5, -1.75, -2, -4])
    with pytest.raises(ValueError, match="examination must be"):
        ranking_data.coec(log, exam[:2])


def test_bucketed_scores_by_hand(log):
    scores = ranking.evaluate(log, ranking_data.ctr(log))
    # Every pair: c (label 1), b (2), then a and d (0, tied). DCG = 1 + 3 / log2 3; the ideal
    # order b, c gives 3 + 1 / log2 3. The first result is relevant: MRR 1.
    ndcg = (1 + 3 / L3) / (3 + 1 / L3)
    assert scores["all"]["ndcg10"] == pytest.approx(ndcg)
    assert scores["all"]["ndcg5"] == pytest.approx(ndcg)
    assert scores["all"]["mrr"] == 1.0
    assert (scores["all"]["queries"], scores["all"]["pairs"]) == (1, 4)
    # Shown 4-10 times: b and c alone, the same two gains.
    assert scores["4-10"]["ndcg10"] == pytest.approx(ndcg)
    assert scores["4-10"]["pairs"] == 2
    # Shown 1-3 times: a and d, both label 0, so every order scores alike: no query counts.
    assert scores["1-3"]["queries"] == 0 and math.isnan(scores["1-3"]["ndcg10"])
    # A tie of b and c shares their mean gain 2 over positions 1-2; with b alone relevant
    # at label 2 and tied with a, the reciprocal rank is 1 or 1/2.
    tied = ranking.evaluate(log, np.array([0.0, 0.5, 0.5, 0.0]))
    assert tied["all"]["ndcg10"] == pytest.approx(2 * (1 + 1 / L3) / (3 + 1 / L3))
    binary = Sessions(**{**log.__dict__, "labels": np.array([0, 2, 0, 0], np.float32)})
    assert ranking.evaluate(binary, np.array([0.5, 0.5, 0.0, 0.0]))["all"]["mrr"] == 0.75


LETOR = "".join(
    f"{label} qid:{q} 1:{f:.2f} 2:{1 - f:.2f} #docid = D{q}{d}\n"
    for q, labels in ((1, (2, 0, 1, 0)), (2, (0, 1)), (3, (1, 0, 2)))
    for d, (label, f) in enumerate(zip(labels, (0.1, 0.5, 0.9, 0.3), strict=False))
)


@pytest.fixture
def letor(tmp_path) -> Path:
    path = tmp_path / "letor" / "tiny.txt"
    path.parent.mkdir()
    path.write_text(LETOR)
    return path.parent


def test_ranking_log_carries_labels_features_and_hides_pairs(letor):
    data = read_letor(letor)
    shown = np.ones(data.n, bool)
    shown[[1, 4, 5]] = False  # query 2 loses both its pairs
    sim = simulate_ranking_log(letor, "dbn", 3_000, seed=3, K=3, shown=shown)
    s = sim.sessions
    rows = pair_rows(data)
    np.testing.assert_array_equal(s.labels, data.label[rows])
    np.testing.assert_array_equal(s.qd_features, data.features[rows])
    seen = np.unique(s.qd[s.mask])
    np.testing.assert_array_equal(seen, np.flatnonzero(shown))
    assert not np.any(s.query == 1)
    np.testing.assert_array_equal(np.unique(s.length), [3])
    with pytest.raises(ValueError, match="hides every pair"):
        simulate_ranking_log(letor, "dbn", 10, seed=3, shown=np.zeros(data.n, bool))


def test_run_writes_tables_and_resumes_from_cache(letor, tmp_path):
    run = dict(path=letor, out=tmp_path / "results", cache_dir=tmp_path / "cache",
               size="tiny", models=("dctr", "pbm"), engine_names=("em",),
               priors=("beta22", "none"), progress=False)
    files, fitted, cached = ranking_report.run(**run)
    # The dctr log: dctr under both priors and PBM for its COEC; the pbm log: pbm under both
    # priors (Beta(2, 2) is its COEC fit); the DBN log: dctr and pbm under both: 3 + 2 + 4.
    assert (fitted, cached) == (9, 0)
    names = [name for name, _ in files]
    assert names == ["ranking.md", "ranking.csv", "ranking-claims.csv",
                     "figures/ranking-by-impressions.png"]
    assert all((run["out"] / n).stat().st_size > 0 for n in names)
    with open(run["out"] / "ranking.csv") as f:
        rows = list(csv.DictReader(f))
    methods = {(r["table"], r["generator"], r["method"], r["prior"]) for r in rows}
    assert ("cross", "dbn", "pbm", "none") in methods
    assert ("own", "dctr", "dctr", "beta22") in methods
    assert {m for t, g, m, p in methods if t == "cross" and not p} == set(ranking.BASELINES)
    text = (run["out"] / "ranking.md").read_text()
    assert "## Claims" in text and "| ctr |" in text
    assert ranking_report.run(**run)[1:] == (0, 9)


def test_plan_runs_every_prior_by_both_engines_on_the_dbn_log(letor):
    jobs = ranking.plan(letor, "tiny", ("dctr", "dbn"), ranking.ENGINES)
    runs = {(j.spec.generator, j.model, j.engine, j.prior) for j in jobs}
    for model in ("dctr", "dbn"):
        for engine in ranking.ENGINES:
            for prior in ranking.PRIORS:
                assert ("dbn", model, engine, prior) in runs
    # Other logs are fitted by EM only: their own model under every prior, PBM for COEC.
    assert {(m, e, p) for g, m, e, p in runs if g == "dctr"} == (
        {("dctr", "em", p) for p in ranking.PRIORS} | {("pbm", "em", ranking.COEC_PRIOR)})
    assert len(runs) == len(jobs)


class _Fit:
    """A stand-in fit ranking by CTR under the empirical prior and against it otherwise, so
    that the report's rows and claims can be checked without fitting."""

    def __init__(self, engine, model, sessions, settings):
        self.engine, self.model = engine, model
        self.empirical = settings["prior"] == "empirical"
        self.fit_seconds, self.compile_seconds, self.iterations = 0.5, 0.0, 3
        self.converged, self.prior = True, {"attraction": [1.0, 9.0]}
        self.params = {"examination": np.linspace(1.0, 0.3, sessions.K)}

    def relevance(self, sessions):
        ctr = ranking_data.ctr(sessions)
        # The empirical fits rank by CTR, the others against it, L-BFGS's worst of all.
        sign = 1.0 if self.empirical else (-1.0 if self.engine == "em" else -2.0)
        score = sign * np.nan_to_num(ctr)
        return np.where(sessions.mask, score[np.maximum(sessions.qd, 0)], 0.0)

    def objective(self, sessions):
        return -0.5


def test_report_shows_lbfgs_empirical_rows_and_claims(letor, tmp_path):
    out = tmp_path / "results"
    _, fitted, _ = ranking_report.run(letor, out, tmp_path / "cache", "tiny", ("dbn",),
                                      ranking.ENGINES, fit_fn=_Fit, progress=False)
    assert fitted == 2 * 3 + 1  # dbn by both engines under every prior, PBM for COEC
    text = (out / "ranking.md").read_text()
    cross = text.split("## DBN log")[1].split("## Each generator")[0]
    rows = [line.split(" | ")[:3] for line in cross.splitlines() if line.startswith("| dbn |")]
    assert rows == [["| dbn", p, e] for p in ranking.PRIOR_NAMES.values()
                    for e in ranking.ENGINES]
    with open(out / "ranking-claims.csv") as f:
        claims = list(csv.DictReader(f))
    # Every pair of the tiny log is shown more than 10 times: only the all-pairs claim has
    # numbers, per engine; L-BFGS's empirical fit ranks exactly as CTR, so it does not beat it.
    lbfgs = {c["claim"]: c for c in claims if c["engine"] == "gradient-lbfgs"}
    beats = lbfgs["dbn (empirical) beats raw CTR and skip-above, nDCG@10, all pairs"]
    assert beats["detail"].startswith(f"CTR {float(beats['empirical']):.4f}")
    assert beats["holds"] == "False"


def test_claims_per_engine():
    rows = []
    for engine, scores in (("em", (0.6, 0.5, 0.7)), ("gradient-lbfgs", (0.6, 0.8, 0.7))):
        for prior, score in zip(ranking.PRIORS, scores, strict=True):
            for table in ("own", "cross"):
                rows.append({"table": table, "generator": "dbn", "method": "dbn",
                             "prior": prior, "engine": engine, "bucket": "1-10",
                             "ndcg10": score})
    for method, score in (("ctr", 0.65), ("skip-above", 0.5)):
        rows.append({"table": "cross", "generator": "dbn", "method": method, "prior": "",
                     "engine": "", "bucket": "1-10", "ndcg10": score})
    claims = ranking_report.claims(pd.DataFrame(rows))
    cascade = claims[claims.claim.str.startswith("dbn: empirical")]
    # DBN alone has numbers: one row per table and engine; L-BFGS's empirical 0.7 < its none 0.8.
    assert list(zip(cascade.table, cascade.engine, cascade.holds, strict=True)) == [
        ("own", "em", True), ("own", "gradient-lbfgs", False),
        ("cross", "em", True), ("cross", "gradient-lbfgs", False)]
    assert cascade.other.tolist() == [0.6, 0.8, 0.6, 0.8]
    beats = claims[claims.claim.str.endswith("pairs shown 1-10 times")
                   & claims.claim.str.startswith("dbn (empirical)")]
    assert beats.engine.tolist() == ["em", "gradient-lbfgs"]
    assert beats.holds.tolist() == [True, True]  # 0.7 > max(CTR 0.65, skip-above 0.5)
