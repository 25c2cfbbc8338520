"""Click-through-rate models GCTR, RCTR and DCTR (Chuklin, Markov and de Rijke, "Click Models for
Web Search", 2015, section 3.1): clicks are independent Bernoulli draws with no hidden state.

Parameters: `ctr` (GCTR: one global rho; RCTR: one rho_r per rank) and `attraction` (DCTR: one
alpha_qd per query-document pair). Conditional and unconditional click probabilities coincide:

    GCTR  P(C_r = 1 | c_<r) = P(C_r = 1) = rho
    RCTR  P(C_r = 1 | c_<r) = P(C_r = 1) = rho_r
    DCTR  P(C_r = 1 | c_<r) = P(C_r = 1) = alpha_qd(r)

Relevance: rho (per rank for RCTR) and alpha_qd.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradient.batch import Batch
from gradient.clicks import LogProbs, independent
from gradient.logmath import log_prob_pair, log_prob_pair_at


def ctr(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    """GCTR and RCTR: a scalar `ctr` and a per-rank one broadcast alike over [B, K]."""
    log_p, _ = log_prob_pair(theta["ctr"])
    return independent(jnp.broadcast_to(log_p, batch.click.shape), batch.mask)


def dctr(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_p, _ = log_prob_pair_at(theta["attraction"], batch.qd)
    return independent(log_p, batch.mask)
