"""The benchmark's tables, built from cached fit records, written as Markdown and CSV.

CSV files keep full precision (one row per model and engine, machine-readable column names);
Markdown files round for reading and carry a title and a short legend.

EM/gradient agreement, on the rows of the gradient engines (formulas):
    objective difference = objective_gradient - objective_EM on the training sessions, nats per
                           impression (negative: the gradient fit stopped below EM's optimum)
    conditional MAD      = sum_i w_i sum_{r < L_i} |p_gradient - p_EM| / sum_i w_i L_i, p the
                           conditional click probabilities P(C_r = 1 | c_<r) on test sessions
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench import cache, engines
from clicklog.atomic import atomic_write

MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Column:
    name: str  # CSV header
    header: str  # Markdown header
    fmt: Callable[[object], str]
    numeric: bool = True  # right-aligned in Markdown


def fixed(digits: int) -> Callable[[object], str]:
    return lambda v: "" if _missing(v) else f"{v:.{digits}f}"


def _signed_sci(v: object) -> str:
    return "" if _missing(v) else f"{v:+.1e}"


def _sci(v: object) -> str:
    return "" if _missing(v) else f"{v:.1e}"


def duration(v: object) -> str:
    if _missing(v):
        return ""
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def plain(v: object) -> str:
    if _missing(v):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    return str(v)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


MAIN_COLUMNS: tuple[Column, ...] = (
    Column("model", "model", plain, numeric=False),
    Column("engine", "engine", plain, numeric=False),
    Column("test_log_likelihood", "test LL", fixed(4)),
    Column("perplexity", "perplexity", fixed(4)),
    Column("conditional_perplexity", "cond. perplexity", fixed(4)),
    Column("train_objective", "train objective", fixed(5)),
    Column("fit_seconds", "fit time (s)", duration),
    Column("compile_seconds", "compile (s)", duration),
    Column("iterations", "iterations", plain),
    Column("converged", "converged", plain),
    Column("peak_memory_mib", "peak memory (MiB)", fixed(1)),
    Column("objective_difference_vs_em", "objective - EM's", _signed_sci),
    Column("conditional_mad_vs_em", "cond. click MAD vs EM", _sci),
)

MAIN_LEGEND = (
    "Test LL: mean log-likelihood of the test clicks per impression (nats); perplexity and "
    "conditional perplexity: per-rank means (PyClick/CLAX definition). Train objective: "
    "log-likelihood plus log Beta prior per training impression. Fit time excludes "
    "compilation (own column). Peak memory: resident memory above the level before the fit. "
    "Last two columns (gradient rows): training objective minus EM's, and the mean absolute "
    "difference of test conditional click probabilities from EM's. CM's test LL is far below "
    "the others because it scores every rank while the model ends at the first click: a later "
    "click has probability 0 under CM and costs ln(1e-6) (PyClick's floor)."
)


def model_order(models: Iterable[str]) -> list[str]:
    rank = {m: i for i, m in enumerate(engines.DEFAULT_MODELS)}
    return sorted(set(models), key=lambda m: (rank.get(m, len(rank)), m))


def _engine_rank(engine: str) -> int:
    return engines.ENGINES.index(engine) if engine in engines.ENGINES else len(engines.ENGINES)


def sort_records(records: Iterable[dict]) -> list[dict]:
    records = list(records)
    order = {m: i for i, m in enumerate(model_order(r["model"] for r in records))}
    return sorted(records, key=lambda r: (order[r["model"]], _engine_rank(r["engine"])))


def conditional_mad(a: dict, b: dict) -> float:
    """Weighted mean absolute difference of two records' test conditional click probabilities."""
    pa, pb = cache.unpack(a["test_conditional"]), cache.unpack(b["test_conditional"])
    if pa.shape != pb.shape:
        raise ValueError(f"{a['model']}: the records were scored on different test sessions")
    w = cache.unpack(a["test_weight"]).astype(np.float64)
    return float(np.dot(w, np.abs(pa.astype(np.float64) - pb)) / w.sum())


def agreement(em_record: dict, other: dict) -> tuple[float, float]:
    """(objective difference, conditional MAD) of a gradient record against EM's."""
    diff = other["train"]["objective"] - em_record["train"]["objective"]
    return diff, conditional_mad(em_record, other)


