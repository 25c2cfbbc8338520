"""Weighted counts of fully observed Bernoulli trials, for the models with closed-form fits.

GCTR, RCTR, DCTR and CM (on its ranks up to the first click) observe every variable their
parameters govern, and the counting estimators of DCM and SDBN pretend to. Their E-step is a
count: for trials x_i of parameter theta[key_i] with session weight w_i,

    S1[k] = sum_{i: key_i = k} w_i x_i,      T[k] = sum_{i: key_i = k} w_i,

and their log-likelihood is sum_i w_i (x_i log theta[key_i] + (1 - x_i) log(1 - theta[key_i])).
`np.bincount` does both without a loop over sessions.
"""

from __future__ import annotations

import numpy as np


def counts(
    keys: np.ndarray, success: np.ndarray, include: np.ndarray, weight: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(S1, T) of the trials at the [n, K] cells where `include` holds, keyed by `keys`."""
    w = np.broadcast_to(weight[:, None], include.shape)[include]
    k = keys[include]
    s1 = np.bincount(k, weights=w * success[include], minlength=size)
    return s1, np.bincount(k, weights=w, minlength=size)


def session_loglik(prob: np.ndarray, success: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Unweighted log-likelihood [n] of each session's trials at the cells where `include` holds.

    `prob` is the [n, K] success probability of each cell (kept inside [1e-6, 1 - 1e-6] by the
    M-step, so both logarithms are finite); other cells contribute 0.
    """
    p = np.where(include, prob, 0.5)
    return np.sum(np.where(include, np.where(success, np.log(p), np.log1p(-p)), 0.0), axis=1)


def keys(kind: str, qd: np.ndarray) -> np.ndarray:
    """[n, K] index of the parameter entry a cell's trial belongs to, by what it is keyed on.

    `np.ravel(theta)[keys(kind, qd)]` is then the cell's probability for any parameter shape
    (a global parameter is entry 0 of a one-element array). Padding cells get index 0 and
    must be masked by the caller.
    """
    n, K = qd.shape
    if kind == "global":
        return np.zeros((n, K), np.intp)
    if kind == "rank":
        return np.broadcast_to(np.arange(K), (n, K))
    if kind == "qd":
        return np.maximum(qd, 0).astype(np.intp)
    raise ValueError(f"no Bernoulli keys for parameters keyed on {kind!r}")


def observed_estep(
    theta: np.ndarray,
    kind: str,
    qd: np.ndarray,
    success: np.ndarray,
    include: np.ndarray,
    weight: np.ndarray,
) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """E-step of one parameter whose trials are all observed: ((S1, T), log-likelihood)."""
    k = keys(kind, qd)
    s1, t = counts(k, success, include, weight, np.size(theta))
    ll = float(np.sum(weight * session_loglik(np.ravel(theta)[k], success, include)))
    return (s1.reshape(np.shape(theta)), t.reshape(np.shape(theta))), ll
