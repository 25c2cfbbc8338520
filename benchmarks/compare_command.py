"""`clickfit compare`: which click model fits a log best, answered from the command line.

    clickfit compare LOG --out DIR [--test LOG2] [--split order|query] [--test-fraction F]
                     [--models a,b] [--engines em,gradient-lbfgs] [--prior A B | --no-prior]

The log is split into training and test sessions: by session order (the first 1 - F of the
sessions train, the rest test, as PyClick and CLAX split a log in time order), or by query
(within each query its first 1 - F sessions, rounded up, train and the rest test, so rare
queries are on both sides), or given as two files (LOG trains, --test LOG2 tests, read in one
vocabulary: the Yandex sample's trainSample and testSample). Test sessions of queries never
seen in training are dropped (and counted), as both anchors evaluate.

Every model is fitted with every engine (default: exact EM and L-BFGS) exactly as
`clickfit bench` fits it (benchmarks.bench: the same settings, the same scoring of a fit, the
same table rows), so on the Yandex sample the numbers are those of results/yandex.md. DIR gets

    README.md                  the table (test LL, perplexity, conditional perplexity, fit
                               time, iterations, converged; the best value of each column and
                               the best model in bold) and a sentence naming the best model
                               and by how much it beats the runner-up
    compare.csv                the same rows at full precision, with every column of the
                               benchmark's table (train objective, compile time, memory, ...)
    perplexity-per-rank.png    perplexity and conditional perplexity per rank of every model
    examination.png            the fitted position-bias curves beside the CTR per rank

The best model is the one with the highest test log-likelihood (any engine); "by how much"
is the vision-bias paper's LL improvement (LL_best - LL_2nd) / |LL_2nd| and the perplexity
improvement (p_2nd - p_best) / (p_2nd - 1).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from benchmarks import compare_figures, fit_options, metrics
from benchmarks.bench import engines, figures, record, tables
from benchmarks.bench.datasets import DatasetSpec, Split
from benchmarks.bench.record import Job
from benchmarks.data_commands import add_log_arguments, log_options
from benchmarks.runner import name_list
from clicklog.atomic import atomic_write
from clicklog.fit import Fit
from clicklog.formats import FORMATS
from clicklog.model_file import clickfit_version
from clicklog.readers import read, read_many
from clicklog.sessions import Sessions
from clicklog.split import restrict_to_seen_queries, split_by_order

PROTOCOL = "compare"
ENGINES = (engines.EM, engines.LBFGS)
COLUMNS: tuple[tables.Column, ...] = tuple(
    c for c in tables.MAIN_COLUMNS
    if c.name in ("model", "engine", "test_log_likelihood", "perplexity",
                  "conditional_perplexity", "fit_seconds", "iterations", "converged")
)


def split_by_query_order(sessions: Sessions, test_fraction: float) -> tuple[Sessions, Sessions]:
    """Within each query, its first ceil((1 - test_fraction) * n_q) sessions in log order
    train and the rest test (every test query is seen in training)."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"--test-fraction must lie in [0, 1), got {test_fraction}")
    order = np.argsort(sessions.query, kind="stable")
    q = sessions.query[order]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    counts = np.diff(np.r_[starts, q.size])
    position = np.arange(q.size) - np.repeat(starts, counts)
    keep = np.ceil((1.0 - test_fraction) * counts).astype(np.int64)
    train = np.zeros(sessions.n, bool)
    train[order] = position < np.repeat(keep, counts)
    return sessions.subset(train), sessions.subset(~train)


def load_split(args: argparse.Namespace) -> tuple[Split, str]:
    """Training and test sessions of the command line's log(s) and a sentence saying how."""
    if args.test is not None:
        train, test = read_many([args.log, args.test], args.format, **log_options(args))
        how = f"`{args.log}` trains, `{args.test}` tests (one vocabulary)"
    else:
        log = read(args.log, args.format, **log_options(args))
        if args.split == "query":
            train, test = split_by_query_order(log, args.test_fraction)
            how = (f"within each query of `{args.log}`, its first {1 - args.test_fraction:.0%} "
                   "of sessions (rounded up) train, the rest test")
        else:
            if not 0.0 < args.test_fraction < 1.0:
                raise ValueError(f"--test-fraction must lie in (0, 1), got {args.test_fraction}")
            train, test = split_by_order(log, 1.0 - args.test_fraction)
            how = (f"the first {1 - args.test_fraction:.0%} of the sessions of `{args.log}` "
                   "train, the rest test (session order)")
    kept = restrict_to_seen_queries(test, train)
    if train.n == 0 or kept.sessions.n == 0:
        raise ValueError(f"{args.log}: the split leaves {train.n} training and "
                         f"{kept.sessions.n} test sessions of seen queries; nothing to compare")
    return Split(train, kept.sessions, None, kept.removed_sessions), how


