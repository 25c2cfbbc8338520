"""`clickfit bench`: fit every model with every engine on every dataset, write results/.

A run is a list of jobs (dataset, model, engine, settings). Each job's record is looked up in
the fit cache first (benchmarks.bench.cache); only missing ones are fitted, each under its
own progress bar, and stored the moment they finish, so a killed run resumes where it stopped.
Tables, figures and results/README.md are then rebuilt from the records
(benchmarks.bench.results), all written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import paper_clax
from benchmarks.bench import cache, datasets, engines, record
from benchmarks.bench.datasets import DatasetSpec
from benchmarks.bench.engines import DEFAULT_PRIOR
from benchmarks.bench.readme import provenance
from benchmarks.bench.record import FitFunction, Job
from benchmarks.bench.results import write_results
from clicklog import catalogue

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "results"
DEFAULT_CACHE = REPO / ".cache" / "bench"
BENCH = "bench"


@dataclass(frozen=True)
class Options:
    models: tuple[str, ...] = engines.DEFAULT_MODELS
    engines: tuple[str, ...] = engines.ENGINES
    datasets: tuple[str, ...] = datasets.FAMILIES
    size: str = "default"
    data_dir: str | None = None
    results_dir: Path = DEFAULT_RESULTS
    cache_dir: Path = DEFAULT_CACHE
    prior: tuple[float, float] | None = DEFAULT_PRIOR
    progress: bool = True


@dataclass
class Outcome:
    """Each job with its record (jobs of two protocols may share one), and what the run did."""

    results: list[tuple[Job, dict]]
    fits_run: int = 0
    fits_cached: int = 0
    files: list[tuple[str, str]] = field(default_factory=list)

    def records(self, protocol: str | None = None) -> list[dict]:
        """Records of one protocol's jobs, or every distinct record."""
        seen: dict[str, dict] = {}
        for job, rec in self.results:
            if protocol is None or job.protocol == protocol:
                seen.setdefault(job.key, rec)
        return list(seen.values())


def bench_jobs(spec: DatasetSpec, options: Options) -> list[Job]:
    """The main table's jobs; a generator dataset only fits the ten catalogue models by EM."""
    if spec.family == datasets.GENERATORS:
        if engines.EM not in options.engines:
            return []
        pairs = [(m, engines.EM) for m in options.models if m in catalogue.MODELS]
    else:
        pairs = [(m, e) for m in options.models for e in options.engines if engines.runs(e, m)]
    return [Job(spec, m, e, engines.settings(e, options.prior), BENCH) for m, e in pairs]


def execute(
    jobs: Sequence[Job],
    yandex: tuple[Path, Path] | None,
    cache_dir: Path,
    fit_fn: FitFunction = engines.fit,
    progress: bool = True,
) -> Outcome:
    """Each job's record from the cache, or fitted and cached now; a dataset is loaded only
    when one of its jobs has to run."""
    made = provenance(REPO)
    outcome = Outcome(results=[])
    splits: dict[str, datasets.Split] = {}
    done: dict[str, dict] = {}
    for i, job in enumerate(jobs, start=1):
        if job.key not in done:
            path = cache.record_path(cache_dir, job.dataset.name, job.model, job.engine, job.key)
            rec = cache.load(path)
            if rec is None:
                if job.dataset.name not in splits:
                    splits[job.dataset.name] = datasets.load(job.dataset, yandex)
                rec = record.run(job, splits[job.dataset.name], fit_fn, made,
                                 position=f"[{i}/{len(jobs)}] ", progress=progress)
                cache.store(path, rec)
                outcome.fits_run += 1
            else:
                outcome.fits_cached += 1
            done[job.key] = rec
        outcome.results.append((job, done[job.key]))
    return outcome


def command_line(options: Options) -> str:
    """The `clickfit bench` call that gives these options (defaults left out)."""
    words = ["clickfit", "bench"]
    defaults = Options()
    for name in ("models", "engines", "datasets"):
        value = getattr(options, name)
        if value != getattr(defaults, name):
            words += [f"--{name}", ",".join(value)]
    if options.size != defaults.size:
        words += ["--size", options.size]
    if options.prior is None:
        words.append("--no-prior")
    elif tuple(options.prior) != defaults.prior:
        words += ["--prior", *(f"{v:g}" for v in options.prior)]
    return " ".join(words)


