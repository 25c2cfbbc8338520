"""The engines of the benchmark tables and the settings each one runs with, named once.

    em               exact EM (em.fit), run to convergence
    gradient-lbfgs   full-batch L-BFGS on the same objective (gradient.fit, optimizer "lbfgs")
    gradient-adam    CLAX's published setting: minibatch Adam, learning rate 0.01, batch 4096,
                     50 epochs (gradient.fit, optimizer "adam")

The counting estimators dcm-counting and sdbn-counting exist in the EM engine only; they are
extra EM rows. Every engine uses the same prior, Beta(2, 2) by default (PyClick's pseudo-counts
of 1/2), and starts every parameter at 0.5.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from clicklog import catalogue
from clicklog.fit import Callback, Fit
from clicklog.sessions import Sessions

EM = "em"
LBFGS = "gradient-lbfgs"
ADAM = "gradient-adam"
ENGINES: tuple[str, ...] = (EM, LBFGS, ADAM)
GRADIENT_ENGINES: tuple[str, ...] = (LBFGS, ADAM)

DEFAULT_PRIOR: tuple[float, float] = (2.0, 2.0)
EM_ONLY_MODELS: tuple[str, ...] = tuple(catalogue.VARIANTS)
DEFAULT_MODELS: tuple[str, ...] = catalogue.MODELS + EM_ONLY_MODELS

# EM runs until the per-impression objective moves less than tol, so that the agreement
# columns compare optima, not a half-way EM; the paper protocol below caps it at 50 rounds.
SETTINGS: dict[str, dict[str, Any]] = {
    EM: {"max_iter": 2000, "tol": 1e-9},
    LBFGS: {"optimizer": "lbfgs", "dtype": "float64", "max_iter": 2000},
    ADAM: {
        "optimizer": "adam",
        "learning_rate": 0.01,
        "batch_size": 4096,
        "epochs": 50,
        "validation": 0.1,
        "seed": 0,
    },
}
# PyClick's protocol in the CLAX paper's Yandex experiment: exactly 50 EM iterations.
PAPER_EM_SETTINGS: dict[str, Any] = {"max_iter": 50, "tol": 0.0}


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    return engine


def runs(engine: str, model: str) -> bool:
    """Whether `engine` fits `model` (the counting variants are EM-only)."""
    return engine == EM or model not in EM_ONLY_MODELS


def settings(
    engine: str,
    prior: tuple[float, float] | None = DEFAULT_PRIOR,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments `fit` passes to the engine; also part of the cache key."""
    out = dict(SETTINGS[check_engine(engine)])
    out.update(overrides or {})
    out["prior"] = None if prior is None else (
        prior if isinstance(prior, str) else [float(prior[0]), float(prior[1])])
    return out


def package(engine: str) -> str:
    return "em" if check_engine(engine) == EM else "gradient"


def load(engine: str) -> ModuleType:
    """The engine's package. Imported on demand: the engines load Numba and JAX, which
    `clickfit --help` should not pay for, and a measured fit should not include the import."""
    return importlib.import_module(package(engine))


def fit(
    engine: str,
    model: str,
    sessions: Sessions,
    engine_settings: dict[str, Any],
    callback: Callback | None = None,
) -> Fit:
    """Fit `model` on `sessions` with `engine` and its settings (from `settings`); `callback`
    gets each history entry as it is made (a progress bar)."""
    if not runs(engine, model):
        raise ValueError(f"{model} is an EM-only variant; {engine} cannot fit it")
    kwargs = dict(engine_settings)
    prior = kwargs.pop("prior", list(DEFAULT_PRIOR))
    if prior is not None and not isinstance(prior, str):  # a string names a learned prior
        prior = (float(prior[0]), float(prior[1]))
    return load(engine).fit(model, sessions, prior=prior, callback=callback, **kwargs)
