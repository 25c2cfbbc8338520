"""User browsing model, UBM (Dupret and Piwowarski, "A user browsing model to predict search
engine click data from past observations", SIGIR 2008).

Assumptions: as PBM, C_r = E_r * A_r with independent E_r and A_r, but the examination
probability depends on the rank r and on the rank of the last click above it.
Parameters: `attraction` alpha_qd per query-document pair, `examination` gamma[r, j] [K, K]
with j = (rank of the last click above r) + 1, or 0 when nothing above r was clicked (only
j <= r is ever used).
Click probabilities:

    P(C_r = 1 | c_<r) = alpha_qd(r) * gamma[r, j_r(c_<r)]
    P(C_r = 1)        = sum_{j <= r} q_r(j) alpha_qd(r) gamma[r, j]

where q_r(j) = P(j_r = j) follows the recursion (O(K) per rank, O(K^2) per session)

    q_0 = [1, 0, ...],   q_{r+1}(j) = q_r(j) (1 - alpha_qd(r) gamma[r, j]) for j <= r,
                         q_{r+1}(r + 1) = P(C_r = 1).

With sources={"examination": "linear" | "mlp"} gamma is per impression, a function of r, j and
the impression's bias features, gamma = f([one-hot r, one-hot j, bias features])
(gradient/bias.py, the same function as em.fit's: clicklog/cells.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from gradient.batch import Batch
from gradient.clicks import LogProbs
from gradient.logmath import log1mexp, log_prob_pair, log_prob_pair_at


def last_click_state(click: jax.Array) -> jax.Array:
    """j_r per rank [B, K]: 1 + the rank of the last click strictly above r, 0 if none."""
    n, K = click.shape
    after = lax.cummax(jnp.where(click, jnp.arange(1, K + 1), 0), axis=1)
    return jnp.concatenate([jnp.zeros((n, 1), after.dtype), after[:, :-1]], axis=1)


def unconditional(log_a: jax.Array, log_gamma: jax.Array) -> jax.Array:
    """log P(C_r = 1) [B, K] by the q_r recursion of the module docstring, in log space.

    log_gamma: the examination table [K, K] (rank r, state j), or one per session [K, B, K]
    (rank r, session, state j: vUBM's, whose examination also depends on the document).
    """
    n, K = log_a.shape
    states = jnp.arange(K)

    def step(log_q, x):
        la, lg, r = x
        log_click_given = la[:, None] + lg
        log_click = jax.nn.logsumexp(log_q + log_click_given, axis=1)
        log_q = log_q + log1mexp(log_click_given)
        return jnp.where(states == r + 1, log_click[:, None], log_q), log_click

    start = jnp.broadcast_to(jnp.where(states == 0, 0.0, -jnp.inf).astype(log_a.dtype), (n, K))
    _, log_click = lax.scan(step, start, (log_a.T, log_gamma, states))
    return log_click.T


def ubm(theta: dict[str, jax.Array], batch: Batch) -> LogProbs:
    log_a, _ = log_prob_pair_at(theta["attraction"], batch.qd)
    examination = theta["examination"]
    n, K = batch.click.shape
    state = last_click_state(batch.click)
    if examination.ndim == 2:
        log_gamma, _ = log_prob_pair(examination)
        log_e = log_gamma[jnp.arange(K)[None, :], state]
    else:
        # A function's logits per session [B, K, K], [rank r, column j], already inside the
        # bounds (gradient/bias.py).
        log_gamma = jax.nn.log_sigmoid(examination)
        log_e = log_gamma[jnp.arange(n)[:, None], jnp.arange(K)[None, :], state]
        log_gamma = jnp.transpose(log_gamma, (1, 0, 2))
    log_p = log_a + log_e
    return LogProbs(
        click=log_p,
        no_click=log1mexp(log_p),
        unconditional=unconditional(log_a, log_gamma),
        observed=batch.mask,
    )
