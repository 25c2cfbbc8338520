"""`clickfit scale` (`make bench-scale`): fit time and peak memory against log size, every
model, both engines, on a Yandex-like log of up to ten million sessions; writes results/scale/.

The anchors: CLAX (Hager et al., 2025) trains each model on 10M Yandex sessions in 1.9 to 4.5
minutes on an RTX A6000 GPU (PBM 121 s, UBM 148 s, DBN 270 s, CCM 112 s); PyClick's EM needs
2.7 hours (PBM) to 36 hours (CCM) on a CPU. The engines measured (ENGINES):

    em          in memory: the sessions deduplicated (clicklog.dedup, timed), then exact EM with
                Anderson acceleration (em/anderson.py) to the default benchmark's tolerance
                (1e-9 nats per impression, at most 2000 E-steps); its time is deduplication
                plus fit
    em-plain    the same with plain EM, up to --plain-max sessions: the optimum Anderson must
                reach, and how many more E-steps plain EM takes
    em-raw      the em row on the sessions as logged, without deduplication, up to --raw-max
                sessions: deduplication's gain
    em-stream   em.fit on the Parquet file itself (em/stream.py: bounded memory, scratch copy
                and all timed), Anderson, for --stream-models at --stream-sizes
    gradient    gradient.fit with CLAX's Adam (learning rate 0.01, minibatches of 4096, at most
                50 epochs, early stopping on 10% held out), in memory, up to --gradient-max
    gradient-stream  the same Adam on the Parquet file (gradient/stream.py), for
                --stream-models at the --stream-sizes up to --gradient-max

Data: one log of the largest size, written once by benchmarks/simulate/yandex_like.py into
--data-dir (default .cache/scale) and kept; size n is its first n sessions, with compact
vocabularies (em-stream reads them from a Parquet file of their own). Every (size, engine)
runs in a fresh Python process that fits its models one after another, so that a fit's peak
resident memory (sampled from /proc every 5 ms, the loaded sessions included) is its own, not
an earlier fit's. Compilation (Numba, XLA) is timed apart and excluded, as in the main
benchmark, and a small untimed fit first warms up each process (thread pools, caches). A
record per fit is stored in --data-dir/records as soon as it exists (keyed by the code that
produced it), so an interrupted run resumes. The load average of the machine is recorded
before each fit: other work on the machine's cores slows the fits.

`--huge N` runs benchmarks/scale_stream.py instead: one log of N sessions (10^8), streamed EM
for --huge-models, results in results/scale/streaming-<N>.md, the main table left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import scale_projection
from benchmarks.bench import cache, engines
from benchmarks.bench.readme import provenance
from benchmarks.memory import track_peak_memory
from benchmarks.simulate import yandex_like
from clicklog import catalogue
from clicklog.atomic import atomic_path, atomic_write

REPO = Path(__file__).resolve().parent.parent
SIZES: tuple[int, ...] = (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)
EM, EM_PLAIN, EM_RAW, EM_STREAM = "em", "em-plain", "em-raw", "em-stream"
GRADIENT, GRADIENT_STREAM = "gradient", "gradient-stream"
ENGINES: tuple[str, ...] = (EM, EM_PLAIN, EM_RAW, EM_STREAM, GRADIENT, GRADIENT_STREAM)
STREAMED: tuple[str, ...] = (EM_STREAM, GRADIENT_STREAM)
CLAX_SECONDS: dict[str, float] = {"pbm": 121.0, "ubm": 148.0, "dbn": 270.0, "ccm": 112.0}
EM_SETTINGS = engines.SETTINGS[engines.EM]
ADAM_SETTINGS = dict(engines.SETTINGS[engines.ADAM])
PRIOR = engines.DEFAULT_PRIOR
GIB = 2.0**30


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = SIZES
    models: tuple[str, ...] = catalogue.MODELS
    engines: tuple[str, ...] = ENGINES
    plain_max: int = 300_000
    raw_max: int = 1_000_000
    gradient_max: int = 1_000_000
    stream_sizes: tuple[int, ...] = (1_000_000, 10_000_000)
    stream_models: tuple[str, ...] = tuple(CLAX_SECONDS)
    # Under the working directory, as `clickfit bench` writes, never into an installed package.
    data_dir: Path = Path(".cache") / "scale"
    results_dir: Path = Path("results") / "scale"
    seed: int = 0
    world: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """The fits one child process makes: one engine, one log size, some models."""

    size: int
    engine: str
    models: tuple[str, ...]


def plan(options: Options) -> list[Cell]:
    """Every (size, engine) of the run with its models, in the order they run."""
    cells = []
    for size in sorted(options.sizes):
        for engine in options.engines:
            models = options.models
            if (engine == EM_PLAIN and size > options.plain_max) or (
                engine == EM_RAW and size > options.raw_max
            ):
                continue
            if engine in (GRADIENT, GRADIENT_STREAM) and size > options.gradient_max:
                continue
            if engine in STREAMED:
                if size not in options.stream_sizes:
                    continue
                models = tuple(m for m in models if m in options.stream_models)
            if models:
                cells.append(Cell(size, engine, models))
    return cells


def log_path(options: Options, size: int) -> Path:
    return options.data_dir / f"yandex-like-seed{options.seed}-{size}.parquet"


def largest_log(options: Options) -> Path:
    """The log of the largest size, generated once (module docstring)."""
    path = log_path(options, max(options.sizes))
    if not path.exists():
        print(f"writing {max(options.sizes):,} Yandex-like sessions to {path}", file=sys.stderr)
        yandex_like.write_yandex_like(
            path, max(options.sizes), seed=options.seed, **options.world
        )
    return path


def sized_log(options: Options, size: int) -> Path:
    """A Parquet file of the first `size` sessions of the largest log."""
    path = log_path(options, size)
    if not path.exists():
        yandex_like.write_head(largest_log(options), path, size)
    return path


def record_path(options: Options, size: int, engine: str, model: str) -> Path:
    package = "gradient" if engine.startswith(GRADIENT) else "em"
    code = cache.code_fingerprint(package)
    name = f"{engine}--{model}--{size}--seed{options.seed}--{code}.json"
    return options.data_dir / "records" / name


def _load_average() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return [float("nan")] * 3


def _fit(engine: str, model: str, data, callback=None):
    """The fit one record times: em.fit or gradient.fit with this engine's settings."""
    if engine.startswith(GRADIENT):
        import gradient

        return gradient.fit(model, data, prior=PRIOR, **ADAM_SETTINGS)
    import em

    return em.fit(model, data, prior=PRIOR, accelerate=engine != EM_PLAIN, callback=callback,
                  **EM_SETTINGS)


