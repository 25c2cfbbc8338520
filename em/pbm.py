"""PBM, the position-based model: exact EM (Craswell et al., "An experimental comparison of
click position-bias models", WSDM 2008; Chuklin et al., "Click Models for Web Search", 3.3).

Assumptions: a result is clicked iff it is examined and attractive; examination depends on
the rank only, attractiveness on the query-document pair only, and the two are independent
of each other and of every other rank.

Parameters: attraction [n_qd], examination [K].

Click probabilities (conditional = unconditional):

    P(C_r = 1 | c_<r) = P(C_r = 1) = attraction[qd_r] * examination[r].

Examination from bias features: with sources={"examination": "linear" | "mlp"} it is a
function of each impression's rank and bias features (Sessions.bias_features: device, result
type), P(C_r = 1) = attraction[qd_r] * f([one-hot r, bias features of (i, r)]); then the
parameter is f's probability per cell, the distinct (r, bias row) of the log (clicklog/cells.py,
em/bias.py: the same exact E-step, f refitted to its (S1, T) per cell in every M-step).

E-step and M-step: em/position.py with a one-column examination table. Relevance is
attraction. Initialisation: every parameter 0.5 (symmetric in attraction and examination;
the rank dependence of the clicks breaks the symmetry in the first iteration).
"""

from __future__ import annotations

import numpy as np

from clicklog.sessions import Sessions
from em import position
from em.layout import Layout
from em.model import Hidden, Model, Params, Stats, by_qd


def _column(params: Params) -> np.ndarray:
    return np.ascontiguousarray(params["examination"][:, None])


def _estep(lay: Layout, params: Params) -> tuple[Stats, float]:
    attraction, (e1, et), ll = position.estep(lay, params["attraction"], _column(params), False)
    return {"attraction": attraction, "examination": (e1[:, 0], et[:, 0])}, ll


def _probs(params: Params, sessions: Sessions) -> np.ndarray:
    return position.predict(sessions, params["attraction"], _column(params), False, True)


def _posteriors(params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
    return position.posteriors(sessions, params["attraction"], _column(params), False)


PBM = Model(
    parameters="pbm",
    estep=_estep,
    conditional=_probs,
    unconditional=_probs,
    relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
    posteriors=_posteriors,
)
