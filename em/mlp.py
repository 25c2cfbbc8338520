"""Regression-based EM's M-step for sigma_d: fit the feature network to the E-step posteriors.

Xu et al., "Incorporating Vision Bias into Click Models for Image-oriented Search Engine",
section 4.2. The E-step is unchanged; it gives, per document d, the weighted expected number
of vision draws T_d (sum over impressions of P(V drawn | c): P(P = 0 | c) for the "-2" models,
1 for the "-1" models) and of successes S1_d (sum of P(V drawn, V = 1 | c)), so that the soft
target of document d is S1_d / T_d = P(V = 1 | V drawn, c) with weight T_d. The expected
complete-data log-likelihood in sigma is the soft-target cross-entropy

    Q(w) = sum_d S1_d log sigma_w(x_d) + (T_d - S1_d) log(1 - sigma_w(x_d)),

which the M-step maximises over the network weights w (clicklog.vision_network: features ->
16 -> 8 -> 1), warm-started from the previous iteration's weights. No prior on the weights:
the Beta prior covers attraction and examination only.

The solver is scipy's nonlinear conjugate gradient (its Wolfe line search only accepts steps
that lower the loss), and the loss and gradient are a serial Numba kernel. Both avoid threads:
on a network this small, threaded BLAS (inside L-BFGS-B) and Numba's parallel regions spent
most of their time waking threads, some ten to forty times the work itself on two busy cores.
A step is kept only if Q did not fall, so EM stays monotone (generalised EM). Deterministic:
the starting weights come from a seed, and neither the solver nor the kernel adds randomness.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.optimize import minimize

from clicklog import vision_network

EPS = 1e-6
# Solver iterations per M-step; the next EM iteration continues from where this one stopped.
MAX_STEPS = 20


def _pack(weights: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(weights[name]) for name in vision_network.NAMES])


def _unpack(flat: np.ndarray, n_features: int) -> dict[str, np.ndarray]:
    out, at = {}, 0
    for name, shape in vision_network.shapes(n_features).items():
        size = math.prod(shape)
        out[name] = flat[at : at + size].reshape(shape)
        at += size
    return out


@njit(cache=True)
def _network(flat, x, s1, t, first, second):
    """Logits z [n_docs] and, over the documents with t > 0, -Q(w) and its gradient (flat,
    in _pack's order), by backpropagation through the two tanh layers:
    -Q = sum_d t_d softplus(z_d) - s1_d z_d,  d(-Q)/dz_d = t_d sigmoid(z_d) - s1_d."""
    n, F = x.shape
    o_b1 = F * first
    o_w2 = o_b1 + first
    o_b2 = o_w2 + first * second
    o_w3 = o_b2 + second
    o_b3 = o_w3 + second
    z = np.zeros(n)
    loss = 0.0
    g = np.zeros(flat.size)
    h1 = np.zeros(first)
    h2 = np.zeros(second)
    d1 = np.zeros(first)
    d2 = np.zeros(second)
    # Inner loops run over contiguous weights, so that LLVM vectorises them.
    for d in range(n):
        for u in range(first):
            h1[u] = flat[o_b1 + u]
        for f in range(F):
            xf = x[d, f]
            for u in range(first):
                h1[u] += xf * flat[f * first + u]
        for u in range(first):
            h1[u] = np.tanh(h1[u])
        for v in range(second):
            h2[v] = flat[o_b2 + v]
        for u in range(first):
            hu = h1[u]
            for v in range(second):
                h2[v] += hu * flat[o_w2 + u * second + v]
        out = flat[o_b3]
        for v in range(second):
            h2[v] = np.tanh(h2[v])
            out += h2[v] * flat[o_w3 + v]
        z[d] = out
        if t[d] <= 0.0:
            continue
        softplus = max(out, 0.0) + np.log1p(np.exp(-abs(out)))
        loss += t[d] * softplus - s1[d] * out
        dz = t[d] / (1.0 + np.exp(-out)) - s1[d]
        g[o_b3] += dz
        for v in range(second):
            g[o_w3 + v] += dz * h2[v]
            d2[v] = dz * flat[o_w3 + v] * (1.0 - h2[v] * h2[v])
            g[o_b2 + v] += d2[v]
        for u in range(first):
            hu = h1[u]
            back = 0.0
            for v in range(second):
                g[o_w2 + u * second + v] += d2[v] * hu
                back += d2[v] * flat[o_w2 + u * second + v]
            d1[u] = back * (1.0 - hu * hu)
            g[o_b1 + u] += d1[u]
        for f in range(F):
            xf = x[d, f]
            for u in range(first):
                g[f * first + u] += d1[u] * xf
    return z, loss, g


class Regression:
    """The M-step of `vision` under regression-based EM: call it with the E-step's (S1, T)
    per document; it refits the network (warm start) and returns sigma_d of every document,
    those without impressions included (from their features)."""

    def __init__(self, x: np.ndarray, seed: int) -> None:
        """x: the standardised document features [n_docs, F] (vision_network.standardise)."""
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.weights = vision_network.initial_weights(self.x.shape[1], seed)

    def _evaluate(self, flat: np.ndarray, s1: np.ndarray, t: np.ndarray):
        return _network(flat, self.x, s1, t, *vision_network.HIDDEN)

    def _loss_and_gradient(self, flat, s1, t, total):
        _, loss, grad = self._evaluate(flat, s1, t)
        return loss / total, grad / total

    def sigma(self) -> np.ndarray:
        """sigma_d of every document under the current weights."""
        zeros = np.zeros(len(self.x))
        z, _, _ = self._evaluate(_pack(self.weights), zeros, zeros)
        return np.clip(0.5 * (1.0 + np.tanh(0.5 * z)), EPS, 1.0 - EPS)

    def __call__(self, s1: np.ndarray, t: np.ndarray) -> np.ndarray:
        s1 = np.asarray(s1, np.float64)
        t = np.asarray(t, np.float64)
        total = t.sum()
        if total > 0:
            start = _pack(self.weights)
            args = (s1, t, total)
            result = minimize(
                self._loss_and_gradient, start, args=args, jac=True, method="CG",
                options={"maxiter": MAX_STEPS},
            )
            if result.fun <= self._loss_and_gradient(start, *args)[0]:
                self.weights = _unpack(result.x, self.x.shape[1])
        return self.sigma()
