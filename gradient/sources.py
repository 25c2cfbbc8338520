"""Parameter sources in the gradient engine: a function of features trained end to end.

DESIGN.md section 9. A parameter with a function source ("linear" or "mlp",
clicklog.network) is, in the parameter pytree, a `Network`: the function's weights, from the
same seeded starting point as regression-based EM's (em/sources.py), with its activation as
static data. Before a model's log-probabilities are computed, `tables` replaces every Network
by its logits over all of its keys' standardised features (Batch.features, by the kind of key:
"qd" or "doc"), so the ten models and the vision family see a table of logits whatever the
source, and the optimiser moves the weights with every other parameter on the shared
objective. The Beta prior covers the tables; a network's weights carry their own Gaussian
prior (source option l2, 0 by default: none), added by gradient.objective.log_prior, the same
term as em/sources.py's.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import catalogue, network
from clicklog.sessions import Sessions
from gradient.logmath import probabilities


@jax.tree_util.register_pytree_node_class
class Network:
    """A function source's weights and weight-prior precision l2 (the pytree's leaves) and its
    activation (static).

    l2 is a leaf, not static data, so that a fit with a new l2 runs the program compiled for
    the last one (static data is part of the compiled program's key: every l2 of a grid was a
    compilation). Its log_prior reads it through stop_gradient, so its gradient is exactly 0
    and no optimiser moves it: L-BFGS's and Adam's steps in it are 0."""

    def __init__(self, weights: Mapping, activation: str = "tanh", l2=0.0) -> None:
        self.weights = dict(weights)
        self.activation = activation
        self.l2 = l2

    def tree_flatten(self):
        return (self.weights, self.l2), (self.activation,)

    @classmethod
    def tree_unflatten(cls, static, children):
        return cls(children[0], *static, l2=children[1])

    def logits(self, x, xp=jnp):
        return network.logits(self.weights, x, self.activation, xp)

    def log_prior(self, xp=jnp):
        """-(l2 / 2) |w|^2 (clicklog.network.weight_log_prior), as em/sources.py's."""
        l2 = jax.lax.stop_gradient(self.l2) if xp is jnp else float(self.l2)
        return network.weight_log_prior(self.weights, l2, xp)


def is_network(value: object) -> bool:
    """Whether a parameter pytree entry is a function's weights rather than a table of logits."""
    return isinstance(value, Network)


def start(
    model: str, sessions: Sessions, sources: Mapping | None, seed: int,
    logits: dict[str, np.ndarray],
) -> dict:
    """Starting parameters: the table `logits`, with every function source's entry replaced
    by its seeded starting network (every probability then 1/2)."""
    theta = dict(logits)
    for name, spec in network.parse_all(model, sources).items():
        if spec.target != "soft":
            raise ValueError(
                f"target={spec.target!r} is an EM M-step option; the gradient engine trains "
                f"{name!r} end to end on the objective"
            )
        features = network.key_features(sessions, model, name)
        theta[name] = Network(
            network.initial_weights(features.shape[1], seed, spec.hidden), spec.activation,
            np.float64(spec.l2),
        )
    return theta


def tables(theta: dict, features: Mapping[str, jax.Array], model: str) -> dict:
    """`theta` with every Network replaced by its logits over its keys' features."""
    kinds = catalogue.parameters(model)
    return {
        name: value.logits(features[kinds[name]]) if is_network(value) else value
        for name, value in theta.items()
    }


def to_params(theta: dict, sessions: Sessions, model: str) -> dict[str, np.ndarray]:
    """Fitted logits (numpy) as probabilities; a network gives the probability of every key of
    the sessions' vocabulary from its features, seen in training or not."""
    params = {}
    for name, value in theta.items():
        if is_network(value):
            features = network.key_features(sessions, model, name)
            value = value.logits(network.standardise(features), np)
        params[name] = probabilities(value)
    return params


def describe(theta: dict) -> dict:
    """settings entries of a fit: each network's weights (numpy) under f"{name}_network"."""
    return {f"{name}_network": dict(value.weights) for name, value in theta.items()
            if is_network(value)}
