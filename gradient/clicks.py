"""`LogProbs`: what every gradient-engine model function returns for a batch of sessions."""

from __future__ import annotations

from typing import NamedTuple

import jax

from gradient.logmath import log1mexp


class LogProbs(NamedTuple):
    """Per-rank log-probabilities, each [B, K]; values at padded ranks are finite but meaningless.

    click:         log P(C_r = 1 | c_<r)
    no_click:      log P(C_r = 0 | c_<r)
    unconditional: log P(C_r = 1)
    observed:      ranks the objective covers (real ranks; for CM only up to the first click)
    """

    click: jax.Array
    no_click: jax.Array
    unconditional: jax.Array
    observed: jax.Array


def independent(log_p: jax.Array, observed: jax.Array) -> LogProbs:
    """LogProbs of a model whose P(C_r = 1 | c_<r) = P(C_r = 1) = exp(log_p) (CTR models, PBM)."""
    return LogProbs(click=log_p, no_click=log1mexp(log_p), unconditional=log_p, observed=observed)
