"""The shared objective in JAX: weighted log-likelihood of the observed clicks plus a Beta prior.

    objective = sum_i w_i sum_{r observed} log P(C_r = c_r | c_<r)
              + sum over every parameter entry of (a - 1) log theta + (b - 1) log(1 - theta)

(with an empirical prior, a pair per parameter and the normalising constants: clicklog.priors),
the same function as clicklog.catalogue.log_prior and the EM engine's objective; the optimisers
minimise its negative divided by the weighted number of impressions (nats per impression).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax.scipy.special import betaln

from gradient.batch import Batch
from gradient.logmath import log_prob_pair
from gradient.models import REGISTRY
from gradient.sources import is_network, tables

Prior = tuple[float, float] | Mapping[str, tuple[float, float]] | None


def log_prior(theta: dict[str, jax.Array], prior: Prior) -> jax.Array:
    """Beta(a, b) log-density in logit space: (a - 1) log_sigmoid(x) + (b - 1) log_sigmoid(-x)
    summed over every entry, constant dropped for one fixed pair; for a dict name -> (a, b)
    (an empirical prior, gradient/empirical.py) each parameter's own pair with its constant
    -log B(a, b), as clicklog.catalogue.log_prior. A network's weights (gradient/sources.py) are
    not probabilities: no Beta prior, their own Gaussian one (source option l2). (a, b) may
    be traced values."""
    # A network's weights have their own Gaussian prior (gradient/sources.py; 0 without l2).
    total = sum((x.log_prior() for x in theta.values() if is_network(x)), jnp.zeros(()))
    if prior is None:
        return total
    per_name = isinstance(prior, Mapping)
    for name, x in theta.items():
        pair = prior.get(name) if per_name else prior
        if is_network(x) or pair is None:
            continue
        a, b = pair
        log_p, log_q = log_prob_pair(x)
        total = total + jnp.sum((a - 1.0) * log_p + (b - 1.0) * log_q)
        if per_name:
            total = total - x.size * betaln(a, b)
    return total


def log_likelihood(theta: dict[str, jax.Array], batch: Batch, model: str) -> jax.Array:
    """sum_i w_i sum_{r observed} log P(C_r = c_r | c_<r) over the batch; function sources
    (gradient/sources.py) are evaluated on the batch's key features first."""
    probs = REGISTRY[model].log_probs(tables(theta, batch.features, model), batch)
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
