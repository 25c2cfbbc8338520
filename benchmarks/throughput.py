"""`clickfit throughput`: E-step throughput per model against the memory-bandwidth floor and
against the committed code, measured in one run; writes results/throughput.md and .csv.

On a Yandex-like log (benchmarks/simulate/yandex_like.py, kept in --data-dir; default 2M
sessions, as in issue 15), deduplicated: per model, impressions per second of one E-step
(the kernel alone), seconds per whole plain-EM iteration (E-step, M-step, log-prior), and
the fraction of the memory floor the E-step reaches. The floor is the time to stream the
bytes the kernel must read at least (the layout's qd, click, length, weight and last-click
arrays, and the parameter arrays once) at the bandwidth of a numpy copy (read plus write
bytes over seconds; the best measured in the run, each process measures it).
Deduplication of the raw log is timed too.

Before and after: the same measurement (benchmarks/throughput_probe.py) runs in fresh
processes on the working tree and on a temporary `git worktree` of --baseline (default
HEAD, the committed code), one process per (round, thread count, model, tree), the trees
alternating in an order that swaps every round, at each thread count of --threads
(NUMBA_NUM_THREADS); each cell is the best of its --rounds. The worktree is removed
afterwards. Compilation is excluded (an untimed call first). The
load average is recorded around every measurement: other work on the cores slows both
trees alike, but not necessarily evenly, so ratios from a loaded machine are rough.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.bench.readme import provenance
from benchmarks.simulate import yandex_like
from clicklog.atomic import atomic_write
from clicklog.dedup import dedup
from clicklog.sessions import Sessions

REPO = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "throughput_probe.py"
MODELS: tuple[str, ...] = ("pbm", "ubm", "dbn", "sdbn", "dcm", "ccm")
AFTER, BEFORE = "working tree", "baseline"
FIELDS = ("query", "qd", "doc", "click", "length", "weight", "query_ids", "doc_ids",
          "qd_query", "qd_doc")


@dataclass(frozen=True)
class Options:
    sessions: int = 2_000_000
    models: tuple[str, ...] = MODELS
    threads: tuple[int, ...] = (2, 1)
    repeats: int = 3
    iterations: int = 3
    rounds: int = 2
    baseline: str = "HEAD"
    data_dir: Path = REPO / ".cache" / "throughput"
    results_dir: Path = REPO / "results"
    seed: int = 0


def _save(sessions, path: Path) -> None:
    with atomic_write(path, "wb") as f:
        np.savez(f, **{name: getattr(sessions, name) for name in FIELDS})


def logs(options: Options) -> tuple[Path, Path]:
    """The raw and the deduplicated session arrays of the first --sessions sessions, as .npz
    files made once (both trees' dedup give the same rows: tests/clicklog/test_dedup.py)."""
    options.data_dir.mkdir(parents=True, exist_ok=True)
    stem = options.data_dir / f"yandex-like-{options.sessions}-seed{options.seed}"
    raw, unique = stem.with_suffix(".npz"), Path(f"{stem}-dedup.npz")
    if not raw.exists():
        parquet = stem.with_suffix(".parquet")
        if not parquet.exists():
            yandex_like.write_yandex_like(parquet, options.sessions, options.seed)
        _save(yandex_like.head(parquet, options.sessions), raw)
    if not unique.exists():
        with np.load(raw) as data:
            _save(dedup(Sessions(**{name: data[name] for name in data.files})), unique)
    return raw, unique


def _load() -> float:
    return float(os.getloadavg()[0])


def probe(tree: Path, mode: str, data: Path, options: Options, threads: int,
          models: tuple[str, ...] = ()) -> list[dict]:
    """One fresh process measuring `tree`'s code (first on PYTHONPATH) at `threads`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": str(threads)}
    argv = [sys.executable, str(PROBE), mode, str(data), str(options.repeats),
            str(options.iterations), *models]
    load = _load()
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ValueError(f"the throughput probe on {tree} failed ({mode}): {last}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    head, rows = lines[0], lines[1:]
    return [{**head, **row, "threads": threads, "load_before": load, "load_after": _load()}
            for row in rows]


def baseline_tree(revision: str, parent: Path) -> Path:
    """A detached worktree of `revision` under `parent` (removed by remove_tree)."""
    path = parent / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), revision], cwd=REPO,
                   check=True, capture_output=True)
    return path


def remove_tree(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO,
                   check=False, capture_output=True)


def collect(options: Options) -> list[dict]:
    """Every measurement, one process per (round, threads, model, tree); the trees alternate
    and swap order every round, so that a change of load hits both alike."""
    raw, unique = logs(options)
    records = []
    with tempfile.TemporaryDirectory(prefix="clickfit-throughput-") as parent:
        trees = {AFTER: REPO, BEFORE: baseline_tree(options.baseline, Path(parent))}
        try:
            for round_ in range(options.rounds):
                order = (AFTER, BEFORE) if round_ % 2 == 0 else (BEFORE, AFTER)
                for threads in options.threads:
                    jobs = [("dedup", raw, ())] + [("models", unique, (m,))
                                                   for m in options.models]
                    for mode, data, models in jobs:
                        for name in order:
                            for row in probe(trees[name], mode, data, options, threads, models):
                                records.append({**row, "tree": name, "round": round_})
                        print(f"round {round_} threads={threads} {models or mode}",
                              file=sys.stderr, flush=True)
        finally:
            remove_tree(trees[BEFORE])
    return records


def best(records: list[dict], tree: str, threads: int, model: str | None) -> dict | None:
    """The fastest of the rounds' measurements of one (tree, threads, model); model None: the
    deduplication."""
    rows = [r for r in records if r["tree"] == tree and r["threads"] == threads
            and r.get("model") == model]
    if not rows:
        return None
    key = "dedup_seconds" if model is None else "estep_seconds"
    out = dict(min(rows, key=lambda r: r[key]))
    if model is not None:
        out["iteration_seconds"] = min(r["iteration_seconds"] for r in rows)
    out["bandwidth"] = max(r["bandwidth"] for r in records if r["tree"] == tree)
    return out


def derived(row: dict) -> dict:
    """Impressions per second and the floor's share of the E-step, for a model row."""
    floor = row["floor_bytes"] / row["bandwidth"]
    return {
        "impressions_per_second": row["impressions"] / row["estep_seconds"],
        "floor_seconds": floor,
        "floor_fraction": floor / row["estep_seconds"],
        "iteration_over_estep": row["iteration_seconds"] / row["estep_seconds"],
    }


def table(records: list[dict], options: Options) -> list[str]:
    lines = ["| model | threads | impressions/s per E-step | before | ratio | E-step ms | "
             "iteration ms | before | ratio | iteration / E-step | floor ms | of floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for threads in options.threads:
        for model in options.models:
            after, before = (best(records, t, threads, model) for t in (AFTER, BEFORE))
            if after is None or before is None:
                continue
            a, b = derived(after), derived(before)
            lines.append(
                f"| {model} | {threads} | {a['impressions_per_second'] / 1e6:.1f}M | "
                f"{b['impressions_per_second'] / 1e6:.1f}M | "
                f"{a['impressions_per_second'] / b['impressions_per_second']:.2f}x | "
                f"{1e3 * after['estep_seconds']:.0f} | {1e3 * after['iteration_seconds']:.0f} | "
                f"{1e3 * before['iteration_seconds']:.0f} | "
                f"{before['iteration_seconds'] / after['iteration_seconds']:.2f}x | "
                f"{a['iteration_over_estep']:.1f} | {1e3 * a['floor_seconds']:.1f} | "
                f"{100 * a['floor_fraction']:.1f}% |"
            )
    return lines


def dedup_lines(records: list[dict], options: Options) -> list[str]:
    lines = ["| threads | dedup s (working tree) | baseline | ratio | rows after | "
             "copy bandwidth GB/s |", "|---|---|---|---|---|---|"]
    for threads in options.threads:
        after, before = (best(records, t, threads, None) for t in (AFTER, BEFORE))
        if after is None or before is None:
            continue
        lines.append(f"| {threads} | {after['dedup_seconds']:.2f} | {before['dedup_seconds']:.2f}"
                     f" | {before['dedup_seconds'] / after['dedup_seconds']:.2f}x | "
                     f"{after['rows']:,} | {after['bandwidth'] / 1e9:.1f} |")
    return lines


def write_results(records: list[dict], options: Options, run: dict) -> None:
    out = options.results_dir
    out.mkdir(parents=True, exist_ok=True)
    keys = ("tree", "round", "threads", "model", "impressions", "estep_seconds",
            "iteration_seconds", "floor_bytes", "bandwidth", "dedup_seconds", "rows",
            "load_before", "load_after")
    with atomic_write(out / "throughput.csv") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        for r in records:
            writer.writerow([r.get(k, "") for k in keys])
    loads = [r[k] for r in records for k in ("load_before", "load_after")]
    lines = [
        "# E-step throughput against the memory floor and the committed code",
        "",
        f"Written by `{run['command']}` from commit {run['commit']}"
        f"{' with uncommitted changes' if run['uncommitted_changes'] else ''}; "
        f"{run['machine']}. {options.sessions:,} Yandex-like sessions (seed {options.seed}), "
        f"deduplicated; before = `{options.baseline}` in a temporary git worktree, measured "
        f"in the same run: one process per measurement, the two trees alternating, in "
        f"{options.rounds} rounds of swapped order, each cell the best of its rounds. E-step: "
        f"best of {options.repeats}; iteration: plain EM over {options.iterations} "
        f"iterations. Load average (1 min) during the run: {min(loads):.1f} to "
        f"{max(loads):.1f} on {os.cpu_count()} cores: ratios under load are rough.",
        "",
        *table(records, options),
        "",
        "Deduplication of the raw log (clicklog.dedup):",
        "",
        *dedup_lines(records, options),
        "",
        "Floor: the bytes an E-step must read at least (qd, click, length, weight, last click "
        "and the parameter arrays once) at the best copy bandwidth measured in the run. "
        "Every row: [throughput.csv](throughput.csv).",
    ]
    with atomic_write(out / "throughput.md") as f:
        f.write("\n".join(lines) + "\n")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in text.split(",") if v)


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def command_line(options: Options) -> str:
    return (f"clickfit throughput --sessions {options.sessions} --models "
            f"{','.join(options.models)} --threads {','.join(map(str, options.threads))} "
            f"--repeats {options.repeats} --iterations {options.iterations} "
            f"--rounds {options.rounds} "
            f"--baseline {options.baseline} --seed {options.seed}")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("throughput", help="E-step throughput against the memory floor "
                              "and the committed code; writes results/throughput.md",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Options()
    p.add_argument("--sessions", type=lambda v: int(float(v)), default=d.sessions)
    p.add_argument("--models", type=_names, default=d.models)
    p.add_argument("--threads", type=_ints, default=d.threads)
    p.add_argument("--repeats", type=int, default=d.repeats)
    p.add_argument("--iterations", type=int, default=d.iterations)
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--baseline", default=d.baseline, help="git revision to compare against")
    p.add_argument("--data-dir", type=Path, default=d.data_dir)
    p.add_argument("--results", type=Path, default=d.results_dir)
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    if (args.sessions < 1 or args.repeats < 1 or args.iterations < 2 or args.rounds < 1
            or not args.threads):
        raise ValueError("throughput needs --sessions >= 1, --repeats >= 1, --iterations >= 2, "
                         "--rounds >= 1 and at least one thread count")
    options = Options(sessions=args.sessions, models=args.models, threads=args.threads,
                      repeats=args.repeats, iterations=args.iterations, rounds=args.rounds,
                      baseline=args.baseline,
                      data_dir=args.data_dir, results_dir=args.results, seed=args.seed)
    started = time.perf_counter()
    records = collect(options)
    run = {**provenance(REPO), "command": command_line(options),
           "wall_seconds": time.perf_counter() - started}
    write_results(records, options, run)
    print(f"wrote {options.results_dir / 'throughput.md'}", file=sys.stderr)
    return 0
