"""Click chain model, CCM (Guo, Liu, Kannan, Minka, Taylor, Wang and Faloutsos, "Click chain
model in web search", WWW 2009).

Assumptions: a cascade (E_0 = 1, C_r = E_r * A_r, A_r ~ Bern(alpha_qd(r))) in which a skip is
followed by examination of the next result with probability tau1; after a click the user is
satisfied, S_r ~ Bern(alpha_qd(r)) (the same attraction parameter, as in the paper), and goes
on with probability tau3 if satisfied, tau2 if not.
Parameters: `attraction` alpha_qd per query-document pair, global `tau1`, `tau2`, `tau3`.
Click probabilities (cascade filter with t0 = tau1, t1_r = alpha tau3 + (1 - alpha) tau2):

    P(C_r = 1 | c_<r) = alpha_qd(r) e_r,   e_0 = 1,
        e_{r+1} = alpha_qd(r) tau3 + (1 - alpha_qd(r)) tau2                 if c_r = 1
                = e_r (1 - alpha_qd(r)) tau1 / (1 - alpha_qd(r) e_r)        if c_r = 0
    P(C_r = 1) = alpha_qd(r) P(E_r = 1),
        P(E_{r+1} = 1) = P(E_r = 1) (alpha (alpha tau3 + (1 - alpha) tau2) + (1 - alpha) tau1)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradient.batch import Batch
from gradient.cascade import cascade
from gradient.clicks import LogProbs
from gradient.logmath import log_prob_pair, log_prob_pair_at


def ccm(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_a, log_na = log_prob_pair_at(theta["attraction"], batch.qd)
    log_tau1, _ = log_prob_pair(theta["tau1"])
    log_tau2, _ = log_prob_pair(theta["tau2"])
    log_tau3, _ = log_prob_pair(theta["tau3"])
    log_t1 = jnp.logaddexp(log_a + log_tau3, log_na + log_tau2)
    return cascade(log_a, log_na, log_tau1, log_t1, batch)
