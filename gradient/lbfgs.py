"""Full-batch L-BFGS (optax.lbfgs with its zoom line search) on the per-impression loss.

The stopping rule works in probability space. Parameters are logits, and near 0 or 1 a
probability's logit gradient is its probability gradient times p (1 - p): where the optimum
lies at the edge (PBM's gamma_1 -> 1 - 1e-6 without a prior, the scale that attraction and
examination share), the objective is flat in logit space, the steps make almost no progress
and a test on the change of the objective alone stops microscopically short of the optimum
in the logits but visibly short in the probabilities. So a step converges only when the
objective changed by at most `tol` (or the logit gradient is at most `tol`) AND the largest
gradient with respect to a probability is at most sqrt(tol) (entries held at the
[EPS, 1 - EPS] bound by a gradient pointing outwards are at a constrained optimum and left
out, as EM's clipped M-step leaves them; a network's weights count by their own gradient).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from clicklog.fit import Callback, History
from gradient.batch import Batch
from gradient.logmath import LOGIT_BOUND
from gradient.objective import Prior, loss


class Result(NamedTuple):
    theta: dict[str, jax.Array]
    history: list[dict]
    converged: bool
    compile_seconds: float


def _solver(memory_size: int) -> optax.GradientTransformationExtraArgs:
    return optax.lbfgs(memory_size=memory_size)


# The prior is traced, not static, so that gradient/empirical.py can change its hyper-parameters
# between solves without a recompilation.
@partial(jax.jit, static_argnames=("model", "memory_size"))
def _step(theta, state, batch, n_impressions, prior, *, model, memory_size):
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
    return theta, state, value, grad_max, probability_gradient(theta, new_grad), evaluations


def probability_gradient(theta: dict, grad: dict) -> jax.Array:
    """The largest |d loss / d p| over the free probability entries of `theta` (logit tables),
    and the largest |gradient| of any network weight (module docstring)."""
    parts = []
    for name, x in theta.items():
        g = grad[name]
        if not isinstance(x, jax.Array):
            parts += [jnp.max(jnp.abs(leaf)) for leaf in jax.tree.leaves(g)]
            continue
        at_top = (x >= LOGIT_BOUND) & (g <= 0.0)
        at_bottom = (x <= -LOGIT_BOUND) & (g >= 0.0)
        inside = jnp.clip(x, -LOGIT_BOUND, LOGIT_BOUND)
        spread = jax.nn.sigmoid(inside) * jax.nn.sigmoid(-inside)
        parts.append(jnp.max(jnp.where(at_top | at_bottom, 0.0, jnp.abs(g) / spread),
                             initial=0.0))
    return jnp.max(jnp.stack(parts)) if parts else jnp.zeros(())


def minimise(
    theta: dict[str, jax.Array],
    batch: Batch,
    n_impressions: float,
    model: str,
    prior: Prior,
    max_iter: int,
    tol: float,
    memory_size: int = 10,
    callback: Callback | None = None,
) -> Result:
    """Run L-BFGS from `theta` until the stopping rule of the module docstring holds, or
    `max_iter` steps.

    History: per step, `seconds` (cumulative, compilation excluded), `objective` (nats per
    impression at the accepted point), `gradient` (largest absolute logit-gradient entry),
    `probability_gradient` (the rule's probability-space one) and `evaluations` (line-search
    evaluations of the loss).
    """
    n_imp = jnp.asarray(n_impressions, batch.weight.dtype)
    state = _solver(memory_size).init(theta)
    started = time.perf_counter()
    step = _step.lower(
        theta, state, batch, n_imp, prior, model=model, memory_size=memory_size
    ).compile()
    compile_seconds = time.perf_counter() - started
    history = History(callback)
    previous = math.inf
    converged = False
    probability_tol = math.sqrt(tol)
    started = time.perf_counter()
    for _ in range(max_iter):
        theta, state, value, grad_max, grad_p, evaluations = step(
            theta, state, batch, n_imp, prior
        )
        value, grad_max, grad_p = float(value), float(grad_max), float(grad_p)
        history.append(
            {
                "seconds": time.perf_counter() - started,
                "objective": -value,
                "gradient": grad_max,
                "probability_gradient": grad_p,
                "evaluations": int(evaluations),
            }
        )
        if not math.isfinite(value):
            raise FloatingPointError(f"L-BFGS reached a non-finite loss ({value}) on {model}")
        if (abs(previous - value) <= tol or grad_max <= tol) and grad_p <= probability_tol:
            converged = True
            break
        previous = value
    return Result(theta, history, converged, compile_seconds)
