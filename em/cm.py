"""CM, the cascade model: fitted in closed form (Craswell, Zoeter, Taylor and Ramsey, "An
experimental comparison of click position-bias models", WSDM 2008).

Assumptions: the user scans top-down, clicks the first attractive result and stops there;
a result is attractive with probability attraction[qd], independently. A session with more
than one click is outside the model, so CM is fitted, as PyClick and CLAX do, on the ranks up
to and including the first click (all ranks without a click), where every examination is
certain and every attraction draw is observed.

Parameters: attraction [n_qd].

Click probabilities, with a_r = attraction[qd_r] and f the first click:

    P(C_r = 1 | c_<r) = a_r for r <= f, 0 after the first click,
    P(C_r = 1) = a_r prod_{k < r} (1 - a_k).

MAP estimate: attraction = (clicks + a - 1) / (impressions up to the first click + a + b - 2).
Relevance is attraction. The objective counts the ranks up to the first click only.
"""

from __future__ import annotations

import numpy as np

from clicklog.sessions import Sessions
from em.bernoulli import observed_estep, session_loglik
from em.layout import Layout, click_ranks
from em.model import Hidden, Model, Params, Stats, by_qd


def _support(mask: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Ranks inside CM's model: up to the first click, all ranks without one."""
    ranks = np.arange(mask.shape[1])[None, :]
    return mask & ((ranks <= first[:, None]) | (first[:, None] < 0))


def _estep(lay: Layout, params: Params) -> tuple[Stats, float]:
    support = _support(lay.mask, lay.first)
    stats, ll = observed_estep(params["attraction"], "qd", lay.qd, lay.click, support, lay.weight)
    return {"attraction": stats}, ll


def _session_support(sessions: Sessions) -> np.ndarray:
    first, _ = click_ranks(sessions.click)
    return _support(sessions.mask, first)


def _conditional(params: Params, sessions: Sessions) -> np.ndarray:
    return np.where(_session_support(sessions), by_qd(params["attraction"], sessions), 0.0)


def _unconditional(params: Params, sessions: Sessions) -> np.ndarray:
    a = by_qd(params["attraction"], sessions)
    no_click_above = np.cumprod(np.concatenate([np.ones((sessions.n, 1)), 1.0 - a[:, :-1]], 1), 1)
    return a * no_click_above


def _posteriors(params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
    support = _session_support(sessions)
    a = by_qd(params["attraction"], sessions)
    drawn = sessions.mask.astype(np.float64)
    attractive = np.where(support, sessions.click, a)
    hidden = {"E": (drawn, support.astype(np.float64)), "A": (drawn, attractive * drawn)}
    return hidden, session_loglik(a, sessions.click, support)


CM = Model(
    parameters="cm",
    estep=_estep,
    conditional=_conditional,
    unconditional=_unconditional,
    relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
    posteriors=_posteriors,
    closed_form=True,
)
