"""Tables, claims and figure of the ranking benchmark (benchmarks.bench.ranking), from records.

    ranking.md / ranking.csv   every method's nDCG@5, nDCG@10 and MRR overall and by impression
                               bucket: the cross table (the DBN log, every model) and the own
                               table (each generator's log, its own model), baselines on each
                               log; the CSV is long (one row per log, method and bucket)
    ranking-claims.md / .csv   the issue's claims checked against the numbers
    figures/ranking-by-impressions.png   nDCG@10 by impression bucket on the DBN log, a panel
                               per prior, a line per model (EM) and per baseline
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmarks.bench import engines, figures, ranking, ranking_data, tables
from benchmarks.bench.ranking import IMPRESSION_BUCKETS, METRICS, PRIOR_NAMES, RankingJob
from benchmarks.bench.tables import Column, fixed, plain
from benchmarks.simulate.letor import LABEL_ATTRACTION, LABEL_SATISFACTION
from clicklog import catalogue
from clicklog.atomic import atomic_write
from clicklog.sessions import Sessions

Files = list[tuple[str, str]]
BUCKET_LABELS = tuple(b[0] for b in IMPRESSION_BUCKETS)
SHOWN_BUCKETS = ("1-3", "4-10", "11-100", ">100")
CLAIM_BUCKET = "1-10"
CLAIM_METRIC = "ndcg10"


def score_rows(jobs: Sequence[RankingJob], records: dict[str, dict],
               logs: dict[str, Sessions]) -> pd.DataFrame:
    """One row per (log, method, bucket): metrics, queries and pairs scored. Methods are the
    own and cross jobs' fits and, on each log, the baselines."""
    rows = []
    own = {(j.spec.name, j.model) for j in jobs if j.model == j.spec.generator}
    for job in jobs:
        rec = records[job.key]
        kind = "own" if (job.spec.name, job.model) in own else ""
        tables_of = [t for t, ok in (("own", kind == "own"),
                                     ("cross", job.spec.generator == ranking.CROSS_GENERATOR))
                     if ok]
        if not tables_of:  # a PBM fit that only gives its log's COEC its examination
            continue
        scores = ranking.evaluate(logs[job.spec.name], ranking.relevance_of(rec))
        for table in tables_of:
            rows += _rows(table, job.spec.generator, job.model, job.prior, job.engine, scores,
                          rec["fit_seconds"], rec["converged"])
    for name, sessions in logs.items():
        generator = name.split("-", 1)[1]
        coec = next(records[j.key] for j in jobs if j.spec.name == name and j.model == "pbm"
                    and j.engine == "em" and j.prior == ranking.COEC_PRIOR)
        for method, score in ranking.baseline_scores(sessions, coec["examination"]).items():
            scores = ranking.evaluate(sessions, score)
            for table in ("own", "cross"):
                if table == "own" or generator == ranking.CROSS_GENERATOR:
                    rows += _rows(table, generator, method, "", "", scores, np.nan, True)
    return pd.DataFrame(rows)


def _rows(table, generator, method, prior, engine, scores, seconds, converged) -> list[dict]:
    return [{"table": table, "generator": generator, "method": method, "prior": prior,
             "engine": engine, "bucket": bucket, **{m: scores[bucket][m] for m in METRICS},
             "queries": scores[bucket]["queries"], "pairs": scores[bucket]["pairs"],
             "fit_seconds": seconds, "converged": converged} for bucket in BUCKET_LABELS]