def main_rows(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (model, engine) of one dataset, with agreement against the EM row."""
    em_of = {r["model"]: r for r in records if r["engine"] == engines.EM}
    rows = []
    for r in sort_records(records):
        diff = mad = np.nan
        if r["engine"] != engines.EM and r["model"] in em_of:
            diff, mad = agreement(em_of[r["model"]], r)
        cost = r["cost"]
        rows.append({
            "model": r["model"],
            "engine": r["engine"],
            "test_log_likelihood": r["test"]["log_likelihood"],
            "perplexity": r["test"]["perplexity"],
            "conditional_perplexity": r["test"]["conditional_perplexity"],
            "train_objective": r["train"]["objective"],
            "fit_seconds": cost["fit_seconds"],
            "compile_seconds": cost["compile_seconds"],
            "iterations": cost["iterations"],
            "converged": cost["converged"],
            "peak_memory_mib": cost["peak_memory_bytes"] / MIB,
            "objective_difference_vs_em": diff,
            "conditional_mad_vs_em": mad,
        })
    return pd.DataFrame(rows, columns=[c.name for c in MAIN_COLUMNS])


def markdown(df: pd.DataFrame, columns: Sequence[Column], bold: pd.DataFrame | None = None) -> str:
    """A GitHub Markdown table of `df`, cells formatted per column; `bold` marks cells."""
    headers = [c.header for c in columns]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in columns) + "|"]
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for c, v in zip(columns, row, strict=True):
            text = c.fmt(v)
            if bold is not None and c.name in bold and bool(bold[c.name].iloc[i]) and text:
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(
    df: pd.DataFrame,
    columns: Sequence[Column],
    stem: str | os.PathLike,
    title: str,
    what: str,
    legend: str = "",
    bold: pd.DataFrame | None = None,
) -> list[tuple[str, str]]:
    """Write `stem`.md and `stem`.csv atomically; return (file name, what it shows) of both,
    `what` describing the table."""
    stem = Path(stem)
    md_path, csv_path = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".csv")
    with atomic_write(csv_path) as f:
        df.to_csv(f, index=False, float_format="%.10g")
    text = f"# {title}\n\n" + (f"{legend}\n\n" if legend else "") + markdown(df, columns, bold)
    with atomic_write(md_path) as f:
        f.write(text)
    return [(md_path.name, what),
            (csv_path.name, f"the table of {md_path.name} at full precision (CSV)")]


def best_per_column(df: pd.DataFrame, higher: Sequence[str], lower: Sequence[str]) -> pd.DataFrame:
    """Boolean frame marking each listed column's best value (for bold in Markdown)."""
    marks = {}
    for name in higher:
        marks[name] = np.isclose(df[name], df[name].max(), rtol=0, atol=5e-5)
    for name in lower:
        marks[name] = np.isclose(df[name], df[name].min(), rtol=0, atol=5e-5)
    return pd.DataFrame(marks, index=df.index)


GENERATOR_COLUMNS: tuple[Column, ...] = (
    Column("generator", "generator", plain, numeric=False),
    *MAIN_COLUMNS,
)


def generator_rows(records: Sequence[dict]) -> pd.DataFrame:
    """The main table's rows for every generator dataset, one after the other."""
    frames = []
    for name in dict.fromkeys(r["dataset"]["name"] for r in records):
        df = main_rows([r for r in records if r["dataset"]["name"] == name])
        df.insert(0, "generator", name.removeprefix("generator-"))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


MATRIX_LEGEND = (
    "Test log-likelihood per impression (nats) of each model (column) fitted with EM on a log "
    "simulated from each generator (row); the best model of each row in bold. The generating "
    "model should win its own row, up to sampling noise among models that contain it."
)


def matrix(records: Sequence[dict]) -> pd.DataFrame:
    """Generator (rows) by fitted model (columns) test LL, from the generator datasets."""
    cells = {(r["dataset"]["generator"], r["model"]): r["test"]["log_likelihood"]
             for r in records}
    generators = model_order(g for g, _ in cells)
    models = model_order(m for _, m in cells)
    data = [[cells.get((g, m), np.nan) for m in models] for g in generators]
    df = pd.DataFrame(data, columns=models)
    df.insert(0, "generator", generators)
    return df


def matrix_columns(df: pd.DataFrame) -> list[Column]:
    return [Column("generator", "generator \\ model", plain, numeric=False)] + [
        Column(m, m, fixed(4)) for m in df.columns[1:]
    ]


def matrix_bold(df: pd.DataFrame) -> pd.DataFrame:
    values = df.iloc[:, 1:]
    best = values.max(axis=1)
    return values.apply(lambda col: np.isclose(col, best, rtol=0, atol=5e-5))


RECOVERY_COLUMNS: tuple[Column, ...] = (
    Column("dataset", "dataset", plain, numeric=False),
    Column("model", "model", plain, numeric=False),
    Column("engine", "engine", plain, numeric=False),
    Column("parameter", "parameter", plain, numeric=False),
    Column("mae", "mean abs. error", fixed(4)),
    Column("max_error", "max abs. error", fixed(4)),
    Column("entries", "entries", plain),
)

RECOVERY_LEGEND = (
    "Absolute error of fitted against generating parameters, over the entries shown at least "
    "100 times in training (per qd pair, rank, UBM cell; every impression for a global one), "
    "for each model fitted on a log simulated from that same model."
)


def recovery_rows(records: Sequence[dict]) -> pd.DataFrame:
    rows = []
    for r in sort_records([r for r in records if r.get("recovery")]):
        for name, err in r["recovery"].items():
            rows.append({
                "dataset": r["dataset"]["name"], "model": r["model"], "engine": r["engine"],
                "parameter": name, "mae": err["mae"], "max_error": err["max_error"],
                "entries": err["entries"],
            })
    df = pd.DataFrame(rows, columns=[c.name for c in RECOVERY_COLUMNS])
    return df.sort_values("dataset", kind="stable", ignore_index=True)