def _options_json(options: Options) -> dict:
    return {"models": list(options.models), "engines": list(options.engines),
            "datasets": list(options.datasets), "size": options.size,
            "prior": None if options.prior is None else list(options.prior)}


def run_bench(options: Options, fit_fn: FitFunction = engines.fit) -> Outcome:
    """Plan, fit what the cache lacks, write the results directory."""
    started = time.perf_counter()
    for e in options.engines:
        engines.check_engine(e)
    for m in options.models:
        catalogue.base_model(m)
    specs, yandex = datasets.registry(options.size, options.datasets, options.data_dir)
    if datasets.YANDEX in options.datasets and yandex is None and options.data_dir:
        raise FileNotFoundError(f"no Yandex sample under {options.data_dir}")
    jobs = [j for spec in specs for j in bench_jobs(spec, options)]
    if {engines.EM, engines.ADAM} <= set(options.engines):
        jobs += paper_clax.jobs(specs, options.models, options.prior)
    outcome = execute(jobs, yandex, Path(options.cache_dir), fit_fn, options.progress)
    run = {**provenance(REPO), "command": command_line(options), "size": options.size,
           "wall_seconds": time.perf_counter() - started, "fits_run": outcome.fits_run,
           "fits_cached": outcome.fits_cached, "options": _options_json(options)}
    settings = {e: engines.settings(e, options.prior) for e in options.engines}
    outcome.files = write_results(Path(options.results_dir), specs, outcome.records(BENCH),
                                  outcome.records(paper_clax.PROTOCOL), run, settings)
    return outcome


def _names(allowed: Sequence[str]):
    """argparse type: a comma-separated list of names out of `allowed`, in the given order."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; choose from {','.join(allowed)}")
        return names

    return parse


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options `bench` and `paper clax` share: where data, results and the cache live."""
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="shared data directory holding yandex-wscd-sample/ (default: "
                             "$CLICKFIT_DATA, else ../shared/data beside the repository)")
    parser.add_argument("--results", metavar="DIR", type=Path, default=DEFAULT_RESULTS,
                        help=f"where tables and figures go (default: {DEFAULT_RESULTS})")
    parser.add_argument("--cache", metavar="DIR", type=Path, default=DEFAULT_CACHE,
                        help="fit cache; delete it to refit everything (default: "
                             f"{DEFAULT_CACHE})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="compare EM and gradient descent on every model and dataset; write results/",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--models", type=_names(engines.DEFAULT_MODELS),
                   default=engines.DEFAULT_MODELS,
                   help="comma-separated models (default: the ten and the EM counting "
                        "variants: " + ",".join(engines.DEFAULT_MODELS) + ")")
    p.add_argument("--engines", type=_names(engines.ENGINES), default=engines.ENGINES,
                   help="comma-separated engines (default: " + ",".join(engines.ENGINES) + ")")
    p.add_argument("--datasets", type=_names(datasets.FAMILIES), default=datasets.FAMILIES,
                   help="comma-separated datasets (default: " + ",".join(datasets.FAMILIES)
                        + "; yandex only where the sample is present; generators are fitted "
                        "by em only)")
    p.add_argument("--size", choices=tuple(datasets.SIZES), default="default",
                   help="simulated log sizes (default: default; full is `make bench-full`)")
    p.add_argument("--prior", type=float, nargs=2, metavar=("A", "B"),
                   default=engines.DEFAULT_PRIOR, help="Beta(A, B) prior (default: 2 2)")
    p.add_argument("--no-prior", action="store_true", help="maximum likelihood, no prior")
    add_common_arguments(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    options = Options(
        models=args.models, engines=args.engines, datasets=args.datasets, size=args.size,
        data_dir=args.data, results_dir=args.results, cache_dir=args.cache,
        prior=None if args.no_prior else tuple(args.prior), progress=not args.no_progress,
    )
    started = time.perf_counter()
    outcome = run_bench(options)
    print(f"clickfit bench: {outcome.fits_run} fits computed, {outcome.fits_cached} from the "
          f"cache, {time.perf_counter() - started:.0f} s; results in {options.results_dir}",
          file=sys.stderr)
    for name, _ in outcome.files:
        print(os.path.join(options.results_dir, name))
    return 0
