"""Streamed EM: fit a clickfit Parquet log too large to pad in memory, in bounded memory.

`em.fit(model, "log.parquet")` lands here. The log is read once, row group by row group, and
dealt into query partitions (em/partition.py) in a scratch directory: each row group's rows
are appended to their partition's spill files, then each partition in turn is deduplicated,
sorted by query, given its local qd index and saved as arrays. Unless they are held in memory
(below), every EM iteration is then one pass over the partitions, loading one at a time:
E-step statistics of a partition's pairs go straight into the log-wide per-qd arrays (each
pair lives in one partition), per-rank and global ones are added up. The M-step, the
objective and the stopping rule are those of the in-memory fit (em/loop.py, or the
accelerator of em.engine.accelerator), so both give the same parameters up to the order of
floating-point sums.

Resident partitions: a deduplicated log is often far smaller than the log (a Yandex-like
log of 10^8 sessions keeps a small fraction of its rows), so when the prepared partitions fit
in `resident_bytes` they are gathered, once, into one in-memory Layout over the vocabulary's
own qd indices (each query's rows stay contiguous, as the kernels' chunks need) and every
E-step is the in-memory E-step on it: no reading, decoding or per-partition Layout per pass.
Only when they do not fit does every E-step stream the partitions from disk.

Memory: the parameters and statistics of the whole vocabulary, plus one row group while the
scratch copy is written and one partition while it is built (and, streaming from disk, while it
is read); partitions hold about `partition_sessions` sessions each (the most frequent query's
partition more); resident, the gathered Layout, at most `resident_bytes`. The scratch copy
(a temporary directory by default) is removed when the fit returns.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from clicklog import catalogue, defaults
from clicklog.fit import Callback, Fit, FitVocabulary
from clicklog.io_parquet import iter_parquet, parquet_header
from clicklog.sessions import PAD, Sessions
from em import engine
from em.layout import Layout, sorted_layout
from em.loop import Steps
from em.model import Model, Params, Stats
from em.partition import ROWS, Partition, Rows, build, deal, kinds_of, local

PARTITION_SESSIONS = 1 << 20
# Under the 8 GiB a 10^8-session fit must stay within, with the vocabulary's arrays beside it.
RESIDENT_BYTES = 4 << 30


@dataclass(frozen=True)
class Store:
    """The partitions of a log in a scratch directory, and what the fit needs to know of it."""

    directory: Path
    n_parts: int
    sessions: int
    distinct: int
    n_impressions: float
    distinct_impressions: int

    def partitions(self, mmap: bool = False) -> Iterator[Partition]:
        """Every non-empty partition, loaded (or memory-mapped) one at a time."""
        for part in range(self.n_parts):
            directory = self.directory / f"part-{part}"
            if directory.exists():
                yield Partition.load(directory, mmap)


def layout_bytes(rows: int, K: int) -> int:
    """Bytes of a Layout of `rows` sessions of width K (qd, click, and five per-row arrays)."""
    return rows * (5 * K + 5 * 8)


def resident(store: Store, vocabulary: Sessions) -> Layout:
    """Every partition of `store` gathered into one Layout indexed by the vocabulary's qd
    (module docstring); partitions are read memory-mapped, one at a time."""
    K, n = vocabulary.K, store.distinct
    query = np.empty(n, np.int32)
    qd = np.empty((n, K), np.int32)
    click = np.empty((n, K), bool)
    length = np.empty(n, np.int16)
    weight = np.empty(n, np.float32)
    row = 0
    for partition in store.partitions(mmap=True):
        rows = slice(row, row + partition.n)
        local_qd = np.asarray(partition.qd)
        qd[rows] = np.where(local_qd != PAD, partition.qd_global[np.maximum(local_qd, 0)], PAD)
        query[rows], click[rows] = partition.query, partition.click
        length[rows], weight[rows] = partition.length, partition.weight
        row += partition.n
    return sorted_layout(query, qd, click, length, weight, vocabulary.qd_doc)


def _spill(rows: Rows, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ROWS:
        with open(directory / name, "ab") as f:
            rows[name].tofile(f)


def _unspill(directory: Path, dtypes: dict[str, np.dtype], K: int) -> Rows:
    rows = {name: np.fromfile(directory / name, dtype=dtypes[name]) for name in ROWS}
    for name in ("qd", "click"):
        rows[name] = rows[name].reshape(-1, K)
    return rows


def prepare(
    path: str | os.PathLike,
    directory: str | os.PathLike,
    vocabulary: Sessions,
    total: int,
    partition_sessions: int = PARTITION_SESSIONS,
    deduplicate: bool = True,
) -> Store:
    """Deal the log at `path` (of `total` sessions, `vocabulary` its parquet_header) into
    partitions under `directory` (module docstring)."""
    directory = Path(directory)
    n_parts = max(1, -(-total // max(partition_sessions, 1)))
    dtypes = {}
    for chunk in iter_parquet(path):
        dtypes = {name: getattr(chunk, name).dtype for name in ROWS}
        for part, rows in enumerate(deal(chunk, n_parts)):
            if rows["query"].size:
                _spill(rows, directory / f"spill-{part}")
    distinct, n_impressions, distinct_impressions = 0, 0.0, 0
    for part in range(n_parts):
        spilled = directory / f"spill-{part}"
        if not spilled.exists():
            continue
        rows = _unspill(spilled, dtypes, vocabulary.K)
        partition = build([rows], vocabulary, part, n_parts, deduplicate)
        partition.save(directory / f"part-{part}")
        shutil.rmtree(spilled)
        distinct += partition.n
        n_impressions += float(np.sum(partition.weight.astype(np.float64) * partition.length))
        distinct_impressions += int(np.sum(partition.length, dtype=np.int64))
    return Store(directory, n_parts, total, distinct, n_impressions, distinct_impressions)


def estep(
    store: Store, spec: Model, per_qd: frozenset[str], params: Params
) -> tuple[Stats, float]:
    """One pass over the partitions: the log's statistics and weighted log-likelihood."""
    totals: Stats = {}
    loglik = 0.0
    for partition in store.partitions():
        stats, part_loglik = spec.estep(partition.layout(), local(params, partition, per_qd))
        loglik += part_loglik
        for name, (s1, t) in stats.items():
            if name not in totals:
                shape = np.shape(params[name])
                totals[name] = (np.zeros(shape), np.zeros(shape))
            if name in per_qd:
                totals[name][0][partition.qd_global] = s1
                totals[name][1][partition.qd_global] = t
            else:
                totals[name][0][...] += s1
                totals[name][1][...] += t
    return totals, loglik


