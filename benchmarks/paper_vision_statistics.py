"""Table 1 of Xu et al.'s vision-bias paper for the simulated log: queries per query-frequency
bucket in training and in test (the paper's columns, the >= 10000 row included even where it
is empty), the sessions behind them, and the log's totals and click statistics.

All generators share one world, pages and split, so the bucket rows are the generators' common
table; the click statistics differ per generator and get a row each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmarks import metrics
from benchmarks.paper_vision_format import md_table, write_csv, write_text
from benchmarks.simulate import paper_image

if TYPE_CHECKING:
    from benchmarks.paper_vision import Dataset

PAPER_NOTE = (
    "The paper's log: {sessions:,} sessions, {queries:,} queries, {images:,} images. Its "
    "Table 1 per-bucket rows were not available to this reproduction (no copy of the paper's "
    "tables could be retrieved here), so the query law is fitted to these totals, not to the "
    "rows: P(q) ~ q^-s over round(S * {queries:,} / {sessions:,}) query types, s solved so that "
    "the rarest type expects one session (benchmarks/simulate/paper_image.py). Whether the "
    "paper's rows add up to its totals could therefore not be checked here."
)


def bucket_rows(d: Dataset) -> pd.DataFrame:
    """Queries and sessions per bucket of training frequency, every bucket listed."""
    frequency = metrics.query_frequency(d.train)
    bucket = metrics.frequency_bucket(frequency)
    train_bucket = bucket[d.train.query]
    test_bucket = bucket[d.test.query]
    rows = []
    for b, label in enumerate(metrics.FREQUENCY_LABELS):
        rows.append({
            "bucket": label,
            "queries_train": int(np.sum(bucket == b)),
            "queries_test": int(np.unique(d.test.query[test_bucket == b]).size),
            "sessions_train": int(np.sum(train_bucket == b)),
            "sessions_test": int(np.sum(test_bucket == b)),
        })
    return pd.DataFrame(rows)


def click_rows(data: Sequence[Dataset]) -> pd.DataFrame:
    rows = []
    for d in data:
        clicks = d.train.click.sum(axis=1)
        rows.append({
            "generator": d.name,
            "clicks_per_session": float(clicks.mean()),
            "share_one_click": float(np.mean(clicks == 1)),
            "share_no_click": float(np.mean(clicks == 0)),
            "ctr": float(d.train.click.sum() / d.train.mask.sum()),
        })
    return pd.DataFrame(rows)


def _totals(d: Dataset) -> str:
    shown = np.zeros(d.train.n_docs, bool)
    shown[d.train.doc[d.train.mask]] = True
    length = d.train.length
    frequency = metrics.query_frequency(d.train)
    removed = d.sessions - d.train.n - d.test.n
    return md_table(["", "value"], [
        ["sessions simulated (train / test kept / test removed)",
         f"{d.sessions:,} ({d.train.n:,} / {d.test.n:,} / {removed:,})"],
        ["query types / with training sessions",
         f"{d.train.n_queries:,} / {int(np.sum(frequency > 0)):,}"],
        ["query law exponent s", f"{d.zipf_exponent:.4f}"],
        ["images / shown in training", f"{d.train.n_docs:,} / {int(shown.sum()):,}"],
        ["query-image pairs (documents per query type)",
         f"{d.train.n_qd:,} ({d.train.n_qd / d.train.n_queries:.2f})"],
        ["features per image", str(d.train.doc_features.shape[1])],
        ["results per page: mean / max / share with 10 or more",
         f"{length.mean():.2f} / {int(length.max())} / {np.mean(length >= 10):.3f}"],
    ])


def write_table1(data: Sequence[Dataset], out: Path, titles: dict[str, str]) -> list[Path]:
    """table1-statistics.md and .csv (bucket rows) and table1-clicks.csv."""
    rows = bucket_rows(data[0])
    clicks = click_rows(data)
    body = [[r.bucket, f"{r.queries_train:,}", f"{r.queries_test:,}", f"{r.sessions_train:,}",
             f"{r.sessions_test:,}"] for r in rows.itertuples()]
    click_body = [[titles.get(r.generator, r.generator), f"{r.clicks_per_session:.3f}",
                   f"{r.share_one_click:.3f}", f"{r.share_no_click:.3f}", f"{r.ctr:.4f}"]
                  for r in clicks.itertuples()]
    note = PAPER_NOTE.format(sessions=paper_image.PAPER_SESSIONS,
                             queries=paper_image.PAPER_QUERIES, images=paper_image.PAPER_IMAGES)
    text = "\n".join([
        "# Table 1: dataset statistics by query frequency\n",
        "Query frequency = the query's number of training sessions (the paper's buckets); "
        "queries in test = distinct test queries of the bucket.\n",
        md_table(["query frequency", "queries in train", "queries in test", "train sessions",
                  "test sessions"], body),
        "## The log\n",
        _totals(data[0]),
        "## Clicks in training, per generator\n",
        md_table(["generator", "clicks per session", "one click", "no click", "CTR"],
                 click_body),
        note + "\n",
    ])
    return [write_text(out / "table1-statistics.md", text),
            write_csv(out / "table1-statistics.csv", rows),
            write_csv(out / "table1-clicks.csv", clicks)]
