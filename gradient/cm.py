"""Cascade model, CM (Craswell, Zoeter, Taylor and Ramsey, "An experimental comparison of click
position-bias models", WSDM 2008).

Assumptions: the user scans top-down from rank 0, clicks the first attractive result and
stops: E_0 = 1, C_r = E_r * A_r, E_{r+1} = E_r * (1 - C_r); so at most one click.
Parameters: `attraction` alpha_qd per query-document pair.
Click probabilities (cascade filter with t0 = 1, t1 = 0):

    P(C_r = 1 | c_<r) = alpha_qd(r)      if no click above r,   0 after the first click
    P(C_r = 1)        = alpha_qd(r) * prod_{s < r} (1 - alpha_qd(s))

A log with several clicks per page lies outside the model's support, so the objective covers
ranks up to and including the first click only, as PyClick and CLAX fit CM.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradient.batch import Batch
from gradient.cascade import cascade
from gradient.clicks import LogProbs
from gradient.logmath import log_prob_pair_at


def cm(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_a, log_na = log_prob_pair_at(theta["attraction"], batch.qd)
    log_t0 = jnp.zeros((), log_a.dtype)
    log_t1 = jnp.full((), -jnp.inf, log_a.dtype)
    probs = cascade(log_a, log_na, log_t0, log_t1, batch)
    clicks_above = jnp.cumsum(batch.click, axis=1) - batch.click
    return probs._replace(observed=batch.mask & (clicks_above == 0))
