"""`Fit`: the result both engines return, with one interface (DESIGN.md section 4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from clicklog.sessions import Sessions

Predictor = Callable[[Sessions], np.ndarray]


@dataclass
class Fit:
    """A fitted click model.

    `params` maps parameter names (clicklog.catalogue) to numpy arrays of probabilities.
    `history` holds one dict per EM iteration or gradient step/epoch with at least
    `seconds` (cumulative wall-clock since the fit started, compilation excluded) and
    `objective` (the shared objective divided by the weighted number of impressions).
    The three predictors return float64 [n, K] arrays with 0 at padded ranks.
    """

    model: str
    engine: str
    params: dict[str, np.ndarray]
    history: list[dict]
    prior: tuple[float, float] | None
    _click_probs: Predictor = field(repr=False)
    _conditional_click_probs: Predictor = field(repr=False)
    _relevance: Predictor = field(repr=False)
    _objective: Callable[[Sessions], float] = field(repr=False)
    compile_seconds: float = 0.0
    converged: bool = False
    settings: dict = field(default_factory=dict)

    def click_probs(self, sessions: Sessions) -> np.ndarray:
        """Unconditional P(C_r = 1), [n, K]."""
        return self._click_probs(sessions)

    def conditional_click_probs(self, sessions: Sessions) -> np.ndarray:
        """P(C_r = 1 | c_<r), [n, K]."""
        return self._conditional_click_probs(sessions)

    def relevance(self, sessions: Sessions) -> np.ndarray:
        """The model's relevance estimate of every shown document, [n, K]."""
        return self._relevance(sessions)

    def objective(self, sessions: Sessions) -> float:
        """Shared objective: weighted log-likelihood plus log prior, per impression."""
        return self._objective(sessions)

    @property
    def fit_seconds(self) -> float:
        return float(self.history[-1]["seconds"]) if self.history else 0.0

    @property
    def iterations(self) -> int:
        return len(self.history)
