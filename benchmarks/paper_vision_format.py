"""Shared pieces of the vision-bias paper's outputs (benchmarks.paper_vision_tables, _figure,
_statistics, _claims): the protocol's layout, cell formatting, and atomic writers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from clicklog.atomic import atomic_write

SIGNIFICANCE = 0.01
NOT_CONVERGED = "†"


class Layout(NamedTuple):
    """What the protocol fixes: model order, base of each vision model, engine titles."""

    models: tuple[str, ...]
    base: dict[str, str]
    engine_titles: dict[str, str]


def significant(improvement: float, p_value: float) -> bool:
    """A positive improvement with p < SIGNIFICANCE (the tables' star)."""
    return bool(improvement > 0 and p_value < SIGNIFICANCE)


def mark(improvement: float, p_value: float) -> str:
    if np.isnan(improvement):
        return ""
    star = "*" if significant(improvement, p_value) else ""
    return f"{100 * improvement:+.2f}%{star}"


def md_table(header: Sequence[str], body: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < numeric_from else "---:" for i in range(len(header)))
             + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def select(df: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(df), bool)
    for column, value in where.items():
        mask &= (df[column] == value).to_numpy()
    return df[mask]


def metric_title(metric: str) -> str:
    return {"ll": "LL", "perplexity": "perplexity", "mrr": "MRR"}[metric]


def model_title(model: str) -> str:
    """The paper's spelling: UBM, vUBM-1, ..."""
    return "v" + model[1:].upper() if model.startswith("v") else model.upper()


def write_text(path: Path, text: str) -> Path:
    with atomic_write(path) as f:
        f.write(text)
    return path


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    with atomic_write(path) as f:
        df.to_csv(f, index=False, float_format="%.10g")
    return path


def write_json(path: Path, record: dict) -> Path:
    return write_text(path, json.dumps(record, indent=1) + "\n")
