"""The results directory: every table and figure of a run, its README and run.json.

Everything is rebuilt from fit records, so a run served entirely from the cache writes the
same tables and figures. A run rewrites only its own files: a subset run (`--datasets yandex`,
`--models pbm`) leaves the tables and figures of the others where they are, and README.md and
run.json keep listing them, each with the command and date of the run that wrote it (run.json
remembers that per file), so the README always describes every file in the directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks import paper_clax
from benchmarks.bench import datasets, figures, tables
from benchmarks.bench.datasets import DatasetSpec
from benchmarks.bench.readme import write_readme
from clicklog.atomic import atomic_write

Files = list[tuple[str, str]]


def describe(spec: DatasetSpec, records: Sequence[dict]) -> dict:
    """The README's line on a dataset: name, what it is, session counts (from a record)."""
    data = next(r["data"] for r in records if r["dataset"]["name"] == spec.name)
    if spec.family == datasets.YANDEX:
        text = ("Yandex WSCD sample: trainSample for training, testSample restricted to the "
                "training queries for test")
    else:
        text = (f"simulated by the {spec.generator.upper()} generator, {spec.n_queries} "
                f"Zipf-distributed queries, 10 results per page, seed {spec.seed}")
    dropped = data["test_sessions_dropped"]
    if dropped:
        text += f" ({dropped:,} test sessions of unseen queries dropped)"
    return {"name": spec.name, "description": text, "train_sessions": data["train_sessions"],
            "test_sessions": data["test_sessions"]}


def write_dataset(spec: DatasetSpec, records: list[dict], out: Path) -> Files:
    """Table and figures of one main dataset; (file, description) pairs for the README."""
    name = spec.name
    df = tables.main_rows(records)
    bold = tables.best_per_column(df, ["test_log_likelihood"],
                                  ["perplexity", "conditional_perplexity"])
    files = tables.write(
        df, tables.MAIN_COLUMNS, out / name, f"{name}: every model and engine",
        f"{name}: test LL, perplexity, conditional perplexity, fit and compile time, "
        "iterations, peak memory per model and engine, and EM/gradient agreement (best "
        "values in bold)", tables.MAIN_LEGEND, bold)
    figures.objective_figure(records, out / "figures" / f"{name}-objective.png",
                             f"{name}: training objective against wall-clock time")
    figures.rank_figure(records, out / "figures" / f"{name}-perplexity-per-rank.png",
                        f"{name}: test perplexity per rank")
    files += [
        (f"figures/{name}-objective.png", f"{name}: training objective per impression against "
         "wall-clock seconds, a panel per model, a line per engine"),
        (f"figures/{name}-perplexity-per-rank.png", f"{name}: perplexity and conditional "
         "perplexity per rank (1-based) of every model, a column per engine"),
    ]
    if any(r.get("recovery") for r in records):
        figures.recovery_figure(records, out / "figures" / f"{name}-recovery.png",
                                f"{name}: fitted against generating parameters")
        files.append((f"figures/{name}-recovery.png", f"{name}: fitted against generating "
                      "parameters of the generating model, per engine, for entries shown at "
                      "least 100 times (most shown 300 of each)"))
    return files


def write_generators(records: list[dict], out: Path) -> Files:
    files = tables.write(
        tables.generator_rows(records), tables.GENERATOR_COLUMNS, out / "generators",
        "Small logs from each generator, every model fitted by EM",
        "every model fitted by EM on a small log from each of the ten generators: the main "
        "table's columns per generator", tables.MAIN_LEGEND)
    grid = tables.matrix(records)
    files += tables.write(
        grid, tables.matrix_columns(grid), out / "ll-matrix",
        "Generator by fitted model: test log-likelihood",
        "generator (row) by fitted model (column) test log-likelihood, best of each row in "
        "bold", tables.MATRIX_LEGEND, tables.matrix_bold(grid))
    figures.matrix_figure(grid, out / "figures" / "ll-matrix.png",
                          "Test LL of each fitted model relative to the best, per generator")
    figures.recovery_figure(records, out / "figures" / "generators-recovery.png",
                            "Each generator's own model fitted by EM: recovery")
    return files + [
        ("figures/ll-matrix.png", "the same matrix as a heat map, relative to each row's best"),
        ("figures/generators-recovery.png", "each generator's own model fitted by EM: fitted "
         "against generating parameters"),
    ]


