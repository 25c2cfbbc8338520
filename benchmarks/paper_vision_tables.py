"""Tables 1-7 and Figure 3 of Xu et al.'s vision-bias paper, from test-set predictions.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmarks import metrics
from clicklog.atomic import atomic_path, atomic_write
from clicklog.sessions import Sessions

if TYPE_CHECKING:
    from benchmarks.paper_vision import Dataset

SIGNIFICANCE = 0.01
RANKS_SHOWN = 5
DATASET_TITLES = {
    "vision": "Simulated image search with vision bias (vision_strength 1)",
    "control": "Control: the same pages without vision bias (sigma_d = 0)",
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


def _groups(d: Dataset) -> list[tuple[str, str, np.ndarray]]:
    """(table, key, test rows) of every breakdown: overall, query-frequency buckets, ranks."""
    out = [("overall", "all", np.arange(d.test.n))]
    bucket = metrics.frequency_bucket(metrics.query_frequency(d.train))[d.test.query]
    for b in np.unique(bucket):
        out.append(("bucket", metrics.bucket_label(int(b)), np.flatnonzero(bucket == b)))
    return out


def cells(
    data: Sequence[Dataset], predictions: dict, engines: Sequence[str], models: Sequence[str],
    base: dict[str, str],
) -> pd.DataFrame:
    """Every number of tables 2-7 and Figure 3, long format: dataset, engine, table, key,
    metric, model, value, improvement (vision models), p_value (where tested)."""
    rows = []
    for d in data:
        measures = []
        for table, key, index in _groups(d):
            part = d.test.subset(index)
            chosen = [("ll", _ll), ("perplexity", _perplexity)]
            if table == "bucket":
                chosen.append(("mrr", _mrr))
            measures += [(table, key, index, part, m, fn) for m, fn in chosen]
        K = int(d.test.length.max())
        everything = np.arange(d.test.n)
        measures += [("rank", str(r + 1), everything, d.test, "perplexity", _rank(r))
                     for r in range(K)]
        for engine in engines:
            for table, key, index, part, metric, fn in measures:
                scored = {}
                for model in models:
                    p = predictions[(d.name, engine, model)]
                    scored[model] = fn(part, Prediction(p.click[index], p.conditional[index],
                                                        p.relevance))
                for model in models:
                    own = scored[model]
                    row = {"dataset": d.name, "engine": engine, "table": table, "key": key,
                           "metric": metric, "model": model, "value": own.value,
                           "improvement": np.nan, "p_value": np.nan}
                    if model in base:
                        ref = scored[base[model]]
                        row["improvement"] = _improvement(metric, ref.value, own.value)
                        if own.per_session is not None:
                            row["p_value"] = metrics.paired_ttest(
                                own.sessions, own.per_session, ref.per_session).p_value
                    rows.append(row)
    return pd.DataFrame(rows)


def _mark(improvement: float, p_value: float) -> str:
    if np.isnan(improvement):
        return ""
    star = "*" if improvement > 0 and p_value < SIGNIFICANCE else ""
    return f"{100 * improvement:+.2f}%{star}"


def _cell_text(row: pd.Series, digits: int = 4) -> str:
    if np.isnan(row["value"]):
        return ""
    text = f"{row['value']:.{digits}f}"
    mark = _mark(row["improvement"], row["p_value"])
    return f"{text} ({mark})" if mark else text


def _md(header: Sequence[str], body: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < numeric_from else "---:" for i in range(len(header)))
             + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _select(df: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(df), bool)
    for column, value in where.items():
        mask &= (df[column] == value).to_numpy()
    return df[mask]


def _models_by_engine(df, dataset, metric, models, engines, engine_titles) -> str:
    """Tables 2 and 3: a row per model, a (value, improvement) column pair per engine."""
    header = ["model"] + [f"{engine_titles[e]} {h}" for e in engines
                          for h in (metric_title(metric), "impr.")]
    body = []
    for model in models:
        line = [model_title(model)]
        for e in engines:
            row = _select(df, dataset=dataset, engine=e, table="overall", metric=metric,
                          model=model).iloc[0]
            line += [f"{row['value']:.4f}", _mark(row["improvement"], row["p_value"])]
        body.append(line)
    return _md(header, body)


def _keys_by_model(df, dataset, engine, table, metric, models, keys) -> str:
    """Tables 4-7: a row per bucket (or model), a column per model (or rank)."""
    part = _select(df, dataset=dataset, engine=engine, table=table, metric=metric)
    if table == "rank":
        header = ["model"] + [f"rank {k}" for k in keys]
        body = [[model_title(m)] + [_cell_text(_select(part, model=m, key=k).iloc[0])
                                    for k in keys] for m in models]
    else:
        header = ["query frequency"] + [model_title(m) for m in models]
        body = [[k] + [_cell_text(_select(part, model=m, key=k).iloc[0]) for m in models]
                for k in keys]
    return _md(header, body)


def metric_title(metric: str) -> str:
    return {"ll": "LL", "perplexity": "perplexity", "mrr": "MRR"}[metric]


def model_title(model: str) -> str:
    """The paper's spelling: UBM, vUBM-1, ..."""
    return "v" + model[1:].upper() if model.startswith("v") else model.upper()


