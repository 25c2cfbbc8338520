"""Dependent click model, DCM (Guo, Liu and Wang, "Efficient multiple-click models in web
search", WSDM 2009).

Assumptions: a cascade (E_0 = 1, C_r = E_r * A_r) in which the user always goes on after a
skip, and after a click at rank r goes on with a rank-dependent probability lambda_r:
C_r = 0 => E_{r+1} = E_r;  C_r = 1 => E_{r+1} ~ Bern(lambda_r).
Parameters: `attraction` alpha_qd per query-document pair, `continuation` lambda_r per rank.
Click probabilities (cascade filter with t0_r = 1, t1_r = lambda_r; e_r = P(E_r = 1 | c_<r)):

    P(C_r = 1 | c_<r) = alpha_qd(r) e_r,   e_0 = 1,
        e_{r+1} = lambda_r if c_r = 1,  e_r (1 - alpha_qd(r)) / (1 - alpha_qd(r) e_r) if c_r = 0
    P(C_r = 1) = alpha_qd(r) P(E_r = 1),
        P(E_{r+1} = 1) = P(E_r = 1) (alpha_qd(r) lambda_r + 1 - alpha_qd(r))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradient.batch import Batch
from gradient.cascade import cascade
from gradient.clicks import LogProbs
from gradient.logmath import log_prob_pair, log_prob_pair_at


def dcm(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_a, log_na = log_prob_pair_at(theta["attraction"], batch.qd)
    log_lambda, _ = log_prob_pair(theta["continuation"])
    return cascade(log_a, log_na, jnp.zeros((), log_a.dtype), log_lambda[None, :], batch)
