"""One benchmark fit: run it under a progress bar (and, once it runs for a second, a bar per
iteration or epoch), time it, measure its peak memory, score it, and return a JSON-ready
record holding everything the tables and figures need.

A record keeps the test sessions' conditional click probabilities (packed, real ranks only)
so that EM/gradient agreement can be computed from the cache whenever both fits exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks import fit_options, metrics
from benchmarks.bench import cache, engines
from benchmarks.bench.datasets import DatasetSpec, Split
from benchmarks.bench.recovery import recovery
from benchmarks.memory import track_peak_memory
from clicklog import catalogue
from clicklog.fit import Fit
from clicklog.sessions import Sessions

FitFunction = Callable[[str, str, Sessions, dict], Fit]


@dataclass(frozen=True)
class Job:
    """One fit. `protocol` names the table it feeds ("bench", "paper-clax"); it is not part of
    the key, so two protocols asking for the same fit share one record."""

    dataset: DatasetSpec
    model: str
    engine: str
    settings: dict
    protocol: str = "bench"

    @cached_property
    def key(self) -> str:
        code = cache.code_fingerprint(engines.package(self.engine))
        return cache.fit_key(self.dataset.key(), self.model, self.engine, self.settings, code)

    @property
    def label(self) -> str:
        return f"{self.dataset.name} {self.model} {self.engine}"


def jsonable(value: Any) -> Any:
    """Plain JSON types for numpy scalars and arrays, tuples and nested containers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def history_columns(history: list[dict]) -> dict[str, list]:
    """The fit's history as columns: every numeric key the first entry has."""
    if not history:
        return {"seconds": [], "objective": []}
    keys = [k for k, v in history[0].items() if isinstance(v, int | float | np.number)]
    return {k: [jsonable(h.get(k)) for h in history] for k in keys}


def run(
    job: Job,
    split: Split,
    fit_fn: FitFunction = engines.fit,
    provenance: dict | None = None,
    position: str = "",
    progress: bool = True,
) -> dict:
    """Fit, measure and score one job; the record `cache.store` writes."""
    with tqdm(total=2, desc=f"{position}{job.label}", unit="step", disable=not progress,
              bar_format="{desc}: {bar:10} {elapsed} {postfix}") as bar:
        bar.set_postfix_str("fitting")
        engines.load(job.engine)
        start = time.perf_counter()
        with track_peak_memory() as memory, fit_options.progress(
            f"{position}{job.label}", job.engine, job.settings, progress
        ) as callback:
            # A fit function that takes no callback (a test's) is called without one.
            extra = {"callback": callback} if callback is not None else {}
            fit = fit_fn(job.engine, job.model, split.train, job.settings, **extra)
        wall = time.perf_counter() - start
        bar.update(1)
        bar.set_postfix_str("scoring")
        record = score(job, fit, split, wall, memory.peak_above_baseline)
        record["made"] = provenance or {}
        bar.update(1)
        bar.set_postfix_str(
            f"{fit.iterations} iterations, {record['cost']['fit_seconds']:.2f} s, "
            f"test LL {record['test']['log_likelihood']:.4f}"
        )
    return record


def score(job: Job, fit: Fit, split: Split, wall_seconds: float, peak_bytes: int) -> dict:
    train, test = split.train, split.test
    click = fit.click_probs(test)
    cond = fit.conditional_click_probs(test)
    ppl = metrics.perplexity(test, click)
    cppl = metrics.perplexity(test, cond)
    mask = test.mask
    weight = np.broadcast_to(test.weight[:, None], mask.shape)[mask]
    truth = split.truth
    recovered = None
    if truth is not None and catalogue.base_model(job.model) == job.dataset.generator:
        recovered = recovery(job.model, fit.params, truth, train)
    return {
        "key": job.key,
        "cache_version": cache.CACHE_VERSION,
        "dataset": job.dataset.key(),
        "model": job.model,
        "engine": job.engine,
        "settings": job.settings,
        "data": {
            "train_sessions": train.n,
            "test_sessions": test.n,
            "test_sessions_dropped": split.test_dropped,
            "train_impressions": train.n_impressions,
            "test_impressions": test.n_impressions,
        },
        "cost": {
            "fit_seconds": fit.fit_seconds,
            "compile_seconds": float(fit.compile_seconds),
            "wall_seconds": wall_seconds,
            "iterations": fit.iterations,
            "converged": bool(fit.converged),
            "peak_memory_bytes": int(peak_bytes),
        },
        "train": {"objective": float(fit.objective(train))},
        "test": {
            "log_likelihood": metrics.log_likelihood(test, cond),
            "perplexity": ppl.overall,
            "conditional_perplexity": cppl.overall,
            "perplexity_per_rank": ppl.per_rank.tolist(),
            "conditional_perplexity_per_rank": cppl.per_rank.tolist(),
        },
        "fit_settings": jsonable(fit.settings),
        "history": history_columns(fit.history),
        "recovery": recovered,
        "test_conditional": cache.pack(cond[mask]),
        "test_weight": cache.pack(weight),
    }
