"""The work of an EM iteration over the parameter arrays, in as few passes as possible.

Besides the E-step, every iteration runs the M-step (em/engine.py's MAP update), the log
prior of the objective and, under SQUAREM, an extrapolation in logit space (em/squarem.py).
Written as numpy expressions each is several passes over arrays of the vocabulary's size
(temporaries, masks, clips, two logarithms per entry), which on a large log cost a third of
an iteration. Here each is one or a few passes over one buffer:

- map_update: theta = clip((S1 + a - 1) / (T + a + b - 2), EPS, 1 - EPS), the prior's mode
  where T = 0; the same operations as the numpy form, so the same bits.
- log_beta: sum (a - 1) log theta + (b - 1) log(1 - theta), as (a - 1) log(theta (1 - theta))
  when a = b (one logarithm instead of two; the numpy form otherwise).
- Logits: SQUAREM's ||r||^2, ||v||^2 and the point theta_0 + 2 alpha r + alpha^2 v from
  the logits of the three points.

Logarithms and exponentials run as numpy's vectorised functions in place over one buffer
(a scalar logarithm in a compiled loop is several times slower); the rest is compiled loops.

Loops run on one thread: they are short next to the E-step, and a sum that does not depend
on the number of threads keeps fits reproducible on any machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EPS = 1e-6
LOGIT_BOUND = float(np.log((1.0 - EPS) / EPS))
BLOCK = 4096


def _flat(x: np.ndarray) -> np.ndarray:
    """A 1-D view (or copy) of x that the kernels accept; a strided 1-D view stays a view."""
    x = np.asarray(x, np.float64)
    return x if x.ndim == 1 else np.ascontiguousarray(x).reshape(-1)


@njit(cache=True)
def _map_update(s1, t, am1, abm2, mode, out):
    for i in range(out.size):
        den = t[i] + abm2
        theta = (s1[i] + am1) / den if (t[i] > 0.0 and den > 0.0) else mode
        out[i] = min(max(theta, EPS), 1.0 - EPS)


def map_update(s1: np.ndarray, t: np.ndarray, a: float, b: float, mode: float) -> np.ndarray:
    """MAP of Beta(a, b)-prior Bernoulli probabilities from S1 successes in T trials, `mode`
    where T = 0 (module docstring); shaped like t."""
    shape = np.shape(t)
    out = np.empty(int(np.prod(shape)))
    _map_update(_flat(s1), _flat(t), a - 1.0, a + b - 2.0, mode, out)
    return out.reshape(shape)


@njit(cache=True)
def _odds_or_product(p, out, odds):
    for i in range(out.size):
        out[i] = p[i] / (1.0 - p[i]) if odds else p[i] * (1.0 - p[i])


def _log_of(p: np.ndarray, odds: bool, out: np.ndarray | None = None) -> np.ndarray:
    """log(p / (1 - p)) if `odds` else log(p (1 - p)), 1-D, into `out` when given: one
    compiled pass, then numpy's vectorised logarithm in place (several times faster than a
    scalar one in the loop)."""
    p = _flat(p)
    out = np.empty(p.size) if out is None else out
    _odds_or_product(p, out, odds)
    return np.log(out, out=out)


def log_beta(value: np.ndarray, a: float, b: float) -> float:
    """sum of (a - 1) log theta + (b - 1) log(1 - theta) over the entries of `value`."""
    if a != b:
        v = np.asarray(value, np.float64)
        return float(np.sum((a - 1.0) * np.log(v) + (b - 1.0) * np.log1p(-v)))
    return 0.0 if a == 1.0 else (a - 1.0) * float(np.sum(_log_of(value, odds=False)))


@njit(cache=True)
def _moments(x0, x1, x2):
    r2 = 0.0
    v2 = 0.0
    for start in range(0, x0.size, BLOCK):
        br = 0.0
        bv = 0.0
        for i in range(start, min(start + BLOCK, x0.size)):
            r = x1[i] - x0[i]
            v = x2[i] - x1[i] - r
            br += r * r
            bv += v * v
        r2 += br
        v2 += bv
    return r2, v2


@njit(cache=True)
def _jump(x0, x1, x2, alpha, out):
    """out = -x, x the extrapolated logit clipped to +-LOGIT_BOUND."""
    for i in range(out.size):
        r = x1[i] - x0[i]
        v = x2[i] - x1[i] - r
        out[i] = -min(max(x0[i] + 2.0 * alpha * r + alpha * alpha * v, -LOGIT_BOUND),
                      LOGIT_BOUND)


@njit(cache=True)
def _logistic_of_exp(e):
    """e = exp(-x) in place to clip(1 / (1 + e), EPS, 1 - EPS)."""
    for i in range(e.size):
        e[i] = min(max(1.0 / (1.0 + e[i]), EPS), 1.0 - EPS)


class Logits:
    """The logits of SQUAREM's three points for one parameter array (em/squarem.py)."""

    def __init__(self, p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> None:
        self.shape = np.shape(p0)
        self.x = tuple(_log_of(p, odds=True) for p in (p0, p1, p2))

    def moments(self) -> tuple[float, float]:
        """(||r||^2, ||v||^2), summed in blocks of BLOCK entries."""
        r2, v2 = _moments(*self.x)
        return float(r2), float(v2)

    def jump(self, alpha: float) -> np.ndarray:
        """The probabilities at theta_0 + 2 alpha r + alpha^2 v, shaped like the parameter."""
        out = np.empty(self.x[0].size)
        _jump(*self.x, float(alpha), out)
        _logistic_of_exp(np.exp(out, out=out))
        return out.reshape(self.shape)
