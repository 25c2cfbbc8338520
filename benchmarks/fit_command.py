"""`clickfit fit`: fit one click model to a log and write relevance labels for learning to rank.

    clickfit fit --model M --engine E --data PATH --out PATH [--params PATH] [--format F]
                 [--prior A B | --no-prior]

--out gets one row per (query, document) pair shown in the log, grouped by query, most
relevant first: `query`, `doc` (the log's original ids), `relevance` (the model's relevance
estimate, `Fit.relevance` as the catalogue defines it: attraction, attraction * satisfaction
for DBN/SDBN, the click rate for the CTR models; for RCTR the mean over the pair's
impressions), `impressions` and `clicks` (weighted counts over the log's real ranks). CSV or
TSV by the name's extension (.csv, else tab-separated), or Parquet (.parquet).

--params gets every fitted parameter as JSON: per parameter what it is keyed on and its values
(per-pair parameters with their query and document ids; per-rank ones in rank order, rank 1
first; UBM's examination as rows r = rank, columns j = last clicked rank + 1, j = 0 for no click
above), plus the model, engine, settings and training objective.

The log is deduplicated before fitting (identical sessions become one weighted row); every
engine honours weights, so the fit and the counts are those of the full log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import metrics
from benchmarks.bench import engines
from clicklog import catalogue
from clicklog.atomic import atomic_path, atomic_write
from clicklog.dedup import dedup
from clicklog.fit import Fit
from clicklog.formats import FORMATS
from clicklog.readers import read
from clicklog.sessions import Sessions

LABEL_COLUMNS = ("query", "doc", "relevance", "impressions", "clicks")


def labels(fit: Fit, sessions: Sessions) -> pd.DataFrame:
    """Per shown (query, document) pair: ids, relevance, weighted impressions and clicks."""
    relevance = metrics.per_qd(sessions, fit.relevance(sessions))
    impressions = metrics.qd_counts(sessions)
    mask = sessions.click & sessions.mask
    w = np.broadcast_to(sessions.weight.astype(np.float64)[:, None], mask.shape)[mask]
    clicks = np.bincount(sessions.qd[mask], weights=w, minlength=sessions.n_qd)
    shown = np.flatnonzero(impressions > 0)
    order = np.lexsort((-relevance[shown], sessions.qd_query[shown]))
    qd = shown[order]
    return pd.DataFrame({
        "query": sessions.query_ids[sessions.qd_query[qd]],
        "doc": sessions.doc_ids[sessions.qd_doc[qd]],
        "relevance": relevance[qd],
        "impressions": impressions[qd],
        "clicks": clicks[qd],
    }, columns=LABEL_COLUMNS)


def write_labels(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Atomically, as Parquet for a .parquet name, else CSV (.csv) or TSV."""
    name = os.fspath(path).lower()
    if name.endswith(".parquet"):
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        return
    with atomic_write(path) as f:
        df.to_csv(f, sep="," if name.endswith(".csv") else "\t", index=False,
                  float_format="%.10g")


def parameters_json(fit: Fit, sessions: Sessions, engine: str, settings: dict) -> dict:
    """Every fitted parameter with the ids it is keyed on, and how the fit was made."""
    out = {}
    for name, kind in catalogue.parameters(fit.model).items():
        value = np.asarray(fit.params[name], dtype=np.float64)
        entry: dict = {"keyed_on": kind}
        if kind == "qd":
            entry["query"] = sessions.query_ids[sessions.qd_query].tolist()
            entry["doc"] = sessions.doc_ids[sessions.qd_doc].tolist()
        elif kind == "doc":
            entry["doc"] = sessions.doc_ids.tolist()
        entry["value"] = value.tolist()
        out[name] = entry
    return {
        "model": fit.model,
        "engine": engine,
        "settings": settings,
        "objective_per_impression": fit.objective(sessions),
        "iterations": fit.iterations,
        "converged": bool(fit.converged),
        "parameters": out,
    }


def run(args: argparse.Namespace) -> int:
    prior = None if args.no_prior else tuple(args.prior)
    settings = engines.settings(args.engine, prior)
    if not engines.runs(args.engine, args.model):
        print(f"clickfit fit: {args.model} is fitted by the em engine only", file=sys.stderr)
        return 2
    started = time.perf_counter()
    sessions = dedup(read(args.data, args.format))
    fit = engines.fit(args.engine, args.model, sessions, settings)
    write_labels(labels(fit, sessions), args.out)
    if args.params:
        with atomic_write(args.params) as f:
            json.dump(parameters_json(fit, sessions, args.engine, settings), f, indent=1)
    print(f"clickfit fit: {args.model} by {args.engine} on {sessions.total_weight:,.0f} sessions "
          f"({sessions.n:,} distinct), {fit.iterations} iterations, objective "
          f"{fit.objective(sessions):.5f} nats per impression, "
          f"{time.perf_counter() - started:.1f} s; wrote {args.out}", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit", help="fit one model; write per (query, document) relevance labels",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model", required=True, type=str.lower,
                   choices=engines.DEFAULT_MODELS, help="the click model")
    p.add_argument("--engine", default=engines.EM, choices=engines.ENGINES,
                   help="the engine (default: em)")
    p.add_argument("--data", required=True, type=Path, help="the click log to fit")
    p.add_argument("--format", choices=FORMATS, help="the log's format (default: sniffed)")
    p.add_argument("--out", required=True, type=Path,
                   help="relevance labels: .csv, .tsv or .parquet")
    p.add_argument("--params", type=Path, help="also write every fitted parameter (JSON)")
    p.add_argument("--prior", type=float, nargs=2, metavar=("A", "B"),
                   default=engines.DEFAULT_PRIOR, help="Beta(A, B) prior (default: 2 2)")
    p.add_argument("--no-prior", action="store_true", help="maximum likelihood, no prior")
    p.set_defaults(func=run)
