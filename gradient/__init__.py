"""The gradient engine: the ten classic click models fitted with JAX/optax on the shared
objective (DESIGN.md section 4). `fit(model, sessions, ...)` returns a clicklog.fit.Fit; the
predict functions evaluate a model at any parameters with the catalogue's names."""

from gradient.core import fit
from gradient.models import REGISTRY
from gradient.predict import click_probs, conditional_click_probs, objective

MODELS: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["MODELS", "click_probs", "conditional_click_probs", "fit", "objective"]
