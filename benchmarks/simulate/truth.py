"""Generating parameters ("truth") of a simulation: documented defaults and caller overrides.

Names and shapes are exactly those of clicklog.catalogue. Defaults (every value strictly
inside (0, 1); r is the 0-based rank, K the page size):

    attraction    [n_qd]    the world's latent relevance, 0.01 + 0.98 * Beta(1.5, 3)
    satisfaction  [n_qd]    0.01 + 0.98 * Beta(2, 2), independent of attraction
    ctr           ()        0.25 (GCTR)
    ctr           [K]       0.5 * (r + 1)^-0.8 (RCTR)
    examination   [K]       0.95 * (r + 1)^-0.7 (PBM, vPBM)
    examination   [K, K]    [r, j] = 0.95 * (r + 1 - j)^-0.6 * (r + 1)^-0.2 for j <= r (UBM,
                            vUBM): falls with the distance r + 1 - j from the last click (j = 0:
                            no click, distance from the top) and slowly with the rank itself;
                            entries j > r never matter and hold 0.5 (catalogue.prior_mode(None))
    continuation  [K]       linear from 0.8 at the top to 0.4 at rank K - 1 (DCM)
    continuation  ()        0.9 (DBN gamma)
    tau1, tau2, tau3        0.9, 0.6, 0.3 (CCM: after a skip; after a click on an irrelevant /
                            a relevant result)
    vision        [n_docs]  0.01 + 0.98 * Beta(2, 2) (`simulate`; the image-search generator
                            makes it a function of document features instead)
"""

from __future__ import annotations

import numpy as np

from benchmarks.simulate.world import RELEVANCE_RANGE, World
from clicklog import catalogue

Truth = dict[str, np.ndarray]

GCTR = 0.25
DBN_CONTINUATION = 0.9
CCM_TAUS = {"tau1": 0.9, "tau2": 0.6, "tau3": 0.3}
UNUSED_EXAMINATION = catalogue.prior_mode(None)


def _beta(rng: np.random.Generator, a: float, b: float, size: int) -> np.ndarray:
    low, span = RELEVANCE_RANGE
    return low + span * rng.beta(a, b, size=size)


def rank_examination(K: int) -> np.ndarray:
    r = np.arange(K, dtype=np.float64)
    return 0.95 * (r + 1.0) ** -0.7


def rank_last_examination(K: int) -> np.ndarray:
    r = np.arange(K, dtype=np.float64)[:, None]
    j = np.arange(K, dtype=np.float64)[None, :]
    distance = np.maximum(r + 1.0 - j, 1.0)
    return np.where(j <= r, 0.95 * distance**-0.6 * (r + 1.0) ** -0.2, UNUSED_EXAMINATION)


def _default(name: str, kind: str, world: World, rng: np.random.Generator) -> np.ndarray:
    K = world.K
    r = np.arange(K, dtype=np.float64)
    if name == "attraction":
        return world.relevance.copy()
    if name in ("satisfaction", "vision"):
        size = world.n_qd if kind == "qd" else world.n_docs
        return _beta(rng, 2.0, 2.0, size)
    if name == "ctr":
        return np.asarray(GCTR) if kind == "global" else 0.5 * (r + 1.0) ** -0.8
    if name == "examination":
        return rank_examination(K) if kind == "rank" else rank_last_examination(K)
    if name == "continuation":
        return np.asarray(DBN_CONTINUATION) if kind == "global" else np.linspace(0.8, 0.4, K)
    return np.asarray(CCM_TAUS[name])


def make_truth(
    model: str, world: World, rng: np.random.Generator, params: dict | None = None
) -> Truth:
    """The model's parameters: defaults (module docstring) replaced by any given `params`.

    Defaults are drawn whether or not they are overridden, so an override of one parameter
    leaves the others exactly as they are without it.
    """
    model = catalogue.base_model(model)
    kinds = catalogue.parameters(model)
    truth = {name: _default(name, kind, world, rng) for name, kind in kinds.items()}
    shapes = catalogue.parameter_shapes(model, world.K, world.n_qd, world.n_docs)
    for name, value in (params or {}).items():
        if name not in kinds:
            raise ValueError(f"{model} has no parameter {name!r}; it has {', '.join(kinds)}")
        value = np.array(value, dtype=np.float64)
        if value.shape != shapes[name]:
            raise ValueError(f"{model} parameter {name!r} must have shape {shapes[name]}, "
                             f"got {value.shape}")
        if not np.all((value >= 0.0) & (value <= 1.0)):
            raise ValueError(f"{model} parameter {name!r} must hold probabilities in [0, 1]")
        truth[name] = value
    return truth


def true_relevance(model: str, truth: Truth) -> np.ndarray | None:
    """Per-qd relevance as `Fit.relevance` defines it: attraction, times satisfaction for
    DBN/SDBN; None for the CTR models, which have no per-qd parameter."""
    if "attraction" not in truth:
        return None
    if "satisfaction" in truth:
        return truth["attraction"] * truth["satisfaction"]
    return truth["attraction"]


def graded_labels(relevance: np.ndarray) -> np.ndarray:
    """Labels 0/1/2 (float32): 2 above the 80% quantile of relevance over qd pairs, 1 above
    the median, else 0 — the proportions of a typical graded judgement set."""
    low, high = np.quantile(relevance, [0.5, 0.8])
    return ((relevance > low).astype(np.float32) + (relevance > high)).astype(np.float32)
