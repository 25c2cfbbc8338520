"""`clickfit fit`: fit one click model to a log and write relevance labels for learning to rank.

    clickfit fit --model M --engine E --data PATH --out PATH [--params PATH] [--format F]
                 [--prior A B | --prior empirical | --no-prior] [--source PARAM=KIND[:OPT=V,...]]
                 [--save-model PATH]
                 [--max-iter N] [--tol T]
                 [--learning-rate R] [--batch-size B] [--epochs E] [--no-progress]

--out gets one row per (query, document) pair shown in the log, grouped by query, most
relevant first: `query`, `doc` (the log's original ids), `relevance` (the model's relevance
estimate, `Fit.relevance` as the catalogue defines it: attraction, attraction * satisfaction
for DBN/SDBN, the click rate for the CTR models; for RCTR the mean over the pair's
impressions), `relevance_low` and `relevance_high` (a central 90% interval of the relevance
under the Beta posterior of its parameters at the fit, benchmarks/intervals.py; Monte Carlo,
seeded, for DBN/SDBN's product), `impressions` and `clicks` (weighted counts over the log's
real ranks) and `examinations` (the pair's expected number of examinations at the fit). CSV,
TSV or Parquet by the name's extension (.csv, .tsv, .parquet; any other is an error).

--params gets every fitted parameter as JSON: per parameter what it is keyed on and its values
(per-pair parameters with their query and document ids; per-rank ones in rank order, rank 1
first; UBM's examination as rows r = rank, columns j = last clicked rank + 1, j = 0 for no click
above), plus the model, engine, settings and training objective.

--save-model writes the fitted model (clicklog.model_file: parameters by original ids, model,
engine, prior, settings, clickfit version) for `clickfit predict` and em.load / gradient.load.

The log is deduplicated before fitting (identical sessions become one weighted row); every
engine honours weights, so the fit and the counts are those of the full log. The fit stops by
the rule em.fit and gradient.fit use by default (clicklog.defaults; --max-iter, --tol), shows
a progress bar once it runs for more than a second, and says on the terminal when it stopped
without converging, and what to change.
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

from benchmarks import fit_options, metrics
from benchmarks.bench import engines
from benchmarks.data_commands import add_log_arguments, log_options
from benchmarks.intervals import relevance_intervals
from benchmarks.prior_option import add_prior_option
from clicklog import catalogue, network
from clicklog.atomic import atomic_path, atomic_write
from clicklog.dedup import dedup
from clicklog.fit import Fit
from clicklog.formats import FORMATS
from clicklog.readers import read
from clicklog.sessions import Sessions

LABEL_COLUMNS = ("query", "doc", "relevance", "relevance_low", "relevance_high", "impressions",
                 "examinations", "clicks")
TABLE_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


def table_format(path: str | os.PathLike, option: str = "--out") -> str:
    """"csv", "tsv" or "parquet" from `path`'s extension; ValueError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_EXTENSIONS:
        raise ValueError(f"{option} {os.fspath(path)}: unknown extension {suffix or '(none)'!r}; "
                         f"use one of {', '.join(TABLE_EXTENSIONS)}")
    return TABLE_EXTENSIONS[suffix]


def labels(fit: Fit, sessions: Sessions) -> pd.DataFrame:
    """Per shown (query, document) pair: ids, relevance and its 90% interval, weighted
    impressions, expected examinations and clicks."""
    relevance = metrics.per_qd(sessions, fit.relevance(sessions))
    bounds = relevance_intervals(fit, sessions)
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
        "relevance_low": bounds["relevance_low"][qd],
        "relevance_high": bounds["relevance_high"][qd],
        "impressions": impressions[qd],
        "examinations": bounds["examinations"][qd],
        "clicks": clicks[qd],
    }, columns=LABEL_COLUMNS)


