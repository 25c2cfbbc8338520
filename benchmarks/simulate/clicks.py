"""Click samplers: the generative program of every model, vectorised over sessions.

One loop over ranks r = 0 .. K-1, every session at once; ranks at or past a session's length
are padding and never clicked. The programs are those of tests/reference.py:

- CTR models: C_r ~ Bern(ctr) (GCTR), Bern(ctr[r]) (RCTR), Bern(attraction[qd_r]) (DCTR).
- Position models: C_r ~ Bern(attraction[qd_r] * e_r), with e_r the probability that the
  result is examined, independent of its attraction, so drawing the product directly gives the
  same click distribution as drawing E_r and A_r apart:
    PBM  e_r = examination[r];  UBM  e_r = examination[r, j], j = last clicked rank + 1 (0 if
    none above r);  "-2" vision models (Xu et al. eq. 4) e_r = g + (1 - g) * vision[doc_r];
    "-1" vision models (eq. 15) e_r = g * vision[doc_r], with g the PBM or UBM examination.
- Cascade models: E_0 = 1, A_r ~ Bern(attraction[qd_r]), C_r = E_r * A_r, and for E_r = 1
    CM   E_{r+1} = 1 - C_r
    DCM  E_{r+1} = 1 after a skip, ~ Bern(continuation[r]) after a click
    CCM  E_{r+1} ~ Bern(tau1) after a skip; after a click S_r ~ Bern(attraction[qd_r]) and
         E_{r+1} ~ Bern(tau3 if S_r else tau2)
    DBN  after a click S_r ~ Bern(satisfaction[qd_r]); S_r = 1 stops, otherwise (and after a
         skip) E_{r+1} ~ Bern(continuation); SDBN is DBN with continuation 1.
"""

from __future__ import annotations

import numpy as np

from clicklog import catalogue

CTR_MODELS = ("gctr", "rctr", "dctr")
CASCADE_MODELS = ("cm", "dcm", "ccm", "dbn", "sdbn")


def examination_probability(
    model: str, truth: dict, r: int, last: np.ndarray, doc_r: np.ndarray
) -> np.ndarray:
    """e_r of the position models (module docstring), per session."""
    exam = truth["examination"]
    gamma = exam[r, last] if exam.ndim == 2 else np.full(last.shape, exam[r])
    if model.endswith("-2"):
        return gamma + (1.0 - gamma) * truth["vision"][doc_r]
    if model.endswith("-1"):
        return gamma * truth["vision"][doc_r]
    return gamma


def keeps_examining(
    model: str, truth: dict, r: int, clicked: np.ndarray, qd_r: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw E_{r+1} given E_r = 1 and C_r = clicked, per session (module docstring)."""
    n = clicked.shape[0]
    if model == "cm":
        return ~clicked
    if model == "dcm":
        return ~clicked | (rng.random(n) < truth["continuation"][r])
    if model == "ccm":
        relevant = rng.random(n) < truth["attraction"][qd_r]
        after_click = np.where(relevant, truth["tau3"], truth["tau2"])
        return rng.random(n) < np.where(clicked, after_click, truth["tau1"])
    satisfied = clicked & (rng.random(n) < truth["satisfaction"][qd_r])
    gamma = truth["continuation"] if model == "dbn" else 1.0
    return ~satisfied & (rng.random(n) < gamma)


def sample_clicks(
    model: str,
    truth: dict,
    qd: np.ndarray,
    doc: np.ndarray,
    length: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """bool [n, K] clicks drawn from `model` with parameters `truth` on the given pages."""
    model = catalogue.base_model(model)
    n, K = qd.shape
    click = np.zeros((n, K), bool)
    examined = np.ones(n, bool)
    last = np.zeros(n, np.intp)
    for r in range(K):
        real = r < length
        # Padded ranks read parameter 0; their draws are discarded by `real`.
        qd_r = np.where(real, qd[:, r], 0)
        if model == "gctr":
            p = np.full(n, truth["ctr"])
        elif model == "rctr":
            p = np.full(n, truth["ctr"][r])
        elif model == "dctr":
            p = truth["attraction"][qd_r]
        elif model in CASCADE_MODELS:
            attracted = rng.random(n) < truth["attraction"][qd_r]
            click[:, r] = real & examined & attracted
            examined &= keeps_examining(model, truth, r, click[:, r], qd_r, rng)
            continue
        else:
            doc_r = np.where(real, doc[:, r], 0)
            p = truth["attraction"][qd_r] * examination_probability(model, truth, r, last, doc_r)
        click[:, r] = real & (rng.random(n) < p)
        last = np.where(click[:, r], r + 1, last)
    return click
