"""Tables 1-7 and Figure 3 of Xu et al.'s vision-bias paper, in its numbering and layout, from
test-set predictions.

Every number is a benchmarks.metrics function of the test sessions (weighted, padded ranks
left out) and of one fit's predictions; a vision model's improvement is over its base model
(vPBM-k over PBM, vUBM-k over UBM) fitted by the same engine, as the paper reports them:

    LL          (LL_new - LL_base) / |LL_base|
    perplexity  (p_base - p_new) / (p_base - 1)      (overall, per bucket, per rank)
    MRR         (MRR_new - MRR_base) / MRR_base

"*" marks an improvement above 0 whose paired t-test over test sessions (metrics.paired_ttest:
per-session log-likelihood for LL, per-session log P(C_r = c_r) summed over ranks for
perplexity, at rank r for a rank) has p < 0.01. MRR has no per-session pairing, so no test.
Query-frequency buckets count each query's training sessions (the paper's Table 1 edges).
The paper's layout: Table 1 statistics, 2 LL, 3 perplexity, 4 LL by query frequency, 5
perplexity by rank (ranks 1-5), 6 perplexity by query frequency, 7 MRR by query frequency;
Tables 4, 6 and 7 show the buckets below 100 sessions as the paper does, the other buckets
go to an extra table. A cell whose fit did not converge carries a dagger and a footnote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from benchmarks import metrics
from benchmarks import paper_vision_statistics as statistics
from benchmarks.paper_vision_figure import figure3
from benchmarks.paper_vision_format import (
    NOT_CONVERGED,
    SIGNIFICANCE,
    Layout,
    mark,
    md_table,
    metric_title,
    model_title,
    select,
    write_csv,
    write_text,
)
from clicklog.sessions import Sessions

if TYPE_CHECKING:
    from benchmarks.paper_vision import Dataset

RANKS_SHOWN = 5
RARE = metrics.FREQUENCY_LABELS[:3]  # the paper's Tables 4, 6, 7: below 100 sessions
FREQUENT = metrics.FREQUENCY_LABELS[3:]
DATASET_TITLES = {
    "vubm-2": "Generator vUBM-2 (the paper's model: vision bias in the data)",
    "ubm": "Generator UBM (no vision bias: the control)",
    "dbn-vision": "Generator DBN with feature-driven examination (outside the vision family)",
}


class Prediction(NamedTuple):
    click: np.ndarray  # [n_test, K] P(C_r = 1)
    conditional: np.ndarray  # [n_test, K] P(C_r = 1 | c_<r)
    relevance: np.ndarray  # [n_qd] the fit's relevance per pair, NaN where not shown in test


class Cell(NamedTuple):
    value: float
    per_session: np.ndarray | None  # paired-test input, aligned with `sessions`
    sessions: Sessions | None


def _ll(part, p: Prediction) -> Cell:
    return Cell(metrics.log_likelihood(part, p.conditional),
                metrics.session_log_likelihood(part, p.conditional), part)


def _perplexity(part, p: Prediction) -> Cell:
    return Cell(metrics.perplexity(part, p.click).overall,
                metrics.session_log_likelihood(part, p.click), part)


def _rank(r: int):
    def cell(part, p: Prediction) -> Cell:
        has = np.flatnonzero(part.length > r)
        sub = part.subset(has)
        logp = metrics.observed_log_probs(sub, p.click[has])[:, r]
        return Cell(metrics.perplexity(sub, p.click[has]).per_rank[r], logp, sub)

    return cell


def _mrr(part, p: Prediction) -> Cell:
    try:
        value = metrics.mrr(part, p.relevance, part.labels)
    except ValueError:  # no relevant document shown in this part
        value = np.nan
    return Cell(value, None, None)


def _improvement(metric: str, base: float, new: float) -> float:
    if metric == "ll":
        return metrics.ll_improvement(base, new)
    if metric == "mrr":
        return (new - base) / base if base > 0 else np.nan
    return metrics.perplexity_improvement(base, new)


def _measures(d: Dataset) -> list[tuple]:
    """(table, key, test rows, part, metric, cell function) of every breakdown."""
    out = [("overall", "all", np.arange(d.test.n), d.test, m, fn)
           for m, fn in (("ll", _ll), ("perplexity", _perplexity))]
    bucket = metrics.frequency_bucket(metrics.query_frequency(d.train))[d.test.query]
    for b in np.unique(bucket):
        index = np.flatnonzero(bucket == b)
        part = d.test.subset(index)
        key = metrics.bucket_label(int(b))
        out += [("bucket", key, index, part, m, fn)
                for m, fn in (("ll", _ll), ("perplexity", _perplexity), ("mrr", _mrr))]
    everything = np.arange(d.test.n)
    out += [("rank", str(r + 1), everything, d.test, "perplexity", _rank(r))
            for r in range(min(RANKS_SHOWN, int(d.test.length.max())))]
    return out


def cells(data: Sequence[Dataset], predictions: dict, fits: Sequence[dict],
          engines: Sequence[str], layout: Layout) -> pd.DataFrame:
    """Every number of Tables 2-7 and Figure 3, long format: dataset, engine, table, key,
    metric, model, value, improvement (vision models), p_value (where tested), and the
    iterations and converged flag of the cell's fit."""
    status = {(f["dataset"], f["engine"], f["model"]): f for f in fits}
    rows = []
    for d in data:
        measures = _measures(d)
        for engine in engines:
            for table, key, index, part, metric, fn in measures:
                scored = {}
                for model in layout.models:
                    p = predictions[(d.name, engine, model)]
                    scored[model] = fn(part, Prediction(p.click[index], p.conditional[index],
                                                        p.relevance))
                for model in layout.models:
                    own = scored[model]
                    fit = status[(d.name, engine, model)]
                    row = {"dataset": d.name, "engine": engine, "table": table, "key": key,
                           "metric": metric, "model": model, "value": own.value,
                           "improvement": np.nan, "p_value": np.nan,
                           "iterations": fit["iterations"], "converged": fit["converged"]}
                    if model in layout.base:
                        ref = scored[layout.base[model]]
                        row["improvement"] = _improvement(metric, ref.value, own.value)
                        if own.per_session is not None:
                            row["p_value"] = metrics.paired_ttest(
                                own.sessions, own.per_session, ref.per_session).p_value
                    rows.append(row)
    return pd.DataFrame(rows)


