"""Loading a saved EM model (clicklog.model_file): a Fit with the EM engine's predictors.

An examination that is a function of bias features (em/bias.py) comes back as that function:
its weights and input standardisation from the file's `examination_function`, evaluated on
the cells of whatever sessions are scored, with the same operations as the fit's own
predictors, so their click probabilities agree bit for bit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import partial

import numpy as np

from clicklog import cells, network
from clicklog.fit import Fit
from clicklog.model_file import FUNCTION, Objective, SavedModel, read
from clicklog.sessions import Sessions
from em.bias import Examination
from em.engine import assemble, get_model
from em.loop import Run
from em.model import Model, Params

NETWORK = "_network"


@dataclass(frozen=True)
class Function:
    """A saved examination function: what em.sources.Regression evaluates, fitted no more."""

    spec: network.Spec
    weights: dict[str, np.ndarray]
    scaling: network.Scaling

    def table(self, features: np.ndarray) -> np.ndarray:
        """The probability of every row of raw features (em.sources.Regression.table's)."""
        x = self.scaling(features)
        return network.probabilities(network.logits(self.weights, x, self.spec.activation))

    def log_prior(self) -> float:
        return float(network.weight_log_prior(self.weights, self.spec.l2))


@dataclass(eq=False)
class Loaded(Examination):
    """em/bias.py's Examination without training sessions: every log gets its own cells."""

    K: int = 0

    def lookup(self, params: Params, sessions: Sessions,
               every_column: bool = False) -> tuple[np.ndarray, np.ndarray]:
        found = cells.of(sessions, self.model, self.by_last, self.K, every_column)
        return found.index, self.regression.table(found.features)


def model_of(fit: Fit, sessions: Sessions) -> tuple[Model, Params]:
    """The EM model and parameters that give `fit`'s E-step on `sessions` (statistics at the
    fit, benchmarks/intervals.py), for either engine's fit: with an examination function, the
    function over these sessions' own cells; else the catalogue model at fit.params."""
    block = (fit._objective.state if isinstance(fit._objective, Objective) else {}).get(FUNCTION)
    if block is None:
        return get_model(fit.model), dict(fit.params)
    function = Function(network.parse(block["source"]),
                        {k: np.asarray(v, np.float64) for k, v in block["weights"].items()},
                        network.Scaling(np.asarray(block["mean"], np.float64),
                                        np.asarray(block["scale"], np.float64)))
    found = cells.of(sessions, fit.model, block["by_last"], block["K"])
    examination = Examination(fit.model, sessions, function, block["by_last"], found)
    return examination.spec(), {**fit.params, cells.NAME: function.table(found.features)}


def from_saved(saved: SavedModel) -> Fit:
    """The Fit of a model file's content (after clicklog.model_file.align, if it was)."""
    if saved.engine != "em":
        raise ValueError(f"a model fitted by the {saved.engine} engine: load it with "
                         f"{saved.engine}.load")
    free = tuple(k.removesuffix(NETWORK) for k in saved.settings if k.endswith(NETWORK))
    params = dict(saved.params)
    run = Run(params, [], saved.converged, math.nan, 0)
    if saved.function is None:
        return assemble(saved.model, run, saved.prior, 0.0, saved.settings, free=free,
                        vocabulary=saved.vocabulary)
    block = saved.function
    function = Function(block["spec"], block["weights"],
                        network.Scaling(np.asarray(block["mean"], np.float64),
                                        np.asarray(block["scale"], np.float64)))
    examination = Loaded(saved.model, None, function, block["by_last"], None, K=block["K"])
    objective = Objective(partial(examination.objective, params, saved.prior, free),
                          {FUNCTION: {k: v for k, v in block.items()
                                                    if k != "spec"}})
    return assemble(saved.model, run, saved.prior, 0.0, saved.settings, free=free,
                    vocabulary=saved.vocabulary, spec=examination.spec(),
                    objective_of=objective)


def load(path: str | os.PathLike) -> Fit:
    """The EM model saved at `path` (Fit.save), predicting exactly as it did when saved."""
    return from_saved(read(path))
