"""Anderson acceleration of EM (Walker and Ni, "Anderson acceleration for fixed-point
iterations", SIAM Journal on Numerical Analysis 49, 2011; for EM with restarts and a
monotonicity check: Henderson and Varadhan, "Damped Anderson acceleration with restarts and
monotonicity control for accelerating EM and EM-like algorithms", Journal of Computational and
Graphical Statistics 28, 2019).

EM on the cascade models has rates spread over many directions: SQUAREM's one step length per
cycle (em/squarem.py) removes the slowest direction only while the fast ones keep ||v|| large,
and on Yandex-like DBN logs it needs several times more E-steps (results/accelerators.md).
Anderson's method fits a secant model of the EM map over its last `MEMORY` steps instead.
With x every parameter as its logit (all arrays flattened into one vector, so that any
combination is a probability again), F one EM iteration and g_k = F(x_k) - x_k:

    gamma = argmin ||g_k - dG gamma||_W^2,   x_{k+1} = F(x_k) - dF gamma,

the columns of dG and dF the differences of consecutive residuals g and images F(x) over the
last MEMORY iterations (gamma from the normal equations with a ridge of RIDGE times their
trace; x_{k+1} = F(x_k) with no history). The norm weighs each entry by its Fisher information
in logit space, W = T p (1 - p) with T its trials (taken when the history starts): in the plain
Euclidean norm the millions of per-pair entries decide gamma alone, and a per-rank parameter
seen in every session, DCM's continuation, was extrapolated past its optimum again and again,
each refused point an E-step lost. The E-step at x_{k+1} gives J(x_{k+1});
the point is kept if J(x_{k+1}) >= J(x_k). Otherwise the history restarts and the iteration
takes the plain EM step F(x_k), whose E-step is one more: J never decreases along the kept
points, and EM's fixed points are the only fixed points, so the optimum is plain EM's
(em/loop.py).

The stopping rule is em.loop.window_converged on the kept points' J: accelerated gains are too
irregular for the two-step rule of plain EM. History entries are the kept points, marked
"anderson" or "em" (a plain EM step: the first, and each restart's); `iteration` counts
E-steps, refused ones included, so that it measures work as plain EM's iteration count does.
Memory per parameter entry: MEMORY columns of each of dG and dF in float32 (80 bytes; float32
suffices for differences that only shape the next guess, which the E-step then judges), and
seven float64 vectors (56 bytes): the point's logits, the last image and residual, the
weights, the next image's logits and the two buffers the next point is written into in turn.

The sums run in compiled loops in fixed blocks added up in block order, so that a fit gives
the same bits on any number of threads (em/fused.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from numba import njit, prange

from em import fused
from em.layout import prange_only
from em.loop import Run, Steps, entry, iterate, window_converged
from em.model import Params, Stats

MEMORY = 10
RIDGE = 1e-10


@njit(cache=True)
def _advance_block(block, f, x, w, f_prev, g_prev, dF, dG, slot, count, started, sums):
    """One block of fused.BLOCK entries of the pass for the new iterate's residual g = f - x:
    the new columns dG[:, slot] = g - g_prev and dF[:, slot] = f - f_prev (if `started`),
    then, over the `count` columns, sums[block, 0, j] = dG[:, slot] . dG[:, j] and
    sums[block, 1, j] = g . dG[:, j] (added up in block order by the caller, so the same bits
    on any thread count); f_prev and g_prev become f and g."""
    lo = block * fused.BLOCK
    column = np.zeros(MEMORY)
    b = np.zeros(MEMORY)
    for i in range(lo, min(lo + fused.BLOCK, f.size)):
        g = f[i] - x[i]
        d = 0.0
        if started:
            d = g - g_prev[i]
            dG[i, slot] = d
            dF[i, slot] = f[i] - f_prev[i]
        wd = w[i] * d
        wg = w[i] * g
        for j in range(count):
            row = dG[i, j]
            column[j] += wd * row
            b[j] += wg * row
        f_prev[i] = f[i]
        g_prev[i] = g
    for j in range(count):
        sums[block, 0, j] = column[j]
        sums[block, 1, j] = b[j]


@njit(cache=True)
def _combine_block(block, f, dF, gamma, count, x, e):
    """One block of x = clip(f - sum_j gamma_j dF[:, j], +-LOGIT_BOUND), the next point's
    logits, and of e = -x for the exponential that turns them into probabilities."""
    lo = block * fused.BLOCK
    for i in range(lo, min(lo + fused.BLOCK, f.size)):
        value = f[i]
        for j in range(count):
            value -= gamma[j] * dF[i, j]
        value = min(max(value, -fused.LOGIT_BOUND), fused.LOGIT_BOUND)
        x[i] = value
        e[i] = -value


# Blocks in parallel only on a vector this long: a parallel region costs a thread hand-off
# (milliseconds on a busy machine), more than a serial pass over a short vector.
PARALLEL_SIZE = 1 << 18


@njit(parallel=prange_only(), cache=True)
def _advance_parallel(f, x, w, f_prev, g_prev, dF, dG, slot, count, started, sums):
    for block in prange(sums.shape[0]):
        _advance_block(block, f, x, w, f_prev, g_prev, dF, dG, slot, count, started, sums)


@njit(cache=True)
def _advance_serial(f, x, w, f_prev, g_prev, dF, dG, slot, count, started, sums):
    for block in range(sums.shape[0]):
        _advance_block(block, f, x, w, f_prev, g_prev, dF, dG, slot, count, started, sums)


@njit(parallel=prange_only(), cache=True)
def _combine_parallel(f, dF, gamma, count, x, e):
    for block in prange((f.size + fused.BLOCK - 1) // fused.BLOCK):
        _combine_block(block, f, dF, gamma, count, x, e)


@njit(cache=True)
def _combine_serial(f, dF, gamma, count, x, e):
    for block in range((f.size + fused.BLOCK - 1) // fused.BLOCK):
        _combine_block(block, f, dF, gamma, count, x, e)


class Layout:
    """Where each parameter array sits in the one logit vector."""

    def __init__(self, params: Params) -> None:
        self.names = list(params)
        self.shapes = [np.shape(params[k]) for k in self.names]
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def size(self) -> int:
        return int(self.bounds[-1])

    def logits(self, params: Params, out: np.ndarray | None = None) -> np.ndarray:
        """Every array's logits in one vector, written into `out` when given: the loop reuses
        one, since a fresh parameter-sized array every iteration costs its page faults and
        zeroing (about 6% of a DBN iteration on 10M sessions)."""
        out = np.empty(self.size) if out is None else out
        for k, lo, hi in zip(self.names, self.bounds[:-1], self.bounds[1:], strict=True):
            fused._log_of(params[k], True, out[lo:hi])
        return out

    def information(self, stats: Stats, params: Params) -> np.ndarray:
        """Each entry's Fisher information in logit space at `params`, T p (1 - p) with T its
        trials in `stats`: the metric of the least-squares fit (module docstring)."""
        return np.concatenate([
            np.ravel(np.asarray(stats[k][1], np.float64) * params[k] * (1.0 - params[k]))
            for k in self.names])

    def params(self, negated_logits: np.ndarray) -> Params:
        """The probabilities of logits -e, computed in place in `e` (which the arrays view)."""
        fused._logistic_of_exp(np.exp(negated_logits, out=negated_logits))
        return {k: negated_logits[lo:hi].reshape(shape) for k, shape, lo, hi
                in zip(self.names, self.shapes, self.bounds[:-1], self.bounds[1:], strict=True)}


class Secants:
    """The logits x of the current point, the last MEMORY differences of residuals (dG) and of
    EM images (dF) in ring buffers, the weights of the norm and the weighted Gram matrix of dG,
    kept up to date one column at a time."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.dG = np.empty((x.size, MEMORY), np.float32)
        self.dF = np.empty((x.size, MEMORY), np.float32)
        self.gram = np.zeros((MEMORY, MEMORY))
        self.f = np.empty(x.size)
        self.g = np.empty(x.size)
        # The next point's probabilities, in two buffers taken in turn: the current point's
        # arrays are views of one while the next is written into the other.
        self.out = (np.empty(x.size), np.empty(x.size))
        self.blocks = (x.size + fused.BLOCK - 1) // fused.BLOCK
        parallel = x.size >= PARALLEL_SIZE
        self.advance = _advance_parallel if parallel else _advance_serial
        self.combine = _combine_parallel if parallel else _combine_serial
        self.restart()

    def restart(self) -> None:
        self.count, self.slot, self.started = 0, 0, False
        self.extrapolated = False

    def next_point(self, f: np.ndarray, weights: Callable[[], np.ndarray]) -> np.ndarray:
        """The negated logits of F(x_k) - dF gamma for f = F(x_k) (module docstring), x_k
        becoming that point."""
        count = min(self.count + 1, MEMORY) if self.started else 0
        sums = np.zeros((self.blocks, 2, max(count, 1)))
        if not self.started:
            self.weights = weights()
        self.advance(f, self.x, self.weights, self.f, self.g, self.dF, self.dG, self.slot,
                     count, self.started, sums)
        gamma = np.zeros(1)
        if self.started:
            column, b = sums.sum(axis=0)
            self.gram[self.slot, :count] = column
            self.gram[:count, self.slot] = column
            gram = self.gram[:count, :count]
            ridge = RIDGE * max(float(np.trace(gram)), np.finfo(float).tiny)
            gamma = np.linalg.lstsq(gram + ridge * np.eye(count), b, rcond=None)[0]
            self.slot = (self.slot + 1) % MEMORY
        self.extrapolated = count > 0
        self.count, self.started = count, True
        e = self.out[0]
        self.out = self.out[::-1]
        self.combine(f, self.dF, gamma, count, self.x, e)
        return e

    def plain_step(self, f: np.ndarray) -> None:
        """x_k becomes F(x_k), with no history."""
        self.x[:] = f
        self.restart()


