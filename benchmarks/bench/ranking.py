"""`clickfit bench --datasets ranking`: does a click model's relevance rank documents well?

Every fit's exported relevance (the `relevance` column `clickfit fit --out` writes:
`metrics.per_qd(log, fit.relevance(log))`) re-ranks each query's shown documents, scored
against MQ2008's graded labels by nDCG@5, nDCG@10 and MRR (benchmarks.metrics), overall and
by how often the pair was shown in the log (IMPRESSION_BUCKETS), beside the baselines of
benchmarks.bench.ranking_data. Logs come from each of the ten generators; two tables:

    own      each generator's log fitted by its own model: the ten generators, every prior
    cross    the DBN generator's log (the main simulated generator of the bench) fitted by
             every model: every model, every prior, both engines, and the baselines

Priors (PRIORS): the fixed Beta(2, 2) (PyClick's pseudo-counts, the bench default), none
(maximum likelihood) and "empirical" (one Beta per parameter family learned from the log).
Engines: em and gradient-lbfgs with the shared fitting defaults (SETTINGS), each under every
prior (ENGINE_PRIORS); the own table is fitted by EM only (OWN_ENGINES).

A bucket's score ranks only the query's pairs whose impression count lies in the bucket, so
it says how well a method orders the documents it has seen that often. In every bucket, and
overall, a query counts only when its candidates carry at least two different labels: where
they all share one label every order scores the same, so such a query measures nothing.

Fits are cached like the bench's (benchmarks.bench.cache: one JSON file per fit, written
atomically, keyed by the log, model, engine, settings and code), holding the per-pair
relevance; the scores are computed from the records when the tables are written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks import metrics
from benchmarks.bench import cache, engines, ranking_data
from benchmarks.bench.ranking_data import RankingSpec
from benchmarks.bench.record import jsonable
from clicklog import catalogue, defaults
from clicklog.sessions import Sessions

PRIORS: dict[str, Any] = {"beta22": (2.0, 2.0), "none": None, "empirical": "empirical"}
PRIOR_NAMES = {"beta22": "Beta(2, 2)", "none": "none", "empirical": "empirical"}
ENGINES: tuple[str, ...] = (engines.EM, engines.LBFGS)
# The shared fitting defaults (clicklog.defaults), L-BFGS in float64 stopping at EM's
# tolerance: a ranking needs the optimum's order, not its last digits.
SETTINGS: dict[str, dict[str, Any]] = {
    engines.EM: {"max_iter": defaults.MAX_ITER, "tol": defaults.TOL},
    engines.LBFGS: {"optimizer": "lbfgs", "dtype": "float64", "max_iter": defaults.MAX_ITER,
                    "tol": defaults.TOL},
}
CROSS_GENERATOR = "dbn"
CASCADE_MODELS: tuple[str, ...] = ("dbn", "ccm", "dcm", "sdbn")
# (label, lowest, highest impression count), inclusive; "1-10" is the union of the first two.
IMPRESSION_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("all", 1, np.inf), ("1-3", 1, 3), ("4-10", 4, 10), ("11-100", 11, 100),
    (">100", 101, np.inf), ("1-10", 1, 10),
)
METRICS: tuple[str, ...] = ("ndcg5", "ndcg10", "mrr")
# COEC takes its rank examination from this fit of PBM on the same log.
COEC_PRIOR = "beta22"
BASELINES: tuple[str, ...] = ("ctr", "coec", "skip-above", "shown-order")
# The own table is fitted by EM only: L-BFGS lands on the same optimum wherever there is a
# prior (the cross table shows both engines, every prior) and its compilations per log and
# model, three priors each, would add minutes to the run for numbers the cross table has.
OWN_ENGINES: tuple[str, ...] = (engines.EM,)
# The priors each engine runs: all of them.
ENGINE_PRIORS: dict[str, tuple[str, ...]] = {e: tuple(PRIORS) for e in ENGINES}
CODE = ("benchmarks/bench/ranking_data.py",)

FitFunction = Callable[[str, str, Sessions, dict], Any]


@dataclass(frozen=True)
class RankingJob:
    spec: RankingSpec
    model: str
    engine: str
    prior: str

    @property
    def settings(self) -> dict:
        return {**SETTINGS[self.engine], "prior": jsonable(PRIORS[self.prior])}

    @cached_property
    def key(self) -> str:
        code = cache.code_fingerprint(engines.package(self.engine))
        code += cache.code_fingerprint(CODE[0])
        return cache.fit_key(self.spec.key(), self.model, self.engine, self.settings, code)


def plan(path: Path, size: str, models: Sequence[str], engine_names: Sequence[str],
         priors: Sequence[str] = tuple(PRIORS)) -> list[RankingJob]:
    """The own-model jobs of every generator (EM: OWN_ENGINES), the cross jobs on the DBN log
    (every engine), each engine under its ENGINE_PRIORS, and the PBM fit each log's COEC
    baseline needs; no job twice."""
    models = [m for m in models if m in catalogue.MODELS]
    engine_names = [e for e in engine_names if e in ENGINES]
    jobs: dict[str, RankingJob] = {}

    def add(job: RankingJob) -> None:
        jobs.setdefault(job.key, job)

    def runs(engine: str) -> list[str]:
        return [p for p in priors if p in ENGINE_PRIORS[engine]]

    specs = {g: ranking_data.ranking_spec(g, size, path) for g in models}
    for g, spec in specs.items():
        for e in engine_names:
            for p in runs(e):
                if e in OWN_ENGINES or g == CROSS_GENERATOR:
                    add(RankingJob(spec, g, e, p))
        add(RankingJob(spec, "pbm", engines.EM, COEC_PRIOR))
    cross = specs.get(CROSS_GENERATOR) or ranking_data.ranking_spec(CROSS_GENERATOR, size, path)
    for m in models:
        for e in engine_names:
            for p in runs(e):
                add(RankingJob(cross, m, e, p))
    add(RankingJob(cross, "pbm", engines.EM, COEC_PRIOR))
    return list(jobs.values())


def run_job(job: RankingJob, sessions: Sessions, fit_fn: FitFunction) -> dict:
    """Fit one job; its record holds the exported relevance of every pair."""
    engines.load(job.engine)
    started = time.perf_counter()
    fit = fit_fn(job.engine, job.model, sessions, job.settings)
    wall = time.perf_counter() - started
    rec = {
        "key": job.key, "dataset": job.spec.key(), "model": job.model, "engine": job.engine,
        "prior": job.prior, "settings": job.settings,
        "relevance": cache.pack(metrics.per_qd(sessions, fit.relevance(sessions)), "float64"),
        "fit_seconds": float(fit.fit_seconds), "wall_seconds": wall,
        "compile_seconds": float(fit.compile_seconds), "iterations": int(fit.iterations),
        "converged": bool(fit.converged), "objective": float(fit.objective(sessions)),
        "learned_prior": jsonable(fit.prior),
    }
    if job.model == "pbm":
        rec["examination"] = jsonable(np.asarray(fit.params["examination"]))
    return rec


def execute(jobs: Sequence[RankingJob], path: Path, cache_dir: Path,
            fit_fn: FitFunction = engines.fit, progress: bool = True,
            ) -> tuple[dict[str, dict], dict[str, Sessions], int]:
    """Each job's record from the cache or fitted now; the logs (loaded for every dataset, a
    simulation of a few thousand sessions takes well under a second); number of fits run."""
    logs = {j.spec.name: None for j in jobs}
    specs = {j.spec.name: j.spec for j in jobs}
    for name in logs:
        logs[name] = ranking_data.load_ranking(specs[name], path)
    records, fitted = {}, 0
    bar = tqdm(jobs, desc="ranking", unit="fit", disable=not progress)
    for job in bar:
        file = cache.record_path(cache_dir, job.spec.name, job.model,
                                 f"{job.engine}-{job.prior}", job.key)
        rec = cache.load(file)
        if rec is None:
            bar.set_postfix_str(f"{job.spec.name} {job.model} {job.engine} {job.prior}")
            rec = run_job(job, logs[job.spec.name], fit_fn)
            cache.store(file, rec)
            fitted += 1
        records[job.key] = rec
    return records, logs, fitted


def _informative(sessions: Sessions, labels: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Labels with NaN outside `candidate` and for queries whose candidates share one label."""
    query = sessions.qd_query
    keep = candidate & ~np.isnan(labels)
    lo = np.full(sessions.n_queries, np.inf)
    hi = np.full(sessions.n_queries, -np.inf)
    np.minimum.at(lo, query[keep], labels[keep])
    np.maximum.at(hi, query[keep], labels[keep])
    keep &= (lo < hi)[query]
    return np.where(keep, labels, np.nan)


