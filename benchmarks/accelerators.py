"""`clickfit accelerators`: where plain EM, SQUAREM and Anderson acceleration stop, in E-steps
and seconds, and how far from the optimum; writes results/accelerators.md and .csv.

On the first n sessions of the Yandex-like log of `clickfit scale` (same --data-dir and seed),
deduplicated, each model is fitted to --tol by plain EM (up to --plain-max sessions: it needs
thousands of E-steps), by SQUAREM (em/squarem.py) and by Anderson acceleration
(em/anderson.py, the default of `accelerate=True`). The optimum each is measured against is
the best objective of a reference run: Anderson with tol = 0 for --reference-esteps E-steps,
far past the stopping rule. "gap" is that optimum minus the objective where a fit stopped
(per impression; zero or below means it reached the reference). A stopping rule that works
leaves gaps below tol; one that does not shows here first. Times are wall seconds of the fit
after compilation on a machine whose load is recorded beside them.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks import scale
from benchmarks.bench.readme import _commit_text, provenance
from benchmarks.simulate import yandex_like
from clicklog.atomic import atomic_write
from clicklog.dedup import dedup

REPO = Path(__file__).resolve().parent.parent
MODELS: tuple[str, ...] = ("pbm", "ubm", "dcm", "ccm", "dbn", "sdbn")
METHODS: dict[str, bool | str] = {"plain": False, "squarem": "squarem", "anderson": "anderson"}
PRIOR = (2.0, 2.0)
FIELDS = ("sessions", "model", "method", "esteps", "converged", "seconds", "objective",
          "reference", "gap", "load")


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = (100_000, 1_000_000)
    models: tuple[str, ...] = MODELS
    plain_max: int = 100_000
    tol: float = 1e-9
    max_iter: int = 5000
    reference_esteps: int = 600
    data_dir: Path = scale.Options().data_dir
    results_dir: Path = REPO / "results"
    seed: int = 0


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _fit(model: str, sessions, accelerate, tol: float, max_iter: int):
    import em

    em.fit(model, sessions.subset(np.arange(min(sessions.n, 50))), prior=PRIOR, max_iter=2,
           accelerate=accelerate)
    started = time.perf_counter()
    fit = em.fit(model, sessions, prior=PRIOR, tol=tol, max_iter=max_iter,
                 accelerate=accelerate)
    return fit, time.perf_counter() - started


def _source(options: Options) -> Path:
    """`clickfit scale`'s largest log where it is there already (its first n sessions are the
    ones that command fits), else one of the largest size asked for."""
    sweep = scale.Options(data_dir=options.data_dir, seed=options.seed)
    if max(options.sizes) <= max(sweep.sizes) and scale.log_path(sweep, max(sweep.sizes)).exists():
        return scale.log_path(sweep, max(sweep.sizes))
    return scale.largest_log(scale.Options(sizes=(max(options.sizes),),
                                           data_dir=options.data_dir, seed=options.seed))


def measure(options: Options) -> list[dict]:
    """One row per (size, model, method) of the module docstring."""
    source = _source(options)
    rows = []
    for size in options.sizes:
        sessions = dedup(yandex_like.head(source, size))
        for model in options.models:
            reference, _ = _fit(model, sessions, "anderson", 0.0, options.reference_esteps)
            best = max(h["objective"] for h in reference.history)
            for method, accelerate in METHODS.items():
                if method == "plain" and size > options.plain_max:
                    continue
                load = _load()
                fit, seconds = _fit(model, sessions, accelerate, options.tol, options.max_iter)
                value = fit.history[-1]["objective"]
                rows.append({
                    "sessions": size, "model": model, "method": method,
                    "esteps": fit.settings["esteps"], "converged": fit.converged,
                    "seconds": seconds, "objective": value, "reference": best,
                    "gap": best - value, "load": load,
                })
                print(f"{size:,} {model} {method}: {fit.settings['esteps']} E-steps, "
                      f"gap {best - value:.1e}", file=sys.stderr)
    return rows


def _row(rows: list[dict], size: int, model: str, method: str) -> dict | None:
    return next((r for r in rows if (r["sessions"], r["model"], r["method"])
                 == (size, model, method)), None)


def _value(cells: dict, method: str, key: str, form: str) -> str:
    cell = cells[method]
    return form.format(cell[key]) if cell else ""


def table(rows: list[dict], tol: float) -> list[str]:
    lines = ["| sessions | model | plain E-steps | SQUAREM E-steps | Anderson E-steps | "
             "SQUAREM / Anderson | plain gap | SQUAREM gap | Anderson gap | plain s | "
             "SQUAREM s | Anderson s | all converged |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for size in sorted({r["sessions"] for r in rows}):
        for model in dict.fromkeys(r["model"] for r in rows if r["sessions"] == size):
            cells = {m: _row(rows, size, model, m) for m in METHODS}
            present = [c for c in cells.values() if c]
            value = partial(_value, cells)

            ratio = (f"{cells['squarem']['esteps'] / cells['anderson']['esteps']:.2f}"
                     if cells["squarem"] and cells["anderson"] else "")
            lines.append(
                f"| {size:,} | {model} | {value('plain', 'esteps', '{}')} | "
                f"{value('squarem', 'esteps', '{}')} | {value('anderson', 'esteps', '{}')} | "
                f"{ratio} | {value('plain', 'gap', '{:.1e}')} | "
                f"{value('squarem', 'gap', '{:.1e}')} | {value('anderson', 'gap', '{:.1e}')} | "
                f"{value('plain', 'seconds', '{:.2f}')} | "
                f"{value('squarem', 'seconds', '{:.2f}')} | "
                f"{value('anderson', 'seconds', '{:.2f}')} | "
                f"{all(c['converged'] for c in present)} |")
    worst = max(r["gap"] for r in rows)
    lines += ["", f"Largest gap: {worst:.1e} per impression "
              f"({'below' if worst < tol else 'NOT below'} tol = {tol:g})."]
    return lines


def write(rows: list[dict], options: Options, run: dict) -> None:
    out = options.results_dir
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "accelerators.csv") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    loads = [r["load"] for r in rows]
    text = [
        "# Accelerators: where EM stops, and how far from the optimum", "",
        f"Written by `{run['command']}` on {run['date']} in {run['wall_seconds']:.0f} s "
        f"(commit {_commit_text(run)}). "
        "Do not edit by hand.", "",
        f"- Machine: {run['machine']}; load average (1 min) before each fit: median "
        f"{np.median(loads):.1f}, largest {max(loads):.1f} (2 cores: above 2, times are upper "
        "bounds).",
        f"- Data: the first n sessions of the Yandex-like log of `clickfit scale` (seed "
        f"{options.seed}), deduplicated; prior Beta(2, 2); tol {options.tol:g} per impression, "
        f"at most {options.max_iter} E-steps; plain EM up to {options.plain_max:,} sessions.",
        f"- Reference optimum: the best objective of Anderson with tol = 0 over "
        f"{options.reference_esteps} E-steps; gap = reference minus where the fit stopped.",
        "- Plain EM stops on two consecutive gains and Aitken's estimate (em/loop.py); SQUAREM "
        "and Anderson on the same estimate over windows of em.loop.WINDOW iterations against "
        "em.loop.MARGIN * tol. E-steps count every E-step, refused extrapolations included; "
        "seconds exclude compilation.", "",
        *table(rows, options.tol), "",
    ]
    with atomic_write(out / "accelerators.md") as handle:
        handle.write("\n".join(text))


def command_line(options: Options) -> str:
    return (f"clickfit accelerators --sizes {','.join(str(s) for s in options.sizes)} "
            f"--models {','.join(options.models)} --plain-max {options.plain_max} "
            f"--reference-esteps {options.reference_esteps} --seed {options.seed}")


def main(options: Options) -> int:
    started = time.perf_counter()
    rows = measure(options)
    run = {**provenance(REPO), "command": command_line(options),
           "wall_seconds": time.perf_counter() - started}
    write(rows, options, run)
    print(f"wrote {options.results_dir / 'accelerators.md'}", file=sys.stderr)
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("accelerators", help="plain EM, SQUAREM and Anderson: E-steps "
                              "and distance to the optimum; writes results/accelerators.md",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Options()
    p.add_argument("--sizes", type=scale._sizes, default=d.sizes, help="comma-separated sizes")
    p.add_argument("--models", type=scale._names, default=d.models)
    p.add_argument("--plain-max", type=lambda v: int(float(v)), default=d.plain_max)
    p.add_argument("--reference-esteps", type=int, default=d.reference_esteps)
    p.add_argument("--data-dir", type=Path, default=d.data_dir)
    p.add_argument("--results", type=Path, default=d.results_dir)
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    unknown = set(args.models) - set(MODELS)
    if unknown:
        raise SystemExit(f"clickfit accelerators: models {sorted(unknown)} have no iterations "
                         f"to accelerate here; choose from {MODELS}")
    return main(Options(sizes=args.sizes, models=args.models, plain_max=args.plain_max,
                        reference_esteps=args.reference_esteps, data_dir=args.data_dir,
                        results_dir=args.results, seed=args.seed))
