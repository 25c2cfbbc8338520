"""Empirical-Bayes priors in the gradient engine: rounds of type-II ML and a MAP solve.

`gradient.fit(..., prior="empirical")` (optimizer "lbfgs"; clicklog.priors has the objective
and the rules). Rounds: from the current theta, each learned family's informative counts give
its Beta(a, b) by clicklog.priors.fit_beta (as in EM's rounds, em/empirical.py); theta is then
solved to the MAP of J(theta; h) with those pairs: L-BFGS from the start (traced priors, so no
round recompiles), finished by Newton steps (gradient/newton.py) until every entry's summed
logit gradient is at most tol times the number of impressions (L-BFGS alone stops with rarely
shown pairs visibly short of their MAP, and their counts are the type-II data); later rounds
start from the last MAP, so Newton steps alone finish them (L-BFGS again only where Newton did
not get there). The fit stops when the rounds' hyper-parameters have settled
(clicklog.priors.settled), at the same joint fixed point as EM. The counts and the Newton
preconditioner come from the same derivatives (gradient/newton.py, keyed_derivatives: one
compilation for both), so the trials of each round's counts, taken at its MAP, precondition
the next round's Newton steps.

Counts without an E-step. The type-II criterion's data are the binomial-equivalent counts of
em/empirical.py (clicklog.priors.equivalent): per pair, the binomial with the score and the
logit information of the pair's observed-data likelihood, t = info / (theta (1 - theta)), s =
score + theta t. Both are derivatives of the log-likelihood the engine already has: every qd-
keyed table is copied to one logit per impression (each rank reads its own copy), the gradient
with respect to the copies gives each impression's score and K Hessian-vector products (one per
rank, forward over reverse) the diagonal of the per-impression Hessian; summed per pair they
are score_k and -info_k (impressions of one pair in one session count as independent, as in
EM). In float64 whatever the fit's dtype, at logits held just inside the engine's bound
(outside it the clipped log-probabilities have no gradient)."""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import priors
from clicklog.fit import Callback, History
from clicklog.sessions import Sessions
from gradient import lbfgs, newton
from gradient.batch import Batch, padded_rows, to_batch
from gradient.logmath import LOGIT_BOUND, probabilities
from gradient.predict import precision
from gradient.sources import is_network

MAX_ROUNDS = 500
# Logits are read this far inside the bound, where jnp.clip passes the gradient through.
INSIDE = 1e-6


def _inside(theta: dict) -> dict:
    """Float64 logits held just inside the bound; networks as they are."""
    bound = LOGIT_BOUND - INSIDE
    return {k: x if is_network(x) else jnp.clip(jnp.asarray(x, jnp.float64), -bound, bound)
            for k, x in theta.items()}


def binomial_counts(
    model: str, theta: dict, sessions: Sessions, batch: Batch | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(successes, trials) per qd of every learned family at logits `theta` on `sessions`
    (module docstring); the same numbers as em.empirical.binomial_counts. `batch`: the
    sessions in float64, if at hand."""
    return _counts_and_trials(model, theta, sessions, batch)[0]


def _counts_and_trials(
    model: str, theta: dict, sessions: Sessions, batch: Batch | None = None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """binomial_counts, and the trials of every keyed table (newton.trials) at the same
    logits."""
    names = tuple(n for n in priors.learned(model) if not is_network(theta[n]))
    if not names:
        return {}, {}
    with precision("float64"):
        if batch is None:
            batch = to_batch(sessions, padded_rows(sessions.n), "float64")
        x, fixed = newton.split(_inside(theta))
        derivatives = newton.keyed_derivatives(x, fixed, batch, model)
        counts = {n: priors.equivalent(probabilities(np.asarray(x[n])), *derivatives[n])
                  for n in names}
    return counts, {n: newton.trials(x[n], info) for n, (_, info) in derivatives.items()}


def _moved(new: priors.Priors, old: priors.Priors) -> float:
    """Largest relative change of a hyper-parameter."""
    return max((abs(x - y) / y for k in new for x, y in zip(new[k], old[k], strict=True)),
               default=0.0)


def minimise(
    theta: dict[str, jax.Array],
    batch: Batch,
    rows: Sessions,
    n_impressions: float,
    model: str,
    max_iter: int,
    tol: float,
    memory_size: int = 10,
    callback: Callback | None = None,
) -> tuple[lbfgs.Result, priors.Priors, int]:
    """Alternate type-II ML and L-BFGS (module docstring) from `theta` on `batch` (the rows of
    `rows`); returns the last L-BFGS result with the whole history (entries carry their
    `round`), the priors it was fitted under and the number of rounds. max_iter and tol are
    each L-BFGS run's; converged: Newton steps brought the last round to its MAP
    (gradient/newton.py) and the priors settled (clicklog.priors.settled)."""
    free = tuple(k for k, v in theta.items() if is_network(v))
    learned = tuple(n for n in priors.learned(model) if n not in free)
    with precision("float64"):
        counts_batch = to_batch(rows, padded_rows(rows.n), "float64")

    def type_ii(theta: dict, start: priors.Priors) -> tuple[priors.Priors, dict]:
        counts, trials = _counts_and_trials(model, theta, rows, counts_batch)
        fitted = {n: priors.fit_beta(*counts[n], start=start[n]) for n in learned}
        return {**start, **fitted}, trials

    moves: list[float] = []
    current, _ = type_ii(theta, priors.starting(model, free))
    history = History(callback)
    compile_seconds, offset, converged, rounds = 0.0, 0.0, False, 0
    polished, trials = None, None
    while rounds < MAX_ROUNDS:
        started, compiling = time.perf_counter(), 0.0
        rounds += 1
        if polished is None or not polished.converged:
            result = lbfgs.minimise(theta, batch, n_impressions, model, current, max_iter, tol,
                                    memory_size)
            theta, compiling = result.theta, result.compile_seconds
            for entry in result.history:
                history.append({**entry, "seconds": offset + entry["seconds"], "round": rounds})
        polished = newton.polish(theta, counts_batch, model, current, tol * n_impressions,
                                 known=trials)
        theta = polished.theta
        compile_seconds += compiling
        history.append({"seconds": offset + time.perf_counter() - started - compiling,
                        "round": rounds, "objective": polished.objective / n_impressions,
                        "newton_steps": polished.steps})
        mapped, keyed_trials = type_ii(theta, current)
        trials = {**polished.trials, **keyed_trials}
        offset += time.perf_counter() - started - compiling
        if not math.isfinite(history[-1]["objective"]):
            break
        moves.append(_moved(mapped, current))
        if polished.converged and priors.settled(moves, tol):
            converged = True
            break
        current = mapped
    return lbfgs.Result(theta, history, converged, compile_seconds), current, rounds
