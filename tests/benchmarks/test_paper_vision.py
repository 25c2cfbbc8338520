"""`clickfit paper vision-bias` (benchmarks/paper_vision*.py).

A small run of the standard-EM column group writes every table in the paper's numbering, the
figure and claims.md; its numbers are recomputed here from a fresh fit through
benchmarks.metrics, a second run is served from the cache, a fit that did not converge gets
its footnote, and the claims' verdicts follow their checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import metrics
from benchmarks import paper_vision as pv
from benchmarks import paper_vision_claims as claims
from benchmarks import paper_vision_tables as tables
from benchmarks.cli import main
from benchmarks.paper_vision_format import SIGNIFICANCE, Layout

SESSIONS = 3_000
ENGINES = ("em",)
LAYOUT = Layout(pv.MODELS, pv.BASE, pv.ENGINES)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    data = pv.make_datasets(SESSIONS, ("vubm-2",))
    predictions, fits = pv.run_fits(data, root / "cache", ENGINES, progress=False)
    out = root / "results"
    files, df = tables.write_all(data, predictions, fits, ENGINES, out, LAYOUT, "intro")
    files.append(claims.write_claims(df, fits, [d.name for d in data], ENGINES, LAYOUT,
                                     out / "claims.md"))
    return data, predictions, fits, out, files, df, root


def test_every_table_in_the_papers_numbering(run):
    data, _, fits, out, files, df, _ = run
    names = {f.name for f in files}
    stems = ["table1-statistics", "tables4-6-7-frequent-buckets"] + [t[0] for t in tables.TABLES]
    for stem in stems:
        assert {f"{stem}.md", f"{stem}.csv"} <= names
    assert {"figure3-rank-improvement.png", "README.md", "cells.csv", "fits.csv",
            "claims.md"} <= names
    assert "table5-perplexity-by-rank.md" in names and "table6-perplexity-by-frequency.md" in names
    # Tables 4, 6, 7 hold the buckets below 100 only; the extra table the others.
    for stem in ("table4-ll-by-frequency", "table6-perplexity-by-frequency",
                 "table7-mrr-by-frequency"):
        assert set(pd.read_csv(out / f"{stem}.csv").key) <= {"1-10", "10-30", "30-100"}
    assert not set(pd.read_csv(out / "tables4-6-7-frequent-buckets.csv").key) & {"1-10"}
    ranks = pd.read_csv(out / "table5-perplexity-by-rank.csv").key
    assert set(ranks) == {1, 2, 3, 4, 5}
    # Table 1 lists every bucket, the >= 10000 one included, and counts every session once.
    stats = pd.read_csv(out / "table1-statistics.csv")
    assert list(stats.bucket) == list(metrics.FREQUENCY_LABELS)
    assert stats.sessions_train.sum() == data[0].train.n
    assert stats.sessions_test.sum() == data[0].test.n
    assert stats.queries_train.sum() == np.unique(data[0].train.query).size
    # cells.csv carries every fit's iterations and convergence; these fits converged.
    cells = pd.read_csv(out / "cells.csv")
    assert {"iterations", "converged"} <= set(cells.columns)
    assert cells.converged.all() and all(f["converged"] for f in fits)
    assert "Every fit in this table converged" in (out / "table2-ll.md").read_text()
    assert "every fit converged" in (out / "claims.md").read_text()


def test_numbers_recomputed_from_a_fresh_fit(run):
    data, predictions, _, out, _, _, _ = run
    vision = data[0]
    test = vision.test
    fresh = {m: pv.fit_model("em", m, vision.train) for m in ("ubm", "vubm-2")}
    cond = {m: f.conditional_click_probs(test) for m, f in fresh.items()}
    ll = {m: metrics.log_likelihood(test, c) for m, c in cond.items()}
    t = metrics.paired_ttest(test, metrics.session_log_likelihood(test, cond["vubm-2"]),
                             metrics.session_log_likelihood(test, cond["ubm"]))
    table2 = pd.read_csv(out / "table2-ll.csv")
    row = table2[(table2.dataset == "vubm-2") & (table2.engine == "em")
                 & (table2.model == "vubm-2")].iloc[0]
    assert row.value == pytest.approx(ll["vubm-2"], rel=1e-9)
    assert row.improvement == pytest.approx(metrics.ll_improvement(ll["ubm"], ll["vubm-2"]),
                                            rel=1e-8)
    assert row.p_value == pytest.approx(t.p_value, rel=1e-9)
    star = "*" if row.improvement > 0 and row.p_value < SIGNIFICANCE else ""
    assert f"{100 * row.improvement:+.2f}%{star}" in (out / "table2-ll.md").read_text()


def test_second_run_is_served_from_the_cache(run):
    data, predictions, _, _, _, _, root = run

    def refuse(engine, model, train):
        raise AssertionError(f"refitted {engine} {model}")

    again, _ = pv.run_fits(data, root / "cache", ENGINES, fit_fn=refuse, progress=False)
    for key, value in predictions.items():
        np.testing.assert_array_equal(again[key].click, value.click)


def test_a_fit_that_did_not_converge_gets_a_footnote(run, tmp_path):
    data, predictions, fits, _, _, _, _ = run
    broken = [dict(f, converged=f["model"] != "vubm-2") for f in fits]
    _, df = tables.write_all(data, predictions, broken, ENGINES, tmp_path, LAYOUT, "intro")
    text = (tmp_path / "table2-ll.md").read_text()
    assert "† fit stopped at its iteration cap without converging: vubm-2 standard EM vUBM-2" \
        in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert "†" in rows["| vUBM-2"] and "†" not in rows["| vUBM-1"]
    path = claims.write_claims(df, broken, [d.name for d in data], ENGINES, LAYOUT,
                               tmp_path / "claims.md")
    assert "1 fits did NOT converge: vubm-2 em vubm-2" in path.read_text()


def _fake_cells(gains: dict) -> pd.DataFrame:
    """Cells for one generator/engine where every improvement is `gains[(table, key)]`."""
    rows = []
    for (table, key, metric), (value, improvement) in gains.items():
        for model in pv.MODELS:
            shift = {"vubm-2": 2, "vpbm-2": 2, "vubm-1": 1, "vpbm-1": 1}.get(model, 0)
            sign = 1 if metric == "ll" else -1
            rows.append({"dataset": "g", "engine": "em", "table": table, "key": key,
                         "metric": metric, "model": model, "value": value + sign * shift * 0.01,
                         "improvement": improvement if model in pv.BASE else np.nan,
                         "p_value": 0.0 if model in pv.BASE else np.nan})
    return pd.DataFrame(rows)


def test_claim_verdicts_follow_their_checks():
    assert claims.verdict([True, True]) == "reproduced"
    assert claims.verdict([True, False]) == "partly"
    assert claims.verdict([False, False]) == "not reproduced"
    gains = {("overall", "all", "ll"): (-0.5, 0.01), ("overall", "all", "perplexity"): (1.5, 0.01)}
    for metric, value in (("ll", -0.5), ("perplexity", 1.5), ("mrr", 0.8)):
        for key, gain in zip(claims.RARE, (0.3, 0.2, 0.1), strict=True):
            gains[("bucket", key, metric)] = (value, gain if metric != "mrr" else -gain)
    for rank in claims.RANKS:
        gains[("rank", rank, "perplexity")] = (1.5, 0.01 * int(rank))
    table = claims.evaluate(_fake_cells(gains), ["g"], ["em"], LAYOUT).set_index("claim")
    assert table.loc["C1", "verdict"] == "reproduced"  # v-2 > v-1 > X, significantly
    assert table.loc["C2", "verdict"] == "reproduced"  # 0.3 > 0.2 > 0.1 everywhere
    assert table.loc["C3", "verdict"] == "reproduced"  # rank 5 gains 5x rank 1
    assert table.loc["C4", "verdict"] == "not reproduced"  # every MRR change negative
    assert table.loc["C2", "checks"] == 8 and table.loc["C4", "checks"] == 12
    # losses that shrink with frequency (or with rank) are no larger gain
    for key, gain in zip(claims.RARE, (-0.3, -0.2, -0.1), strict=True):
        for metric in ("ll", "perplexity"):
            gains[("bucket", key, metric)] = (-0.5 if metric == "ll" else 1.5, gain)
    for rank in claims.RANKS:
        gains[("rank", rank, "perplexity")] = (1.5, -0.01 * (6 - int(rank)))
    table = claims.evaluate(_fake_cells(gains), ["g"], ["em"], LAYOUT).set_index("claim")
    assert table.loc["C2", "verdict"] == "not reproduced"
    assert table.loc["C3", "verdict"] == "not reproduced"


def test_from_cells_rewrites_claims_and_figure_from_the_csv_files(run):
    _, _, _, out, _, _, _ = run
    before = (out / "claims.md").read_text()
    (out / "claims.md").unlink()
    (out / "figure3-rank-improvement.png").unlink()
    claims.rewrite_claims(out, LAYOUT)
    assert (out / "claims.md").read_text() == before
    assert (out / "figure3-rank-improvement.png").stat().st_size > 0


def test_command_line_checks_its_options(capsys):
    assert main(["paper", "vision-bias", "--engines", "em,nosuch"]) == 2
    assert "unknown engines" in capsys.readouterr().err
    assert main(["paper", "vision-bias", "--sessions", "10"]) == 2
    assert "at least 1000" in capsys.readouterr().err
    assert main(["paper", "vision-bias", "--generators", "vubm-2,cm"]) == 2
    assert "unknown generators ['cm']" in capsys.readouterr().err
    assert pv.stem(pv.SIZES["paper"]).name == "vision-bias-paper-size"
    assert pv.stem(pv.SIZES["default"]).name == "vision-bias"
    assert pv.stem(5_000).name == "vision-bias-5000-sessions"


def test_cost_only_measures_and_projects(run, tmp_path):
    from benchmarks import paper_vision_cost

    out = tmp_path / "results"
    _, _, fits, _, _, _, _ = run
    default = out / pv.STEMS["default"]
    default.mkdir(parents=True)
    pd.DataFrame(fits).to_csv(default / "fits.csv", index=False)
    files = paper_vision_cost.measure(2_000, out, ("em",))
    record = pd.read_json(files[0], typ="series")
    probe = record["probes"][0]
    assert probe["engine"] == "em" and probe["seconds_per_iteration"] > 0
    assert probe["default_iterations"] == sum(f["iterations"] for f in fits)
    assert "Projected total" in files[1].read_text()
