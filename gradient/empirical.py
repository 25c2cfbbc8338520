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
(clicklog.priors.settled), at the same joint fixed point as EM.

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
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import catalogue, priors
from clicklog.fit import Callback, History
from clicklog.sessions import Sessions
from gradient import lbfgs, newton
from gradient.batch import Batch, padded_rows, to_batch
from gradient.logmath import LOGIT_BOUND, probabilities
from gradient.objective import log_likelihood
from gradient.predict import precision
from gradient.sources import is_network, tables

MAX_ROUNDS = 500
# Logits are read this far inside the bound, where jnp.clip passes the gradient through.
INSIDE = 1e-6


@partial(jax.jit, static_argnames=("model", "names"))
def _score_and_curvature(theta, batch, *, model, names):
    """Per impression [B, K] of each parameter in `names`: d log P / d x and d2 log P / d x2."""
    kinds = catalogue.parameters(model)
    plain = tables(theta, batch.features, model)
    per_qd = tuple(n for n in plain if kinds[n] == "qd")
    B, K = batch.qd.shape
    own = batch._replace(qd=jnp.arange(B * K, dtype=batch.qd.dtype).reshape(B, K))
    copies = {n: plain[n][batch.qd] for n in per_qd}

    def loglik(c):
        return log_likelihood({**plain, **{n: c[n].reshape(-1) for n in per_qd}}, own, model)

    score = jax.grad(loglik)
    curvature = {}
    for name in names:
        def column(r, name=name):
            direction = {n: jnp.zeros_like(c) for n, c in copies.items()}
            direction[name] = direction[name].at[:, r].set(1.0)
            return jax.jvp(score, (copies,), (direction,))[1][name][:, r]

        curvature[name] = jnp.stack([column(r) for r in range(K)], axis=1)
    grads = score(copies)
    return {n: grads[n] for n in names}, curvature


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
    names = tuple(n for n in priors.learned(model) if not is_network(theta[n]))
    if not names:
        return {}
    with precision("float64"):
        if batch is None:
            batch = to_batch(sessions, padded_rows(sessions.n), "float64")
        inside = _inside(theta)
        score, curvature = _score_and_curvature(inside, batch, model=model, names=names)
        qd = np.asarray(batch.qd).ravel()
        out = {}
        for name in names:
            theta_k = probabilities(np.asarray(inside[name]))
            total = partial(np.bincount, qd, minlength=sessions.n_qd)
            g = total(weights=np.asarray(score[name], np.float64).ravel())
            info = -total(weights=np.asarray(curvature[name], np.float64).ravel())
            out[name] = priors.equivalent(theta_k, g, info)
    return out


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

    def type_ii(theta: dict, start: priors.Priors) -> priors.Priors:
        counts = binomial_counts(model, theta, rows, counts_batch)
        return {**start, **{n: priors.fit_beta(*counts[n], start=start[n]) for n in learned}}

    moves: list[float] = []
    current = type_ii(theta, priors.starting(model, free))
    history = History(callback)
    compile_seconds, offset, converged, rounds = 0.0, 0.0, False, 0
    polished = None
    while rounds < MAX_ROUNDS:
        started, compiling = time.perf_counter(), 0.0
        rounds += 1
        if polished is None or not polished.converged:
            result = lbfgs.minimise(theta, batch, n_impressions, model, current, max_iter, tol,
                                    memory_size)
            theta, compiling = result.theta, result.compile_seconds
            for entry in result.history:
                history.append({**entry, "seconds": offset + entry["seconds"], "round": rounds})
        polished = newton.polish(theta, counts_batch, model, current, tol * n_impressions)
        theta = polished.theta
        compile_seconds += compiling
        history.append({"seconds": offset + time.perf_counter() - started - compiling,
                        "round": rounds, "objective": polished.objective / n_impressions,
                        "newton_steps": polished.steps})
        mapped = type_ii(theta, current)
        offset += time.perf_counter() - started - compiling
        if not math.isfinite(history[-1]["objective"]):
            break
        moves.append(_moved(mapped, current))
        if polished.converged and priors.settled(moves, tol):
            converged = True
            break
        current = mapped
    return lbfgs.Result(theta, history, converged, compile_seconds), current, rounds
