"""Position-based model, PBM (Richardson, Dominowska and Ragno, "Predicting clicks: estimating
the click-through rate for new ads", WWW 2007; Craswell et al., WSDM 2008).

Assumptions: the result at rank r is examined with a probability that depends on the rank only,
is attractive with a probability that depends on the query-document pair only, independently,
and is clicked iff examined and attractive: C_r = E_r * A_r.
Parameters: `examination` gamma_r per rank [K], `attraction` alpha_qd per pair.
Click probabilities (clicks are independent across ranks, so both coincide):

    P(C_r = 1 | c_<r) = P(C_r = 1) = alpha_qd(r) * gamma_r
"""

from __future__ import annotations

import jax

from gradient.batch import Batch
from gradient.clicks import LogProbs, independent
from gradient.logmath import log_prob_pair, log_prob_pair_at


def pbm(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_a, _ = log_prob_pair_at(theta["attraction"], batch.qd)
    log_e, _ = log_prob_pair(theta["examination"])
    return independent(log_a + log_e[None, :], batch.mask)
