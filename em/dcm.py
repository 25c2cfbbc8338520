"""DCM, the dependent click model: exact EM (Guo, Liu and Wang, "Efficient multiple-click
models in web search", WSDM 2009), and its classic counting estimator (dcm-counting).

Assumptions (cascade): the user scans top-down, E_0 = 1; an examined result is clicked iff
attractive; after a skip the user goes on, after a click at rank r the user goes on with
probability continuation[r] and leaves otherwise; an unexamined rank ends the scan.

Parameters: attraction [n_qd], continuation [K] (continuation[K - 1] is never used).

Click probabilities, with e_r = P(E_r = 1 | c_<r), e_0 = 1:

    P(C_r = 1 | c_<r) = attraction[qd_r] e_r,
    e_{r+1} = continuation[r] after a click, e_r (1 - a_r) / (1 - a_r e_r) after a skip,
    P(C_r = 1) = attraction[qd_r] P(E_r = 1),
    P(E_{r+1} = 1) = P(E_r = 1) (a_r continuation[r] + 1 - a_r).

E-step: em/cascade.py with sigma = 0, t0 = 1, cont0 = continuation: it gives the exact
posterior of the examination chain after the last click and hence of the continuation draw
at the last click, which the counting estimator treats as a certain stop. Relevance is
attraction. Initialisation: every parameter 0.5.
"""

from __future__ import annotations

import numpy as np

from em import cascade
from em.bernoulli import counts, keys
from em.counting import attraction_counts, counting_model, is_last_click
from em.layout import Layout
from em.model import Params, Stats, by_qd


def _chain(params: Params, K: int) -> cascade.Chain:
    attraction = params["attraction"]
    return cascade.Chain(
        attraction=attraction,
        sigma=np.zeros(attraction.size),
        t0=np.ones(K),
        cont0=cascade.per_rank(params["continuation"], K),
        cont1=np.zeros(K),
    )


def _collect(stats: Stats) -> Stats:
    return {"attraction": stats["attraction"], "continuation": stats["cont0"]}


def _counts(lay: Layout) -> Stats:
    continued = lay.click & ~is_last_click(lay)
    return {
        "attraction": attraction_counts(lay),
        "continuation": counts(keys("rank", lay.qd), continued, lay.click, lay.weight, lay.K),
    }


DCM = cascade.cascade_model(
    "dcm",
    _chain,
    _collect,
    names={"L": ("cont0",)},
    relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
)
DCM_COUNTING = counting_model(DCM, _counts)
