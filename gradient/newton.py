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
M-step holds them). The diagonal: per pair (qd- and doc-keyed tables) from the curvature of
each impression's own copy of the logit (as gradient/empirical.py computes it), exact by unit
Hessian-vector products for the small tables (global, per-rank), plus the prior's curvature.
Networks (function sources) are held at their L-BFGS weights.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

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
    tolerance, the Newton steps taken and the summed objective (log-likelihood + log prior)."""

    theta: dict
    converged: bool
    steps: int
    objective: float


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
def _keyed_curvature(x, fixed, batch, *, model, names):
    """Per impression [B, K], for each keyed table in `names`: d2 log P / d x2 of its copy."""
    kinds = catalogue.parameters(model)
    plain = tables({**fixed, **x}, batch.features, model)
    B, K = batch.qd.shape
    own_index = jnp.arange(B * K, dtype=batch.qd.dtype).reshape(B, K)
    own = batch._replace(**{KEYED[kinds[n]]: own_index for n in names})
    copies = {n: plain[n][getattr(batch, KEYED[kinds[n]])] for n in names}

    def loglik(c):
        return log_likelihood({**plain, **{n: c[n].reshape(-1) for n in names}}, own, model)

    score = jax.grad(loglik)
    out = {}
    for name in names:
        def column(r, name=name):
            direction = {n: jnp.zeros_like(c) for n, c in copies.items()}
            direction[name] = direction[name].at[:, r].set(1.0)
            return jax.jvp(score, (copies,), (direction,))[1][name][:, r]

        out[name] = jnp.stack([column(r) for r in range(K)], axis=1)
    return out


def _diagonal(x: dict, fixed: dict, batch: Batch, prior: Prior, model: str) -> dict:
    """The preconditioner: the Hessian's diagonal of the summed objective (module docstring)."""
    kinds = catalogue.parameters(model)
    keyed = tuple(n for n in x if kinds.get(n) in KEYED)
    curvature = _keyed_curvature(x, fixed, batch, model=model, names=keyed) if keyed else {}
    diagonal = {}
    for name, value in x.items():
        if name in curvature:
            index = np.asarray(getattr(batch, KEYED[kinds[name]])).ravel()
            minus = np.bincount(index, weights=np.asarray(curvature[name]).ravel(),
                                minlength=value.size)
            pair = prior.get(name) if isinstance(prior, dict) else prior
            a, b = pair if pair is not None else (1.0, 1.0)
            p = np.asarray(jax.nn.sigmoid(value), np.float64)
            diagonal[name] = -minus + (a + b - 2.0) * p * (1.0 - p)
            continue
        flat = np.zeros(value.size)
        for i in range(value.size):
            unit = {n: jnp.zeros_like(v) for n, v in x.items()}
            unit[name] = unit[name].reshape(-1).at[i].set(1.0).reshape(value.shape)
            flat[i] = float(_hvp(x, unit, fixed, batch, prior, model=model)[name].reshape(-1)[i])
        diagonal[name] = flat.reshape(value.shape)
    return diagonal


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
    max_steps: int = MAX_STEPS,
) -> Polished:
    """Newton steps from logits `theta` on `batch` (float64) until every free entry's summed
    gradient is at most `grad_tol` (module docstring)."""
    with precision("float64"):
        names = tuple(n for n, v in theta.items() if not is_network(v))
        fixed = {n: v for n, v in theta.items() if n not in names}
        x = {n: jnp.asarray(theta[n], jnp.float64) for n in names}
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
            diagonal = np.asarray(ravel_pytree(_diagonal(point, fixed, batch, prior, model))[0])

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
    return Polished(polished, converged, steps, -value)