def progress_path(record: Path) -> Path:
    """Where a streamed EM fit reports its last history entry while it runs."""
    return record.with_suffix(".progress.json")


def _progress(path: Path):
    """A callback keeping `path` at the latest history entry and load average, so that a
    long fit that is stopped still says how far it got."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def report(entry: dict) -> None:
        with atomic_write(path) as f:
            f.write(json.dumps({**entry, "load_average": _load_average()}, default=float))
    return report


def measure(cell: Cell, options: Options, paths: dict[str, Path]) -> None:
    """Fit a cell's models (in this process) and store each model's record at its path."""
    import numba

    from clicklog.dedup import dedup

    started = time.perf_counter()
    if cell.engine in STREAMED:
        data = sized_log(options, cell.size)
        shape = {"sessions": cell.size}
    else:
        data = yandex_like.head(largest_log(options), cell.size)
        shape = {"sessions": data.n, "qd_pairs": data.n_qd}
    read_seconds = time.perf_counter() - started
    warm = yandex_like.head(largest_log(options), min(cell.size, 2000))
    in_memory = {EM_STREAM: EM_RAW, GRADIENT_STREAM: GRADIENT}.get(cell.engine, cell.engine)
    for model in cell.models:
        _fit(in_memory, model, warm)
    dedup_seconds, dedup_peak = 0.0, 0
    if cell.engine in (EM, EM_PLAIN):
        with track_peak_memory() as memory:
            started = time.perf_counter()
            data = dedup(data)
            dedup_seconds = time.perf_counter() - started
        dedup_peak = memory.peak
        shape["distinct_sessions"] = data.n
    for model in cell.models:
        load = _load_average()
        callback = _progress(progress_path(Path(paths[model]))) if cell.engine == EM_STREAM \
            else None
        cpu_started = time.process_time()
        with track_peak_memory() as memory:
            fit = _fit(cell.engine, model, data, callback)
        cpu_seconds = time.process_time() - cpu_started
        load_after = _load_average()
        fit_seconds = fit.fit_seconds
        if "distinct_sessions" in fit.settings:
            shape["distinct_sessions"] = fit.settings["distinct_sessions"]
        record = {
            "size": cell.size, "engine": cell.engine, "model": model, **shape,
            "read_seconds": read_seconds, "dedup_seconds": dedup_seconds,
            "fit_seconds": fit_seconds, "seconds": dedup_seconds + fit_seconds,
            "compile_seconds": fit.compile_seconds, "iterations": fit.iterations,
            "esteps": fit.settings.get("esteps", fit.iterations),
            "converged": bool(fit.converged), "objective": fit.history[-1]["objective"],
            "peak_rss_gib": max(memory.peak, dedup_peak) / GIB,
            "baseline_rss_gib": memory.baseline / GIB, "load_average": load,
            "load_after": load_after, "threads": numba.get_num_threads(),
            "cpu_seconds": cpu_seconds,
            "settings": {k: v for k, v in fit.settings.items()
                         if isinstance(v, int | float | str | bool)},
            "made": provenance(REPO),
        }
        cache.store(Path(paths[model]), record)
        progress_path(Path(paths[model])).unlink(missing_ok=True)
        print(f"{cell.engine:>9} {model:>5} {cell.size:>10,}: {record['seconds']:8.1f} s, "
              f"{record['esteps']} steps, peak {record['peak_rss_gib']:.2f} GiB, load "
              f"{load[0]:.1f}", file=sys.stderr, flush=True)


def _options_json(options: Options) -> str:
    return json.dumps({k: (os.fspath(v) if isinstance(v, Path) else v)
                       for k, v in asdict(options).items()})


def _options_from_json(text: str) -> Options:
    raw = json.loads(text)
    for name in ("data_dir", "results_dir"):
        raw[name] = Path(raw[name])
    for name in ("sizes", "models", "engines", "stream_sizes", "stream_models"):
        raw[name] = tuple(raw[name])
    return Options(**raw)


def run_cell(cell: Cell, options: Options, paths: dict[str, Path]) -> None:
    """`measure` in a fresh Python process (module docstring)."""
    payload = json.dumps({"cell": asdict(cell), "options": _options_json(options),
                          "paths": {m: os.fspath(p) for m, p in paths.items()}})
    subprocess.run([sys.executable, "-m", "benchmarks.scale", payload], check=True)


def collect(options: Options, isolate: bool = True) -> list[dict]:
    """Every record of the run's plan, measuring the missing ones."""
    largest_log(options)
    records = []
    for cell in plan(options):
        paths = {m: record_path(options, cell.size, cell.engine, m) for m in cell.models}
        missing = tuple(m for m, path in paths.items() if not path.exists())
        if missing:
            todo = Cell(cell.size, cell.engine, missing)
            run_cell(todo, options, paths) if isolate else measure(todo, options, paths)
        records += [cache.load(path) for path in paths.values()]
    return records