def _cell_text(row: pd.Series, digits: int = 4) -> str:
    if np.isnan(row["value"]):
        return "n/a"
    text = f"{row['value']:.{digits}f}"
    text += "" if row["converged"] else NOT_CONVERGED
    m = mark(row["improvement"], row["p_value"])
    return f"{text} ({m})" if m else text


def _overall(df, dataset, metric, layout: Layout, engines) -> str:
    """Tables 2 and 3: a row per model, a (value, improvement) column pair per engine."""
    header = ["model"] + [f"{layout.engine_titles[e]} {h}" for e in engines
                          for h in (metric_title(metric), "impr.")]
    body = []
    for model in layout.models:
        line = [model_title(model)]
        for e in engines:
            row = select(df, dataset=dataset, engine=e, table="overall", metric=metric,
                         model=model).iloc[0]
            line += [f"{row['value']:.4f}" + ("" if row["converged"] else NOT_CONVERGED),
                     mark(row["improvement"], row["p_value"])]
        body.append(line)
    return md_table(header, body)


def _by_key(df, dataset, engine, table, metric, models, keys) -> str:
    """Tables 4-7: a row per bucket (or model), a column per model (or rank)."""
    part = select(df, dataset=dataset, engine=engine, table=table, metric=metric)
    present = set(part["key"])

    def text(model, key):
        return _cell_text(select(part, model=model, key=key).iloc[0]) if key in present \
            else "no test sessions"

    if table == "rank":
        header = ["model"] + [f"rank {k}" for k in keys]
        body = [[model_title(m)] + [text(m, k) for k in keys] for m in models]
    else:
        header = ["query frequency"] + [model_title(m) for m in models]
        body = [[k] + [text(m, k) for m in models] for k in keys]
    return md_table(header, body)


def _footnote(df: pd.DataFrame, engine_titles: dict[str, str]) -> str:
    bad = df[~df["converged"].astype(bool)][["dataset", "engine", "model", "iterations"]]
    bad = bad.drop_duplicates()
    if bad.empty:
        return "Every fit in this table converged to its tolerance.\n"
    items = "; ".join(f"{r.dataset} {engine_titles[r.engine]} {model_title(r.model)} "
                      f"({r.iterations} iterations)" for r in bad.itertuples())
    return f"{NOT_CONVERGED} fit stopped at its iteration cap without converging: {items}.\n"


TABLES = (
    ("table2-ll", "Table 2: log-likelihood (higher is better)", "overall", "ll", None),
    ("table3-perplexity", "Table 3: perplexity (lower is better)", "overall", "perplexity",
     None),
    ("table4-ll-by-frequency", "Table 4: log-likelihood by query frequency", "bucket", "ll",
     RARE),
    ("table5-perplexity-by-rank", "Table 5: perplexity by rank (ranks 1-5)", "rank",
     "perplexity", tuple(str(r) for r in range(1, RANKS_SHOWN + 1))),
    ("table6-perplexity-by-frequency", "Table 6: perplexity by query frequency", "bucket",
     "perplexity", RARE),
    ("table7-mrr-by-frequency", "Table 7: MRR by query frequency", "bucket", "mrr", RARE),
)
EXTRA = ("tables4-6-7-frequent-buckets", "Tables 4, 6 and 7 for the buckets of 100 sessions "
         "or more (not in the paper)")


