"""The EM iteration, apart from where the sessions live.

An in-memory fit (em/engine.py), a streamed one (em/stream.py) and a distributed one
(em/distributed.py) differ only in how an E-step visits the sessions; `Steps` names the three
operations of an iteration and `iterate` runs plain EM on them:

    theta_{i+1} = M(E(theta_i)),   J_i = (weighted log-likelihood + log prior(theta_i)) / N,

N the weighted number of impressions. It stops once J changes by less than `tol` between two
iterations, after one M-step for a closed-form model, or after `max_iter` M-steps. history[i]
holds J after M-step i + 1 and the seconds since `start`. em/squarem.py runs the same steps
accelerated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from em.model import Params, Stats


@dataclass(frozen=True)
class Steps:
    """estep(params) -> (statistics, weighted log-likelihood); mstep(statistics) -> params;
    log_prior(params) -> float; n_impressions: the N of J."""

    estep: Callable[[Params], tuple[Stats, float]]
    mstep: Callable[[Stats], Params]
    log_prior: Callable[[Params], float]
    n_impressions: float

    def objective(self, params: Params, loglik: float) -> float:
        """J per impression, from the log-likelihood an E-step at `params` returned."""
        return (loglik + self.log_prior(params)) / self.n_impressions


class Run(NamedTuple):
    """The parameters of the last E-step, the history, whether the stopping rule was met, J at
    the starting point and the number of E-steps done."""

    params: Params
    history: list[dict]
    converged: bool
    initial: float
    esteps: int


def entry(iteration: int, start: float, value: float, **extra) -> dict:
    return {"iteration": iteration, "seconds": time.perf_counter() - start, "objective": value,
            **extra}


def iterate(
    steps: Steps, params: Params, max_iter: int, tol: float, closed_form: bool, start: float
) -> Run:
    """Plain EM from `params` (module docstring)."""
    stats, loglik = steps.estep(params)
    previous = initial = steps.objective(params, loglik)
    history: list[dict] = []
    converged = False
    for iteration in range(1, max_iter + 1):
        params = steps.mstep(stats)
        stats, loglik = steps.estep(params)
        value = steps.objective(params, loglik)
        history.append(entry(iteration, start, value))
        converged = closed_form or abs(value - previous) < tol
        previous = value
        if converged:
            break
    return Run(params, history, converged, initial, len(history) + 1)
