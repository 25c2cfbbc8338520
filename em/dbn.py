"""DBN and SDBN, the dynamic Bayesian network models: exact EM (Chapelle and Zhang, "A
dynamic Bayesian network click model for web search ranking", WWW 2009), and the counting
estimator of SDBN (sdbn-counting).

Assumptions (cascade): the user scans top-down, E_0 = 1; an examined result is clicked iff
attractive; a clicked result satisfies the user with probability satisfaction[qd], and a
satisfied user leaves; an unsatisfied user (after a click or a skip) goes on with the global
probability continuation (DBN) or always (SDBN, continuation = 1); an unexamined rank ends
the scan.

Parameters: DBN attraction [n_qd], satisfaction [n_qd], continuation (); SDBN the first two.

Click probabilities, with a_r = attraction[qd_r], s_r = satisfaction[qd_r], gamma the
continuation and e_r = P(E_r = 1 | c_<r), e_0 = 1:

    P(C_r = 1 | c_<r) = a_r e_r,
    e_{r+1} = (1 - s_r) gamma after a click, e_r (1 - a_r) gamma / (1 - a_r e_r) after a skip,
    P(C_r = 1) = a_r P(E_r = 1),
    P(E_{r+1} = 1) = P(E_r = 1) gamma (a_r (1 - s_r) + 1 - a_r).

E-step: em/cascade.py with the route S_r = satisfaction (sigma = s, cont1 = 0, cont0 = t0 =
gamma): the exact joint posterior of S_l and E_{l+1} at the last click l and of the chain
after it, where PyClick's approximation assumes the user stops. S is drawn at clicks before
the last rank only. The continuation M-step pools the transitions after skips and after
unsatisfying clicks. Relevance is attraction * satisfaction. Initialisation: every
parameter 0.5.
"""

from __future__ import annotations

import numpy as np

from clicklog.sessions import Sessions
from em import cascade
from em.bernoulli import counts, keys
from em.counting import attraction_counts, counting_model, is_last_click
from em.layout import Layout
from em.model import Params, Stats, by_qd


def _chain(params: Params, K: int) -> cascade.Chain:
    gamma = cascade.per_rank(params.get("continuation", 1.0), K)
    return cascade.Chain(
        attraction=params["attraction"],
        sigma=params["satisfaction"],
        t0=gamma,
        cont0=gamma,
        cont1=np.zeros(K),
    )


def _collect_dbn(stats: Stats) -> Stats:
    return {
        "attraction": stats["attraction"],
        "satisfaction": stats["route"],
        "continuation": cascade.total(stats["t0"], stats["cont0"]),
    }


def _collect_sdbn(stats: Stats) -> Stats:
    return {"attraction": stats["attraction"], "satisfaction": stats["route"]}


def _counts(lay: Layout) -> Stats:
    return {
        "attraction": attraction_counts(lay),
        "satisfaction": counts(
            keys("qd", lay.qd), is_last_click(lay), lay.click, lay.weight, lay.n_qd
        ),
    }


def _relevance(params: Params, sessions: Sessions) -> np.ndarray:
    return by_qd(params["attraction"] * params["satisfaction"], sessions)


DBN = cascade.cascade_model(
    "dbn", _chain, _collect_dbn, names={"S": ("route",), "T": ("t0", "cont0")}, relevance=_relevance
)
SDBN = cascade.cascade_model(
    "sdbn", _chain, _collect_sdbn, names={"S": ("route",)}, relevance=_relevance
)
SDBN_COUNTING = counting_model(SDBN, _counts)
