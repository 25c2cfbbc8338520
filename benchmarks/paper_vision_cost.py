"""`clickfit paper vision-bias --cost-only`: what a run at a given size would cost, measured
rather than guessed, for sizes (the paper's 3.25M sessions) whose full run does not fit the
machine's time.

It simulates the vUBM-2 log of that size once, runs a few iterations of one vision fit per
column group (vUBM-2; the table EM of standard EM), and records seconds per iteration and
peak memory. The projection multiplies each column group's per-iteration cost by the
iterations that group's fits needed in the default-size run (its fits.csv, when present), for
every generator: iteration counts grow little with the log while an iteration grows linearly,
so this is a lower bound rather than an estimate of the worst case.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from benchmarks import paper_vision as pv
from benchmarks.memory import track_peak_memory
from benchmarks.paper_vision_format import md_table, write_json, write_text

PROBE_ITERATIONS = 4


def _per_iteration(history: list[dict]) -> float:
    """Seconds per entry after the first (the first carries one-off set-up costs)."""
    seconds = [entry["seconds"] for entry in history]
    return (seconds[-1] - seconds[0]) / max(len(seconds) - 1, 1)


def _probe(engine: str, train) -> dict:
    import em
    import gradient

    started = time.perf_counter()
    with track_peak_memory() as memory:
        if engine == "gradient":
            fit = gradient.fit("vubm-2", train, prior=pv.PRIOR, seed=pv.SEED,
                               sources={"vision": pv.SOFT_SOURCE},
                               **{**pv.GRADIENT_SETTINGS, "max_iter": PROBE_ITERATIONS})
        elif engine == "em":
            fit = em.fit("vubm-2", train, prior=pv.PRIOR, accelerate=True,
                         max_iter=PROBE_ITERATIONS, tol=pv.EM_SETTINGS["tol"])
        else:
            paper = engine == "em-paper"
            fit = em.fit("vubm-2", train, prior=None if paper else pv.PRIOR,
                         init=pv.PAPER_INIT if paper else None, seed=pv.SEED,
                         sources={"vision": pv.PAPER_SOURCE if paper else pv.SOFT_SOURCE},
                         max_iter=PROBE_ITERATIONS, tol=pv.NETWORK_EM_SETTINGS["tol"])
    return {"engine": engine, "seconds_per_iteration": round(_per_iteration(fit.history), 6),
            "probe_wall_seconds": round(time.perf_counter() - started, 1),
            "peak_memory_mib": round(memory.peak / 2**20, 1)}


def measure(n_sessions: int, results: Path, engines: tuple[str, ...]) -> list[Path]:
    """Probe every column group at `n_sessions`; write cost.json and cost.md."""
    started = time.perf_counter()
    with track_peak_memory() as memory:
        data = pv.make_datasets(n_sessions, ("vubm-2",))
    simulate = {"seconds": round(time.perf_counter() - started, 1),
                "peak_memory_mib": round(memory.peak / 2**20, 1)}
    rows = [_probe(engine, data[0].train) for engine in engines]
    default_fits = results / pv.STEMS["default"] / "fits.csv"
    if default_fits.exists():
        fits = pd.read_csv(default_fits)
        for row in rows:
            # the network groups' PBM and UBM are table fits, far cheaper an iteration
            own = fits[(fits.engine == row["engine"])
                       & (fits.model.isin(list(pv.BASE)) | (row["engine"] == "em"))]
            row["default_iterations"] = int(own.iterations.sum())
            row["projected_hours"] = round(row["default_iterations"]
                                           * row["seconds_per_iteration"] / 3600, 1)
    out = results / pv.stem(n_sessions)
    record = {"sessions": n_sessions, "train_sessions": data[0].train.n,
              "simulate": simulate, "probes": rows}
    header = ["column group", "seconds per iteration", "peak memory (MiB)",
              "iterations at default size", "projected hours"]
    body = [[pv.ENGINES[r["engine"]], f"{r['seconds_per_iteration']:.2f}",
             f"{r['peak_memory_mib']:.0f}", str(r.get("default_iterations", "n/a")),
             str(r.get("projected_hours", "n/a"))] for r in rows]
    text = "\n".join([
        f"# Cost of `clickfit paper vision-bias` at {n_sessions:,} sessions", "",
        f"Measured by `clickfit paper vision-bias --sessions {n_sessions} --cost-only` "
        "(benchmarks/paper_vision_cost.py): "
        f"{PROBE_ITERATIONS} iterations of a vUBM-2 fit per column group on the "
        f"{data[0].train.n:,} training sessions of the vUBM-2 log (simulated in "
        f"{simulate['seconds']} s, {simulate['peak_memory_mib']:.0f} MiB). Projected hours: "
        "seconds per iteration times the iterations that column group's fits took at the "
        "default size, summed over its models (vision models only for the network groups, "
        "whose PBM and UBM are cheap table fits) and generators; a lower bound, since "
        "iteration counts do not fall with the log's size.", "",
        md_table(header, body),
        f"Projected total: {sum(r.get('projected_hours', 0) for r in rows):.1f} hours.", "",
    ])
    return [write_json(out / "cost.json", record), write_text(out / "cost.md", text)]