def _fingerprint(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def jobs(args: argparse.Namespace, prior) -> list[Job]:
    paths = [args.log] + ([args.test] if args.test is not None else [])
    spec = DatasetSpec(name=PROTOCOL, family=PROTOCOL, fingerprint=_fingerprint(paths))
    return [Job(spec, m, e, fit_options.bench_settings(e, args, prior), PROTOCOL)
            for m in args.models for e in args.engines if engines.runs(e, m)]


def fit_all(job_list: Sequence[Job], split: Split, progress: bool
            ) -> tuple[list[dict], dict[tuple[str, str], Fit]]:
    """Every job's benchmark record (benchmarks.bench.record), and the fits themselves."""
    fits: dict[tuple[str, str], Fit] = {}

    def fit_fn(engine: str, model: str, sessions: Sessions, settings: dict) -> Fit:
        with fit_options.progress(f"{model} {engine}", engine, settings, progress) as callback:
            fit = engines.fit(engine, model, sessions, settings, callback)
        fits[(model, engine)] = fit
        return fit

    records = []
    with tqdm(job_list, desc="clickfit compare", unit="fit", disable=not progress,
              file=sys.stderr) as bar:
        for job in bar:
            bar.set_postfix_str(f"{job.model} {job.engine}")
            records.append(record.run(job, split, fit_fn, progress=False))
    return records, fits


def best_models(df: pd.DataFrame) -> tuple[pd.Series, pd.Series | None]:
    """The row with the highest test LL, and the best row of any other model (None if none)."""
    ranked = df.sort_values("test_log_likelihood", ascending=False, kind="stable")
    best = ranked.iloc[0]
    others = ranked[ranked["model"] != best["model"]]
    return best, (others.iloc[0] if len(others) else None)


def verdict(df: pd.DataFrame) -> str:
    """The sentence naming the best model and by how much it beats the runner-up."""
    best, second = best_models(df)
    text = (f"**{best['model']}** ({best['engine']}) fits this log best: test log-likelihood "
            f"{best['test_log_likelihood']:.4f} nats per impression")
    if second is None:
        return text + "."
    gain = metrics.ll_improvement(second["test_log_likelihood"], best["test_log_likelihood"])
    ppl = second["perplexity"] - best["perplexity"]
    ppl_gain = (metrics.perplexity_improvement(second["perplexity"], best["perplexity"])
                if second["perplexity"] > 1 else math.nan)
    return (text + f", {best['test_log_likelihood'] - second['test_log_likelihood']:.4f} more "
            f"than the runner-up {second['model']} ({second['engine']}, "
            f"{second['test_log_likelihood']:.4f}), an LL improvement of {gain:+.2%}; its "
            f"perplexity is {best['perplexity']:.4f} against {second['perplexity']:.4f} "
            f"({'lower' if ppl > 0 else 'higher'} by {abs(ppl):.4f}, a perplexity improvement "
            f"of {ppl_gain:+.2%}).")


def bold_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Best value of each metric column, and the best model's name, in bold."""
    bold = tables.best_per_column(df, ["test_log_likelihood"],
                                  ["perplexity", "conditional_perplexity"])
    best, _ = best_models(df)
    bold["model"] = (df["model"] == best["model"]).to_numpy()
    return bold


def readme(df: pd.DataFrame, split: Split, how: str, args: argparse.Namespace,
           figures_written: Sequence[tuple[str, str]], advice: Sequence[str]) -> str:
    prior = "no prior" if args.no_prior else f"Beta({args.prior[0]:g}, {args.prior[1]:g}) prior"
    lines = [
        f"# Which click model fits `{args.log}` best",
        "",
        verdict(df),
        "",
        f"Split: {how}; {split.train.total_weight:,.0f} training and "
        f"{split.test.total_weight:,.0f} test sessions"
        + (f" ({split.test_dropped:,} test sessions of queries unseen in training dropped)"
           if split.test_dropped else "")
        + f"; {prior}; every engine as `clickfit bench` runs it. Written by `clickfit compare` "
        f"(clickfit {clickfit_version()}) on "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        tables.markdown(df[[c.name for c in COLUMNS]], COLUMNS, bold_cells(df)).rstrip(),
        "",
        "Test LL: mean log-likelihood of the test clicks per impression (nats, higher is "
        "better); perplexity and conditional perplexity: per-rank means (PyClick/CLAX "
        "definition, lower is better). Fit time: wall-clock seconds, compilation excluded. "
        "Every column of the benchmark's table, at full precision: [`compare.csv`](compare.csv).",
    ]
    if advice:
        lines += ["", "Fits that stopped before converging:", ""]
        lines += [f"- {a}" for a in advice]
    for name, what in figures_written:
        lines += ["", f"![{what}]({name})", "", what + "."]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    prior = None if args.no_prior else tuple(args.prior)
    out = Path(args.out)
    split, how = load_split(args)
    job_list = jobs(args, prior)
    records, fits = fit_all(job_list, split, not args.no_progress)
    df = tables.main_rows(records)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "compare.csv") as f:
        df.to_csv(f, index=False, float_format="%.10g")
    written = []
    figures.rank_figure(records, out / "perplexity-per-rank.png",
                        "Test perplexity per rank (1-based)")
    written.append(("perplexity-per-rank.png", "Perplexity and conditional perplexity per rank "
                    "of every model, a column per engine"))
    by_model = {}
    for (model, engine), fit in fits.items():
        if engine == engines.EM or model not in by_model:
            by_model[model] = fit
    if compare_figures.examination_figure(by_model, split.train, out / "examination.png",
                                          "What the models say about position bias"):
        written.append(("examination.png", "Fitted examination (PBM, UBM) and continuation "
                        "(DCM, DBN) per rank, beside the training log's click-through rate "
                        "per rank"))
    advice = [a for job in job_list
              if (a := fit_options.not_converged(fits[(job.model, job.engine)], job.engine,
                                                 job.settings))]
    with atomic_write(out / "README.md") as f:
        f.write(readme(df, split, how, args, written, advice))
    for line in advice:
        print(f"clickfit compare: warning: {line}", file=sys.stderr)
    best, _ = best_models(df)
    print(f"clickfit compare: {len(records)} fits; best model {best['model']} ({best['engine']},"
          f" test LL {best['test_log_likelihood']:.4f}); wrote {out / 'README.md'}",
          file=sys.stderr)
    for name in ("README.md", "compare.csv", *(n for n, _ in written)):
        print(os.path.join(out, name))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare", help="fit every model to a log; write a report naming the best one",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("log", type=Path, metavar="LOG", help="the click log (training part)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="where README.md, compare.csv and the figures go")
    p.add_argument("--test", type=Path, metavar="LOG2",
                   help="a separate test log (then LOG is all training)")
    p.add_argument("--format", choices=FORMATS, help="the log's format (default: sniffed)")
    add_log_arguments(p)
    p.add_argument("--split", choices=("order", "query"), default="order",
                   help="how to split LOG without --test (default: order)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of the sessions that test (default: 0.2)")
    p.add_argument("--models", type=name_list(engines.DEFAULT_MODELS),
                   default=engines.DEFAULT_MODELS,
                   help="comma-separated models (default: " + ",".join(engines.DEFAULT_MODELS)
                        + ")")
    p.add_argument("--engines", type=name_list(engines.ENGINES), default=ENGINES,
                   help="comma-separated engines (default: " + ",".join(ENGINES) + ")")
    p.add_argument("--prior", type=float, nargs=2, metavar=("A", "B"),
                   default=engines.DEFAULT_PRIOR, help="Beta(A, B) prior (default: 2 2)")
    p.add_argument("--no-prior", action="store_true", help="maximum likelihood, no prior")
    fit_options.add_arguments(p, defaults_from="bench")
    p.set_defaults(func=run)