def statistics(data: Sequence[Dataset]) -> pd.DataFrame:
    """Table 1: queries and sessions per query-frequency bucket, and each dataset's CTR."""
    first = data[0]
    frequency = metrics.query_frequency(first.train)
    bucket_of_query = metrics.frequency_bucket(frequency)
    train_bucket = bucket_of_query[first.train.query]
    test_bucket = bucket_of_query[first.test.query]
    rows = []
    for b in sorted(set(bucket_of_query[frequency > 0])):
        row = {"bucket": metrics.bucket_label(int(b)),
               "queries": int(np.sum(bucket_of_query == b)),
               "train_sessions": int(np.sum(train_bucket == b)),
               "test_sessions": int(np.sum(test_bucket == b))}
        for d in data:
            part = d.train.subset(train_bucket == b)
            row[f"ctr_{d.name}"] = float(part.click.sum() / part.mask.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _statistics_md(data: Sequence[Dataset], df: pd.DataFrame) -> str:
    header = ["query frequency", "queries", "train sessions", "test sessions"] + [
        f"CTR ({d.name})" for d in data]
    body = [[r["bucket"], str(r["queries"]), str(r["train_sessions"]), str(r["test_sessions"])]
            + [f"{r[f'ctr_{d.name}']:.4f}" for d in data] for _, r in df.iterrows()]
    d = data[0]
    shown = np.zeros(d.train.n_docs, bool)
    shown[d.train.doc[d.train.mask]] = True
    in_test = np.zeros(d.train.n_docs, bool)
    in_test[d.test.doc[d.test.mask]] = True
    queries = int(np.sum(metrics.query_frequency(d.train) > 0))
    totals = _md(["", "value"], [
        ["training / test sessions", f"{d.train.n:,} / {d.test.n:,}"],
        ["queries with training sessions", f"{queries:,}"],
        ["documents (with features)", f"{d.train.n_docs:,}"],
        ["documents shown in training", f"{int(shown.sum()):,}"],
        ["test documents never shown in training", f"{int(np.sum(in_test & ~shown)):,}"],
        ["query-document pairs", f"{d.train.n_qd:,}"],
        ["features per document", str(d.train.doc_features.shape[1])],
        ["results per page", str(d.train.K)],
    ])
    return _md(header, body) + "\n" + totals


TABLES = (
    ("table2-ll", "Table 2: log-likelihood (higher is better)", "overall", "ll"),
    ("table3-perplexity", "Table 3: perplexity (lower is better)", "overall", "perplexity"),
    ("table4-ll-by-frequency", "Table 4: log-likelihood by query frequency", "bucket", "ll"),
    ("table5-perplexity-by-frequency", "Table 5: perplexity by query frequency", "bucket",
     "perplexity"),
    ("table6-perplexity-by-rank", "Table 6: perplexity by rank (ranks 1-5)", "rank",
     "perplexity"),
    ("table7-mrr-by-frequency", "Table 7: MRR by query frequency", "bucket", "mrr"),
)


def _write_text(path: Path, text: str) -> Path:
    with atomic_write(path) as f:
        f.write(text)
    return path


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    with atomic_write(path) as f:
        df.to_csv(f, index=False, float_format="%.10g")
    return path


def figure3(df: pd.DataFrame, data: Sequence[Dataset], engines: Sequence[str],
            engine_titles: dict[str, str], base: dict[str, str], path: Path) -> Path:
    """Per-rank perplexity improvement of each vision model over its base, a panel per
    (dataset, engine)."""
    fig = Figure(figsize=(4.2 * len(engines), 3.2 * len(data)), layout="constrained")
    axes = fig.subplots(len(data), len(engines), squeeze=False, sharey="row")
    styles = {"vubm-1": ("#1f77b4", "--"), "vubm-2": ("#1f77b4", "-"),
              "vpbm-1": ("#d62728", "--"), "vpbm-2": ("#d62728", "-")}
    for i, d in enumerate(data):
        for j, engine in enumerate(engines):
            ax = axes[i, j]
            part = _select(df, dataset=d.name, engine=engine, table="rank")
            for model in base:
                rows = _select(part, model=model)
                ranks = rows["key"].astype(int).to_numpy()
                color, line = styles[model]
                ax.plot(ranks, 100 * rows["improvement"].to_numpy(), color=color,
                        linestyle=line, marker="o", markersize=3, label=model_title(model))
            ax.axhline(0.0, color="#7f7f7f", linewidth=0.8)
            ax.set_title(f"{engine_titles[engine]}\n{d.name}", fontsize=9)
            ax.set_xlabel("rank")
            if j == 0:
                ax.set_ylabel("perplexity improvement (%)")
    axes[0, 0].legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


class Layout(NamedTuple):
    """What the protocol fixes: model order, base of each vision model, engine titles."""

    models: tuple[str, ...]
    base: dict[str, str]
    engine_titles: dict[str, str]


def write_all(data: Sequence[Dataset], predictions: dict, engines: Sequence[str], out: Path,
              layout: Layout, intro: str) -> list[Path]:
    """Every table (Markdown and CSV), Figure 3 and an index README (`intro`, then the
    headline numbers), atomically."""
    MODELS, BASE, ENGINES = layout  # noqa: N806 - the protocol's constants, named as there
    engines = list(engines)
    df = cells(data, predictions, engines, MODELS, BASE)
    files = []
    stats = statistics(data)
    files.append(_write_csv(out / "table1-statistics.csv", stats))
    files.append(_write_text(out / "table1-statistics.md", "# Table 1: dataset statistics\n\n"
                             + _statistics_md(data, stats)))
    for stem, title, table, metric in TABLES:
        sections = [f"# {title}\n\n{_legend(metric)}\n"]
        for d in data:
            sections.append(f"## {DATASET_TITLES.get(d.name, d.name)}\n")
            if table == "overall":
                sections.append(_models_by_engine(df, d.name, metric, MODELS, engines, ENGINES))
                continue
            keys = _keys(df, d.name, table, metric)
            for e in engines:
                sections.append(f"### {ENGINES[e]}\n")
                sections.append(_keys_by_model(df, d.name, e, table, metric, MODELS, keys))
        files.append(_write_text(out / f"{stem}.md", "\n".join(sections)))
        selected = _select(df, table=table, metric=metric)
        if table == "rank":
            selected = selected[selected["key"].astype(int) <= RANKS_SHOWN]
        files.append(_write_csv(out / f"{stem}.csv", selected))
    files.append(figure3(df, data, engines, ENGINES, BASE, out / "figure3-rank-improvement.png"))
    files.append(_write_csv(out / "cells.csv", df))
    files.append(_write_text(out / "README.md", _readme(df, data, engines, ENGINES, intro)))
    return files


def _keys(df: pd.DataFrame, dataset: str, table: str, metric: str) -> list[str]:
    keys = list(dict.fromkeys(_select(df, dataset=dataset, table=table, metric=metric)["key"]))
    if table == "rank":
        return [k for k in keys if int(k) <= RANKS_SHOWN]
    order = {label: i for i, label in enumerate((metrics.UNSEEN_LABEL,)
                                                + metrics.FREQUENCY_LABELS)}
    return sorted(keys, key=order.__getitem__)


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


def _readme(df, data, engines, engine_titles, intro: str) -> str:
    lines = [
        "# Vision bias: Xu et al.'s tables on simulated image search",
        "",
        intro,
        "",
        "Headline (overall test metrics; improvement of each vision model over its base):",
        "",
    ]
    header = ["dataset", "engine", "model", "LL", "LL impr.", "perplexity", "perplexity impr."]
    body = []
    for d in data:
        for e in engines:
            for model in ("vubm-1", "vubm-2", "vpbm-1", "vpbm-2"):
                ll = _select(df, dataset=d.name, engine=e, table="overall", metric="ll",
                             model=model).iloc[0]
                pp = _select(df, dataset=d.name, engine=e, table="overall",
                             metric="perplexity", model=model).iloc[0]
                body.append([d.name, engine_titles[e], model_title(model), f"{ll['value']:.4f}",
                             _mark(ll["improvement"], ll["p_value"]), f"{pp['value']:.4f}",
                             _mark(pp["improvement"], pp["p_value"])])
    lines.append(_md(header, body, numeric_from=3))
    lines += [
        "Files: table1-statistics (dataset statistics by query frequency), table2-ll and "
        "table3-perplexity (overall, with improvements), table4/5 (LL and perplexity by query "
        "frequency), table6 (perplexity at ranks 1-5), table7 (MRR by query frequency), "
        "figure3-rank-improvement.png (per-rank perplexity improvement, the paper's Figure 3), "
        "cells.csv (every number, long format). Each table comes as Markdown and CSV.",
        "",
        "Notes: in vX-1 (eq. 15) the click probability a * gamma * sigma_d only identifies the "
        "product of attraction and sigma_d, so its gain over X comes from sharing sigma_d "
        "across a document's queries (and, with the MLP, across documents) under the prior; "
        "vX-2 (eq. 4) changes the shape of examination over ranks, which the data can confirm. "
        "Regression-based EM and gradient descent both fit sigma_d through the MLP; standard EM "
        "fits one sigma_d per document, so documents never shown in training keep the prior's "
        "mode.",
        "",
        "In the control the vision models have nothing to find. Standard EM's vX-2 even loses "
        "there: its Beta(2, 2) prior on every sigma_d pulls each one towards 1/2 where the truth "
        "is 0, which adds examination the clicks do not have; the MLP's sigma_d carries no "
        "prior and loses little. The small gains of vX-1 in the control are the prior's too "
        "(attraction times sigma_d shrinks rare pairs towards another value than attraction "
        "alone), not vision bias.",
        "",
    ]
    return "\n".join(lines)