# ---------------------------------------------------------------- tables and figures


def slope(records: list[dict], key: str = "seconds", smallest: int = 100_000) -> float | None:
    """Least-squares slope of log(key) against log(sessions) over sizes >= `smallest`: 1 is
    linear growth."""
    points = [(r["size"], r[key]) for r in records if r["size"] >= smallest and r[key] > 0]
    if len({s for s, _ in points}) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def _by(records: list[dict], **where) -> list[dict]:
    return [r for r in records if all(r[k] == v for k, v in where.items())]


def _one(records: list[dict], **where) -> dict | None:
    found = _by(records, **where)
    return found[0] if found else None


def _cell(record: dict | None, key: str, digits: int = 1) -> str:
    return "" if record is None or record.get(key) is None else f"{record[key]:.{digits}f}"


def _seconds(record: dict | None) -> str:
    return _cell(record, "seconds")


def anchor_table(records: list[dict], size: int) -> list[str]:
    lines = [
        "| model | em: s (dedup + fit) | E-steps | converged | peak GiB | em-stream: s | "
        "em-stream peak GiB | CLAX GPU s | em / CLAX |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for model in catalogue.MODELS:
        em = _one(records, engine=EM, model=model, size=size)
        if em is None:
            continue
        stream = _one(records, engine=EM_STREAM, model=model, size=size)
        clax = CLAX_SECONDS.get(model)
        ratio = "" if clax is None else f"{em['seconds'] / clax:.2f}"
        lines.append(
            f"| {model} | {em['seconds']:.1f} | {em['esteps']} | {em['converged']} | "
            f"{em['peak_rss_gib']:.2f} | {_seconds(stream)} | "
            f"{_cell(stream, 'peak_rss_gib', 2)} | {'' if clax is None else int(clax)} | "
            f"{ratio} |"
        )
    return lines


def size_table(records: list[dict], engine: str) -> list[str]:
    sizes = sorted({r["size"] for r in _by(records, engine=engine)})
    models = [m for m in catalogue.MODELS if _by(records, engine=engine, model=m)]
    if not sizes:
        return []
    lines = ["| sessions | " + " | ".join(models) + " |",
             "|---:|" + "---:|" * len(models)]
    for size in sizes:
        lines.append(f"| {size:,} | " + " | ".join(
            _seconds(_one(records, engine=engine, model=m, size=size)) for m in models) + " |")
    slopes = [slope(_by(records, engine=engine, model=m)) for m in models]
    lines.append("| slope (>= 1e5) | " + " | ".join(
        "" if s is None else f"{s:.2f}" for s in slopes) + " |")
    return lines


def dedup_table(records: list[dict]) -> list[str]:
    lines = ["| sessions | distinct | sessions per row | em-raw s (all models) | "
             "em s (all models, dedup included) | gain |", "|---:|---:|---:|---:|---:|---:|"]
    for size in sorted({r["size"] for r in _by(records, engine=EM_RAW)}):
        raw, dedup = _by(records, engine=EM_RAW, size=size), _by(records, engine=EM, size=size)
        pairs = [(r, _one(dedup, model=r["model"])) for r in raw]
        pairs = [(r, d) for r, d in pairs if d is not None]
        if not pairs:
            continue
        t_raw = sum(r["seconds"] for r, _ in pairs)
        t_dedup = sum(d["seconds"] for _, d in pairs)
        distinct = pairs[0][1]["distinct_sessions"]
        lines.append(f"| {size:,} | {distinct:,} | {size / distinct:.2f} | {t_raw:.1f} | "
                     f"{t_dedup:.1f} | {t_raw / t_dedup:.2f}x |")
    return lines


def accelerated_table(records: list[dict]) -> list[str]:
    lines = ["| sessions | model | plain EM E-steps | Anderson E-steps | plain s | Anderson s | "
             "objective Anderson - plain |", "|---:|---|---:|---:|---:|---:|---:|"]
    for plain in sorted(_by(records, engine=EM_PLAIN), key=lambda r: (r["size"], r["model"])):
        fast = _one(records, engine=EM, model=plain["model"], size=plain["size"])
        if fast is None or plain["esteps"] <= 2:
            continue
        lines.append(
            f"| {plain['size']:,} | {plain['model']} | {plain['esteps']} | {fast['esteps']} | "
            f"{plain['seconds']:.1f} | {fast['seconds']:.1f} | "
            f"{fast['objective'] - plain['objective']:+.1e} |"
        )
    return lines


def stream_table(records: list[dict]) -> list[str]:
    """Streamed fits beside the same fits in memory: seconds and peak GiB."""
    pairs = ((EM, EM_STREAM), (GRADIENT, GRADIENT_STREAM))
    lines = ["| sessions | model | " + " | ".join(f"{e}: s | {e}: GiB" for p in pairs for e in p)
             + " |", "|---:|---|" + "---:|" * 8]
    keys = sorted({(r["size"], r["model"]) for r in records if r["engine"] in STREAMED})
    for size, model in keys:
        cells = []
        for engine in (e for p in pairs for e in p):
            found = _one(records, engine=engine, model=model, size=size)
            cells += [_seconds(found), _cell(found, "peak_rss_gib", 2)]
        lines.append(f"| {size:,} | {model} | " + " | ".join(cells) + " |")
    return lines


def memory_table(records: list[dict]) -> list[str]:
    engines_seen = [e for e in ENGINES if _by(records, engine=e)]
    sizes = sorted({r["size"] for r in records})
    lines = ["| sessions | " + " | ".join(engines_seen) + " |",
             "|---:|" + "---:|" * len(engines_seen)]
    for size in sizes:
        cells = []
        for engine in engines_seen:
            found = _by(records, engine=engine, size=size)
            cells.append(f"{max(r['peak_rss_gib'] for r in found):.2f}" if found else "")
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return lines


def time_figure(records: list[dict], path: Path) -> None:
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    styles = {EM: "-", GRADIENT: "--", EM_STREAM: ":", GRADIENT_STREAM: "-."}
    for index, model in enumerate(catalogue.MODELS):
        colour = matplotlib.colormaps["tab10"](index % 10)
        for engine, style in styles.items():
            rows = sorted(_by(records, engine=engine, model=model), key=lambda r: r["size"])
            if rows:
                x = [r["size"] for r in rows]
                left.plot(x, [r["seconds"] for r in rows], style, color=colour, marker="o",
                          markersize=3, label=f"{model} {engine}")
                right.plot(x, [r["fit_seconds"] / max(r["esteps"], 1) for r in rows], style,
                           color=colour, marker="o", markersize=3)
    sizes = sorted({r["size"] for r in records})
    for ax, title, ylabel in ((left, "fit time", "seconds (dedup + fit, compile excluded)"),
                              (right, "time per E-step / epoch", "seconds")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sessions")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ends = [line.get_ydata()[-1] for line in ax.get_lines()
                if line.get_xdata()[-1] == sizes[-1]]
        if ends:
            # Through the lowest curve's largest-size point, so it sits below the data.
            guide = np.array([sizes[0], sizes[-1]], float)
            ax.plot(guide, min(ends) / 3 * guide / sizes[-1], color="black", alpha=0.5, lw=1,
                    label="slope 1 (linear)")
    left.legend(fontsize=6, ncol=2)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def memory_figure(records: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.4), layout="constrained")
    ax = fig.subplots()
    for engine in ENGINES:
        sizes = sorted({r["size"] for r in _by(records, engine=engine)})
        if sizes:
            peak = [max(r["peak_rss_gib"] for r in _by(records, engine=engine, size=s))
                    for s in sizes]
            ax.plot(sizes, peak, marker="o", label=engine)
    ax.axhline(12, color="red", alpha=0.5, lw=1, label="12 GiB")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sessions")
    ax.set_ylabel("peak resident memory, GiB (largest over models)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def write_results(records: list[dict], options: Options, run: dict) -> None:
    """scale.csv, scale.md, time.png, memory.png and README.md in the results directory."""
    import pandas as pd

    out = options.results_dir
    flat = [{k: v for k, v in r.items() if k not in ("settings", "made", "load_average")}
            | {"load_1min": r["load_average"][0], "commit": r["made"]["commit"]}
            for r in records]
    with atomic_write(out / "scale.csv") as f:
        pd.DataFrame(flat).to_csv(f, index=False)
    time_figure(records, out / "time.png")
    memory_figure(records, out / "memory.png")
    largest = max(r["size"] for r in records)
    loads = [r["load_average"][0] for r in records]
    machines = sorted({r["made"]["machine"] for r in records})
    commits = sorted({r["made"]["commit"][:10] + (" (uncommitted changes)"
                                                  if r["made"]["uncommitted_changes"] else "")
                      for r in records})
    lines = [
        "# Scale: fit time and memory against log size",
        "",
        f"Written by `{run['command']}` on {run['date']} (wall time {run['wall_seconds']:.0f} "
        f"s; {measured_text(records, run)}); regenerate with `make bench-scale`. Do not edit "
        "by hand.",
        "",
        f"- Machine: {'; '.join(machines)}.",
        f"- Commit of the fits: {'; '.join(commits)}.",
        f"- Load average (1 min) before each fit: median {np.median(loads):.1f}, largest "
        f"{max(loads):.1f}; `uptime` at the start of this run: {run['load_start']}, at the end: "
        f"{run['load_end']}. The machine has {os.cpu_count()} cores: a load above that "
        "means other processes shared them and the times are upper bounds.",
        "- Data: the Yandex-like log of benchmarks/simulate/yandex_like.py, seed "
        f"{options.seed}; size n is its first n sessions. Prior Beta(2, 2) everywhere; EM to "
        f"tol {EM_SETTINGS['tol']} per impression (at most {EM_SETTINGS['max_iter']} E-steps), "
        "Anderson acceleration unless em-plain (SQUAREM against it: results/accelerators.md); "
        "gradient: CLAX's Adam "
        + ", ".join(f"{k}={v}" for k, v in ADAM_SETTINGS.items()) + ".",
        "- Times in seconds, compilation excluded; em and em-plain include deduplication, "
        "em-stream its scratch copy; reading the log into memory is not included "
        "(scale.csv: read_seconds). Peak memory: largest resident set size of the process "
        "during the fit, loaded sessions included.",
        "",
        f"## {largest:,} sessions against CLAX's GPU times",
        "",
        *anchor_table(records, largest),
        "",
        "## Fit time against log size (em; slope of log time on log sessions, 1 = linear)",
        "",
        *size_table(records, EM),
        "",
        "## The gradient engine (CLAX's Adam, in memory)",
        "",
        *size_table(records, GRADIENT),
        "",
        f"## Extrapolated to the Baidu-ULTR size ({scale_projection.BAIDU_SESSIONS:.1e} "
        "sessions)",
        "",
        scale_projection.__doc__.split("\n\n", 1)[1].replace("\n", " ").strip(),
        "",
        *scale_projection.table(
            {r["model"]: r for r in _by(records, engine=EM, size=largest)},
            {r["model"]: r for r in _by(records, engine=EM_STREAM, size=largest)}),
        "",
        "## Deduplication's gain (em against em-raw)",
        "",
        *dedup_table(records),
        "",
        "## Anderson-accelerated against plain EM",
        "",
        *accelerated_table(records),
        "",
        "## Streamed from Parquet against in memory",
        "",
        *stream_table(records),
        "",
        "## Peak memory, GiB (largest over models)",
        "",
        *memory_table(records),
        "",
        "Figures: [time.png](time.png) (fit time and time per E-step or epoch, log-log), "
        "[memory.png](memory.png). Every fit: [scale.csv](scale.csv).",
    ]
    with atomic_write(out / "README.md") as f:
        f.write("\n".join(lines) + "\n")


def measured_text(records: list[dict], run: dict) -> str:
    """How many records this run measured; the others come from the records directory, with
    the times and loads of the run that made them."""
    fresh = sum(1 for r in records if r["made"]["date"] >= run["started"])
    return (f"{fresh} of {len(records)} fits measured in this run, the others reused from "
            "the records of earlier runs of the same code")


def _uptime() -> str:
    load = _load_average()
    return f"load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"


def main(options: Options, command: str, isolate: bool = True) -> int:
    started = time.perf_counter()
    load_start = _uptime()
    started_date = provenance(REPO)["date"]
    records = collect(options, isolate)
    run = {**provenance(REPO), "command": command, "wall_seconds": time.perf_counter() - started,
           "load_start": load_start, "load_end": _uptime(), "started": started_date}
    write_results(records, options, run)
    print(f"wrote {options.results_dir}", file=sys.stderr)
    return 0


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in text.split(",") if v)


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("scale", help="fit time and memory against log size; "
                              "writes results/scale/", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Options()
    p.add_argument("--sizes", type=_sizes, default=d.sizes, help="comma-separated sizes")
    p.add_argument("--models", type=_names, default=d.models)
    p.add_argument("--engines", type=_names, default=d.engines)
    p.add_argument("--plain-max", type=lambda v: int(float(v)), default=d.plain_max)
    p.add_argument("--raw-max", type=lambda v: int(float(v)), default=d.raw_max)
    p.add_argument("--gradient-max", type=lambda v: int(float(v)), default=d.gradient_max)
    p.add_argument("--stream-sizes", type=_sizes, default=d.stream_sizes)
    p.add_argument("--stream-models", type=_names, default=d.stream_models)
    p.add_argument("--data-dir", type=Path, default=d.data_dir)
    p.add_argument("--results", type=Path, default=d.results_dir)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--huge", type=lambda v: int(float(v)), default=None, metavar="SESSIONS",
                   help="instead of the size sweep: one log of this many sessions (e.g. 1e8), "
                   "generated in chunks and fitted by streamed EM; writes "
                   "results/scale/streaming-<SESSIONS>.md (benchmarks/scale_stream.py)")
    p.add_argument("--huge-models", type=_names, default=("dbn", "pbm", "ubm", "ccm"))
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    unknown = set(args.engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"clickfit scale: unknown engines {sorted(unknown)}; known: {ENGINES}")
    if args.huge is not None:
        from benchmarks import scale_stream

        models = tuple(catalogue.base_model(m) for m in args.huge_models)
        options = Options(data_dir=args.data_dir, results_dir=args.results, seed=args.seed)
        return scale_stream.main(options, args.huge, models)
    options = Options(
        sizes=args.sizes, models=tuple(catalogue.base_model(m) for m in args.models),
        engines=args.engines, plain_max=args.plain_max, raw_max=args.raw_max,
        gradient_max=args.gradient_max,
        stream_sizes=args.stream_sizes, stream_models=args.stream_models,
        data_dir=args.data_dir, results_dir=args.results, seed=args.seed,
    )
    return main(options, command_line(options))


def command_line(options: Options) -> str:
    """The `clickfit scale` call that makes a run of these options."""
    sizes = ",".join(str(s) for s in options.sizes)
    return (f"clickfit scale --sizes {sizes} --models {','.join(options.models)} "
            f"--engines {','.join(options.engines)} --plain-max {options.plain_max} "
            f"--raw-max {options.raw_max} "
            f"--gradient-max {options.gradient_max} --stream-sizes "
            f"{','.join(str(s) for s in options.stream_sizes)} --stream-models "
            f"{','.join(options.stream_models)} --seed {options.seed}")


def _child(argv: Sequence[str]) -> None:
    payload = json.loads(argv[0])
    cell = payload["cell"]
    measure(Cell(cell["size"], cell["engine"], tuple(cell["models"])),
            _options_from_json(payload["options"]), payload["paths"])


if __name__ == "__main__":
    _child(sys.argv[1:])
