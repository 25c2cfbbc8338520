"""Minibatch Adam with early stopping on held-out sessions, as CLAX trains click models (Hager et
al., "CLAX: Fast and Flexible Neural Click Models in JAX", 2025: Adam, learning rate 0.01,
batches of 4096 sessions, 50 epochs, stop once the validation loss fails to improve by 1e-5).

Each epoch is one compiled lax.scan over a shuffled, fixed-shape stack of minibatches (the
last one padded with zero-weight rows), so nothing recompiles between epochs or fits of the
same size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from clicklog.fit import Callback, History
from clicklog.sessions import Sessions
from gradient.batch import padded_rows, to_batch
from gradient.objective import Prior, log_likelihood, loss


class Result(NamedTuple):
    theta: dict[str, jax.Array]
    history: list[dict]
    converged: bool
    compile_seconds: float
    best_epoch: int


def split_validation(
    sessions: Sessions, validation: float | Sessions | None, rng: np.random.Generator
) -> tuple[Sessions, Sessions | None]:
    """(train, validation): a Sessions object is used as is, a fraction is drawn at random."""
    if isinstance(validation, Sessions):
        if (validation.K, validation.n_qd) != (sessions.K, sessions.n_qd):
            raise ValueError(
                "validation sessions must share the training sessions' vocabulary and K"
            )
        return sessions, validation
    if validation is None:
        return sessions, None
    if not 0.0 <= validation < 1.0:
        raise ValueError(f"validation must be a fraction in [0, 1), got {validation}")
    n_val = int(round(validation * sessions.n))
    if n_val == 0:
        return sessions, None
    held = np.zeros(sessions.n, bool)
    held[rng.permutation(sessions.n)[:n_val]] = True
    return sessions.subset(~held), sessions.subset(held)


@partial(jax.jit, static_argnames=("model", "prior", "learning_rate"))
def run_steps(theta, opt_state, data, order, n_impressions, scale, *, model, prior, learning_rate):
    """One Adam step per row of `order` (the minibatches' rows of `data`), the minibatch loss
    scaled by `scale`, the number of minibatches in an epoch; returns the mean loss too."""
    solver = optax.adam(learning_rate)

    def step(carry, rows):
        theta, opt_state = carry
        batch = data.rows(rows)
        value, grad = jax.value_and_grad(loss)(theta, batch, n_impressions, scale, model, prior)
        updates, opt_state = solver.update(grad, opt_state, theta)
        return (optax.apply_updates(theta, updates), opt_state), value

    (theta, opt_state), values = lax.scan(step, (theta, opt_state), order)
    return theta, opt_state, jnp.mean(values)


@dataclass
class EarlyStopping:
    """CLAX's early stopping: keep the parameters of the epoch with the best held-out loss and
    stop after more than `patience` epochs without an improvement larger than `min_delta`."""

    patience: int
    min_delta: float
    theta: dict[str, jax.Array]
    epoch: int = 0
    best: float = math.inf
    waited: int = 0

    def update(self, theta: dict[str, jax.Array], val_loss: float | None, epoch: int) -> bool:
        """Record an epoch's parameters and held-out loss (None: no early stopping, the last
        epoch is kept); True when training should stop."""
        if val_loss is None or self.best - val_loss > self.min_delta:
            self.theta, self.epoch, self.waited = theta, epoch, 0
            self.best = math.inf if val_loss is None else val_loss
            return False
        self.waited += 1
        return self.waited > self.patience


_objective = jax.jit(loss, static_argnames=("model", "prior"))
_log_likelihood = jax.jit(log_likelihood, static_argnames=("model",))


def minimise(
    theta: dict[str, jax.Array],
    train: Sessions,
    validation: Sessions | None,
    model: str,
    prior: Prior,
    dtype: str,
    learning_rate: float,
    batch_size: int,
    epochs: int,
    patience: int,
    min_delta: float,
    rng: np.random.Generator,
    callback: Callback | None = None,
) -> Result:
    """Adam over shuffled minibatches of `train`; with `validation`, keep the parameters of the
    best epoch and stop after more than `patience` epochs without an improvement > min_delta.

    History: per epoch, `seconds` (cumulative: training and validation passes, compilation and
    this bookkeeping excluded), `objective` (nats per impression on `train`, prior included),
    `train_loss` (mean minibatch loss) and `validation` (held-out log-likelihood per
    impression, without the prior, as CLAX's validation loss).
    """
    rows = min(batch_size, padded_rows(train.n))
    n_batches = -(-train.n // rows)
    data = to_batch(train, n_batches * rows, dtype)
    n_imp = jnp.asarray(train.n_impressions, dtype)
    opt_state = optax.adam(learning_rate).init(theta)
    order = jnp.zeros((n_batches, rows), jnp.int32)
    val_data = None
    if validation is not None:
        val_data = to_batch(validation, padded_rows(validation.n), dtype)

    started = time.perf_counter()
    scale = jnp.asarray(n_batches, dtype)
    epoch = run_steps.lower(
        theta, opt_state, data, order, n_imp, scale, model=model, prior=prior,
        learning_rate=learning_rate,
    ).compile()
    objective = _objective.lower(theta, data, n_imp, 1.0, model=model, prior=prior).compile()
    if val_data is not None:
        held_out = _log_likelihood.lower(theta, val_data, model=model).compile()
    compile_seconds = time.perf_counter() - started

    history = History(callback)
    stopping = EarlyStopping(patience, min_delta, theta)
    converged = False
    clock = 0.0
    padding = np.arange(train.n, n_batches * rows)
    for index in range(epochs):
        started = time.perf_counter()
        order = jnp.asarray(
            np.concatenate([rng.permutation(train.n), padding]).reshape(-1, rows), jnp.int32
        )
        theta, opt_state, train_loss = epoch(theta, opt_state, data, order, n_imp, scale)
        val_loss = None
        if val_data is not None:
            val_loss = -float(held_out(theta, val_data)) / validation.n_impressions
        jax.block_until_ready(theta)
        clock += time.perf_counter() - started
        history.append(
            {
                "seconds": clock,
                "objective": -float(objective(theta, data, n_imp, 1.0)),
                "train_loss": float(train_loss),
                "validation": None if val_loss is None else -val_loss,
            }
        )
        if stopping.update(theta, val_loss, index + 1):
            converged = True
            break
    return Result(stopping.theta, history, converged, compile_seconds, stopping.epoch)

