"""Distributed EM on Dask (dask.distributed): partitions keyed by query, per-query parameters
kept on their worker, only per-rank and global statistics reduced each iteration.

The sessions are dealt into P query partitions (em/partition.py; P = the number of workers by
default), each pinned to one worker. A partition's state on its worker holds its sessions, the
parameters of its own qd pairs (attraction, satisfaction) and its latest per-qd statistics.
One EM iteration is one task per partition, on the partition's worker: it applies the MAP
M-step to its per-qd statistics (none in the first iteration), runs the E-step with the
per-rank and global parameters the client sent, keeps the new per-qd statistics and returns
only the per-rank and global statistics, its log-likelihood and the log prior of its per-qd
parameters: a few hundred numbers whatever the size of the log. The client adds those up in
partition order, updates the per-rank and global parameters (the same MAP update) and checks
the objective: the loop of em/loop.py, with the same iterates as `em.fit` in one process, up to
the order of floating-point sums. Per-qd parameters cross the network once, at the end.

The log comes from the client (Sessions, dealt there and scattered) or from a Parquet path
that every worker can read: one task per worker reads its share of the row groups and deals
them, one task per partition gathers its rows from those (Dask moves them between workers) and
builds the partition where it will stay. `client` is a dask.distributed Client, a scheduler
address ("tcp://host:8786": any cluster), or None for a LocalCluster of two single-threaded
workers in this process, closed again after the fit. Plain EM only: an accelerator would need
the per-qd parameters on the client.

A lost worker does not end the fit. Every partition's state is a chain of tasks that Dask
knows how to recompute: from the Parquet reads, or, for sessions from the client, from a task
that carries the partition itself (not a scattered copy, which would die with its worker).
Tasks prefer their partition's worker but may run elsewhere, so when a worker goes, the
scheduler re-runs the lost partitions' chains on the remaining workers, the same arithmetic
on the same inputs: the fit ends with the parameters it would have had. Each lost worker is
named in a warning (logging, logger "em.distributed"), and later iterations place the
partitions on the workers that remain.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from operator import attrgetter, getitem

import numpy as np

from clicklog import catalogue
from clicklog.fit import Fit
from clicklog.io_parquet import iter_parquet, parquet_header
from clicklog.sessions import Sessions, from_arrays
from em import engine
from em.layout import Layout
from em.loop import Steps, iterate
from em.model import Params, Stats
from em.partition import Partition, Rows, build, deal, kinds_of, split

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class State:
    """A partition on its worker: its sessions, its per-qd parameters (those of the E-step it
    ran last), their statistics from that E-step (None before the first), and what it returned
    to the client (`report`: per-rank and global statistics, log-likelihood plus log prior of
    its per-qd parameters)."""

    model: str
    layout: Layout
    qd_global: np.ndarray
    params: Params
    stats: Stats | None = None
    report: tuple[Stats, float] | None = None


def _start(partition: Partition, model: str) -> State:
    spec = engine.get_model(model)
    kinds = kinds_of(spec.parameters)
    m = partition.qd_global.size
    params = {
        name: np.full(m, 0.5) for name, kind in kinds.items() if kind == "qd"
    }
    return State(model, partition.layout(), partition.qd_global, params)


def _step(state: State, shared: Params, prior: tuple[float, float] | None) -> State:
    """One EM iteration of a partition (module docstring)."""
    params = state.params if state.stats is None else engine.mstep(state.stats, prior)
    stats, loglik = engine.get_model(state.model).estep(state.layout, {**shared, **params})
    mine = {name: stats.pop(name) for name in params}
    report = (stats, loglik + catalogue.log_prior(params, prior))
    return State(state.model, state.layout, state.qd_global, params, mine, report)


def _final(state: State) -> tuple[np.ndarray, Params]:
    return state.qd_global, state.params


def _n_impressions(state: State) -> tuple[float, int]:
    return state.layout.n_impressions, state.layout.n


def _warm(model: str) -> float:
    """Compile (or load from Numba's cache) a model's kernels on a worker; seconds taken."""
    one = from_arrays(np.zeros(1), np.arange(2)[None, :], np.array([[True, False]]))
    spec = engine.get_model(model)
    return engine.compile_kernels(spec, engine.initial_params(spec.parameters, one), one)


def _read(path: str, groups: list[int], n_parts: int) -> list[Rows]:
    """The rows of some row groups of `path`, dealt to the partitions."""
    pieces: list[list[Rows]] = [[] for _ in range(n_parts)]
    for chunk in iter_parquet(path, groups):
        for part, rows in enumerate(deal(chunk, n_parts)):
            pieces[part].append(rows)
    return [{name: np.concatenate([p[name] for p in part]) for name in part[0]}
            for part in pieces]


def _hold(partition: Partition) -> Partition:
    """A partition sent from the client inside a task, so that Dask can rebuild it."""
    return partition


def _gather(path: str, part: int, n_parts: int, deduplicate: bool, *pieces: Rows) -> Partition:
    vocabulary, _ = parquet_header(path)
    return build(list(pieces), vocabulary, part, n_parts, deduplicate)


@contextmanager
def _connected(client) -> Iterator:
    """The Client to use: `client` itself, or one this fit opens and closes (module
    docstring)."""
    # dask is the optional `scale` dependency: only a distributed fit needs it.
    from dask.distributed import Client, LocalCluster

    if isinstance(client, Client):
        yield client
        return
    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"))
        yield stack.enter_context(Client(client))


def _partitions_from_parquet(client, path: str, workers: list[str], n_parts: int,
                             deduplicate: bool) -> list:
    _, sizes = parquet_header(path)
    groups = np.array_split(np.arange(sizes.size), len(workers))
    reads = [
        client.submit(_read, path, [int(g) for g in share], n_parts, workers=[worker],
                      allow_other_workers=True, pure=False)
        for share, worker in zip(groups, workers, strict=True)
        if share.size
    ]
    futures = []
    for part in range(n_parts):
        pieces = [client.submit(getitem, read, part, pure=False) for read in reads]
        futures.append(client.submit(_gather, path, part, n_parts, deduplicate, *pieces,
                                     workers=[workers[part % len(workers)]],
                                     allow_other_workers=True, pure=False))
    return futures


def _partitions_from_client(client, data: Sessions, workers: list[str], n_parts: int,
                            deduplicate: bool) -> list:
    futures = []
    with warnings.catch_warnings():
        # The partitions travel inside their tasks on purpose (module docstring): Dask's
        # advice to scatter them instead would make them unrecoverable.
        warnings.filterwarnings("ignore", message=".*[Ll]arge graph.*")
        for i, p in enumerate(split(data, n_parts, deduplicate)):
            futures.append(client.submit(_hold, p, workers=[workers[i % len(workers)]],
                                         allow_other_workers=True, pure=False))
    return futures


def _check_workers(client, workers: list[str], lost: list[str]) -> None:
    """Name every worker of `workers` that has left the cluster, add it to `lost`, and keep
    only the others in `workers`."""
    alive = set(client.nthreads())
    gone = [w for w in workers if w not in alive]
    for worker in gone:
        log.warning("dask worker %s was lost; its partitions are recomputed on the remaining "
                    "workers (%d left)", worker, len(alive))
    if gone:
        lost += gone
        workers[:] = sorted(alive)


def _remote_estep(client, states: list, workers: list[str], lost: list[str], prior,
                  shared: Params):
    """The loop's E-step: one _step task per partition, preferably on its worker; reports
    added up. A worker lost meanwhile is named, and its work recomputed (module docstring)."""
    _check_workers(client, workers, lost)
    for part, state in enumerate(states):
        states[part] = client.submit(_step, state, shared, prior,
                                     workers=[workers[part % len(workers)]],
                                     allow_other_workers=True, pure=False)
    reports = client.gather([client.submit(attrgetter("report"), s) for s in states])
    _check_workers(client, workers, lost)
    totals: Stats = {}
    loglik = 0.0
    for stats, part_loglik in reports:
        loglik += part_loglik
        for name, (s1, t) in stats.items():
            if name in totals:
                totals[name] = (totals[name][0] + s1, totals[name][1] + t)
            else:
                totals[name] = (np.asarray(s1, np.float64), np.asarray(t, np.float64))
    return totals, loglik


def fit(
    model: str,
    data: Sessions | str | os.PathLike,
    client=None,
    n_partitions: int | None = None,
    prior: tuple[float, float] | None = (2.0, 2.0),
    max_iter: int = 50,
    tol: float = 1e-7,
    deduplicate: bool = True,
) -> Fit:
    """Fit `model` by EM on a Dask cluster (module docstring); every parameter starts at 0.5
    as in em.fit. settings: partitions, workers (at the start), lost_workers (addresses of
    those lost during the fit), distinct_sessions, setup_seconds (dealing the log and building
    the partitions, part of every `seconds` in history)."""
    spec = engine.get_model(model)
    per_qd = frozenset(k for k, kind in kinds_of(spec.parameters).items() if kind == "qd")
    prior = engine.check_prior(prior)
    engine.check_iterations(max_iter)
    vocabulary = data if isinstance(data, Sessions) else parquet_header(data)[0]
    if isinstance(data, Sessions) and data.n == 0:
        raise ValueError("cannot fit a click model to zero sessions")
    with _connected(client) as client:
        workers = sorted(client.scheduler_info()["workers"])
        n_workers, lost = len(workers), []
        n_parts = n_partitions or n_workers
        compile_seconds = max(client.run(_warm, model).values())
        start = time.perf_counter()
        if isinstance(data, Sessions):
            parts = _partitions_from_client(client, data, workers, n_parts, deduplicate)
        else:
            parts = _partitions_from_parquet(client, os.fspath(data), workers, n_parts,
                                             deduplicate)
        states = [
            client.submit(_start, p, model, workers=[workers[i % len(workers)]],
                          allow_other_workers=True, pure=False)
            for i, p in enumerate(parts)
        ]
        del parts
        counts = client.gather([client.submit(_n_impressions, s) for s in states])
        setup_seconds = time.perf_counter() - start
        shared = {
            name: value
            for name, value in engine.initial_params(spec.parameters, vocabulary).items()
            if name not in per_qd
        }
        steps = Steps(
            estep=partial(_remote_estep, client, states, workers, lost, prior),
            mstep=partial(engine.mstep, prior=prior),
            log_prior=partial(catalogue.log_prior, prior=prior),
            n_impressions=sum(n for n, _ in counts),
        )
        result = iterate(steps, shared, max_iter, tol, spec.closed_form, start)
        finals = client.gather([client.submit(_final, s) for s in states])
    params = _collect(spec.parameters, finals, result.params, vocabulary.n_qd)
    settings = {
        "max_iter": max_iter,
        "tol": tol,
        "init": "0.5",
        "partitions": n_parts,
        "workers": n_workers,
        "lost_workers": lost,
        "distinct_sessions": int(sum(n for _, n in counts)),
        "setup_seconds": setup_seconds,
    }
    return engine.assemble(model, result._replace(params=params), prior, compile_seconds,
                           settings)


def _collect(
    model: str, finals: list[tuple[np.ndarray, Params]], shared: Params, n_qd: int
) -> Params:
    """The log-wide parameters, in the catalogue's order: the shared ones, and every
    partition's per-qd ones in place (each pair belongs to one partition)."""
    params = {name: shared.get(name, np.empty(n_qd)) for name in catalogue.parameters(model)}
    for qd_global, part in finals:
        for name, value in part.items():
            params[name][qd_global] = value
    return params
