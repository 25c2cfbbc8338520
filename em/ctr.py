"""The click-through-rate models GCTR, RCTR and DCTR: fitted in closed form.

Assumptions: every click is an independent Bernoulli draw whose probability depends on
nothing (GCTR), on the rank only (RCTR) or on the query-document pair only (DCTR). No hidden
variables, so the E-step is a count and one M-step reaches the optimum.

Parameters and click probabilities (conditional = unconditional, no dependence on c_<r):

    GCTR  ctr            ()       P(C_r = 1) = ctr
    RCTR  ctr            (K,)     P(C_r = 1) = ctr[r]
    DCTR  attraction     (n_qd,)  P(C_r = 1) = attraction[qd_r]

MAP estimate, with a Beta(a, b) prior (a = b = 1 without one):
theta = (clicks + a - 1) / (impressions + a + b - 2) over the impressions the entry governs.
Relevance is the click probability itself. The baselines of Chuklin, Markov and de Rijke,
"Click Models for Web Search" (2015), section 3.1.
"""

from __future__ import annotations

import numpy as np

from clicklog import catalogue
from clicklog.sessions import Sessions
from em.bernoulli import keys, observed_estep, session_loglik
from em.layout import Layout
from em.model import Hidden, Model, Params, Stats, observed


def _ctr_model(model: str) -> Model:
    ((name, kind),) = catalogue.PARAMETERS[model].items()

    def estep(lay: Layout, params: Params) -> tuple[Stats, float]:
        stats, ll = observed_estep(params[name], kind, lay.qd, lay.click, lay.mask, lay.weight)
        return {name: stats}, ll

    def probs(params: Params, sessions: Sessions) -> np.ndarray:
        p = np.ravel(params[name])[keys(kind, sessions.qd)]
        return np.where(sessions.mask, p, 0.0)

    def posteriors(params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
        ll = session_loglik(probs(params, sessions), sessions.click, sessions.mask)
        return {"A": observed(sessions)}, ll

    return Model(
        parameters=model,
        estep=estep,
        conditional=probs,
        unconditional=probs,
        relevance=probs,
        posteriors=posteriors,
        closed_form=True,
    )


GCTR = _ctr_model("gctr")
RCTR = _ctr_model("rctr")
DCTR = _ctr_model("dctr")
