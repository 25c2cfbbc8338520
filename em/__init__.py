"""The EM engine: exact, Numba-accelerated expectation-maximisation for the classic click
models (DESIGN.md section 4). `fit(model, sessions, ...)` returns a clicklog.fit.Fit;
`load(path)` a saved one (Fit.save)."""

from em.engine import MODELS, fit, posteriors, session_loglik
from em.saved import load

__all__ = ["MODELS", "fit", "load", "posteriors", "session_loglik"]
