"""Newton polish: truncated Newton steps that finish an L-BFGS solve of the MAP at a fixed prior.

Why. L-BFGS stops on the per-impression objective and gradient (gradient/lbfgs.py). A pair
shown a few times contributes a few impressions' worth of gradient to a loss normalised by
hundreds of thousands, so L-BFGS can stop with such a pair's logit visibly short of its MAP
(on the Yandex sample, PBM: gradient 0.09 in a pair's logit, summed over its impressions,
where EM reaches 3e-4). Those pairs' counts are what the empirical prior is fitted to
(gradient/empirical.py), so the hyper-parameters inherit the error. Newton's method with the
Hessian's diagonal as preconditioner weighs every pair by its own curvature: a few steps from
the L-BFGS point bring every free entry's summed gradient below `grad_tol`.

A step: the gradient g and Hessian-vector products of the summed objective (forward over
reverse, float64), a preconditioned conjugate-gradient solve of H d = -g (stopped at
relative residual min(0.1, sqrt(|g|)) or on negative curvature), then a backtracking line
search (Armijo, with slack for float64 rounding of the summed objective). Entries at the
logit bound with a gradient pointing outwards are held (a constrained optimum, as EM's clipped
M-step holds them). Networks (function sources) are held at their L-BFGS weights.

The preconditioner: the Hessian's diagonal of the summed objective at each step's point, taken
as (t + a + b - 2) p (1 - p) per entry, p its probability, (a, b) its prior and t its `trials`:
the log-likelihood's curvature per unit p (1 - p) (for a binomial, its number of trials, for a
pair its binomial-equivalent trials, clicklog.priors.equivalent). Per pair (qd- and doc-keyed
tables) from the curvature of each impression's own copy of the logit (`keyed_derivatives`,
which gradient/empirical.py's type-II counts share), exact by unit Hessian-vector products for
the small tables (global, per-rank). The trials are computed once per polish, or taken from
the caller (gradient/empirical.py hands each round the trials of its counts at the same
point): they change little where the probabilities move a lot (a rarely shown pair's MAP
under a new prior), while per step they would cost K products per keyed table and one per
small-table entry (UBM: 55); the preconditioner only steers the conjugate-gradient solve,
whose products are exact.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy import special

from clicklog import catalogue
from gradient.batch import Batch
from gradient.logmath import LOGIT_BOUND
from gradient.objective import Prior, log_likelihood, log_prior
from gradient.predict import precision
from gradient.sources import is_network, tables

MAX_STEPS = 30
MAX_CG = 500
ARMIJO = 1e-4
# Relative slack of the line search: the summed objective is resolved to ~1e-16 of its size.
ROUNDING = 1e-13
KEYED = {"qd": "qd", "doc": "doc"}


class Polished(NamedTuple):
    """The logits (in their own dtypes), whether every free gradient entry reached the
    tolerance, the Newton steps taken, the summed objective (log-likelihood + log prior) and
    the trials the steps were preconditioned with (module docstring)."""

    theta: dict
    converged: bool
    steps: int
    objective: float
    trials: dict


def _objective(x: dict, fixed: dict, batch: Batch, prior: Prior, model: str) -> jax.Array:
    """Minus the summed objective (log-likelihood + log prior) at tables `x` and `fixed`."""
    theta = {**fixed, **x}
    return -(log_likelihood(theta, batch, model) + log_prior(theta, prior))


@partial(jax.jit, static_argnames=("model",))
def _value_and_grad(x, fixed, batch, prior, *, model):
    return jax.value_and_grad(_objective)(x, fixed, batch, prior, model)


@partial(jax.jit, static_argnames=("model",))
def _hvp(x, v, fixed, batch, prior, *, model):
    grad = jax.grad(_objective)
    return jax.jvp(lambda y: grad(y, fixed, batch, prior, model), (x,), (v,))[1]


@partial(jax.jit, static_argnames=("model", "names"))
def _per_impression(x, fixed, batch, *, model, names):
    """Per impression [B, K], for each keyed table in `names`: d log P / d x and d2 log P / d x2
    of its copy."""
    kinds = catalogue.parameters(model)
    plain = tables({**fixed, **x}, batch.features, model)
    B, K = batch.qd.shape
    own_index = jnp.arange(B * K, dtype=batch.qd.dtype).reshape(B, K)
    own = batch._replace(**{KEYED[kinds[n]]: own_index for n in names})
    copies = {n: plain[n][getattr(batch, KEYED[kinds[n]])] for n in names}

    def loglik(c):
        return log_likelihood({**plain, **{n: c[n].reshape(-1) for n in names}}, own, model)

    score = jax.grad(loglik)

    def column(r, name):
        """Rank r's diagonal entries: one product with every session's rank-r copy at once."""
        direction = {n: jnp.zeros_like(c) for n, c in copies.items()}
        direction[name] = direction[name].at[:, r].set(1.0)
        return jax.jvp(score, (copies,), (direction,))[1][name][:, r]

    # Mapped over the ranks rather than unrolled: one traced product per table, which keeps the
    # compilation short (DBN's unrolled 2K products took seconds to compile).
    ranks = jnp.arange(K)
    curvature = {n: jax.vmap(partial(column, name=n))(ranks).T for n in names}
    grads = score(copies)
    return {n: grads[n] for n in names}, curvature


def split(theta: dict) -> tuple[dict, dict]:
    """(tables as float64, networks) of a parameter dict, as the polish differentiates them."""
    x = {n: jnp.asarray(v, jnp.float64) for n, v in theta.items() if not is_network(v)}
    return x, {n: v for n, v in theta.items() if is_network(v)}


def keyed(model: str, x: dict) -> tuple[str, ...]:
    """The qd- and doc-keyed tables among `x`."""
    kinds = catalogue.parameters(model)
    return tuple(n for n in x if kinds.get(n) in KEYED)


def keyed_derivatives(x: dict, fixed: dict, batch: Batch, model: str
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per entry of every keyed table of `x` (tables `split` off, float64): the summed
    log-likelihood gradient and minus the summed second derivative of its impressions' copies
    (impressions of one entry in one session counted as independent)."""
    model_kinds = catalogue.parameters(model)
    names = keyed(model, x)
    if not names:
        return {}
    score, curvature = _per_impression(x, fixed, batch, model=model, names=names)
    out = {}
    for name in names:
        index = np.asarray(getattr(batch, KEYED[model_kinds[name]])).ravel()
        total = partial(np.bincount, index, minlength=x[name].size)
        out[name] = (total(weights=np.asarray(score[name], np.float64).ravel()),
                     -total(weights=np.asarray(curvature[name], np.float64).ravel()))
    return out


