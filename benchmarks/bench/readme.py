"""results/README.md: what each result file shows, and on which machine and commit it was made.

Every fit record carries the provenance of the run that computed it (`provenance`), so a
README written from cached records names every commit and machine its numbers come from.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from clicklog.atomic import atomic_write

PACKAGES = ("numpy", "numba", "jax", "optax", "scipy", "pandas", "matplotlib")


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
                             check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages / 2**30, 1)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def provenance(repo: Path) -> dict:
    """Commit (and whether the tree had uncommitted changes), machine, library versions, time.
    Changes under results/ do not count: the commands call this after writing their own
    outputs there, and those come from the code, not into it."""
    commit = _git("rev-parse", "HEAD", cwd=repo)
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results",
                  cwd=repo)
    return {
        "commit": commit or "unknown",
        "uncommitted_changes": bool(status),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()} GiB memory, "
                   f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _commit_text(made: dict) -> str:
    commit = made.get("commit", "unknown")
    short = commit[:10] if commit != "unknown" else commit
    return short + (" with uncommitted changes" if made.get("uncommitted_changes") else "")


def write_readme(
    path: str | os.PathLike,
    files: Sequence[tuple[str, str]],
    run: dict,
    records: Sequence[dict],
    datasets: Sequence[dict],
    settings: dict[str, dict],
) -> None:
    """Write the README of a results directory.

    files: (path relative to the directory, what it shows); run: this run's provenance plus
    command, size, wall time and how many fits ran or came from the cache; datasets: one dict
    per dataset (name, description, sessions); settings: engine -> settings.
    """
    made = {}
    for r in records:
        m = r.get("made") or {}
        made.setdefault((_commit_text(m), m.get("machine", "unknown")), 0)
        made[(_commit_text(m), m.get("machine", "unknown"))] += 1
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{run['command']}` on {run['date']}; regenerate with `make bench` (this "
        "size) or `make bench-full` (`clickfit bench --size full`). Every file here is output "
        "of that command: do not edit by hand.",
        "",
        f"- Size: `{run['size']}`; wall time of the run: {run['wall_seconds']:.0f} s "
        f"({run['fits_run']} fits computed, {run['fits_cached']} read from the cache "
        "`.cache/bench/`).",
        f"- Machine: {run['machine']}; Python {run['python']}; "
        + ", ".join(f"{k} {v}" for k, v in run["packages"].items()) + ".",
        f"- Commit: {_commit_text(run)}.",
        "- Fits were computed at: "
        + "; ".join(f"commit {c} on {m} ({n} fits)" for (c, m), n in sorted(made.items()))
        + ".",
        "",
        "## Files",
        "",
        "| file | what it shows |",
        "|---|---|",
    ]
    lines += [f"| [`{name}`]({name}) | {what} |" for name, what in files]
    lines += ["", "## Datasets", "", "| dataset | what it is | train sessions | test sessions |",
              "|---|---|---:|---:|"]
    lines += [f"| {d['name']} | {d['description']} | {d['train_sessions']:,} | "
              f"{d['test_sessions']:,} |" for d in datasets]
    lines += ["", "## Engine settings", "", "| engine | settings |", "|---|---|"]
    lines += [f"| {engine} | " + ", ".join(f"{k}={v}" for k, v in s.items()) + " |"
              for engine, s in settings.items()]
    lines += [
        "",
        "## Definitions",
        "",
        "- Test LL: weighted mean over real test impressions of ln P(C_r = c_r | c_<r), nats.",
        "- Perplexity: per rank r, 2^(-mean log2 P(C_r = c_r)) over the test sessions that have "
        "rank r; the table gives its mean over ranks (PyClick/CLAX). Conditional perplexity: "
        "the same with P(C_r = c_r | c_<r).",
        "- Objective: the shared objective both engines optimise, log-likelihood plus log "
        "Beta(2, 2) prior, per training impression.",
        "- Fit time: wall-clock seconds of the fit, compilation excluded (Numba or XLA "
        "compilation is the compile column). Peak memory: resident set size above its level "
        "before the fit, sampled every 5 ms; it includes what compilation allocates.",
        "- gradient-adam follows CLAX: 10% of the training sessions are held out for early "
        "stopping, so it trains on 90%; its curve in the objective figures is the objective "
        "on those 90%, while the tables score every fit on all training sessions.",
        "- Agreement (gradient rows): training objective minus EM's, and the mean absolute "
        "difference between the engines' conditional click probabilities on the test "
        "sessions, weighted like the log-likelihood.",
        "",
    ]
    with atomic_write(path) as f:
        f.write("\n".join(lines))