def write_results(
    out: Path,
    specs: Sequence[DatasetSpec],
    bench: list[dict],
    paper: list[dict],
    run: dict,
    settings: dict[str, dict],
    extra: Files = (),
) -> Files:
    """Write every table, figure, README.md and run.json of a run; return (file, what it
    shows) pairs. bench, paper: the records of the main tables and of the CLAX table; run:
    provenance, command, options, timings; settings: engine -> its settings; extra: files this
    run wrote by other means (e.g. the ranking report), listed like its own."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files: Files = []
    for spec in specs:
        mine = [r for r in bench if r["dataset"]["name"] == spec.name]
        if mine and spec.family != datasets.GENERATORS:
            files += write_dataset(spec, mine, out)
    generated = [r for r in bench if r["dataset"]["family"] == datasets.GENERATORS]
    if generated:
        files += write_generators(generated, out)
    recovery = tables.recovery_rows(bench)
    if len(recovery):
        files += tables.write(
            recovery, tables.RECOVERY_COLUMNS, out / "recovery",
            "Parameter recovery on simulated data", "parameter recovery on simulated data: "
            "mean and max absolute error per parameter, model and engine",
            tables.RECOVERY_LEGEND)
    if paper:
        files += paper_clax.write(paper, out)
    files += list(extra)
    files.append(("run.json", "machine-readable record of the runs behind this directory: "
                  "options, provenance, and for every file the run that wrote it"))
    everything = bench + paper
    shown = [describe(s, everything) for s in specs
             if any(r["dataset"]["name"] == s.name for r in everything)]
    previous = _previous(out)
    mine = {name for name, _ in files} | {"README.md"}
    stamp = {"command": run["command"], "date": run["date"]}
    written = {name: {"what": what, **stamp} for name, what in files if name != "run.json"}
    kept = {name: entry for name, entry in _file_runs(previous).items()
            if name not in mine and (out / name).is_file()}
    listed = files + [(name, f"{e['what']} (kept from an earlier run: `{e['command']}`, "
                             f"{e['date']})") for name, e in kept.items()]
    kept_datasets = [d for d in previous.get("datasets", [])
                     if d["name"] not in {s["name"] for s in shown}
                     and any(d["name"].split("-")[0] in name for name in kept)]
    settings = {**previous.get("settings", {}), **settings}
    write_readme(out / "README.md", listed, run, bench, shown + kept_datasets, settings)
    listed.append(("README.md", "this file"))
    written["README.md"] = {"what": "this file", **stamp}
    with atomic_write(out / "run.json") as f:
        json.dump({**run, "files": [name for name, _ in listed],
                   "file_runs": {**kept, **written}, "datasets": shown + kept_datasets,
                   "settings": settings}, f, indent=1)
    return files + [("README.md", "this file")]


def _file_runs(previous: dict) -> dict[str, dict]:
    """File -> what it shows and the command and date of the run that wrote it; a run.json of
    the layout before `file_runs` lists only names, credited to that run's command."""
    if "file_runs" in previous:
        return previous["file_runs"]
    stamp = {"command": previous.get("command", "an earlier run"),
             "date": previous.get("date", "date unknown")}
    return {name: {"what": "written by an earlier run", **stamp}
            for name in previous.get("files", [])}


def _previous(out: Path) -> dict:
    """The run.json of the run before, {} where there is none (or an unreadable one)."""
    try:
        with open(out / "run.json", encoding="utf-8") as f:
            previous = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return previous if isinstance(previous, dict) else {}
