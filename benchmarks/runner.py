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

from benchmarks import interrupt, paper_clax
from benchmarks.bench import cache, datasets, engines, features, ranking_report, record
from benchmarks.bench.datasets import DatasetSpec
from benchmarks.bench.engines import DEFAULT_PRIOR
from benchmarks.bench.readme import provenance
from benchmarks.bench.record import FitFunction, Job
from benchmarks.bench.results import write_results
from benchmarks.prior_option import add_prior_option
from clicklog import catalogue
from clicklog.paths import ENV_VAR, REPO_ROOT, YANDEX_SAMPLE

REPO = Path(__file__).resolve().parent.parent
# Relative to the working directory, never to the installed package (a wheel installs into
# site-packages): `make bench` runs from the repository root and rewrites its results/.
DEFAULT_RESULTS = Path("results")
DEFAULT_CACHE = Path(".cache") / "bench"
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
    prior: tuple[float, float] | str | None = DEFAULT_PRIOR
    progress: bool = True
    # Named on the command line: then a missing Yandex sample is an error, not a skip.
    require_yandex: bool = False
    require_ranking: bool = False


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
        interrupt.check(i, len(jobs))
    return outcome


def yandex_location(data_dir: str | os.PathLike | None) -> Path:
    """The folder clicklog.paths.yandex_sample_paths looks in for the sample: under --data,
    else $CLICKFIT_DATA, else ../shared/data beside the repository."""
    if data_dir:
        root = Path(data_dir)
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
    else:
        root = REPO_ROOT.parent / "shared" / "data"
    return root / YANDEX_SAMPLE


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
    elif isinstance(options.prior, str):
        words += ["--prior", options.prior]
    elif tuple(options.prior) != defaults.prior:
        words += ["--prior", *(f"{v:g}" for v in options.prior)]
    return " ".join(words)


def _options_json(options: Options) -> dict:
    return {"models": list(options.models), "engines": list(options.engines),
            "datasets": list(options.datasets), "size": options.size,
            "prior": options.prior if options.prior is None or isinstance(options.prior, str)
            else list(options.prior)}


def run_bench(options: Options, fit_fn: FitFunction = engines.fit) -> Outcome:
    """Plan, fit what the cache lacks, write the results directory."""
    started = time.perf_counter()
    for e in options.engines:
        engines.check_engine(e)
    for m in options.models:
        catalogue.base_model(m)
    specs, yandex = datasets.registry(options.size, options.datasets, options.data_dir)
    if datasets.YANDEX in options.datasets and yandex is None and (
        options.data_dir or options.require_yandex
    ):
        raise FileNotFoundError(
            f"--datasets yandex: no Yandex sample (trainSample and testSample) in "
            f"{yandex_location(options.data_dir)}; pass --data DIR or set {ENV_VAR}")
    jobs = [j for spec in specs for j in bench_jobs(spec, options)]
    if {engines.EM, engines.ADAM} <= set(options.engines):
        jobs += paper_clax.jobs(specs, options.models, options.prior)
    outcome = execute(jobs, yandex, Path(options.cache_dir), fit_fn, options.progress)
    ranked, ranked_run, ranked_cached = ranking_report.run_in_bench(options)
    outcome.fits_run += ranked_run
    outcome.fits_cached += ranked_cached
    ranked += features.run_in_bench(options)
    run = {**provenance(REPO), "command": command_line(options), "size": options.size,
           "wall_seconds": time.perf_counter() - started, "fits_run": outcome.fits_run,
           "fits_cached": outcome.fits_cached, "options": _options_json(options)}
    settings = {e: engines.settings(e, options.prior) for e in options.engines}
    outcome.files = write_results(Path(options.results_dir), specs, outcome.records(BENCH),
                                  outcome.records(paper_clax.PROTOCOL), run, settings,
                                  extra=ranked)
    return outcome


def name_list(allowed: Sequence[str]):
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
                        help=f"where tables and figures go (default: {DEFAULT_RESULTS}/ in the "
                             "working directory)")
    parser.add_argument("--cache", metavar="DIR", type=Path, default=DEFAULT_CACHE,
                        help="fit cache; delete it to refit everything (default: "
                             f"{DEFAULT_CACHE}/ in the working directory)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="compare EM and gradient descent on every model and dataset; write results/",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--models", type=name_list(engines.DEFAULT_MODELS),
                   default=engines.DEFAULT_MODELS,
                   help="comma-separated models (default: the ten and the EM counting "
                        "variants: " + ",".join(engines.DEFAULT_MODELS) + ")")
    p.add_argument("--engines", type=name_list(engines.ENGINES), default=engines.ENGINES,
                   help="comma-separated engines (default: " + ",".join(engines.ENGINES) + ")")
    p.add_argument("--datasets", type=name_list(datasets.FAMILIES), default=None,
                   help="comma-separated datasets (default: " + ",".join(datasets.FAMILIES)
                        + "; yandex only where the sample is present; generators are fitted "
                        "by em only)")
    p.add_argument("--size", choices=tuple(datasets.SIZES), default="default",
                   help="simulated log sizes (default: default; full is `make bench-full`)")
    add_prior_option(p, engines.DEFAULT_PRIOR)
    add_common_arguments(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    options = Options(
        models=args.models, engines=args.engines, datasets=args.datasets or datasets.FAMILIES,
        require_yandex=bool(args.datasets) and datasets.YANDEX in args.datasets, size=args.size,
        require_ranking=bool(args.datasets) and datasets.RANKING in args.datasets,
        data_dir=args.data, results_dir=args.results, cache_dir=args.cache,
        prior=None if args.no_prior else args.prior, progress=not args.no_progress,
    )
    started = time.perf_counter()
    with interrupt.deferred():
        outcome = run_bench(options)
    print(f"clickfit bench: {outcome.fits_run} fits computed, {outcome.fits_cached} from the "
          f"cache, {time.perf_counter() - started:.0f} s; results in {options.results_dir}",
          file=sys.stderr)
    for name, _ in outcome.files:
        print(os.path.join(options.results_dir, name))
    return 0
