"""Log-space arithmetic for the gradient engine: probabilities from logits, and log(1 - exp(x)).

Every model works on log-probabilities so that long products (a cascade's examination chain,
UBM's no-click runs) never underflow, and every helper here keeps its gradient finite
wherever its value is finite or -inf, so that no NaN reaches the optimiser.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# Probabilities live in [EPS, 1 - EPS] in both engines; in logit space that is [-BOUND, BOUND].
EPS = 1e-6
LOGIT_BOUND = math.log((1.0 - EPS) / EPS)


def log_prob_pair(logit: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(log p, log(1 - p)) for p = sigmoid(logit), with p held inside [EPS, 1 - EPS].

    log(1 - sigmoid(x)) = log_sigmoid(-x), so neither side loses precision near 0 or 1.
    """
    x = jnp.clip(logit, -LOGIT_BOUND, LOGIT_BOUND)
    return jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)


def log_prob_pair_at(logit: jax.Array, index: jax.Array) -> tuple[jax.Array, jax.Array]:
    """log_prob_pair(logit)[index]: transformed per parameter entry, then gathered, so the
    transcendental functions run once per entry, not once per shown result."""
    log_p, log_q = log_prob_pair(logit)
    return log_p[index], log_q[index]


def log1mexp(x: jax.Array) -> jax.Array:
    """log(1 - exp(x)) for x <= 0, as log(-expm1(x)).

    Its absolute error is a few ulps of 1 for every x, which is what sums of log-likelihood
    terms and the cascade's log-space Bayes updates need. (The log1p(-exp(x)) branch of
    Maechler 2012 adds relative accuracy only where the result is below float precision in
    absolute terms, and doubling the transcendental work for that measurably slowed every
    model.) x = -inf gives 0 with gradient 0, as the cascade needs after CM's first click;
    callers keep x < 0 (probabilities stay below 1 - EPS), where the gradient is finite.
    """
    return jnp.log(-jnp.expm1(x))


def logaddexp_inf(x: jax.Array, y: jax.Array) -> jax.Array:
    """jnp.logaddexp(x, y), whose gradient is finite also where x = y = -inf (there JAX's own
    rule gives NaN: both sides are log 0, a state the cascade filter reaches whenever its
    non-examination probability and 1 - t0 are both exactly 0)."""
    both = (x == -jnp.inf) & (y == -jnp.inf)
    value = jnp.logaddexp(jnp.where(both, 0.0, x), jnp.where(both, 0.0, y))
    return jnp.where(both, -jnp.inf, value)


def probabilities(logit: np.ndarray) -> np.ndarray:
    """sigmoid(logit) as float64 numpy, held inside [EPS, 1 - EPS] like log_prob_pair."""
    x = np.clip(np.asarray(logit, dtype=np.float64), -LOGIT_BOUND, LOGIT_BOUND)
    return 1.0 / (1.0 + np.exp(-x))


def logits(probability: np.ndarray) -> np.ndarray:
    """The inverse of `probabilities`, for starting values given as probabilities."""
    p = np.clip(np.asarray(probability, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)