def evaluate(sessions: Sessions, score: np.ndarray) -> dict[str, dict[str, float]]:
    """nDCG@5, nDCG@10, MRR of ranking by `score` (per pair) against `sessions.labels`, per
    impression bucket (module docstring), with the numbers of queries and pairs scored."""
    counts = metrics.qd_counts(sessions)
    out = {}
    for label, low, high in IMPRESSION_BUCKETS:
        labels = _informative(sessions, sessions.labels.astype(np.float64),
                              (counts >= low) & (counts <= high))
        judged = ~np.isnan(labels)
        row = {"queries": int(np.unique(sessions.qd_query[judged]).size),
               "pairs": int(judged.sum())}
        if row["queries"] == 0:
            row.update({m: float("nan") for m in METRICS})
        else:
            score_b = np.where(judged, score, 0.0)
            row["ndcg5"] = metrics.ndcg_at_k(sessions, score_b, labels, 5)
            row["ndcg10"] = metrics.ndcg_at_k(sessions, score_b, labels, 10)
            row["mrr"] = metrics.mrr(sessions, score_b, labels)
        out[label] = row
    return out


def baseline_scores(sessions: Sessions, examination: np.ndarray) -> dict[str, np.ndarray]:
    """Every baseline's per-pair score on one log (ranking_data)."""
    return {
        "ctr": ranking_data.ctr(sessions),
        "coec": ranking_data.coec(sessions, examination),
        "skip-above": ranking_data.skip_above(sessions),
        "shown-order": ranking_data.shown_order(sessions),
    }


def relevance_of(record: dict) -> np.ndarray:
    return np.asarray(cache.unpack(record["relevance"]), np.float64)

