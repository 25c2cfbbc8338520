"""Parameter sources (DESIGN.md section 9): a probability parameter as a table or as a function
of its key's features, with the function's definition and starting weights shared by both
engines (regression-based EM in em/sources.py, end-to-end training in gradient/sources.py).

A source is "table" (one probability per key, the default), "linear" (logistic regression on
the key's features) or "mlp" (a multilayer perceptron; hidden sizes 16 and 8 by default, as
in Xu et al., "Incorporating Vision Bias into Click Models for Image-oriented Search Engine",
section 4.2). "linear" is the same network with no hidden layer, so one definition covers both:

    p_k = sigmoid(w_out . h_L + b_out),  h_0 = x_k,  h_l = act(W_l^T h_{l-1} + b_l),

x_k the key's features standardised per column over all keys (so that raw features of any
scale drive the units alike), act tanh (default; smooth, which both L-BFGS solvers need) or
sigmoid (the vision paper's Algorithm 1). Weights are named w1, b1, ..., w{L+1}, b{L+1}. The
starting weights come from a seed: Glorot-scaled hidden layers, zero biases and a zero output
layer, so that every starting probability is exactly 1/2, the starting value of every table.
An optional Gaussian prior on the weights (source option l2, the precision; 0 by default:
no prior, as the vision paper's network) adds -(l2 / 2) |w|^2 to the objective of both engines;
it keeps an MLP on a few thousand keys from fitting their noise and gives its objective a
finite optimum.

Which features a key has: catalogue kind "qd" -> Sessions.qd_features, "doc" ->
Sessions.doc_features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import ModuleType

import numpy as np

from clicklog import catalogue

HIDDEN: tuple[int, ...] = (16, 8)
KINDS = ("table", "linear", "mlp")
ACTIVATIONS = ("tanh", "sigmoid")
TARGETS = ("soft", "hard")
# L-BFGS iterations per EM M-step; the next EM iteration continues from where this one stopped.
STEPS = 20
FEATURES = {"qd": "qd_features", "doc": "doc_features"}


@dataclass(frozen=True)
class Spec:
    """A function source: kind "linear" or "mlp", its hidden sizes and activation, `l2` the
    precision of a Gaussian prior on its weights (weight_log_prior; 0: none); `target` and
    `steps` concern the EM M-step only (em/sources.py)."""

    kind: str
    hidden: tuple[int, ...] = HIDDEN
    activation: str = "tanh"
    target: str = "soft"
    steps: int = STEPS
    l2: float = 0.0

    def describe(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


def names(hidden: tuple[int, ...] = HIDDEN) -> tuple[str, ...]:
    return tuple(f"{p}{i}" for i in range(1, len(hidden) + 2) for p in ("w", "b"))


NAMES: tuple[str, ...] = names(HIDDEN)


def parse(value: str | Mapping | None) -> Spec | None:
    """A source as given by a user ("table", "linear", "mlp" or a dict with "kind" and options)
    as a Spec, None for a table; ValueError for anything else."""
    if value is None:
        return None
    options = {"kind": value} if isinstance(value, str) else dict(value)
    unknown = set(options) - {"kind", "hidden", "activation", "target", "steps", "l2"}
    if unknown:
        raise ValueError(f"unknown source options {sorted(unknown)}; known: kind, hidden, "
                         "activation, target, steps, l2")
    kind = options.get("kind")
    if kind not in KINDS:
        raise ValueError(f"a parameter source must be one of {KINDS}, got {kind!r}")
    if kind == "table":
        return None
    hidden = tuple(int(h) for h in options.get("hidden", HIDDEN if kind == "mlp" else ()))
    if kind == "linear" and hidden:
        raise ValueError("a linear source has no hidden layers; use kind 'mlp'")
    if kind == "mlp" and (not hidden or min(hidden) < 1):
        raise ValueError(f"an mlp source needs hidden sizes >= 1, got {hidden}")
    activation = options.get("activation", "tanh")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    target = options.get("target", "soft")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    steps = int(options.get("steps", STEPS))
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    l2 = float(options.get("l2", 0.0))
    if not (math.isfinite(l2) and l2 >= 0.0):
        raise ValueError(f"l2 must be a finite number >= 0, got {options.get('l2')!r}")
    return Spec(kind, hidden, activation, target, steps, l2)


# Command-line source options: name -> how its text becomes the value `parse` checks.
CLI_OPTIONS = {
    "hidden": lambda text: tuple(int(size) for size in text.split("x")),
    "activation": str, "target": str, "steps": int, "l2": float,
}
_CLI_TYPES = {"hidden": "list of sizes such as 32x16", "steps": "whole number"}


def parse_assignment(text: str) -> tuple[str, str | dict]:
    """(parameter, source) of a command-line PARAM=KIND[:OPTION=VALUE,...]: "attraction=mlp"
    gives ("attraction", "mlp"); "attraction=mlp:l2=1e-3,hidden=32x16" gives ("attraction",
    {"kind": "mlp", "l2": 0.001, "hidden": (32, 16)}) (hidden sizes joined by "x"; options
    hidden, activation, target, steps, l2 as in `parse`). ValueError for anything else."""
    name, sep, source = text.partition("=")
    name = name.strip().lower()
    kind, colon, rest = source.partition(":")
    kind = kind.strip().lower()
    if not sep or not name or kind not in KINDS:
        raise ValueError(f"expected PARAMETER=KIND[:OPTION=VALUE,...] with KIND one of "
                         f"{', '.join(KINDS)} (e.g. attraction=mlp or "
                         f"attraction=mlp:l2=1e-3,hidden=32x16), got {text!r}")
    if not colon:
        return name, kind
    if kind == "table":
        raise ValueError(f"a table source takes no options, got {text!r}")
    options: dict = {"kind": kind}
    for item in rest.split(","):
        key, eq, value = (part.strip() for part in item.partition("="))
        key = key.lower()
        if key not in CLI_OPTIONS or not eq or not value:
            raise ValueError(f"source option {item.strip()!r} in {text!r}: expected OPTION=VALUE "
                             f"with OPTION one of {', '.join(CLI_OPTIONS)}")
        if key in options:
            raise ValueError(f"source option {key!r} given twice in {text!r}")
        try:
            options[key] = CLI_OPTIONS[key](value)
        except ValueError:
            raise ValueError(f"source option {key}={value!r} in {text!r} is not a valid "
                             f"{_CLI_TYPES.get(key, 'number')}") from None
    try:
        parse(options)
    except ValueError as err:
        raise ValueError(f"{text!r}: {err}") from None
    return name, options


def parse_all(model: str, sources: Mapping | None) -> dict[str, Spec]:
    """The function sources of `model` by parameter name (tables left out), checked against
    the model's parameters and against the kinds of key that have features."""
    kinds = catalogue.parameters(model)
    out = {}
    for name, value in (sources or {}).items():
        if name not in kinds:
            raise ValueError(f"sources names {name!r}, which {model} does not have; it has "
                             f"{', '.join(kinds)}")
        spec = parse(value)
        if spec is None:
            continue
        if kinds[name] not in FEATURES:
            raise ValueError(
                f"{model}'s {name!r} is keyed on {kinds[name]}, which has no features; "
                f"function sources take parameters keyed on {' or '.join(FEATURES)}"
            )
        out[name] = spec
    return out