def iterate_anderson(
    steps: Steps, params: Params, max_iter: int, tol: float, closed_form: bool, start: float
) -> Run:
    """Anderson-accelerated EM from `params`, at most `max_iter` E-steps after the first; a
    closed-form model needs no acceleration and runs plain EM."""
    if closed_form:
        return iterate(steps, params, max_iter, tol, closed_form, start)
    stats, loglik = steps.estep(params)
    value = initial = steps.objective(params, loglik)
    layout = Layout(params)
    secants = Secants(layout.logits(params))
    f = np.empty(layout.size)
    history = steps.new_history()
    values = [value]
    esteps = 1
    while esteps <= max_iter:
        image = steps.mstep(stats)
        f = layout.logits(image, f)
        point = layout.params(secants.next_point(f, partial(layout.information, stats, image)))
        point_stats, point_loglik = steps.estep(point)
        point_value = steps.objective(point, point_loglik)
        esteps += 1
        kind = "anderson" if secants.extrapolated else "em"
        if point_value < value and secants.extrapolated:
            if esteps > max_iter:
                return Run(params, history, False, initial, esteps)
            secants.plain_step(f)
            point = image
            point_stats, point_loglik = steps.estep(point)
            point_value = steps.objective(point, point_loglik)
            esteps += 1
            kind = "em"
        params, stats, value = point, point_stats, point_value
        history.append(entry(esteps - 1, start, value, step=kind))
        values.append(value)
        if window_converged(values, tol):
            return Run(params, history, True, initial, esteps)
    return Run(params, history, False, initial, esteps)
