"""Dynamic Bayesian network model, DBN, and its simplified form SDBN (Chapelle and Zhang, "A
dynamic Bayesian network click model for web search ranking", WWW 2009).

Assumptions: a cascade (E_0 = 1, C_r = E_r * A_r, A_r ~ Bern(alpha_qd(r))); after a click the
user is satisfied with probability sigma_qd(r) and then stops; an unsatisfied user, or one who
skipped, goes on with probability gamma: C_r = 1 => S_r ~ Bern(sigma), S_r = 1 => stop, else
E_{r+1} ~ Bern(gamma);  C_r = 0 => E_{r+1} ~ Bern(gamma).  SDBN fixes gamma = 1.
Parameters: `attraction` alpha_qd and `satisfaction` sigma_qd per query-document pair, global
`continuation` gamma (DBN only).
Click probabilities (cascade filter with t0 = gamma, t1_r = (1 - sigma_qd(r)) gamma):

    P(C_r = 1 | c_<r) = alpha_qd(r) e_r,   e_0 = 1,
        e_{r+1} = (1 - sigma_qd(r)) gamma                                  if c_r = 1
                = e_r (1 - alpha_qd(r)) gamma / (1 - alpha_qd(r) e_r)       if c_r = 0
    P(C_r = 1) = alpha_qd(r) P(E_r = 1),
        P(E_{r+1} = 1) = P(E_r = 1) gamma (alpha_qd(r) (1 - sigma_qd(r)) + 1 - alpha_qd(r))

Relevance: alpha_qd * sigma_qd (the paper's section 5).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradient.batch import Batch
from gradient.cascade import cascade
from gradient.clicks import LogProbs
from gradient.logmath import log_prob_pair, log_prob_pair_at


def _dbn(theta: dict[str, jax.Array], batch: Batch, log_gamma: jax.Array) -> LogProbs:
    log_a, log_na = log_prob_pair_at(theta["attraction"], batch.qd)
    _, log_unsatisfied = log_prob_pair_at(theta["satisfaction"], batch.qd)
    return cascade(log_a, log_na, log_gamma, log_unsatisfied + log_gamma, batch)


def dbn(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_gamma, _ = log_prob_pair(theta["continuation"])
    return _dbn(theta, batch, log_gamma)


def sdbn(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    return _dbn(theta, batch, jnp.zeros((), theta["attraction"].dtype))
