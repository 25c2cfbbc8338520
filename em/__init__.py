"""The EM engine: exact, Numba-accelerated expectation-maximisation for the classic click
models (DESIGN.md section 4). `fit(model, sessions, ...)` returns a clicklog.fit.Fit."""

from em.engine import MODELS, fit, posteriors, session_loglik

__all__ = ["MODELS", "fit", "posteriors", "session_loglik"]
