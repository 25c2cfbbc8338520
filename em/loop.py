"""The EM iteration, apart from where the sessions live.

An in-memory fit (em/engine.py), a streamed one (em/stream.py) and a distributed one
(em/distributed.py) differ only in how an E-step visits the sessions; `Steps` names the three
operations of an iteration and `iterate` runs plain EM on them:

    theta_{i+1} = M(E(theta_i)),   J_i = (weighted log-likelihood + log prior(theta_i)) / N,

N the weighted number of impressions. EM converges linearly: the gains d_i = J_i - J_{i-1}
shrink by a rate rho = d_i / d_{i-1} < 1, so the gain still to come is about
d_i rho / (1 - rho) (Aitken's estimate; Boehning et al. 1994), far above d_i itself when EM is
slow (rho ~ 0.98 leaves 50 d_i). It stops once both d_i and that estimate are below `tol`, so
that it ends within about `tol` of the optimum, not `tol` per iteration away from it; after one
M-step for a closed-form model; or after `max_iter` M-steps. history[i]
holds J after M-step i + 1 and the seconds since `start`. em/anderson.py and em/squarem.py run
the same steps accelerated; their gains are irregular (a good extrapolation, then small
ones), so that two gains say little about what is left. They stop on `window_converged`:
the same estimate over windows of WINDOW iterations, against MARGIN * tol, a window and a
margin chosen so that DBN fits on Yandex-like logs stop below tol of the optimum;
`clickfit accelerators` measures where these fits stop against reference optima far past
the rule (results/accelerators.md). `Steps.callback`, if set, receives every history entry as it is
appended (a progress bar's hook; clicklog.fit.History).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from clicklog.fit import Callback, History
from em.model import Params, Stats


@dataclass(frozen=True)
class Steps:
    """estep(params) -> (statistics, weighted log-likelihood); mstep(statistics) -> params;
    log_prior(params) -> float; n_impressions: the N of J; callback: called with each history
    entry as it is appended."""

    estep: Callable[[Params], tuple[Stats, float]]
    mstep: Callable[[Stats], Params]
    log_prior: Callable[[Params], float]
    n_impressions: float
    callback: Callback | None = None

    def new_history(self) -> History:
        """An empty history that reports to `callback`."""
        return History(self.callback)

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
    history = steps.new_history()
    converged = False
    gain = math.inf
    for iteration in range(1, max_iter + 1):
        params = steps.mstep(stats)
        stats, loglik = steps.estep(params)
        value = steps.objective(params, loglik)
        history.append(entry(iteration, start, value))
        gain, last_gain = value - previous, gain
        converged = closed_form or (abs(gain) < tol and remaining_gain(gain, last_gain) < tol)
        previous = value
        if converged:
            break
    return Run(params, history, converged, initial, len(history) + 1)


WINDOW = 8
MARGIN = 0.1


def window_converged(values: Sequence[float], tol: float) -> bool:
    """The accelerated loops' stopping rule (module docstring) on the J of their kept points,
    one per iteration: the last WINDOW iterations gained less than MARGIN * tol and so does
    Aitken's estimate of what is still to come from the two last windows' gains."""
    if len(values) < 2 * WINDOW + 1:
        return False
    gain = values[-1] - values[-1 - WINDOW]
    last_gain = values[-1 - WINDOW] - values[-1 - 2 * WINDOW]
    bound = MARGIN * tol
    return abs(gain) < bound and remaining_gain(gain, last_gain) < bound


def remaining_gain(gain: float, last_gain: float) -> float:
    """Aitken's estimate of what linear convergence still has to gain after a step that gained
    `gain` following one that gained `last_gain` (module docstring): inf where the gains are not
    shrinking (rho >= 1, or no previous gain); 0 once a step gains nothing or the gains change
    sign, which EM, never decreasing J, shows only at rounding level, at the optimum."""
    if gain == 0.0:
        return 0.0
    rho = gain / last_gain if last_gain not in (0.0, math.inf) else math.inf
    if rho < 0.0:
        return 0.0
    if rho >= 1.0:
        return math.inf
    return abs(gain) * rho / (1.0 - rho)
