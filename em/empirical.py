"""Empirical-Bayes priors in EM: the Beta of each learned family re-estimated every M-step.

`em.fit(..., prior="empirical")` (clicklog.priors has the objective and the rules). Each
iteration: the E-step at theta_i gives the statistics (S1, T) of every parameter; from them
and the exact posteriors `binomial_counts` derives each learned family's binomial-equivalent
counts, the family's (a, b) is refitted to them by type-II maximum likelihood
(clicklog.priors.fit_beta, started from the previous pair), and the MAP M-step of
em/engine.py uses the new pairs. At a fixed point theta is the MAP under h and h the type-II
optimum at theta's counts: the joint fixed point that the gradient engine
(gradient/empirical.py) reaches too.

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

from collections.abc import Callable

import numpy as np

from clicklog import catalogue, priors
from clicklog.sessions import Sessions
from em.model import Hidden, Model, Params, Stats

Counts = dict[str, tuple[np.ndarray, np.ndarray]]


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


class Empirical:
    """The state an empirical-prior EM fit carries between its steps: the current priors
    (every probability parameter's pair; `free` ones, a network's output, carry none) and the
    parameters of the last E-step, which the counts of the next M-step need."""

    def __init__(self, model: str, spec: Model, sessions: Sessions, free: tuple[str, ...]):
        self.model, self.spec, self.sessions = model, spec, sessions
        self.priors: priors.Priors = priors.starting(model, free)
        self.learned = tuple(n for n in priors.learned(model) if n not in free)
        self._params: Params | None = None

    def remembering(
        self, estep: Callable[[Params], tuple[Stats, float]]
    ) -> Callable[[Params], tuple[Stats, float]]:
        """`estep` that also keeps the parameters it was called at."""

        def run(params: Params) -> tuple[Stats, float]:
            self._params = params
            return estep(params)

        return run

    def update(self, stats: Stats) -> priors.Priors:
        """Refit every learned family's pair to the counts of `stats`; the new priors."""
        counts = binomial_counts(self.model, self.spec, self.sessions, self._params, stats)
        for name in self.learned:
            self.priors[name] = priors.fit_beta(*counts[name], start=self.priors[name])
        return self.priors
