"""UBM, the user browsing model: exact EM (Dupret and Piwowarski, "A user browsing model to
predict search engine click data from past observations", SIGIR 2008).

Assumptions: a result is clicked iff it is examined and attractive; examination depends on
the rank r and on the distance to the last click above it, encoded as j = (rank of the last
click above r) + 1, or 0 when nothing above r was clicked; attractiveness depends on the
query-document pair only.

Parameters: attraction [n_qd], examination [K, K] (entry [r, j], only j <= r is used).

Click probabilities:

    P(C_r = 1 | c_<r) = attraction[qd_r] * examination[r, j(c_<r)]
    P(C_r = 1)        = attraction[qd_r] * sum_j P(j at r) examination[r, j],

the second marginalising the last click above r by a forward pass (em/position.py). With
sources={"examination": "linear" | "mlp"}, examination[r, j] becomes per impression
f([one-hot r, one-hot j, bias features of (i, r)]), f's probability per cell, the distinct
(r, j, bias row) of the log (clicklog/cells.py, em/bias.py: the same exact E-step, f refitted
to its (S1, T) per cell in every M-step). Relevance
is attraction. Initialisation: every parameter 0.5; entries [r, j > r] are never used and
stay at the prior's mode.
"""

from __future__ import annotations

import numpy as np

from clicklog.sessions import Sessions
from em import position
from em.layout import Layout
from em.model import Hidden, Model, Params, Stats, by_qd


def _estep(lay: Layout, params: Params) -> tuple[Stats, float]:
    attraction, examination, ll = position.estep(
        lay, params["attraction"], params["examination"], True
    )
    return {"attraction": attraction, "examination": examination}, ll


def _predictor(conditional: bool):
    def predict(params: Params, sessions: Sessions) -> np.ndarray:
        return position.predict(
            sessions, params["attraction"], params["examination"], True, conditional
        )

    return predict


def _posteriors(params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
    return position.posteriors(sessions, params["attraction"], params["examination"], True)


UBM = Model(
    parameters="ubm",
    estep=_estep,
    conditional=_predictor(True),
    unconditional=_predictor(False),
    relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
    posteriors=_posteriors,
)
