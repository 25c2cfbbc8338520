"""CCM, the click chain model: exact EM (Guo, Liu, Kannan, Minka, Taylor, Wang and
Faloutsos, "Click chain model in web search", WWW 2009), with point estimates of the
attraction instead of the paper's Bayesian inference.

Assumptions (cascade): the user scans top-down, E_0 = 1; an examined result is clicked iff
attractive; after a skip the user goes on with probability tau1; after a click the result
turns out relevant with probability attraction[qd] (a second draw S_r with the same
parameter), and the user goes on with probability tau3 if it was relevant, tau2 if not; an
unexamined rank ends the scan.

Parameters: attraction [n_qd], tau1, tau2, tau3 ().

Click probabilities, with a_r = attraction[qd_r] and e_r = P(E_r = 1 | c_<r), e_0 = 1:

    P(C_r = 1 | c_<r) = a_r e_r,
    e_{r+1} = a_r tau3 + (1 - a_r) tau2 after a click, e_r (1 - a_r) tau1 / (1 - a_r e_r)
    after a skip,
    P(C_r = 1) = a_r P(E_r = 1),
    P(E_{r+1} = 1) = P(E_r = 1) (a_r (a_r tau3 + (1 - a_r) tau2) + (1 - a_r) tau1).

E-step: em/cascade.py with the route S_r = relevance (sigma = attraction, cont1 = tau3,
cont0 = tau2, t0 = tau1): exact posteriors of S_r at every click (given that the user went
on, or jointly with the hidden chain at the last click) and of the chain after the last
click. Each S_r is one more attraction trial. Relevance is attraction. Initialisation: every
parameter 0.5 (tau2 and tau3 separate in the first iteration because sessions differ in
attraction).
"""

from __future__ import annotations

from em import cascade
from em.model import Params, Stats, by_qd


def _chain(params: Params, K: int) -> cascade.Chain:
    return cascade.Chain(
        attraction=params["attraction"],
        sigma=params["attraction"],
        t0=cascade.per_rank(params["tau1"], K),
        cont0=cascade.per_rank(params["tau2"], K),
        cont1=cascade.per_rank(params["tau3"], K),
    )


def _collect(stats: Stats) -> Stats:
    (a1, at), (s1, st) = stats["attraction"], stats["route"]
    return {
        "attraction": (a1 + s1, at + st),
        "tau1": cascade.total(stats["t0"]),
        "tau2": cascade.total(stats["cont0"]),
        "tau3": cascade.total(stats["cont1"]),
    }


CCM = cascade.cascade_model(
    "ccm",
    _chain,
    _collect,
    names={"S": ("route",), "T": ("t0", "cont0", "cont1")},
    relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
)
