"""Position-based model, PBM (Richardson, Dominowska and Ragno, "Predicting clicks: estimating
the click-through rate for new ads", WWW 2007; Craswell et al., WSDM 2008).

Assumptions: the result at rank r is examined with a probability that depends on the rank only,
is attractive with a probability that depends on the query-document pair only, independently,
and is clicked iff examined and attractive: C_r = E_r * A_r.
Parameters: `examination` gamma_r per rank [K], `attraction` alpha_qd per pair.
Click probabilities (clicks are independent across ranks, so both coincide):

    P(C_r = 1 | c_<r) = P(C_r = 1) = alpha_qd(r) * gamma_r

With sources={"examination": "linear" | "mlp"} the examination of an impression is a function
of its rank and bias features, gamma = f([one-hot r, bias features]) (gradient/bias.py, the
same function as em.fit's: clicklog/cells.py); the table's gamma_r is then f's at that rank.
"""

from __future__ import annotations

import jax

from gradient.batch import Batch
from gradient.clicks import LogProbs, independent
from gradient.logmath import log_prob_pair, log_prob_pair_at


def pbm(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_a, _ = log_prob_pair_at(theta["attraction"], batch.qd)
    examination = theta["examination"]
    if examination.ndim == 1:
        log_e = log_prob_pair(examination)[0][None, :]
    else:
        # A function's logits per impression [B, K], already inside the bounds (gradient/bias.py)
        log_e = jax.nn.log_sigmoid(examination)
    return independent(log_a + log_e, batch.mask)