def wide(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """One row per method: overall nDCG@5, nDCG@10, MRR, then nDCG@10 per shown bucket."""
    part = df[df.table == table]
    keys = ["generator", "method", "prior", "engine"]
    overall = part[part.bucket == "all"].set_index(keys)[["ndcg5", "ndcg10", "mrr",
                                                          "fit_seconds"]]
    per = part[part.bucket.isin(SHOWN_BUCKETS + (CLAIM_BUCKET,))].pivot_table(
        index=keys, columns="bucket", values="ndcg10", dropna=False)
    per = per[[b for b in SHOWN_BUCKETS + (CLAIM_BUCKET,) if b in per.columns]]
    per.columns = [f"ndcg10_{b}" for b in per.columns]
    out = overall.join(per).reset_index()
    out["prior"] = out["prior"].map(lambda p: PRIOR_NAMES.get(p, ""))
    order = {m: i for i, m in enumerate(tables.model_order(out.method.unique()))}
    out["_m"] = out.method.map(lambda m: order.get(m, 100 + ranking.BASELINES.index(m)
                                                  if m in ranking.BASELINES else 99))
    out["_p"] = out.prior.map({v: i for i, v in enumerate(PRIOR_NAMES.values())}).fillna(9)
    out = out.sort_values(["generator", "_m", "_p", "engine"]).drop(columns=["_m", "_p"])
    return out.reset_index(drop=True)


def _columns(with_generator: bool) -> list[Column]:
    cols = [Column("generator", "generator", plain, numeric=False)] if with_generator else []
    cols += [Column("method", "method", plain, numeric=False),
             Column("prior", "prior", plain, numeric=False),
             Column("engine", "engine", plain, numeric=False),
             Column("ndcg5", "nDCG@5", fixed(4)), Column("ndcg10", "nDCG@10", fixed(4)),
             Column("mrr", "MRR", fixed(4))]
    cols += [Column(f"ndcg10_{b}", f"nDCG@10, {b} imp.", fixed(4))
             for b in SHOWN_BUCKETS + (CLAIM_BUCKET,)]
    return cols + [Column("fit_seconds", "fit (s)", tables.duration)]


def _score(df: pd.DataFrame, table: str, generator: str, method: str, prior: str, engine: str,
           bucket: str, metric: str) -> float:
    hit = df[(df.table == table) & (df.generator == generator) & (df.method == method)
             & (df.prior == prior) & (df.engine == engine) & (df.bucket == bucket)]
    return float(hit[metric].iloc[0]) if len(hit) else float("nan")


def _empirical_engines() -> list[str]:
    return [e for e in ranking.ENGINES if "empirical" in ranking.ENGINE_PRIORS[e]]


def claims(df: pd.DataFrame) -> pd.DataFrame:
    """The issue's claims, one row each, with the numbers that decide them."""
    rows = []
    for table in ("own", "cross"):
        for model in ranking.CASCADE_MODELS:
            generator = model if table == "own" else ranking.CROSS_GENERATOR
            for engine in _empirical_engines():
                s = {p: _score(df, table, generator, model, p, engine, CLAIM_BUCKET,
                               CLAIM_METRIC) for p in ranking.PRIORS}
                if all(np.isnan(v) for v in s.values()):
                    continue
                holds = s["empirical"] >= max(s["beta22"], s["none"])
                rows.append({
                    "claim": f"{model}: empirical >= Beta(2, 2) and none, nDCG@10 on pairs "
                             f"shown 1-10 times",
                    "table": table, "generator": generator, "engine": engine,
                    "empirical": s["empirical"], "other": max(s["beta22"], s["none"]),
                    "detail": f"Beta(2, 2) {s['beta22']:.4f}, none {s['none']:.4f}",
                    "holds": None if np.isnan(s["empirical"]) else bool(holds)})
    for bucket in ("all", CLAIM_BUCKET):
        for engine in _empirical_engines():
            dbn = _score(df, "cross", "dbn", "dbn", "empirical", engine, bucket, CLAIM_METRIC)
            ctr = _score(df, "cross", "dbn", "ctr", "", "", bucket, CLAIM_METRIC)
            skip = _score(df, "cross", "dbn", "skip-above", "", "", bucket, CLAIM_METRIC)
            rows.append({
                "claim": f"dbn (empirical) beats raw CTR and skip-above, nDCG@10, "
                         f"{'all pairs' if bucket == 'all' else 'pairs shown 1-10 times'}",
                "table": "cross", "generator": "dbn", "engine": engine, "empirical": dbn,
                "other": max(ctr, skip), "detail": f"CTR {ctr:.4f}, skip-above {skip:.4f}",
                "holds": None if np.isnan(dbn) else bool(dbn > max(ctr, skip))})
    return pd.DataFrame(rows)


CLAIM_COLUMNS = (
    Column("claim", "claim", plain, numeric=False),
    Column("table", "table", plain, numeric=False),
    Column("engine", "engine", plain, numeric=False),
    Column("empirical", "empirical prior", fixed(4)),
    Column("other", "best other", fixed(4)),
    Column("detail", "others", plain, numeric=False),
    Column("holds", "holds", lambda v: "not run" if v is None or v != v else plain(v),
           numeric=False),
)


def figure(df: pd.DataFrame, path: Path) -> None:
    """nDCG@10 by impression bucket on the DBN log: a panel per prior, a line per model (EM)
    and per baseline (grey, dashed)."""
    part = df[(df.table == "cross") & df.bucket.isin(SHOWN_BUCKETS)]
    priors = [p for p in ranking.PRIORS if (part.prior == p).any()]
    fig = Figure(figsize=(4.6 * max(1, len(priors)), 4.2), layout="constrained")
    axes = fig.subplots(1, max(1, len(priors)), squeeze=False, sharey=True)[0]
    x = np.arange(len(SHOWN_BUCKETS))
    baselines = part[part.method.isin(ranking.BASELINES)]
    for ax, prior in zip(axes, priors, strict=False):
        fits = part[(part.prior == prior) & (part.engine == "em")]
        for model in tables.model_order(fits.method.unique()):
            y = fits[fits.method == model].set_index("bucket").ndcg10.reindex(SHOWN_BUCKETS)
            ax.plot(x, y.to_numpy(), marker="o", label=model, **figures._model_line(model))
        for i, method in enumerate(ranking.BASELINES):
            y = baselines[baselines.method == method].set_index("bucket").ndcg10
            ax.plot(x, y.reindex(SHOWN_BUCKETS).to_numpy(), color="0.35", linestyle="--",
                    marker="xv+D"[i], markerfacecolor="none", label=method)
        ax.set_xticks(x, SHOWN_BUCKETS)
        ax.set_xlabel("impressions of the pair in the log")
        ax.set_title(f"prior {PRIOR_NAMES[prior]} (EM)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("nDCG@10 against the MQ2008 labels")
    axes[-1].legend(fontsize=7, ncol=2, loc="lower right")
    fig.suptitle("Ranking by exported relevance, DBN-generated clicks on MQ2008")
    figures.save(fig, path)


def log_rows(logs: dict[str, Sessions]) -> pd.DataFrame:
    """Per log: sessions, shown pairs and their split over the impression buckets."""
    rows = []
    for name, s in logs.items():
        counts = ranking.metrics.qd_counts(s)
        row = {"log": name, "sessions": s.total_weight, "shown_pairs": int((counts > 0).sum())}
        for label, low, high in IMPRESSION_BUCKETS[1:5]:
            row[f"pairs_{label}"] = int(((counts >= low) & (counts <= high)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(df: pd.DataFrame, columns: Sequence[Column]) -> str:
    return tables.markdown(df[[c.name for c in columns]], columns)


def write(jobs: Sequence[RankingJob], records: dict[str, dict], logs: dict[str, Sessions],
          out: Path, legend: str) -> Files:
    """Write every ranking file atomically; (file, what it shows) pairs."""
    df = score_rows(jobs, records, logs)
    claim = claims(df)
    stats = log_rows(logs)
    with atomic_write(out / "ranking.csv") as f:
        df.to_csv(f, index=False, float_format="%.10g")
    with atomic_write(out / "ranking-claims.csv") as f:
        claim.to_csv(f, index=False, float_format="%.10g")
    stat_cols = [Column("log", "log", plain, numeric=False), Column("sessions", "sessions",
                 fixed(0)), Column("shown_pairs", "shown pairs", plain)]
    stat_cols += [Column(f"pairs_{b}", f"pairs shown {b}", plain) for b in SHOWN_BUCKETS]
    text = (f"# Ranking against graded labels (MQ2008)\n\n{legend}\n\n"
            "## Claims\n\n" + _markdown(claim, CLAIM_COLUMNS)
            + "\n## DBN log, every model (cross table)\n\n"
            + _markdown(wide(df, "cross"), _columns(False))
            + "\n## Each generator's log, its own model (own table)\n\n"
            + _markdown(wide(df, "own"), _columns(True))
            + "\n## The logs\n\n" + _markdown(stats, stat_cols))
    with atomic_write(out / "ranking.md") as f:
        f.write(text)
    figure(df, out / "figures" / "ranking-by-impressions.png")
    return [
        ("ranking.md", "ranking against MQ2008's graded labels: nDCG@5/@10 and MRR of every "
         "model, prior and engine and of the baselines, overall and by impressions, claims"),
        ("ranking.csv", "the scores of ranking.md at full precision, one row per log, method "
         "and impression bucket (CSV)"),
        ("ranking-claims.csv", "the ranking claims of ranking.md at full precision (CSV)"),
        ("figures/ranking-by-impressions.png", "nDCG@10 by impression bucket on the DBN log, "
         "a panel per prior, a line per model and baseline"),
    ]


LEGEND = (
    "Clicks simulated on MQ2008 (156 + 157 queries, graded labels 0/1/2) by each generator: "
    "attraction {a} by label (DBN/SDBN satisfaction {s}), a noisy production ranker, Zipf query "
    "frequencies over a random query order ({n:,} sessions per log, seed {seed}). Each method's "
    "per-pair score (a fit's exported relevance, the `relevance` of `clickfit fit --out`, or a "
    "baseline) re-ranks every query's shown documents; nDCG@k and MRR against the labels "
    "(benchmarks.metrics.ndcg_at_k, mrr; gain 2^label - 1, ties by their expectation), mean "
    "over queries whose candidates carry two or more different labels. Bucket columns rank only "
    "the pairs shown that many times in the log. Baselines: ctr = clicks / impressions (every "
    "unclicked result a negative), coec = clicks / PBM-expected clicks, skip-above = clicked "
    "positive, unclicked above the last click negative, below ignored, shown-order = the "
    "production ranker's mean position. Priors: Beta(2, 2) fixed, none (maximum likelihood), "
    "empirical (one Beta per parameter family by type-II maximum likelihood), each by EM and "
    "L-BFGS in the cross table. Own table: EM (L-BFGS reaches the same optima, as the cross "
    "table shows, and would add three fits per log; its DBN rows are the cross table's). "
    "Written by `clickfit bench --datasets ranking`."
)


def run(path: Path, out: Path, cache_dir: Path, size: str = "default",
        models: Sequence[str] = catalogue.MODELS,
        engine_names: Sequence[str] = ranking.ENGINES,
        priors: Sequence[str] = tuple(ranking.PRIORS),
        fit_fn: ranking.FitFunction = engines.fit,
        progress: bool = True) -> tuple[Files, int, int]:
    """Plan, fit what the cache lacks, write the ranking files; (files, fits run, cached)."""
    jobs = ranking.plan(path, size, models, engine_names, priors)
    records, logs, fitted = ranking.execute(jobs, path, cache_dir, fit_fn, progress)
    size_ = ranking_data.SIZES[size]
    legend = LEGEND.format(a=LABEL_ATTRACTION, s=LABEL_SATISFACTION,
                           n=size_.n_sessions, seed=ranking_data.SEED)
    files = write(jobs, records, logs, out, legend)
    return files, fitted, len(jobs) - fitted


def run_in_bench(options) -> tuple[Files, int, int]:
    """`clickfit bench`'s ranking part for a runner.Options (its data_dir, results_dir,
    cache_dir, size, models, engines, progress): nothing unless "ranking" is among its
    datasets; a missing MQ2008 sample skips it, or is an error when ranking was asked for
    by name (options.require_ranking) or --data was given."""
    if ranking_data.RANKING not in options.datasets:
        return [], 0, 0
    path = ranking_data.mq2008_dir(options.data_dir)
    if path is None:
        if options.require_ranking or options.data_dir:
            raise FileNotFoundError(f"--datasets ranking: no {ranking_data.MQ2008}/ under the "
                                    "shared data directory; pass --data DIR or set "
                                    "CLICKFIT_DATA")
        return [], 0, 0
    models = [m for m in options.models if m in catalogue.MODELS]
    engine_names = [e for e in options.engines if e in ranking.ENGINES]
    if not models or not engine_names:
        return [], 0, 0
    return run(path, Path(options.results_dir), Path(options.cache_dir), options.size, models,
               engine_names, progress=options.progress)