def fit_parquet(
    model: str,
    path: str | os.PathLike,
    prior: tuple[float, float] | None = (2.0, 2.0),
    max_iter: int = defaults.MAX_ITER,
    tol: float = defaults.TOL,
    init: dict[str, float | np.ndarray] | None = None,
    accelerate: bool | str | None = False,
    callback: Callback | None = None,
    partition_sessions: int = PARTITION_SESSIONS,
    deduplicate: bool = True,
    scratch: str | os.PathLike | None = None,
    resident_bytes: int = RESIDENT_BYTES,
) -> Fit:
    """Fit `model` to the Parquet log at `path` by streamed EM (module docstring); the other
    arguments as em.fit. `scratch`: the directory to hold the scratch copy in (default: the
    system's temporary directory). `resident_bytes`: the most memory the gathered partitions
    may take to be held in memory (0: always stream them from disk). settings: partitions,
    sessions, distinct_sessions, impressions (weighted), distinct_impressions (those an E-step
    visits), resident, prepare_seconds (reading, partitioning and
    gathering, part of every `seconds` in history)."""
    spec = engine.get_model(model)
    per_qd = frozenset(k for k, kind in kinds_of(spec.parameters).items() if kind == "qd")
    prior = engine.check_prior(prior)
    engine.check_iterations(max_iter)
    vocabulary, sizes = parquet_header(path)
    if sizes.sum() == 0:
        raise ValueError(f"{os.fspath(path)}: cannot fit a click model to zero sessions")
    params = engine.initial_params(spec.parameters, vocabulary, init)
    first = next(iter_parquet(path, groups=[int(np.argmax(sizes > 0))])).subset(np.arange(1))
    compile_seconds = engine.compile_kernels(spec, params, first)
    if scratch is not None:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clickfit-stream-", dir=scratch) as directory:
        start = time.perf_counter()
        store = prepare(path, directory, vocabulary, int(sizes.sum()), partition_sessions,
                        deduplicate)
        held = layout_bytes(store.distinct, vocabulary.K) <= resident_bytes
        if held:
            lay = resident(store, vocabulary)
            for child in Path(directory).iterdir():
                shutil.rmtree(child)
            estep_of = partial(spec.estep, lay)
        else:
            estep_of = partial(estep, store, spec, per_qd)
        prepared = time.perf_counter() - start
        steps = Steps(
            estep=estep_of,
            mstep=partial(engine.mstep, prior=prior),
            log_prior=partial(catalogue.log_prior, prior=prior),
            n_impressions=store.n_impressions,
            callback=callback,
        )
        result = engine.run(steps, params, max_iter, tol, spec.closed_form, start,
                            engine.accelerator(accelerate, False))
    settings = {
        "max_iter": max_iter,
        "tol": tol,
        "init": "0.5" if init is None else sorted(init),
        "accelerate": engine.accelerator(accelerate, False),
        "streamed": os.fspath(path),
        "partitions": store.n_parts,
        "sessions": store.sessions,
        "distinct_sessions": store.distinct,
        "resident": held,
        "impressions": store.n_impressions,
        "distinct_impressions": store.distinct_impressions,
        "prepare_seconds": prepared,
    }
    return engine.assemble(model, result, prior, compile_seconds, settings,
                           vocabulary=FitVocabulary.of(vocabulary))
