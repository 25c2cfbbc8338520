"""The relevance estimate `Fit.relevance` reports per shown result, from fitted probabilities."""

from __future__ import annotations

import numpy as np

from clicklog.sessions import Sessions
from gradient.batch import at_qd


def ctr(params: dict[str, np.ndarray], sessions: Sessions) -> np.ndarray:
    """GCTR's rho or RCTR's rho_r, broadcast over the shown results."""
    rho = np.broadcast_to(np.asarray(params["ctr"], np.float64), (sessions.K,))
    return np.where(sessions.mask, rho[None, :], 0.0)


def attraction(params: dict[str, np.ndarray], sessions: Sessions) -> np.ndarray:
    """alpha_qd: DCTR, PBM, CM, UBM, DCM and CCM."""
    return at_qd(params["attraction"], sessions)


def attraction_satisfaction(params: dict[str, np.ndarray], sessions: Sessions) -> np.ndarray:
    """alpha_qd * sigma_qd: DBN and SDBN (Chapelle and Zhang 2009, section 5)."""
    return at_qd(params["attraction"], sessions) * at_qd(params["satisfaction"], sessions)