def _legend(metric: str) -> str:
    formula = {
        "ll": "LL: mean log-likelihood of the test clicks per impression (nats); improvement "
              "(LL_new - LL_base) / |LL_base|",
        "perplexity": "perplexity: per-rank mean (PyClick/CLAX definition) of the unconditional "
                      "click probabilities; improvement (p_base - p_new) / (p_base - 1)",
        "mrr": "MRR of the fitted relevance (attraction) against the graded labels, over the "
               "queries of each bucket; improvement (MRR_new - MRR_base) / MRR_base, no test",
    }[metric]
    return (f"{formula}. Improvements in brackets are of each vision model over its base model "
            f"(vUBM over UBM, vPBM over PBM) fitted by the same engine; * marks a positive "
            f"improvement with p < {SIGNIFICANCE} in a paired t-test over test sessions.")


def _sections(df, data, engines, layout, table, metric, keys) -> list[str]:
    out = []
    for d in data:
        out.append(f"## {DATASET_TITLES.get(d.name, d.name)}\n")
        if table == "overall":
            out.append(_overall(df, d.name, metric, layout, engines))
            continue
        for e in engines:
            out.append(f"### {layout.engine_titles[e]}\n")
            out.append(_by_key(df, d.name, e, table, metric, layout.models, keys))
    return out


def write_all(data: Sequence[Dataset], predictions: dict, fits: Sequence[dict],
              engines: Sequence[str], out: Path, layout: Layout,
              intro: str) -> tuple[list[Path], pd.DataFrame]:
    """Every table (Markdown and CSV), Figure 3, fits.csv and an index README, atomically;
    returns the files and the cells."""
    engines = list(engines)
    df = cells(data, predictions, fits, engines, layout)
    files = statistics.write_table1(data, out, DATASET_TITLES)
    for stem, title, table, metric, keys in TABLES:
        part = select(df, table=table, metric=metric)
        if keys is not None:
            part = part[part["key"].isin(keys)]
        sections = [f"# {title}\n\n{_legend(metric)}\n"]
        sections += _sections(df, data, engines, layout, table, metric, keys)
        sections.append(_footnote(part, layout.engine_titles))
        files.append(write_text(out / f"{stem}.md", "\n".join(sections)))
        files.append(write_csv(out / f"{stem}.csv", part))
    extra = df[(df["table"] == "bucket") & df["key"].isin(FREQUENT)]
    sections = [f"# {EXTRA[1]}\n"]
    for metric in ("ll", "perplexity", "mrr"):
        sections.append(f"# {metric_title(metric)}\n\n{_legend(metric)}\n")
        sections += _sections(df, data, engines, layout, "bucket", metric, FREQUENT)
    sections.append(_footnote(extra, layout.engine_titles))
    files.append(write_text(out / f"{EXTRA[0]}.md", "\n".join(sections)))
    files.append(write_csv(out / f"{EXTRA[0]}.csv", extra))
    files.append(figure3(df, [(d.name, d.name) for d in data], engines, layout,
                         out / "figure3-rank-improvement.png"))
    files.append(write_csv(out / "cells.csv", df))
    files.append(write_csv(out / "fits.csv", pd.DataFrame(list(fits))))
    files.append(write_text(out / "README.md", _readme(df, data, engines, layout, intro)))
    return files, df


def _readme(df, data, engines, layout: Layout, intro: str) -> str:
    lines = ["# Vision bias: Xu et al.'s tables on a paper-shaped simulated image search", "",
             intro, "", "Headline (overall test metrics; improvement of each vision model over "
             "its base). The paper's claims, tested per generator and engine: "
             "[claims.md](claims.md).", ""]
    header = ["generator", "engine", "model", "LL", "LL impr.", "perplexity", "perplexity impr."]
    body = []
    for d in data:
        for e in engines:
            for model in layout.base:
                ll = select(df, dataset=d.name, engine=e, table="overall", metric="ll",
                            model=model).iloc[0]
                pp = select(df, dataset=d.name, engine=e, table="overall",
                            metric="perplexity", model=model).iloc[0]
                body.append([d.name, layout.engine_titles[e], model_title(model),
                             f"{ll['value']:.4f}", mark(ll["improvement"], ll["p_value"]),
                             f"{pp['value']:.4f}", mark(pp["improvement"], pp["p_value"])])
    lines.append(md_table(header, body, numeric_from=3))
    lines += [
        "Files: table1-statistics (the log by query frequency, in the paper's columns), "
        "table2-ll and table3-perplexity (overall), table4-ll-by-frequency, "
        "table6-perplexity-by-frequency and table7-mrr-by-frequency (buckets below 100 "
        "sessions, as in the paper), tables4-6-7-frequent-buckets (the other buckets), "
        "table5-perplexity-by-rank (ranks 1-5), figure3-rank-improvement.png (per-rank "
        "perplexity improvement over the base model, the paper's Figure 3), claims.md, "
        "cells.csv (every number, long format, with each fit's iterations and convergence), "
        "fits.csv (every fit: iterations, converged, seconds), run.json (size, wall time, peak "
        "memory). Each table comes as Markdown and CSV.",
        "",
    ]
    return "\n".join(lines)
