"""Speed of the regression M-step (em/sources.py) against the solvers it replaced.

One M-step = the solver's default work (clicklog.network.STEPS iterations at most; Newton for a
linear source stops earlier once its decrement is below em.newton.DECREMENT_TOL) from the same
seeded starting weights, on soft targets S1 / T that a logistic-linear function of the features
generates, timed after compilation, for keys x features x source. Two earlier solvers run in
the same process on the same problems, read from git history, so that every column comes from
one run on one machine:

    before  em/sources.py of BEFORE_COMMIT (the shared mechanism's first solver: scipy
            conjugate gradient over a jitted JAX loss, STEPS iterations, linear and MLP)
    old     em/mlp.py of OLD_COMMIT (scipy CG over a serial Numba kernel; MLP only, up to
            OLD_MAX_KEYS keys, beyond which it takes minutes)

Each reports the loss it reached (-Q / sum T), so that a faster solver that stops short shows
it. A second, warm-started M-step on targets moved a little (as the E-step moves them) is
timed too: the cost of an M-step inside a running EM. Where git or a commit is absent its
columns stay empty. The load average goes with the table (the machine is shared; timings
are upper bounds).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench.tables import Column, fixed, plain
from clicklog import network
from em import sources

OLD_COMMIT = "5b0d9d6"
BEFORE_COMMIT = "5c2c45d"
REPO = Path(__file__).resolve().parents[2]
# (keys, features)
SIZES = ((10_000, 8), (10_000, 64), (100_000, 8), (100_000, 64), (1_000_000, 8),
         (1_000_000, 64))
OLD_MAX_KEYS = 100_000
COLUMNS = [
    Column("keys", "keys", lambda v: f"{int(v):,}"), Column("features", "features", plain),
    Column("source", "source", plain, False), Column("seconds", "M-step (s)", fixed(3)),
    Column("before_seconds", f"{BEFORE_COMMIT} (s)", fixed(3)),
    Column("before_speedup", f"{BEFORE_COMMIT} / new", fixed(1)),
    Column("old_seconds", f"em/mlp.py of {OLD_COMMIT} (s)", fixed(3)),
    Column("speedup", "old / new", fixed(1)),
    Column("warm_seconds", "next M-step (s)", fixed(3)),
    Column("before_warm_seconds", f"{BEFORE_COMMIT} next (s)", fixed(3)),
    Column("loss", "-Q / T reached", fixed(6)),
    Column("before_loss", f"{BEFORE_COMMIT} -Q / T", fixed(6)),
    Column("old_loss", "old -Q / T", fixed(6)),
]


def describe() -> str:
    """The paragraph that goes above the table (results/features.md)."""
    return (
        f"One M-step of em/sources.py (after compilation; linear: Newton steps until the "
        f"decrement is below {sources.newton.DECREMENT_TOL:g}, at most {network.STEPS}; mlp: "
        f"{network.STEPS} L-BFGS iterations) from the seeded starting weights, against the "
        f"solver of commit {BEFORE_COMMIT} ({network.STEPS} conjugate-gradient iterations, "
        f"all sizes) and em/mlp.py of commit {OLD_COMMIT} (MLP only, up to "
        f"{OLD_MAX_KEYS:,} keys), in the same run on the same problems. Each column's "
        "loss is the per-trial -Q it reached by the first M-step: lower is further. \"next "
        "M-step\": the one after it, warm-started, on targets moved a little (as an E-step "
        "moves them), the M-step's cost inside a running EM."
    )


def _git_show(commit: str, path: str) -> str | None:
    try:
        done = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO,
                              capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _module(name: str, source: str, extra: dict) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(extra)
    # dataclasses and Numba look the module up by name while it is being executed.
    sys.modules[name] = module
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


def old_solver() -> types.ModuleType | None:
    """em/mlp.py of OLD_COMMIT as a module (its network definition beside it), or None."""
    mlp, definition = _git_show(OLD_COMMIT, "em/mlp.py"), _git_show(
        OLD_COMMIT, "clicklog/vision_network.py")
    if mlp is None or definition is None:
        return None
    vision_network = _module("old_vision_network", definition, {})
    # exec'd code has no file for Numba's cache, and its own import is replaced by the module.
    source = mlp.replace("from clicklog import vision_network\n", "").replace(
        "cache=True", "cache=False")
    return _module("old_mlp", source, {"vision_network": vision_network})


def before_solver() -> types.ModuleType | None:
    """em/sources.py of BEFORE_COMMIT as a module (on today's clicklog.network, whose
    definitions it uses are unchanged), or None."""
    source = _git_show(BEFORE_COMMIT, "em/sources.py")
    return None if source is None else _module("before_sources", source, {})


def _problem(n: int, f: int, seed: int = 0):
    """(features, S1, T, S1 of the next EM iteration): targets from a logistic-linear truth,
    and from that truth moved a little, as the E-step moves them between M-steps."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, f)).astype(np.float32)
    x = network.standardise(features)
    t = rng.uniform(0.0, 5.0, n)
    w = rng.standard_normal(f) / np.sqrt(f)
    moved = w + 0.02 * rng.standard_normal(f)
    return (features, t / (1.0 + np.exp(-(x @ w))), t, t / (1.0 + np.exp(-(x @ moved))))


