"""Empirical-Bayes priors in EM: rounds of type-II ML alternating with fixed-prior EM fits.

`em.fit(..., prior="empirical")` (clicklog.priors has the objective and the rules). A round:
at the current theta, an E-step and the exact posteriors give each learned family's
binomial-equivalent counts (`binomial_counts`), its (a, b) is refitted to them by type-II
maximum likelihood (clicklog.priors.fit_beta, started from the previous pair), and EM with
that prior held fixed (plain, or accelerated: em/anderson.py, which a fixed prior allows) runs from
theta to its MAP. So a round costs one posterior pass, however many E-steps its fit takes, and
the fits are warm-started. At a fixed point theta is the MAP under h and h the type-II optimum
at theta's counts: the joint fixed point that the gradient engine (gradient/empirical.py)
reaches by the same rounds.

Stopping. Along a slow direction of the MAP (PBM: attraction against examination) EM gains
almost nothing per step while still far from the optimum, so the objective rule (em/loop.py)
stops short: on the Yandex sample a pair's summed logit gradient was still 3e-4 where the
gradient engine reaches 1e-5, enough to move the learned b by 5e-5. A fit therefore ends only
once (a) the largest summed logit gradient of the MAP (`map_gradient`, free from the E-step by
Fisher's identity) is at most tol times the number of impressions, the gradient engine's rule,
and (b) the rounds' hyper-parameters have settled (clicklog.priors.settled);
while (a) fails after a round's fit has met its objective rule, the next rounds' fits get a
tolerance ten times smaller.

Binomial-equivalent counts. The E-step's (S1, T) overstate what the log says about a pair:
every model draws A at every rank it fits, so an unexamined impression adds a full trial whose
imputed outcome is alpha itself. What the clicks say about theta_k is its observed-data
likelihood, summarised (holding every other parameter at its value) by its score and
information in logit space, which Louis's identity ("Finding the observed information matrix
when using the EM algorithm", JRSS B 44, 1982) gives from the E-step:

    score_k = S1_k - theta_k T_k,     info_k = sum [theta_k (1 - theta_k) - Var(draw | c)]

the sum over the parameter's Bernoulli draws (A at each rank of the pair; CCM's relevance draw
after a click too; satisfaction's one draw per click above a page's last rank), each variance
from the exact posterior P(draw = 1 | c); a draw the fit does not use (CM's after the first
click, where the posterior is the prior) adds 0 (impressions of one pair in one session are
taken as independent draws). A binomial observation (s successes in t trials) with the same
score and information has

    t_k = info_k / (theta_k (1 - theta_k)),     s_k = score_k + theta_k t_k,

so an impression counts as much as it informs (a click 1, an unclicked rank that was surely
examined 1, one that was surely not 0). These (s_k, t_k) are the type-II criterion's data.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

import numpy as np

from clicklog import catalogue, priors
from clicklog.sessions import Sessions
from em.loop import Run, Steps
from em.model import Hidden, Model, Params, Stats

Counts = dict[str, tuple[np.ndarray, np.ndarray]]

MAX_ROUNDS = 100
# The tightest objective tolerance a round's fit is given (float64 resolves ~1e-17 of J).
TIGHTEST = 1e-17


def draws(model: str, name: str) -> tuple[str, ...]:
    """The hidden variables (posteriors' names) that are Bernoulli draws of parameter `name`."""
    if name == "satisfaction":
        return ("S",)
    return ("A", "S") if catalogue.base_model(model) == "ccm" else ("A",)


def information(hidden: Hidden, names: tuple[str, ...], theta: np.ndarray,
                sessions: Sessions) -> np.ndarray:
    """Per qd, weighted: the logit information sum over the listed draws of
    P(drawn) theta (1 - theta) - Var(draw | c) (Louis; module docstring)."""
    mask = sessions.mask
    w = np.broadcast_to(sessions.weight.astype(np.float64)[:, None], mask.shape)[mask]
    spread = np.asarray(theta, np.float64)[np.maximum(sessions.qd, 0)] * (
        1.0 - np.asarray(theta, np.float64)[np.maximum(sessions.qd, 0)])
    total = np.zeros(sessions.n_qd)
    for name in names:
        drawn, one = hidden[name]
        each = (drawn * spread - one * (drawn - one))[mask]
        total += np.bincount(sessions.qd[mask], weights=w * each, minlength=sessions.n_qd)
    return total


def binomial_counts(
    model: str, spec: Model, sessions: Sessions, params: Params, stats: Stats
) -> Counts:
    """(successes, trials) per qd of every learned family, from the E-step `stats` at
    `params` and the exact posteriors (module docstring)."""
    hidden, _ = spec.posteriors(params, sessions)
    out: Counts = {}
    for name in priors.learned(model):
        s1, t = (np.asarray(v, np.float64) for v in stats[name])
        theta = np.asarray(params[name], np.float64)
        info = information(hidden, draws(model, name), theta, sessions)
        out[name] = priors.equivalent(theta, s1 - theta * t, info)
    return out


def map_gradient(stats: Stats, params: Params, prior: priors.Priors, free: Collection[str],
                 eps: float) -> float:
    """The largest |d J / d logit| (J summed, not per impression) over every table entry that
    is not held at the [eps, 1 - eps] clip by a gradient pointing outwards: by Fisher's
    identity S1 - theta T from the E-step at `params`, plus the prior's
    a - 1 - theta (a + b - 2)."""
    largest = 0.0
    for name, (s1, t) in stats.items():
        if name in free:
            continue
        a, b = priors.prior_of(prior, name) or (1.0, 1.0)
        theta = np.asarray(params[name], np.float64)
        g = np.asarray(s1, np.float64) + a - 1.0 - theta * (np.asarray(t, np.float64) + a + b - 2.0)
        held = ((theta <= eps * (1 + 1e-9)) & (g < 0)) | ((theta >= 1 - eps * (1 + 1e-9)) & (g > 0))
        largest = max(largest, float(np.max(np.abs(np.where(held, 0.0, g)), initial=0.0)))
    return largest


def alternate(
    model: str,
    spec: Model,
    sessions: Sessions,
    params: Params,
    steps_for: Callable[[priors.Priors], Steps],
    solve: Callable[[Steps, Params, int, float], Run],
    max_iter: int,
    tol: float,
    free: Collection[str],
    eps: float,
) -> tuple[Run, priors.Priors, int]:
    """Rounds of type-II ML and a fixed-prior fit (module docstring) from `params`, each fit at
    most `max_iter` iterations, at most MAX_ROUNDS rounds: the last run (history of every
    round, entries marked with their `round`; E-steps of all rounds),
    the priors its parameters are the MAP under, and the number of rounds."""
    learned = tuple(n for n in priors.learned(model) if n not in free)
    current = priors.starting(model, tuple(free))
    memo: dict = {}

    def estep_of(steps: Steps) -> Steps:
        def run(point: Params) -> tuple[Stats, float]:
            memo["params"], memo["result"] = point, steps.estep(point)
            return memo["result"]

        return replace(steps, estep=run)

    def statistics(point: Params) -> Stats:
        if memo.get("params") is not point:
            memo["params"], memo["result"] = point, steps_for(current).estep(point)
        return memo["result"][0]

    def type_ii(point: Params, start: priors.Priors) -> priors.Priors:
        counts = binomial_counts(model, spec, sessions, point, statistics(point))
        return {**start, **{n: priors.fit_beta(*counts[n], start=start[n]) for n in learned}}

    grad_tol, moves = tol * steps_for(current).n_impressions, []
    current = type_ii(params, current)
    history, esteps, inner_tol, converged, initial = [], 0, tol, False, None
    rounds = 0
    while True:
        rounds += 1
        result = solve(estep_of(steps_for(current)), params, max_iter, inner_tol)
        initial = result.initial if initial is None else initial
        for item in result.history:
            history.append({**item, "iteration": item["iteration"] + esteps, "round": rounds})
        esteps += result.esteps
        params = result.params
        residual = map_gradient(statistics(params), params, current, free, eps)
        mapped = type_ii(params, current)
        moves.append(_moved(mapped, current))
        if residual <= grad_tol and priors.settled(moves, tol):
            converged = True
            break
        if result.converged and residual > grad_tol:
            # The objective rule stopped on a slow direction short of the MAP: ask for more.
            inner_tol = max(inner_tol / 10.0, TIGHTEST)
        if rounds == MAX_ROUNDS:
            break
        current = mapped
    return Run(params, history, converged, initial, esteps), current, rounds


def _moved(new: priors.Priors, old: priors.Priors) -> float:
    """Largest relative change of a hyper-parameter."""
    return max((abs(x - y) / y for k in new for x, y in zip(new[k], old[k], strict=True)),
               default=0.0)
