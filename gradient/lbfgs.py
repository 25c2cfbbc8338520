"""Full-batch L-BFGS (optax.lbfgs with its zoom line search) on the per-impression loss."""

from __future__ import annotations

import math
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gradient.batch import Batch
from gradient.objective import Prior, loss


class Result(NamedTuple):
    theta: dict[str, jax.Array]
    history: list[dict]
    converged: bool
    compile_seconds: float


def _solver(memory_size: int) -> optax.GradientTransformationExtraArgs:
    return optax.lbfgs(memory_size=memory_size)


@partial(jax.jit, static_argnames=("model", "prior", "memory_size"))
def _step(theta, state, batch, n_impressions, *, model, prior, memory_size):
    def value_fn(t):
        return loss(t, batch, n_impressions, 1.0, model, prior)

    # The line search leaves the value and gradient at the accepted point in the state, so
    # only the first step evaluates its starting point; later ones reuse them.
    value, grad = optax.value_and_grad_from_state(value_fn)(theta, state=state)
    updates, state = _solver(memory_size).update(
        grad, state, theta, value=value, grad=grad, value_fn=value_fn
    )
    theta = optax.apply_updates(theta, updates)
    new_grad = optax.tree_utils.tree_get(state, "grad")
    grad_max = jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in jax.tree.leaves(new_grad)]))
    value = optax.tree_utils.tree_get(state, "value")
    evaluations = optax.tree_utils.tree_get(state, "info").num_linesearch_steps
    return theta, state, value, grad_max, evaluations


def minimise(
    theta: dict[str, jax.Array],
    batch: Batch,
    n_impressions: float,
    model: str,
    prior: Prior,
    max_iter: int,
    tol: float,
    memory_size: int = 10,
) -> Result:
    """Run L-BFGS from `theta` until the per-impression objective changes by at most `tol` in a
    step or its gradient's largest entry is at most `tol`, or `max_iter` steps.

    History: per step, `seconds` (cumulative, compilation excluded), `objective` (nats per
    impression at the accepted point), `gradient` (largest absolute entry) and `evaluations`
    (line-search evaluations of the loss).
    """
    n_imp = jnp.asarray(n_impressions, batch.weight.dtype)
    state = _solver(memory_size).init(theta)
    started = time.perf_counter()
    step = _step.lower(
        theta, state, batch, n_imp, model=model, prior=prior, memory_size=memory_size
    ).compile()
    compile_seconds = time.perf_counter() - started
    history: list[dict] = []
    previous = math.inf
    converged = False
    started = time.perf_counter()
    for _ in range(max_iter):
        theta, state, value, grad_max, evaluations = step(theta, state, batch, n_imp)
        value, grad_max = float(value), float(grad_max)
        history.append(
            {
                "seconds": time.perf_counter() - started,
                "objective": -value,
                "gradient": grad_max,
                "evaluations": int(evaluations),
            }
        )
        if not math.isfinite(value):
            raise FloatingPointError(f"L-BFGS reached a non-finite loss ({value}) on {model}")
        if abs(previous - value) <= tol or grad_max <= tol:
            converged = True
            break
        previous = value
    return Result(theta, history, converged, compile_seconds)