def _time_regression(module: types.ModuleType, kind: str, features, s1, t, s1_next):
    """(seconds of the first M-step, its loss, seconds of the next, warm-started one)."""
    regression = module.Regression(network.parse(kind), features, seed=0)
    regression.warm_up(t)
    start = time.perf_counter()
    regression(s1, t)
    seconds = time.perf_counter() - start
    loss = sources.loss_and_gradient(regression.weights, regression.x, s1, t)[0]
    start = time.perf_counter()
    regression(s1_next, t)
    return seconds, loss, time.perf_counter() - start


def _time_old(old: types.ModuleType, features, s1, t) -> tuple[float, float]:
    x = network.standardise(features)
    regression = old.Regression(x, seed=0)
    small = old.Regression(x[:10], seed=0)
    small(s1[:10], t[:10])  # compiles the kernel
    start = time.perf_counter()
    regression(s1, t)
    seconds = time.perf_counter() - start
    return seconds, sources.loss_and_gradient(regression.weights, x, s1, t)[0]


def measure(sizes=SIZES, old_max_keys: int = OLD_MAX_KEYS, before: bool = True,
            old: bool = True) -> pd.DataFrame:
    """One row per (keys, features, source): seconds of one M-step and the loss it reached
    (-Q / sum T), new, before and old, and the ratios before / new and old / new."""
    old_module = old_solver() if old else None
    before_module = before_solver() if before else None
    rows = []
    for n, f in sizes:
        features, s1, t, s1_next = _problem(n, f)
        for kind in ("linear", "mlp"):
            seconds, loss, warm = _time_regression(sources, kind, features, s1, t, s1_next)
            row = {"keys": n, "features": f, "source": kind, "seconds": seconds, "loss": loss,
                   "warm_seconds": warm, "before_seconds": np.nan, "before_loss": np.nan,
                   "before_warm_seconds": np.nan, "old_seconds": np.nan, "old_loss": np.nan}
            if before_module is not None:
                (row["before_seconds"], row["before_loss"],
                 row["before_warm_seconds"]) = _time_regression(
                    before_module, kind, features, s1, t, s1_next)
            if kind == "mlp" and old_module is not None and n <= old_max_keys:
                row["old_seconds"], row["old_loss"] = _time_old(old_module, features, s1, t)
            row["before_speedup"] = row["before_seconds"] / seconds
            row["speedup"] = row["old_seconds"] / seconds
            rows.append(row)
    return pd.DataFrame(rows)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
