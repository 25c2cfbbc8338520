"""`clickfit paper clax`: the EM-versus-gradient table of the CLAX paper's Yandex experiment.

Hager, Zoeter and de Rijke, "CLAX: Fast and Flexible Neural Click Models in JAX" (2025)
compare PyClick's EM with CLAX's gradient descent on the Yandex sample: per model, test
log-likelihood, perplexity, conditional perplexity and training time of each, and the ratio of
the times. The protocols are theirs: EM runs exactly 50 iterations (PyClick's setting);
gradient descent is CLAX's published setting, Adam with learning rate 0.01, batch size 4096,
50 epochs (engine gradient-adam). Both use the Beta(2, 2) prior by default. Train =
trainSample, test = testSample restricted to the training queries.

Fits share the cache of `clickfit bench` (an identical fit is never run twice), and `clickfit
bench` writes this table too whenever the Yandex sample is present.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks.bench import datasets, engines, tables
from benchmarks.bench.datasets import DatasetSpec
from benchmarks.bench.record import Job
from clicklog import catalogue

PROTOCOL = "paper-clax"
STEM = "paper-clax"
GRADIENT = engines.ADAM

COLUMNS: tuple[tables.Column, ...] = (
    tables.Column("model", "model", tables.plain, numeric=False),
    tables.Column("ll_em", "LL EM", tables.fixed(4)),
    tables.Column("ll_gradient", "LL gradient", tables.fixed(4)),
    tables.Column("perplexity_em", "PPL EM", tables.fixed(4)),
    tables.Column("perplexity_gradient", "PPL gradient", tables.fixed(4)),
    tables.Column("conditional_perplexity_em", "cond. PPL EM", tables.fixed(4)),
    tables.Column("conditional_perplexity_gradient", "cond. PPL gradient", tables.fixed(4)),
    tables.Column("seconds_em", "time EM (s)", tables.duration),
    tables.Column("seconds_gradient", "time gradient (s)", tables.duration),
    tables.Column("time_ratio", "gradient / EM time", tables.fixed(1)),
    tables.Column("compile_seconds_em", "EM compile (s)", tables.duration),
    tables.Column("compile_seconds_gradient", "gradient compile (s)", tables.duration),
)

LEGEND = (
    "The layout of the CLAX paper's Yandex table. EM: 50 iterations (PyClick's protocol); "
    "gradient: Adam, learning rate 0.01, batch 4096, 50 epochs (CLAX's published setting), "
    "both with a Beta(2, 2) prior. LL: test log-likelihood per impression (nats); PPL: "
    "perplexity; times: wall-clock training seconds, compilation excluded (own columns); "
    "ratio: gradient time over EM time."
)


def jobs(
    specs: Sequence[DatasetSpec], models: Sequence[str],
    prior: tuple[float, float] | None = engines.DEFAULT_PRIOR,
) -> list[Job]:
    """The table's fits: each of the ten models (of `models`) by both protocols, on Yandex."""
    out = []
    for spec in (s for s in specs if s.family == datasets.YANDEX):
        for model in (m for m in models if m in catalogue.MODELS):
            em_settings = engines.settings(engines.EM, prior, engines.PAPER_EM_SETTINGS)
            out.append(Job(spec, model, engines.EM, em_settings, PROTOCOL))
            out.append(Job(spec, model, GRADIENT, engines.settings(GRADIENT, prior), PROTOCOL))
    return out


def table(records: Sequence[dict]) -> pd.DataFrame:
    """One row per model with both an EM and a gradient record."""
    by = {(r["model"], r["engine"]): r for r in records}
    rows = []
    for model in tables.model_order(m for m, _ in by):
        em, gd = by.get((model, engines.EM)), by.get((model, GRADIENT))
        if em is None or gd is None:
            continue
        row = {"model": model}
        for suffix, r in (("em", em), ("gradient", gd)):
            row[f"ll_{suffix}"] = r["test"]["log_likelihood"]
            row[f"perplexity_{suffix}"] = r["test"]["perplexity"]
            row[f"conditional_perplexity_{suffix}"] = r["test"]["conditional_perplexity"]
            row[f"seconds_{suffix}"] = r["cost"]["fit_seconds"]
            row[f"compile_seconds_{suffix}"] = r["cost"]["compile_seconds"]
        row["time_ratio"] = row["seconds_gradient"] / max(row["seconds_em"], 1e-9)
        rows.append(row)
    return pd.DataFrame(rows, columns=[c.name for c in COLUMNS])


def write(records: Sequence[dict], out: Path) -> list[tuple[str, str]]:
    df = table(records)
    if df.empty:
        return []
    return tables.write(
        df, COLUMNS, Path(out) / STEM, "CLAX paper, Yandex experiment: EM against gradient "
        "descent", "the CLAX paper's Yandex table: LL, perplexity, conditional perplexity and "
        "training time per model for EM (50 iterations) and gradient descent (Adam, CLAX's "
        "setting), and the time ratio", LEGEND)


def main(args: argparse.Namespace) -> int:
    from benchmarks.runner import execute

    files = datasets.yandex_files(args.data)
    if files is None:
        print("clickfit paper clax: the Yandex sample (yandex-wscd-sample/) was not found; "
              "pass --data DIR or set CLICKFIT_DATA", file=sys.stderr)
        return 2
    todo = jobs([datasets.yandex_spec(files)], catalogue.MODELS)
    outcome = execute(todo, files, Path(args.cache), progress=not args.no_progress)
    records = outcome.records(PROTOCOL)
    write(records, Path(args.results))
    print(tables.markdown(table(records), COLUMNS), end="")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from benchmarks.runner import add_common_arguments

    paper = subparsers.add_parser("paper", help="rebuild published tables in their layout")
    papers = paper.add_subparsers(dest="paper", required=True, metavar="PAPER")
    p = papers.add_parser("clax", help="the CLAX paper's Yandex EM-versus-gradient table",
                          description=__doc__.split("\n\n")[1])
    add_common_arguments(p)
    p.set_defaults(func=main)
    from benchmarks import paper_vision

    paper_vision.add_parser(papers)