def _spread(value: jax.Array) -> np.ndarray:
    """p (1 - p) of logits `value` held inside the bound (where the polish keeps them): a
    probability's derivative with respect to its logit, at least ~1e-6."""
    p = special.expit(np.clip(np.asarray(value, np.float64), -LOGIT_BOUND, LOGIT_BOUND))
    return p * (1.0 - p)


def _pair(prior: Prior, name: str) -> tuple[float, float]:
    pair = prior.get(name) if isinstance(prior, dict) else prior
    return pair if pair is not None else (1.0, 1.0)


def trials(value: jax.Array, information: np.ndarray) -> np.ndarray:
    """The trials (module docstring) of entries with logits `value` and log-likelihood
    curvature `information` (minus its second logit derivative), 0 where that is negative."""
    return np.clip(np.asarray(information) / _spread(value), 0.0, None)


def trials_of(x: dict, fixed: dict, batch: Batch, prior: Prior, model: str) -> dict:
    """The trials of every table of `x` (module docstring); the small tables' from unit
    products of the objective's Hessian less the prior's curvature."""
    out = {n: trials(x[n], info) for n, (_, info) in keyed_derivatives(x, fixed, batch, model)
           .items()}
    for name, value in x.items():
        if name in out:
            continue
        flat = np.zeros(value.size)
        for i in range(value.size):
            unit = {n: jnp.zeros_like(v) for n, v in x.items()}
            unit[name] = unit[name].reshape(-1).at[i].set(1.0).reshape(value.shape)
            flat[i] = float(_hvp(x, unit, fixed, batch, prior, model=model)[name].reshape(-1)[i])
        a, b = _pair(prior, name)
        out[name] = trials(value, flat.reshape(value.shape) - (a + b - 2.0) * _spread(value))
    return out


