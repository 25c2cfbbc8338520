"""The shared objective in JAX: weighted log-likelihood of the observed clicks plus a Beta prior.

    objective = sum_i w_i sum_{r observed} log P(C_r = c_r | c_<r)
              + sum over every parameter entry of (a - 1) log theta + (b - 1) log(1 - theta)

the same function as clicklog.catalogue.log_prior and the EM engine's objective; the optimisers
minimise its negative divided by the weighted number of impressions (nats per impression).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradient.batch import Batch
from gradient.logmath import log_prob_pair
from gradient.mlp import is_network
from gradient.models import REGISTRY

Prior = tuple[float, float] | None


def log_prior(theta: dict[str, jax.Array], prior: Prior) -> jax.Array:
    """Beta(a, b) log-density, constant dropped, in logit space:
    (a - 1) log_sigmoid(x) + (b - 1) log_sigmoid(-x) summed over every entry. A network's
    weights (gradient/mlp.py) are not probabilities and carry no prior."""
    total = jnp.zeros(())
    if prior is None:
        return total
    a, b = prior
    for x in theta.values():
        if is_network(x):
            continue
        log_p, log_q = log_prob_pair(x)
        total = total + jnp.sum((a - 1.0) * log_p + (b - 1.0) * log_q)
    return total


def log_likelihood(theta: dict[str, jax.Array], batch: Batch, model: str) -> jax.Array:
    """sum_i w_i sum_{r observed} log P(C_r = c_r | c_<r) over the batch."""
    probs = REGISTRY[model].log_probs(theta, batch)
    per_rank = jnp.where(batch.click, probs.click, probs.no_click)
    per_rank = jnp.where(probs.observed, per_rank, 0.0)
    return jnp.sum(batch.weight * jnp.sum(per_rank, axis=1))


def loss(
    theta: dict[str, jax.Array],
    batch: Batch,
    n_impressions: jax.Array,
    scale: jax.Array,
    model: str,
    prior: Prior,
) -> jax.Array:
    """-(scale * log-likelihood(batch) + log prior) / n_impressions.

    scale = 1 on the full data; a minibatch that is one of m equal parts of the data takes
    scale = m, so that the mean minibatch loss over an epoch is the full per-impression loss.
    """
    ll = scale * log_likelihood(theta, batch, model)
    return -(ll + log_prior(theta, prior)) / n_impressions
