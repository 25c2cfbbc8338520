"""The one examination filter of the cascade family (CM, DCM, CCM, DBN, SDBN), as a lax.scan.

Every cascade model has the chain E_0 = 1, C_r = E_r * A_r with A_r ~ Bern(a_r), E_r = 0 =>
E_{r+1} = 0, and for E_r = 1 two continuation probabilities that only the model sets:

    t0_r = P(E_{r+1} = 1 | E_r = 1, C_r = 0)      t1_r = P(E_{r+1} = 1 | E_r = 1, C_r = 1)

The filter carries the posterior of E_r given the clicks above, e_r = P(E_r = 1 | c_<r), down
the ranks (Chuklin, Markov and de Rijke, "Click Models for Web Search", 2015, ch. 3 and 4). A
click proves E_r = 1, so e_{r+1} = t1_r; a skip is Bayes' rule on E_r over the two ways to
see no click, examined and unattracted (weight e_r (1 - a_r)) or not examined (1 - e_r):

    w1 = e_r (1 - a_r) t0_r                         (examined next)
    w0 = (1 - e_r) + e_r (1 - a_r) (1 - t0_r)       (not examined next)
    e_{r+1} = w1 / (w1 + w0),   1 - e_{r+1} = w0 / (w1 + w0),
    P(C_r = 0 | c_<r) = w1 + w0 = 1 - a_r e_r,      P(C_r = 1 | c_<r) = a_r e_r.

The filter carries log e_r and log(1 - e_r) side by side, renormalised at every rank: a sum of
positive terms, never a difference. Carrying log e_r alone and taking 1 - e_r as
1 - exp(log e_r) is unstable: after skips from e_r = 1 - d the gap grows to d / (1 - a_r) per
rank, so float32's rounding (d ~ 1e-7) becomes a wrong probability within 20 to 40 ranks
(DCM, SDBN and CM, whose t0 = 1 keeps e_r = 1 exactly: here log(1 - e_r) = -inf stays -inf).

The marginal chain alongside is a product of factors in (0, 1], stable as it is:

    P(C_r = 1) = a_r P(E_r = 1)      P(E_{r+1} = 1) = P(E_r = 1) (a_r t1_r + (1 - a_r) t0_r).

t1 = 0 (CM) is log t1 = -inf and t0 = 1 (DCM, SDBN, CM) is log(1 - t0) = -inf; logaddexp
(gradient.logmath.logaddexp_inf where both sides can be -inf) carries them with finite
gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from gradient.batch import Batch
from gradient.clicks import LogProbs
from gradient.logmath import log1mexp, logaddexp_inf


def _log_complement(log_t: jax.Array) -> jax.Array:
    """log(1 - t) from log t, -inf (with gradient 0) at t = 1."""
    below_one = log_t < 0.0
    return jnp.where(below_one, log1mexp(jnp.where(below_one, log_t, -1.0)), -jnp.inf)


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
    log_nt0, log_nt1 = _log_complement(log_t0), _log_complement(log_t1)
    ranks_first = [
        jnp.broadcast_to(v, shape).T for v in (log_a, log_na, log_t0, log_nt0, log_t1, log_nt1)
    ]

    def step(carry, x):
        log_e, log_ne, log_u = carry
        la, lna, lt0, lnt0, lt1, lnt1, c = x
        examined_skip = log_e + lna
        w1 = examined_skip + lt0
        w0 = logaddexp_inf(log_ne, examined_skip + lnt0)
        log_no_click = jnp.logaddexp(w1, w0)
        log_e_next = jnp.where(c, lt1, w1 - log_no_click)
        log_ne_next = jnp.where(c, lnt1, w0 - log_no_click)
        log_u_next = log_u + jnp.logaddexp(la + lt1, lna + lt0)
        return (log_e_next, log_ne_next, log_u_next), (log_e + la, log_no_click, log_u + la)

    certain = jnp.zeros(shape[0], log_a.dtype)
    start = (certain, jnp.full(shape[0], -jnp.inf, log_a.dtype), certain)
    _, (click, no_click, unconditional) = lax.scan(step, start, (*ranks_first, batch.click.T))
    return LogProbs(
        click=click.T, no_click=no_click.T, unconditional=unconditional.T, observed=batch.mask
    )