def _diagonal(x: dict, trials: dict, prior: Prior) -> dict:
    """The preconditioner at `x`: (t + a + b - 2) p (1 - p) per entry (module docstring)."""
    return {n: (np.asarray(trials[n]).reshape(v.shape) + sum(_pair(prior, n)) - 2.0)
            * _spread(v) for n, v in x.items()}


def _pcg(hvp, g: np.ndarray, diagonal: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Approximate solution of H d = -g on the `free` entries (module docstring)."""
    scale = np.where(free & (diagonal > 0), diagonal, 1.0)
    d = np.zeros_like(g)
    r = -g * free
    z = r / scale
    p = z.copy()
    rz = float(r @ z)
    target = min(0.1, np.sqrt(np.linalg.norm(r))) * np.linalg.norm(r)
    for _ in range(MAX_CG):
        hp = hvp(p) * free
        curvature = float(p @ hp)
        if curvature <= 0.0:
            return d if d.any() else -g * free / scale
        step = rz / curvature
        d += step * p
        r -= step * hp
        if np.linalg.norm(r) <= target:
            break
        z = r / scale
        rz, previous = float(r @ z), rz
        p = z + (rz / previous) * p
    return d


def polish(
    theta: dict, batch: Batch, model: str, prior: Prior, grad_tol: float,
    max_steps: int = MAX_STEPS, known: dict | None = None,
) -> Polished:
    """Newton steps from logits `theta` on `batch` (float64) until every free entry's summed
    gradient is at most `grad_tol` (module docstring). `known`: the trials (`trials_of`) at or
    near `theta`, if at hand; computed at `theta` when a step needs them otherwise."""
    with precision("float64"):
        x, fixed = split(theta)
        flat, unravel = ravel_pytree(x)
        flat = np.asarray(flat)

        def evaluate(point: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = _value_and_grad(unravel(jnp.asarray(point)), fixed, batch, prior,
                                          model=model)
            return float(value), np.asarray(ravel_pytree(grad)[0])

        value, grad = evaluate(flat)
        converged, steps = False, 0
        while True:
            held = ((flat >= LOGIT_BOUND) & (grad <= 0)) | ((flat <= -LOGIT_BOUND) & (grad >= 0))
            free = ~held
            if np.max(np.abs(grad * free), initial=0.0) <= grad_tol:
                converged = True
                break
            if steps == max_steps:
                break
            steps += 1
            point = unravel(jnp.asarray(flat))
            if known is None or any(n not in known for n in x):
                known = trials_of(point, fixed, batch, prior, model)
            diagonal = np.asarray(ravel_pytree(_diagonal(point, known, prior))[0])

            def hvp(v: np.ndarray, point=point) -> np.ndarray:
                product = _hvp(point, unravel(jnp.asarray(v)), fixed, batch, prior, model=model)
                return np.asarray(ravel_pytree(product)[0])

            direction = _pcg(hvp, grad, diagonal, free)
            slope = float(grad @ direction)
            t, accepted = 1.0, False
            for _ in range(40):
                trial = np.clip(flat + t * direction, -LOGIT_BOUND, LOGIT_BOUND)
                trial_value, trial_grad = evaluate(trial)
                if trial_value <= value + ARMIJO * t * slope + ROUNDING * abs(value):
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                break
            flat, value, grad = trial, trial_value, trial_grad
        out = unravel(jnp.asarray(flat))
    polished = {n: out[n].astype(jnp.asarray(theta[n]).dtype) if n in out else theta[n]
                for n in theta}
    return Polished(polished, converged, steps, -value, known if known else {})