def write_labels(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Atomically, as Parquet (.parquet), CSV (.csv) or TSV (.tsv); ValueError for another
    extension."""
    kind = table_format(path)
    if kind == "parquet":
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        return
    with atomic_write(path) as f:
        df.to_csv(f, sep="," if kind == "csv" else "\t", index=False, float_format="%.10g")


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
        "log_likelihood_per_impression": log_likelihood(fit, sessions),
        "iterations": fit.iterations,
        "converged": bool(fit.converged),
        "parameters": out,
    }


def log_likelihood(fit: Fit, sessions: Sessions) -> float:
    """The clicks' log-likelihood per impression under the fit (benchmarks.metrics'), beside
    the objective, which under a learned prior holds Beta log densities that can put it above
    zero."""
    return metrics.log_likelihood(sessions, fit.conditional_click_probs(sessions))


ACCELERATE: dict[str, str | bool] = {"anderson": "anderson", "squarem": "squarem", "none": False}


def run(args: argparse.Namespace) -> int:
    prior = None if args.no_prior else args.prior
    settings = fit_options.cli_settings(args.engine, args, prior)
    if args.source:
        settings["sources"] = dict(args.source)
    if args.accelerate is not None:
        if args.engine != engines.EM:
            print("clickfit fit: error: --accelerate is for --engine em", file=sys.stderr)
            return 2
        settings["accelerate"] = ACCELERATE[args.accelerate]
    elif args.engine == engines.EM and not args.source:
        # Plain EM needs thousands of iterations on large cascade logs (results/accelerators.md):
        # a default fit should converge.
        settings["accelerate"] = "anderson"
    if not engines.runs(args.engine, args.model):
        print(f"clickfit fit: {args.model} is fitted by the em engine only", file=sys.stderr)
        return 2
    table_format(args.out)
    started = time.perf_counter()
    sessions = dedup(read(args.data, args.format, **log_options(args)))
    with fit_options.progress(f"{args.model} {args.engine}", args.engine, settings,
                              not args.no_progress) as callback:
        fit = engines.fit(args.engine, args.model, sessions, settings, callback)
    write_labels(labels(fit, sessions), args.out)
    if args.params:
        with atomic_write(args.params) as f:
            json.dump(parameters_json(fit, sessions, args.engine, settings), f, indent=1)
    if args.save_model:
        fit.save(args.save_model, cli_engine=args.engine, data=os.fspath(args.data))
    wrote = ", ".join(os.fspath(p) for p in (args.out, args.params, args.save_model) if p)
    print(f"clickfit fit: {args.model} by {args.engine} on {sessions.total_weight:,.0f} sessions "
          f"({sessions.n:,} distinct), {fit.iterations} iterations, "
          f"{'converged' if fit.converged else 'NOT converged'}, log-likelihood "
          f"{log_likelihood(fit, sessions):.5f} and objective (log prior included) "
          f"{fit.objective(sessions):.5f} nats per impression, "
          f"{time.perf_counter() - started:.1f} s; wrote {wrote}", file=sys.stderr)
    advice = fit_options.not_converged(fit, args.engine, settings)
    if advice:
        print(f"clickfit fit: warning: {advice}", file=sys.stderr)
    return 0


def source_argument(text: str) -> tuple[str, str]:
    try:
        return network.parse_assignment(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit", help="fit one model; write per (query, document) relevance labels",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model", required=True, type=str.lower,
                   choices=engines.DEFAULT_MODELS + catalogue.VISION_MODELS,
                   help="the click model")
    p.add_argument("--engine", default=engines.EM, choices=engines.ENGINES,
                   help="the engine (default: em)")
    p.add_argument("--data", required=True, type=Path, help="the click log to fit")
    p.add_argument("--format", choices=FORMATS, help="the log's format (default: sniffed)")
    add_log_arguments(p)
    p.add_argument("--out", required=True, type=Path,
                   help="relevance labels: .csv, .tsv or .parquet")
    p.add_argument("--params", type=Path, help="also write every fitted parameter (JSON)")
    p.add_argument("--save-model", type=Path, metavar="PATH",
                   help="also save the fitted model (JSON) for `clickfit predict`")
    add_prior_option(p, engines.DEFAULT_PRIOR)
    p.add_argument("--source", action="append", default=[], type=source_argument,
                   metavar="PARAM=KIND[:OPT=V,...]",
                   help="a parameter as a function of its keys' features, KIND linear or mlp, "
                   "options hidden, activation, l2, steps, target (e.g. attraction=mlp or "
                   "attraction=mlp:l2=1,hidden=32x16; repeatable; default: tables)")
    p.add_argument("--accelerate", choices=sorted(ACCELERATE),
                   help="em: extrapolate the iterations, anderson (em/anderson.py) or squarem "
                   "(em/squarem.py), same optimum in fewer E-steps; none: plain EM (default: "
                   "anderson, none with --source, whose functions it cannot extrapolate)")
    fit_options.add_arguments(p)
    p.set_defaults(func=run)
