"""claims.md: each claim of Xu et al.'s vision-bias paper, the numbers that test it per
generator and engine, and a verdict computed from those numbers (never written by hand).

A claim is a set of checks per (generator, engine); its verdict there is "reproduced" when
every check holds, "partly" when some do, "not reproduced" when none does:

C1  vX-2 > vX-1 > X overall (Tables 2, 3). One check per family (UBM, PBM) and metric (LL,
    perplexity): vX-2 better than vX-1, and vX-1 better than X with p < 0.01.
C2  The gain is larger on rarer queries (Tables 4, 6). One check per vision model and metric:
    a gain in 1-10 (improvement > 0), and improvement in 1-10 > in 10-30 > in 30-100 (losses
    that shrink with frequency are no larger gain).
C3  The gain is larger at lower ranks (Table 5, Figure 3). One check per vision model: a
    perplexity gain at rank 5 that exceeds the one at rank 1 (the numbers show ranks 1-5).
C4  The vision models rank better on rare queries (Table 7). One check per vision model and
    bucket below 100: MRR improvement > 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.paper_vision_format import (
    Layout,
    md_table,
    model_title,
    select,
    significant,
    write_text,
)

RARE = ("1-10", "10-30", "30-100")
RANKS = ("1", "2", "3", "4", "5")
CLAIMS = {
    "C1": "vX-2 > vX-1 > X in LL and perplexity (Tables 2, 3)",
    "C2": "larger gains on rarer queries: 0 < 1-10, 1-10 > 10-30 > 30-100 (Tables 4, 6)",
    "C3": "larger gains at lower ranks: rank 5 > 0, rank 5 > rank 1 (Table 5, Figure 3)",
    "C4": "better MRR on rare queries, buckets below 100 (Table 7)",
}


def verdict(checks: Sequence[bool]) -> str:
    held = sum(bool(c) for c in checks)
    if checks and held == len(checks):
        return "reproduced"
    return "partly" if held else "not reproduced"


def _cell(df, **where) -> pd.Series | None:
    rows = select(df, **where)
    return None if rows.empty else rows.iloc[0]


def _pct(value: float) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:+.2f}%"


def _better(metric: str, a: float, b: float) -> bool:
    return a > b if metric == "ll" else a < b


def _c1(part: pd.DataFrame) -> tuple[list[bool], str]:
    checks, text = [], []
    for family in ("ubm", "pbm"):
        for metric in ("ll", "perplexity"):
            base, one, two = (_cell(part, table="overall", metric=metric, model=m)
                              for m in (family, f"v{family}-1", f"v{family}-2"))
            ok = (_better(metric, two["value"], one["value"])
                  and _better(metric, one["value"], base["value"])
                  and significant(one["improvement"], one["p_value"]))
            checks.append(ok)
            text.append(f"{family.upper()} {metric}: v-1 {_pct(one['improvement'])}, "
                        f"v-2 {_pct(two['improvement'])}")
    return checks, "; ".join(text)


def _c2(part: pd.DataFrame, models: Sequence[str]) -> tuple[list[bool], str]:
    checks, text = [], []
    for model in models:
        for metric in ("ll", "perplexity"):
            gains = []
            for key in RARE:
                row = _cell(part, table="bucket", key=key, metric=metric, model=model)
                gains.append(np.nan if row is None else row["improvement"])
            checks.append(bool(0 < gains[0] and gains[0] > gains[1] > gains[2]))
            short = "LL" if metric == "ll" else "ppl"
            text.append(f"{model_title(model)} {short} " + " / ".join(_pct(g) for g in gains))
    return checks, "; ".join(text)


def _c3(part: pd.DataFrame, models: Sequence[str]) -> tuple[list[bool], str]:
    checks, text = [], []
    for model in models:
        gains = []
        for key in RANKS:
            row = _cell(part, table="rank", key=key, metric="perplexity", model=model)
            gains.append(np.nan if row is None else row["improvement"])
        checks.append(bool(0 < gains[-1] and gains[-1] > gains[0]))
        text.append(f"{model_title(model)} " + " / ".join(_pct(g) for g in gains))
    return checks, "; ".join(text)


def _c4(part: pd.DataFrame, models: Sequence[str]) -> tuple[list[bool], str]:
    checks, text = [], []
    for model in models:
        gains = []
        for key in RARE:
            row = _cell(part, table="bucket", key=key, metric="mrr", model=model)
            gains.append(np.nan if row is None else row["improvement"])
        checks += [bool(g > 0) for g in gains]
        text.append(f"{model_title(model)} " + " / ".join(_pct(g) for g in gains))
    return checks, "; ".join(text)


def evaluate(df: pd.DataFrame, datasets: Sequence[str], engines: Sequence[str],
             layout: Layout) -> pd.DataFrame:
    """One row per (claim, generator, engine): checks held, checks, numbers, verdict."""
    vision = tuple(layout.base)
    rows = []
    for name in datasets:
        for engine in engines:
            part = select(df, dataset=name, engine=engine)
            results = {"C1": _c1(part), "C2": _c2(part, vision), "C3": _c3(part, vision),
                       "C4": _c4(part, vision)}
            for claim, (checks, numbers) in results.items():
                rows.append({"claim": claim, "generator": name, "engine": engine,
                             "held": sum(checks), "checks": len(checks), "numbers": numbers,
                             "verdict": verdict(checks)})
    return pd.DataFrame(rows)


def rewrite_claims(out: Path, layout: Layout) -> list[Path]:
    """claims.md and Figure 3 again from the cells.csv and fits.csv a run wrote into `out`."""
    from benchmarks.paper_vision_figure import figure3

    df = pd.read_csv(out / "cells.csv", dtype={"key": str})
    fits = pd.read_csv(out / "fits.csv").to_dict("records")
    datasets = list(dict.fromkeys(df["dataset"]))
    engines = list(dict.fromkeys(df["engine"]))
    return [write_claims(df, fits, datasets, engines, layout, out / "claims.md"),
            figure3(df, [(d, d) for d in datasets], engines, layout,
                    out / "figure3-rank-improvement.png")]


def write_claims(df: pd.DataFrame, fits: Sequence[dict], datasets: Sequence[str],
                 engines: Sequence[str], layout: Layout, path: Path) -> Path:
    """claims.md from the cells (benchmarks.paper_vision_tables.cells) and the fits."""
    table = evaluate(df, datasets, engines, layout)
    lines = ["# The paper's claims, tested", "",
             "Written by `clickfit paper vision-bias` from the numbers of the tables beside it "
             "(benchmarks/paper_vision_claims.py defines every check). Verdict per generator "
             "and engine: reproduced = every check holds, partly = some do, not reproduced = "
             "none does. Under the UBM generator there is no vision bias to find, so a "
             "reproduced claim there would be an artefact, not support.", ""]
    bad = [f for f in fits if not f["converged"]]
    lines.append("Convergence: " + ("every fit converged to its tolerance." if not bad else
                 f"{len(bad)} fits did NOT converge: " + "; ".join(
                     f"{f['dataset']} {f['engine']} {f['model']}" for f in bad) + ".") + "\n")
    header = ["claim"] + [f"{g} / {layout.engine_titles[e]}" for g in datasets for e in engines]
    body = []
    for claim, text in CLAIMS.items():
        cells = []
        for g in datasets:
            for e in engines:
                r = table[(table.claim == claim) & (table.generator == g)
                          & (table.engine == e)].iloc[0]
                cells.append(f"{r.verdict} ({r.held}/{r.checks})")
        body.append([f"{claim}: {text}"] + cells)
    lines += ["## Summary", "", md_table(header, body)]
    for claim, text in CLAIMS.items():
        lines += [f"## {claim}: {text}", ""]
        part = table[table.claim == claim]
        lines.append(md_table(["generator", "engine", "verdict", "checks held", "numbers"], [
            [r.generator, layout.engine_titles[r.engine], r.verdict, f"{r.held}/{r.checks}",
             r.numbers] for r in part.itertuples()], numeric_from=5))
    return write_text(path, "\n".join(lines))
