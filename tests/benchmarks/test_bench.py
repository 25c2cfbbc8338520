"""`clickfit bench` end to end on tiny simulated data (2 models, EM and L-BFGS): the tables
and figures exist and parse, a second run refits nothing, an interrupted run resumes; plus the
agreement arithmetic, the cache encoding and the CLAX table on hand-made records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib import image

from benchmarks import paper_clax
from benchmarks.bench import cache, engines, tables
from benchmarks.cli import main
from benchmarks.runner import Options, run_bench

MODELS = ("pbm", "dbn")


class Counting:
    """engines.fit that counts its calls and, if told, fails at call number `fail_at`."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_at = fail_at

    def __call__(self, engine, model, sessions, settings, callback=None):
        self.calls.append((model, engine))
        if len(self.calls) == self.fail_at:
            raise RuntimeError("interrupted")
        return engines.fit(engine, model, sessions, settings, callback)


def options(tmp_path, **kw) -> Options:
    base = dict(models=MODELS, engines=(engines.EM, engines.LBFGS),
                datasets=("simulated", "generators"), size="tiny",
                results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", progress=False)
    return Options(**{**base, **kw})


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    fit = Counting()
    outcome = run_bench(options(tmp), fit_fn=fit)
    return tmp, fit, outcome


def test_every_fit_runs_once_and_results_parse(first_run):
    tmp, fit, outcome = first_run
    # simulated: 2 models x 2 engines; ten generator logs: 2 models by EM each.
    assert len(fit.calls) == 4 + 10 * 2 == outcome.fits_run
    assert outcome.fits_cached == 0
    out = tmp / "results"
    main = pd.read_csv(out / "simulated.csv")
    assert list(zip(main["model"], main["engine"], strict=True)) == [
        ("pbm", "em"), ("pbm", "gradient-lbfgs"), ("dbn", "em"), ("dbn", "gradient-lbfgs")]
    numeric = ["test_log_likelihood", "perplexity", "conditional_perplexity", "train_objective",
               "fit_seconds", "peak_memory_mib"]
    assert np.isfinite(main[numeric].to_numpy()).all()
    assert (main["test_log_likelihood"] < 0).all() and (main["perplexity"] > 1).all()
    em_rows, gd_rows = main[main.engine == "em"], main[main.engine != "em"]
    assert em_rows["conditional_mad_vs_em"].isna().all()
    # Both engines reach the same optimum of the same objective.
    assert (gd_rows["objective_difference_vs_em"].abs() < 1e-4).all()
    assert (gd_rows["conditional_mad_vs_em"] < 1e-3).all()
    md = (out / "simulated.md").read_text().splitlines()
    table = [line for line in md if line.startswith("|")]
    assert len(table) == 2 + len(main)
    assert table[0].count("|") == len(tables.MAIN_COLUMNS) + 1

    grid = pd.read_csv(out / "ll-matrix.csv")
    assert list(grid.columns) == ["generator", *MODELS] and len(grid) == 10
    recovered = pd.read_csv(out / "recovery.csv")
    assert set(recovered["model"]) == set(MODELS)
    assert (recovered["mae"] < 0.2).all()

    written = json.loads((out / "run.json").read_text())["files"]
    readme = (out / "README.md").read_text()
    for name in written:
        assert (out / name).is_file(), name
        assert name == "README.md" or f"`{name}`" in readme
    pngs = [n for n in written if n.endswith(".png")]
    assert len(pngs) == 5
    for name in pngs:
        pixels = image.imread(out / name)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200


def test_second_run_hits_the_cache(first_run):
    tmp, _, _ = first_run
    before = (tmp / "results" / "simulated.csv").read_text()
    never = Counting(fail_at=1)
    outcome = run_bench(options(tmp), fit_fn=never)
    assert never.calls == [] and outcome.fits_run == 0 and outcome.fits_cached == 24
    assert (tmp / "results" / "simulated.csv").read_text() == before


def test_narrower_run_keeps_the_files_it_did_not_rewrite(first_run):
    tmp, _, _ = first_run
    out = tmp / "results"
    (out / "notes.txt").write_text("mine")
    generators = (out / "generators.md").read_text()
    before = json.loads((out / "run.json").read_text())["files"]
    outcome = run_bench(options(tmp, datasets=("simulated",), models=("pbm",)),
                        fit_fn=Counting(fail_at=1))
    assert outcome.fits_run == 0
    # The generator tables and figures stay, untouched, and the README still lists them,
    # credited to the run that wrote them; the simulated table now holds pbm only.
    assert (out / "generators.md").read_text() == generators
    assert (out / "ll-matrix.csv").is_file() and (out / "notes.txt").read_text() == "mine"
    assert list(pd.read_csv(out / "simulated.csv")["model"]) == ["pbm", "pbm"]
    readme = (out / "README.md").read_text()
    after = json.loads((out / "run.json").read_text())
    assert set(after["files"]) == set(before)
    for name in before:
        assert name == "README.md" or f"`{name}`" in readme
    assert "kept from an earlier run" in readme and "generator-dbn" in readme
    assert after["file_runs"]["generators.md"]["command"] != after["command"]
    assert after["file_runs"]["simulated.md"]["command"] == after["command"]


def test_yandex_requested_without_the_data_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("CLICKFIT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere/yandex-wscd-sample"):
        run_bench(options(tmp_path, datasets=("yandex",), require_yandex=True),
                  fit_fn=Counting(fail_at=1))
    assert main(["bench", "--datasets", "yandex", "--results", str(tmp_path / "r"),
                 "--cache", str(tmp_path / "c")]) == 1
    assert not (tmp_path / "r").exists()


def test_interrupted_run_resumes(tmp_path):
    opts = options(tmp_path, engines=(engines.EM,), datasets=("simulated",),
                   models=("pbm", "dbn", "cm"))
    with pytest.raises(RuntimeError, match="interrupted"):
        run_bench(opts, fit_fn=Counting(fail_at=3))
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    assert not list((tmp_path / "cache").glob(".*"))
    resumed = Counting()
    outcome = run_bench(opts, fit_fn=resumed)
    assert resumed.calls == [("cm", "em")]
    assert (outcome.fits_run, outcome.fits_cached) == (1, 2)
    assert len(pd.read_csv(tmp_path / "results" / "simulated.csv")) == 3


def record(model, engine, objective, cond, weight, seconds=1.0, ll=-0.3):
    return {
        "model": model, "engine": engine, "train": {"objective": objective},
        "test": {"log_likelihood": ll, "perplexity": 1.4, "conditional_perplexity": 1.3},
        "cost": {"fit_seconds": seconds, "compile_seconds": 0.5},
        "test_conditional": cache.pack(np.asarray(cond)),
        "test_weight": cache.pack(np.asarray(weight)),
    }


def test_agreement_by_hand():
    em = record("pbm", "em", -0.30, [0.1, 0.5, 0.9], [1, 1, 2])
    gd = record("pbm", "gradient-lbfgs", -0.3001, [0.2, 0.5, 0.8], [1, 1, 2])
    diff, mad = tables.agreement(em, gd)
    assert diff == pytest.approx(-1e-4)
    # (1 * 0.1 + 1 * 0 + 2 * 0.1) / 4
    assert mad == pytest.approx(0.075, abs=1e-7)


def test_cache_pack_round_trip_and_keys():
    values = np.random.default_rng(0).random(1000).astype(np.float32)
    np.testing.assert_array_equal(cache.unpack(json.loads(json.dumps(cache.pack(values)))),
                                  values)
    dataset = {"name": "simulated", "seed": 0}
    a = cache.fit_key(dataset, "pbm", "em", {"tol": 1e-8})
    assert a == cache.fit_key(dict(reversed(dataset.items())), "pbm", "em", {"tol": 1e-8})
    assert a != cache.fit_key(dataset, "pbm", "em", {"tol": 1e-9})
    assert a != cache.fit_key(dataset, "ubm", "em", {"tol": 1e-8})


def test_clax_table_by_hand():
    records = [
        record("ubm", "em", -0.3, [0.5], [1], seconds=0.5, ll=-0.324),
        record("ubm", "gradient-adam", -0.3, [0.5], [1], seconds=2.0, ll=-0.325),
        record("pbm", "em", -0.3, [0.5], [1], seconds=0.25),
        record("pbm", "gradient-adam", -0.3, [0.5], [1], seconds=1.0),
        record("dbn", "em", -0.3, [0.5], [1]),  # no gradient record: no row
    ]
    df = paper_clax.table(records)
    assert list(df["model"]) == ["pbm", "ubm"]
    np.testing.assert_allclose(df["time_ratio"], [4.0, 4.0])
    assert df.loc[1, "ll_em"] == -0.324 and df.loc[1, "ll_gradient"] == -0.325


def test_code_fingerprint_follows_the_source(tmp_path):
    (tmp_path / "em").mkdir()
    (tmp_path / "em" / "a.py").write_text("x = 1\n")
    (tmp_path / "clicklog").mkdir()
    (tmp_path / "clicklog" / "b.py").write_text("y = 1\n")
    before = cache.code_fingerprint.__wrapped__("em", tmp_path)
    assert before == cache.code_fingerprint.__wrapped__("em", tmp_path)
    (tmp_path / "clicklog" / "b.py").write_text("y = 2\n")
    assert cache.code_fingerprint.__wrapped__("em", tmp_path) != before