VISION_MODES = ("per-doc", "mlp")


def with_vision(model: str, sources: Mapping | None, vision: str) -> dict:
    """`sources` with the vision models' older keyword folded in: vision="mlp" is
    sources={"vision": "mlp"}, vision="per-doc" (the default) a table."""
    if vision not in VISION_MODES:
        raise ValueError(f"vision must be one of {VISION_MODES}, got {vision!r}")
    sources = dict(sources or {})
    if vision == "per-doc":
        return sources
    if catalogue.base_model(model) not in catalogue.VISION_MODELS:
        raise ValueError(f"vision='mlp' applies to the vision models "
                         f"{', '.join(catalogue.VISION_MODELS)}, not {model!r}")
    if "vision" in sources:
        raise ValueError("give either vision='mlp' or sources['vision'], not both")
    return {**sources, "vision": "mlp"}


def key_features(sessions, model: str, name: str) -> np.ndarray:
    """The raw feature table of parameter `name`'s keys, or a ValueError naming what is missing."""
    kind = catalogue.parameters(model)[name]
    field = FEATURES[kind]
    features = getattr(sessions, field)
    if features is None:
        what = {"qd": "query-document", "doc": "document"}[kind]
        raise ValueError(
            f"a function source for {model}'s {name!r} needs {what} features, but these "
            f"sessions have none (Sessions.{field} is None)"
        )
    return features


@dataclass(frozen=True)
class Scaling:
    """Per-column mean and scale of the features a function was fitted on; applied to any
    later feature table so that predictions see the inputs the fit saw."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> Scaling:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be [n_keys, F], got shape {x.shape}")
        spread = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(spread > 0, spread, 1.0))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.mean) / self.scale


def standardise(features: np.ndarray) -> np.ndarray:
    """Columns with mean 0 and standard deviation 1 over keys (constant ones: 0), float64."""
    return Scaling.of(features)(features)


def shapes(n_features: int, hidden: tuple[int, ...] = HIDDEN) -> dict[str, tuple[int, ...]]:
    sizes = (n_features, *hidden)
    out: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        out[f"w{i}"], out[f"b{i}"] = (fan_in, fan_out), (fan_out,)
    last = len(hidden) + 1
    out[f"w{last}"], out[f"b{last}"] = (sizes[-1],), ()
    return out


def initial_weights(
    n_features: int, seed: int, hidden: tuple[int, ...] = HIDDEN
) -> dict[str, np.ndarray]:
    """Glorot-scaled hidden weights from `seed`, zero biases, zero output layer (p = 1/2)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes(n_features, hidden).items():
        hidden_layer = name.startswith("w") and len(shape) == 2
        out[name] = (rng.standard_normal(shape) / np.sqrt(shape[0]) if hidden_layer
                     else np.zeros(shape))
    return out


def logits(
    weights: Mapping, x, activation: str = "tanh", xp: ModuleType = np
):
    """The network's output before the final sigmoid, one per row of the standardised
    features x; xp is numpy or jax.numpy, so both engines evaluate the same function."""
    act = xp.tanh if activation == "tanh" else (lambda v: 0.5 * (1.0 + xp.tanh(0.5 * v)))
    layers = len(weights) // 2
    h = x
    for i in range(1, layers):
        h = act(h @ weights[f"w{i}"] + weights[f"b{i}"])
    return h @ weights[f"w{layers}"] + weights[f"b{layers}"]


def weight_log_prior(weights: Mapping, l2, xp: ModuleType = np):
    """-(l2 / 2) * the sum of squares of the weight matrices and vectors (w1 ... w{L+1}; the
    biases are free): the log-density of a Normal(0, 1 / l2) prior on each weight, constant
    dropped. The same term in both engines' objectives (em/sources.py, gradient/sources.py)."""
    squares = sum(xp.sum(xp.square(value)) for name, value in weights.items()
                  if name.startswith("w"))
    return -0.5 * l2 * squares


def probabilities(z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """sigmoid(z) held inside [eps, 1 - eps], as every probability parameter is."""
    return np.clip(0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, np.float64))), eps, 1.0 - eps)
