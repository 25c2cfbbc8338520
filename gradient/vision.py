"""vPBM-1, vPBM-2, vUBM-1, vUBM-2: PBM and UBM with vision bias (Xu et al., "Incorporating
Vision Bias into Click Models for Image-oriented Search Engine", 2021).

Assumptions: C_r = E~_r * A_r; examination E~_r combines a position examination P_r ~
Bern(gamma) (PBM's gamma_r, or UBM's gamma[r, j] with j = 1 + the rank of the last click above
r, 0 without one) with a vision draw V_r ~ Bern(sigma_d) of the shown document d:

    "-2" (eq. 4):   E~ = P or V,   e = P(E~ = 1) = gamma + (1 - gamma) sigma_d
                                                 = 1 - (1 - gamma)(1 - sigma_d)
    "-1" (eq. 15):  E~ = P and V,  e = P(E~ = 1) = gamma * sigma_d

and A_r ~ Bern(alpha_qd), all independent.
Parameters: `attraction` alpha_qd [n_qd], `examination` gamma [K] (vPBM) or [K, K] (vUBM),
`vision` sigma_d: one logit per document [n_docs] (with a function source, e.g. vision="mlp",
gradient/sources.py turns the network into these logits before the model sees them). With
sources={"examination": "linear" | "mlp"} gamma is a function of the impression's rank (vUBM:
and column j) and bias features (gradient/bias.py, the same function as em.fit's:
clicklog/cells.py), whose logits come per session: [B, K] (vPBM), [B, K, K] (vUBM).
Click probabilities:

    P(C_r = 1 | c_<r) = alpha_qd(r) * e(gamma[r, j_r(c_<r)], sigma_d(r))
    P(C_r = 1)        = vPBM: the same;  vUBM: UBM's recursion over the last click above r
                        (gradient/ubm.py) with the per-session table e(gamma[r, j], sigma_d(r)).

In log space: log e = log1mexp(log(1 - gamma) + log(1 - sigma)) for "-2", log gamma +
log sigma for "-1". With sigma_d -> 0 the "-2" models become PBM and UBM.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gradient import ubm
from gradient.batch import Batch
from gradient.clicks import LogProbs, independent
from gradient.logmath import log1mexp, log_prob_pair, log_prob_pair_at


def _vision(theta: dict, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(log sigma_d, log(1 - sigma_d)) of the document at every rank, [B, K]."""
    return log_prob_pair_at(theta["vision"], batch.doc)


def _log_examined(log_g, log_ng, log_s, log_ns, variant: int) -> jax.Array:
    """log P(E~ = 1): eq. 4 (variant 2) or eq. 15 (variant 1), broadcast over the inputs."""
    return log1mexp(log_ng + log_ns) if variant == 2 else log_g + log_s


def _position(theta: dict, by_last: bool) -> tuple[jax.Array, jax.Array, bool]:
    """(log gamma, log(1 - gamma), whether per session): the table [K] / [K, K], or a
    function's logits per session [B, K] / [B, K, K] (rank r, column j), already inside the
    bounds (gradient/bias.py), whose log-probabilities are taken as they are, as
    gradient/pbm.py's and ubm.py's."""
    examination = theta["examination"]
    if examination.ndim == (2 if by_last else 1):
        return *log_prob_pair(examination), False
    return jax.nn.log_sigmoid(examination), jax.nn.log_sigmoid(-examination), True


def _model(by_last: bool, variant: int) -> Callable[[dict, Batch], LogProbs]:
    def log_probs(theta: dict, batch: Batch) -> LogProbs:
        log_a, _ = log_prob_pair_at(theta["attraction"], batch.qd)
        log_g, log_ng, per_session = _position(theta, by_last)
        log_s, log_ns = _vision(theta, batch)
        if not by_last:
            if not per_session:
                log_g, log_ng = log_g[None, :], log_ng[None, :]
            log_e = _log_examined(log_g, log_ng, log_s, log_ns, variant)
            return independent(log_a + log_e, batch.mask)
        n, K = batch.click.shape
        # gamma as [rank r, session (1 for the table), state j], as the table below
        if per_session:
            log_g, log_ng = (jnp.transpose(x, (1, 0, 2)) for x in (log_g, log_ng))
        else:
            log_g, log_ng = log_g[:, None, :], log_ng[:, None, :]
        session = jnp.arange(n)[:, None] if per_session else 0
        cell = (jnp.arange(K)[None, :], session, ubm.last_click_state(batch.click))
        log_p = log_a + _log_examined(log_g[cell], log_ng[cell], log_s, log_ns, variant)
        # [rank r, session, state j]: the examination of every state at every rank
        table = _log_examined(log_g, log_ng, log_s.T[:, :, None], log_ns.T[:, :, None], variant)
        return LogProbs(
            click=log_p,
            no_click=log1mexp(log_p),
            unconditional=ubm.unconditional(log_a, table),
            observed=batch.mask,
        )

    return log_probs


vpbm1 = _model(by_last=False, variant=1)
vpbm2 = _model(by_last=False, variant=2)
vubm1 = _model(by_last=True, variant=1)
vubm2 = _model(by_last=True, variant=2)

