"""`clickfit predict`: score any click log with a saved model (`clickfit fit --save-model`).

    clickfit predict --model-file model.json --data LOG --out probs.parquet [--format F]

The log is matched to the model by original query and document ids (clicklog.model_file.align),
whatever vocabulary it was read in. A (query, document) pair the model never saw gets the
fallback value of clicklog.model_file (the mode of the fit's prior, 1/2 under Beta(2, 2)); how
many pairs and impressions that was is printed, with the log-likelihood of the log under the
model.

--out gets one row per shown result (impression) of the log, in the log's order:

    session                  0-based position of the session (result page) in the log as read
    query, doc               the log's original ids
    rank                     1-based
    click                    0/1 as in the log
    weight                   the session's multiplicity (1 unless the log was deduplicated)
    click_prob               P(C_r = 1), the model's unconditional click probability
    conditional_click_prob   P(C_r = 1 | clicks above r in this session)
    seen                     whether the model knew the (query, document) pair

Parquet, CSV or TSV by the extension (.parquet, .csv, .tsv).

A model whose examination is a function of bias features (`--source examination=...`) scores
each impression from the log's own bias features (the same columns as in training, e.g.
`--bias-features`); a log without them is an error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import metrics
from benchmarks.data_commands import add_log_arguments, log_options
from benchmarks.fit_command import table_format, write_labels
from clicklog import model_file
from clicklog.fit import Fit
from clicklog.formats import FORMATS
from clicklog.readers import read
from clicklog.sessions import Sessions

COLUMNS = ("session", "query", "doc", "rank", "click", "weight", "click_prob",
           "conditional_click_prob", "seen")


def engine_fit(saved: model_file.SavedModel) -> Fit:
    """The saved model as a Fit of the engine that made it (em.saved / gradient.saved)."""
    if saved.engine not in ("em", "gradient"):
        raise ValueError(f"a model of unknown engine {saved.engine!r}")
    return importlib.import_module(f"{saved.engine}.saved").from_saved(saved)


def predictions(saved: model_file.SavedModel, log: Sessions
                ) -> tuple[pd.DataFrame, model_file.Alignment, float]:
    """Per impression of `log`: ids, clicks and both click probabilities under `saved`; the
    alignment report and the log-likelihood per impression of the log."""
    aligned_model, sessions, alignment = model_file.align(saved, log)
    fit = engine_fit(aligned_model)
    click = fit.click_probs(sessions)
    cond = fit.conditional_click_probs(sessions)
    mask = sessions.mask
    rows, ranks = np.nonzero(mask)
    known = len(saved.vocabulary.qd_query)
    qd = sessions.qd[mask]
    df = pd.DataFrame({
        "session": rows,
        "query": sessions.query_ids[sessions.query[rows]],
        "doc": sessions.doc_ids[sessions.doc[mask]],
        "rank": ranks + 1,
        "click": sessions.click[mask].astype(np.int8),
        "weight": sessions.weight[rows],
        "click_prob": click[mask],
        "conditional_click_prob": cond[mask],
        "seen": qd < known,
    }, columns=COLUMNS)
    return df, alignment, metrics.log_likelihood(sessions, cond)


def run(args: argparse.Namespace) -> int:
    table_format(args.out)
    saved = model_file.read(args.model_file)
    log = read(args.data, args.format, **log_options(args))
    df, alignment, ll = predictions(saved, log)
    write_labels(df, args.out)
    share = alignment.unseen_impressions / alignment.impressions if alignment.impressions else 0
    fallback = ", ".join(f"{k} {v:g}" for k, v in alignment.fallback.items())
    print(f"clickfit predict: {saved.model} ({saved.engine}) on {log.n:,} sessions, "
          f"{alignment.impressions:,.0f} impressions; log-likelihood {ll:.4f} nats per "
          f"impression; wrote {args.out}", file=sys.stderr)
    if alignment.unseen_pairs:
        print(f"clickfit predict: {alignment.unseen_pairs:,} of {alignment.pairs:,} (query, "
              f"document) pairs ({alignment.unseen_impressions:,.0f} impressions, {share:.1%}) "
              f"were not in the model; they were scored with the fallback ({fallback}: the "
              "prior's mode, what the fit gives a pair no session informed)", file=sys.stderr)
    else:
        print(f"clickfit predict: every one of the {alignment.pairs:,} (query, document) pairs "
              "was in the model", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="score a click log with a saved model; write per-impression "
                        "click probabilities",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model-file", required=True, type=Path,
                   help="a model saved by `clickfit fit --save-model`")
    p.add_argument("--data", required=True, type=Path, help="the click log to score")
    p.add_argument("--format", choices=FORMATS, help="the log's format (default: sniffed)")
    add_log_arguments(p)
    p.add_argument("--out", required=True, type=Path,
                   help="per-impression probabilities: .parquet, .csv or .tsv")
    p.set_defaults(func=run)
