"""What the EM loop needs from a click model, and helpers every model module shares.

Every probability parameter of every model has a Beta/Bernoulli complete-data form: it is the
success probability of some hidden or observed binary draws. An E-step therefore returns, per
parameter, the weighted expected number of successes S1 and of trials T (arrays shaped like
the parameter) together with the weighted log-likelihood of the observed clicks, and the
M-step is the same for all models (em/engine.py).

Posteriors follow tests/reference.py: for every hidden variable name ("E", "A", "S", ...) a
pair of [n, K] arrays (P(variable drawn | clicks), P(variable drawn and = 1 | clicks)), so that
the brute-force enumeration can check them entry by entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clicklog.sessions import Sessions
from em.layout import Layout

Params = dict[str, np.ndarray]
Stats = dict[str, tuple[np.ndarray, np.ndarray]]
Hidden = dict[str, tuple[np.ndarray, np.ndarray]]
Predictor = Callable[[Params, Sessions], np.ndarray]


@dataclass(frozen=True)
class Model:
    """One click model as the EM engine sees it.

    estep(layout, params) -> (stats, weighted log-likelihood); the three predictors return
    float64 [n, K] with 0 at padded ranks; posteriors(params, sessions) -> (hidden, per-session
    unweighted log-likelihood [n]). A closed-form model reaches its optimum in one M-step.
    """

    parameters: str
    estep: Callable[[Layout, Params], tuple[Stats, float]]
    conditional: Predictor
    unconditional: Predictor
    relevance: Predictor
    posteriors: Callable[[Params, Sessions], tuple[Hidden, np.ndarray]]
    closed_form: bool = False


def by_qd(values: np.ndarray, sessions: Sessions) -> np.ndarray:
    """values[qd] at every real rank, 0 at padding, float64 [n, K]."""
    return np.where(sessions.mask, np.asarray(values, np.float64)[np.maximum(sessions.qd, 0)], 0.0)


def observed(sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
    """(drawn, one) of a variable drawn at every real rank and equal to the click there."""
    mask = sessions.mask
    return mask.astype(np.float64), (sessions.click & mask).astype(np.float64)
