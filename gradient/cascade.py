"""The one examination filter of the cascade family (CM, DCM, CCM, DBN, SDBN), as a lax.scan.

Every cascade model has the chain E_0 = 1, C_r = E_r * A_r with A_r ~ Bern(a_r), E_r = 0 =>
E_{r+1} = 0, and for E_r = 1 two continuation probabilities that only the model sets:

    t0_r = P(E_{r+1} = 1 | E_r = 1, C_r = 0)      t1_r = P(E_{r+1} = 1 | E_r = 1, C_r = 1)

The filter carries log P(E_r = 1 | c_<r) down the ranks (Chuklin, Markov and de Rijke, "Click
Models for Web Search", 2015, ch. 3 and 4):

    P(C_r = 1 | c_<r)         = a_r P(E_r = 1 | c_<r)
    P(E_{r+1} = 1 | c_<=r)    = t1_r                                         if c_r = 1
                              = P(E_r = 1 | c_<r) (1 - a_r) t0_r / (1 - a_r P(E_r = 1 | c_<r))
                                                                             if c_r = 0

(a click proves E_r = 1; a skip is Bayes' rule on E_r), and the marginal chain alongside:

    P(C_r = 1) = a_r P(E_r = 1)      P(E_{r+1} = 1) = P(E_r = 1) (a_r t1_r + (1 - a_r) t0_r).

All in log space; t1 = 0 (CM) is log t1 = -inf, which log1mexp and logaddexp carry with finite
gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from gradient.batch import Batch
from gradient.clicks import LogProbs
from gradient.logmath import log1mexp


def cascade(
    log_a: jax.Array,
    log_na: jax.Array,
    log_t0: jax.Array,
    log_t1: jax.Array,
    batch: Batch,
) -> LogProbs:
    """LogProbs of a cascade model from log a_r, log(1 - a_r) [B, K] and log t0_r, log t1_r
    (anything that broadcasts to [B, K]: a scalar, a per-rank [K] or a per-result [B, K])."""
    shape = batch.click.shape
    ranks_first = [jnp.broadcast_to(v, shape).T for v in (log_a, log_na, log_t0, log_t1)]

    def step(carry, x):
        log_e, log_u = carry
        la, lna, lt0, lt1, c = x
        log_click = log_e + la
        log_no_click = log1mexp(log_click)
        after_skip = log_e + lna + lt0 - log_no_click
        # Rounding can push the posterior a hair above 1; log1mexp needs it at most 1.
        log_e_next = jnp.minimum(jnp.where(c, lt1, after_skip), 0.0)
        log_u_next = log_u + jnp.logaddexp(la + lt1, lna + lt0)
        return (log_e_next, log_u_next), (log_click, log_no_click, log_u + la)

    start = jnp.zeros(shape[0], log_a.dtype)
    _, (click, no_click, unconditional) = lax.scan(
        step, (start, start), (*ranks_first, batch.click.T)
    )
    return LogProbs(
        click=click.T, no_click=no_click.T, unconditional=unconditional.T, observed=batch.mask
    )
