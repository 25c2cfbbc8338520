"""Speed of the regression M-step (em/sources.py) against the solver it replaced.

One M-step = `clicklog.network.STEPS` solver iterations from the same seeded starting weights
on soft targets S1 / T that a logistic-linear function of the features generates, timed after
compilation, for keys x features x source. The replaced solver is em/mlp.py of commit
OLD_COMMIT (scipy CG over a serial Numba kernel, MLP only), read from git history and run in
the same process, so that both columns come from one run on one machine; where git or that
commit is absent its column stays empty.
"""

from __future__ import annotations

import os
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

from clicklog import network
from em import sources

OLD_COMMIT = "5b0d9d6"
REPO = Path(__file__).resolve().parents[2]
# (keys, features); the old solver only up to OLD_MAX_KEYS, beyond which it takes minutes.
SIZES = ((10_000, 8), (10_000, 64), (100_000, 8), (100_000, 64), (1_000_000, 8),
         (1_000_000, 64))
OLD_MAX_KEYS = 100_000


def _git_show(path: str) -> str | None:
    try:
        done = subprocess.run(["git", "show", f"{OLD_COMMIT}:{path}"], cwd=REPO,
                              capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def old_solver() -> types.ModuleType | None:
    """em/mlp.py of OLD_COMMIT as a module (its network definition beside it), or None."""
    mlp, definition = _git_show("em/mlp.py"), _git_show("clicklog/vision_network.py")
    if mlp is None or definition is None:
        return None
    vision_network = types.ModuleType("old_vision_network")
    exec(compile(definition, "old_vision_network.py", "exec"), vision_network.__dict__)
    module = types.ModuleType("old_mlp")
    module.__dict__["vision_network"] = vision_network
    # exec'd code has no file for Numba's cache, and its own import is replaced by the module.
    source = mlp.replace("from clicklog import vision_network\n", "").replace(
        "cache=True", "cache=False")
    exec(compile(source, "old_mlp.py", "exec"), module.__dict__)
    return module


def _problem(n: int, f: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, f)).astype(np.float32)
    x = network.standardise(features)
    t = rng.uniform(0.0, 5.0, n)
    w = rng.standard_normal(f) / np.sqrt(f)
    return features, t * (1.0 / (1.0 + np.exp(-(x @ w)))), t


def _time_new(kind: str, features, s1, t) -> tuple[float, float]:
    regression = sources.Regression(network.parse(kind), features, seed=0)
    regression.warm_up(t)
    start = time.perf_counter()
    regression(s1, t)
    seconds = time.perf_counter() - start
    return seconds, sources.loss_and_gradient(regression.weights, regression.x, s1, t)[0]


def _time_old(old: types.ModuleType, features, s1, t) -> tuple[float, float]:
    x = network.standardise(features)
    regression = old.Regression(x, seed=0)
    small = old.Regression(x[:10], seed=0)
    small(s1[:10], t[:10])  # compiles the kernel
    start = time.perf_counter()
    regression(s1, t)
    seconds = time.perf_counter() - start
    return seconds, sources.loss_and_gradient(regression.weights, x, s1, t)[0]


def measure(sizes=SIZES, old_max_keys: int = OLD_MAX_KEYS) -> pd.DataFrame:
    """One row per (keys, features, source): seconds of one M-step and the loss it reached
    (-Q / sum T), new and old, and old / new."""
    old = old_solver()
    rows = []
    for n, f in sizes:
        features, s1, t = _problem(n, f)
        for kind in ("linear", "mlp"):
            seconds, loss = _time_new(kind, features, s1, t)
            row = {"keys": n, "features": f, "source": kind, "seconds": seconds, "loss": loss,
                   "old_seconds": np.nan, "old_loss": np.nan}
            if kind == "mlp" and old is not None and n <= old_max_keys:
                row["old_seconds"], row["old_loss"] = _time_old(old, features, s1, t)
            row["speedup"] = row["old_seconds"] / seconds
            rows.append(row)
    return pd.DataFrame(rows)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
