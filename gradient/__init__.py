"""The gradient engine: the ten classic click models and the vision family (gradient/vision.py)
fitted with JAX/optax on the shared objective (DESIGN.md section 4). `fit(model, sessions, ...)`
returns a clicklog.fit.Fit, `load(path)` a saved one (Fit.save); the predict functions
evaluate a model at any parameters with the catalogue's names."""

from clicklog import catalogue
from gradient.core import fit
from gradient.models import REGISTRY
from gradient.predict import click_probs, conditional_click_probs, objective
from gradient.saved import load

# The ten classic models; the vision family is listed apart, so that what iterates over the
# ten (their tests, the benchmark) is unchanged.
MODELS: tuple[str, ...] = tuple(m for m in REGISTRY if m not in catalogue.VISION_MODELS)
VISION_MODELS: tuple[str, ...] = catalogue.VISION_MODELS

__all__ = ["MODELS", "VISION_MODELS", "click_probs", "conditional_click_probs", "fit",
           "load", "objective"]
