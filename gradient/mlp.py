"""The vision network in JAX, trained end to end inside the loss (gradient engine).

The same network as regression-based EM's (clicklog.vision_network: standardised features ->
16 tanh -> 8 tanh -> 1, sigma_d = sigmoid of the output; Xu et al., "Incorporating Vision
Bias into Click Models for Image-oriented Search Engine", section 4.2), from the same seeded
starting weights. Here its weights are leaves of the parameter pytree under `vision` and the
optimiser moves them along with every other parameter, on the shared objective. They carry no
prior (gradient.objective.log_prior skips networks); the Beta prior covers the probabilities.
"""

from __future__ import annotations

from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import vision_network

Network = dict[str, jax.Array]


def is_network(value: object) -> bool:
    """Whether a parameter pytree entry is a network's weights rather than an array of logits."""
    return isinstance(value, dict)


def initial(n_features: int, seed: int) -> dict[str, np.ndarray]:
    return vision_network.initial_weights(n_features, seed)


def logits(network: Network, features: jax.Array, xp: ModuleType = jnp) -> jax.Array:
    """The network's output before the sigmoid, one per document [n_docs]; xp=numpy evaluates
    fitted weights in float64 outside JAX."""
    h1 = xp.tanh(features @ network["w1"] + network["b1"])
    h2 = xp.tanh(h1 @ network["w2"] + network["b2"])
    return h2 @ network["w3"] + network["b3"]
