"""SQUAREM: EM accelerated by squared extrapolation (Varadhan and Roland, "Simple and globally
convergent methods for accelerating the convergence of any EM algorithm", Scandinavian Journal
of Statistics 35, 2008; scheme S3 and the step-length control of their SQUAREM package).

EM on click models converges linearly and slowly: hundreds of iterations to move the
objective by less than 1e-9 per impression. A cycle from theta_0, with F one EM iteration
(E-step, then M-step) and every parameter taken as its logit, so that any extrapolated point
is a probability again:

    theta_1 = F(theta_0),  theta_2 = F(theta_1),  r = theta_1 - theta_0,  v = theta_2 - theta_1 - r,
    alpha = clip(||r|| / ||v||, 1, step),        theta' = theta_0 + 2 alpha r + alpha^2 v

(alpha = 1 gives theta_2). The E-step at theta' gives J(theta'); the jump is kept if
J(theta') >= J(theta_1), and the next cycle starts from theta' (its first EM step is the
scheme's stabilisation step). Otherwise the next cycle starts from theta_2 = F(theta_1) and the
jump's E-step is lost. `step` starts at 1, grows 4-fold whenever a jump at the cap is kept and
shrinks 4-fold (not below 1) whenever one is refused.

J therefore never decreases along the kept points, and EM's fixed points are the only fixed
points: the same optimum as plain EM (em/loop.py). The fit stops on em.loop.window_converged
over the cycles' end points, as em/anderson.py's, which is the default accelerator: one step
length per cycle leaves the fast directions of a cascade model's EM map to dominate ||v||,
and on Yandex-like DBN logs SQUAREM needs several times Anderson's E-steps (results/scale).
History entries are the kept points, each marked "em" or "jump"; `iteration` counts E-steps,
lost ones included, so that it measures work like plain EM's iteration count.
"""

from __future__ import annotations

import numpy as np

from em import fused
from em.loop import Run, Steps, entry, iterate, window_converged
from em.model import Params

STEP_FACTOR = 4.0


def extrapolate(
    theta0: Params, theta1: Params, theta2: Params, step: float
) -> tuple[Params, float]:
    """The S3 point of the module docstring and its alpha (compiled passes: em/fused.py)."""
    logits = {k: fused.Logits(theta0[k], theta1[k], theta2[k]) for k in theta0}
    moments = [x.moments() for x in logits.values()]
    r2 = sum(r for r, _ in moments)
    v2 = sum(v for _, v in moments)
    alpha = float(np.clip(np.sqrt(r2 / v2), 1.0, step)) if v2 > 0.0 else 1.0
    point = {k: x.jump(alpha) for k, x in logits.items()}
    return point, alpha


def iterate_squarem(
    steps: Steps, params: Params, max_iter: int, tol: float, closed_form: bool, start: float
) -> Run:
    """SQUAREM from `params`, at most `max_iter` E-steps after the first; a closed-form model
    needs no acceleration and runs plain EM."""
    if closed_form:
        return iterate(steps, params, max_iter, tol, closed_form, start)
    stats, loglik = steps.estep(params)
    value = initial = steps.objective(params, loglik)
    history = steps.new_history()
    esteps, step = 1, 1.0

    def evaluate(point: Params) -> tuple[dict, float]:
        nonlocal esteps
        esteps += 1
        point_stats, point_loglik = steps.estep(point)
        return point_stats, steps.objective(point, point_loglik)

    values = [value]
    while esteps <= max_iter:
        theta1 = steps.mstep(stats)
        stats1, value1 = evaluate(theta1)
        history.append(entry(esteps - 1, start, value1, step="em"))
        if esteps > max_iter:
            return Run(theta1, history, False, initial, esteps)
        theta2 = steps.mstep(stats1)
        jump, alpha = extrapolate(params, theta1, theta2, step)
        jump_stats, jump_value = evaluate(jump)
        if jump_value >= value1:
            history.append(entry(esteps - 1, start, jump_value, step="jump", alpha=alpha))
            params, stats, value = jump, jump_stats, jump_value
            step = step * STEP_FACTOR if alpha == step else step
        else:
            step = max(1.0, step / STEP_FACTOR)
            if esteps > max_iter:
                return Run(theta1, history, False, initial, esteps)
            stats, value = evaluate(theta2)
            history.append(entry(esteps - 1, start, value, step="em"))
            params = theta2
        values.append(value)
        if window_converged(values, tol):
            return Run(params, history, True, initial, esteps)
    return Run(params, history, False, initial, esteps)
