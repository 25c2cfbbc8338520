"""Priors of the one objective: a fixed Beta(a, b), none, or one learned from the log.

Three forms of `prior` reach the engines (DESIGN.md section 10):

    (a, b)        Beta(a, b) on every probability parameter (default Beta(2, 2))
    None          no prior: maximum likelihood
    "empirical"   empirical Bayes: one Beta(a_f, b_f) per parameter family f, learned

A fitted model reports its priors as a pair, None, or for "empirical" a dict parameter name ->
(a, b) covering every probability parameter of the model (`prior_of` reads any of them).

Which families are learned. Only those keyed per query-document pair (`attraction`,
`satisfaction`): they have one value per pair, hundreds to millions of keys, each seen a few
times, which is what a population prior is for. A global or per-rank family (continuation,
tau1..3, examination, ctr) has 1 to K^2 values, each seen by most sessions: too few keys to
learn a distribution from and no need for one, so it keeps FALLBACK = Beta(2, 2). So does
`vision` (keyed per document): one document's draws are spread over many pairs' impressions
(in the same session too), so its per-key information is not a sum of independent
per-impression terms as the counts below assume.

The type-II criterion. For a learned family with keys k, the fit yields binomial-equivalent
counts: successes s_k and trials t_k of the binomial with the score and observed information
of the pair's likelihood (`equivalent`; em/empirical.py from the E-step by Louis's identity,
gradient/empirical.py from derivatives of the log-likelihood, the same numbers). Treating
them as binomial observations of theta_k ~ Beta(a, b), the marginal likelihood is

    M(a, b) = sum_k log B(a + s_k, b + t_k - s_k) - log B(a, b),

maximised over a, b in [1, UPPER] (`fit_beta`: scipy's L-BFGS-B on (a, b) with the analytic
digamma gradient; the problem is two-dimensional and smooth, and bounds are exactly what
L-BFGS-B handles, whereas a fixed-point iteration needs many steps near the bound a = 1).
a, b >= 1 keeps the log prior concave, so the MAP M-step (theta = (S1 + a - 1) / (T + a + b -
2)) stays the maximiser and both engines have one optimum to find; a prior that would put
mass at 0 or 1 (a or b < 1) is held at 1 and the fit says so (the bound is in its settings).
UPPER = 1e6 bounds a point-mass limit (counts less dispersed than binomial).

The objective both engines report with "empirical":

    J(theta, h) = sum_i w_i log P(c_i | theta) + sum_f sum_{k in f} log Beta(theta_k; a_f, b_f)

with each density's normalising constant -log B(a_f, b_f) kept (the hyper-parameters h vary,
so it is no longer a constant; clicklog.catalogue.log_prior with a dict). theta maximises J
for the fitted h, and h maximises M at the counts of the fitted theta: the fit is that joint
fixed point. (h is not a maximiser of J itself: J grows without bound as a + b -> infinity
with every theta_k at one value, so the joint MAP is degenerate; the marginal likelihood is
what type-II ML maximises.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import optimize, special

from clicklog import catalogue

EMPIRICAL = "empirical"
FALLBACK = (2.0, 2.0)
LEARNED_KINDS = ("qd",)
LOWER, UPPER = 1.0, 1e6

Pair = tuple[float, float]
Priors = dict[str, Pair]


def settled(moves: list[float], tol: float) -> bool:
    """Both engines' stopping rule on the rounds of an empirical fit, given the largest relative
    move of a hyper-parameter in each round so far: the last move, and the moves still to come
    by Aitken's estimate for a linear rate rho = move / previous move (as em/loop.py estimates
    the gain still to come), are below sqrt(tol), tol being the fit's tolerance on the
    objective (an optimum known to tol in the objective is known to about sqrt(tol) in its
    arguments). The rounds are a contraction whose rate nears 1 when the log says little about
    the prior, so a small last move alone can stop far from the fixed point."""
    bound = math.sqrt(tol)
    if len(moves) < 2 or moves[-1] >= bound:
        return False
    if moves[-1] == 0.0:
        return True
    rho = moves[-1] / moves[-2] if moves[-2] > 0.0 else math.inf
    return rho < 1.0 and moves[-1] * rho / (1.0 - rho) < bound


def is_empirical(prior: object) -> bool:
    """Whether `prior` asks for priors learned from the log."""
    if isinstance(prior, str):
        if prior.lower() != EMPIRICAL:
            raise ValueError(f"prior must be (a, b), None or {EMPIRICAL!r}; got {prior!r}")
        return True
    return False


def prior_of(prior: Pair | Mapping[str, Pair] | None, name: str) -> Pair | None:
    """The Beta prior of parameter `name` under any form of a fitted prior (module docstring)."""
    if isinstance(prior, Mapping):
        return prior.get(name)
    return prior


def learned(model: str) -> tuple[str, ...]:
    """The parameters of `model` whose family prior is learned (keyed per qd pair)."""
    return tuple(n for n, kind in catalogue.parameters(model).items() if kind in LEARNED_KINDS)


def starting(model: str, free: tuple[str, ...] = ()) -> Priors:
    """FALLBACK for every probability parameter of `model` but the `free` ones (networks)."""
    return {name: FALLBACK for name in catalogue.parameters(model) if name not in free}


def marginal(successes: np.ndarray, trials: np.ndarray, prior: Pair) -> float:
    """The type-II criterion M(a, b) of the module docstring (keys without trials add 0)."""
    a, b = prior
    s = np.asarray(successes, np.float64)
    f = np.asarray(trials, np.float64) - s
    return float(np.sum(special.betaln(a + s, b + f)) - s.size * special.betaln(a, b))


def equivalent(theta: np.ndarray, score: np.ndarray, info: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(successes, trials) of the binomial with this score and logit information:
    trials = info / (theta (1 - theta)), successes = score + theta trials (em/empirical.py)."""
    theta = np.asarray(theta, np.float64)
    trials = np.clip(info / (theta * (1.0 - theta)), 0.0, None)
    return np.clip(score + theta * trials, 0.0, trials), trials


def fit_beta(successes: np.ndarray, trials: np.ndarray, start: Pair = FALLBACK) -> Pair:
    """(a, b) in [LOWER, UPPER]^2 maximising `marginal` (type-II ML, module docstring).

    Fractional counts are allowed; negative rounding residues are clipped to 0. Without a key
    that has trials the criterion is flat and `start` is returned.
    """
    t = np.clip(np.asarray(trials, np.float64), 0.0, None)
    s = np.clip(np.asarray(successes, np.float64), 0.0, t)
    keep = t > 0
    s, f = s[keep], t[keep] - s[keep]
    if s.size == 0:
        return start
    n = float(s.size)

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = x
        value = np.sum(special.betaln(a + s, b + f)) - n * special.betaln(a, b)
        common = n * special.digamma(a + b) - np.sum(special.digamma(a + b + s + f))
        grad_a = np.sum(special.digamma(a + s)) - n * special.digamma(a) + common
        grad_b = np.sum(special.digamma(b + f)) - n * special.digamma(b) + common
        return -value / n, -np.array([grad_a, grad_b]) / n

    x0 = np.clip(np.asarray(start, np.float64), LOWER, UPPER)
    result = optimize.minimize(
        negative, x0, jac=True, method="L-BFGS-B", bounds=[(LOWER, UPPER)] * 2,
        options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 500},
    )
    a, b = (float(v) for v in result.x)
    return a, b
