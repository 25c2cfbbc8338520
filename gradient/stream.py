"""Streamed minibatch Adam: `gradient.fit` on a clickfit Parquet log too large for memory.

`gradient.fit(model, "log.parquet", optimizer="adam")` lands here (L-BFGS needs full-batch
gradients and line-search evaluations, so it stays in memory). CLAX's setting, read from disk:

- A fraction `validation` of every row group is held out, drawn from (seed, row group), so
  the same sessions every epoch; CLAX's early stopping watches their log-likelihood
  (gradient/adam.py's EarlyStopping).
- One epoch is one pass over the log: row groups in an order drawn anew each epoch, the
  training rows of each shuffled and cut into minibatches of `batch_size` sessions, one Adam
  step each (gradient/adam.py's compiled scan over a row group's minibatches). A minibatch's
  log-likelihood is scaled by the number of minibatches in an epoch, as in memory, so the
  mean minibatch loss estimates the per-impression loss.
- After each epoch a second pass evaluates the exact objective on the training rows and the
  held-out log-likelihood.

Memory: the parameters with Adam's two moment estimates, and one row group with its device
arrays. Programs compile once per minibatch shape (row groups of one size share them); the
compilation is timed apart, as in memory. History per epoch: `seconds` (cumulative, both
passes, reading included), `objective`, `train_loss`, `validation`, as gradient/adam.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from clicklog import catalogue
from clicklog.fit import Fit
from clicklog.io_parquet import iter_parquet, parquet_header
from clicklog.sessions import Sessions
from gradient import adam
from gradient.batch import chunks, padded_rows, to_batch
from gradient.core import initial_logits, make_fit
from gradient.models import resolve
from gradient.objective import Prior, log_likelihood, log_prior
from gradient.predict import precision


class Programs:
    """A jitted function compiled once per shape of its arguments; `seconds` spent compiling."""

    def __init__(self, function: Callable, **static) -> None:
        self.function, self.static = function, static
        self.compiled: dict = {}
        self.seconds = 0.0

    def __call__(self, *args):
        key = tuple((np.shape(a), str(a.dtype)) for a in jax.tree.leaves(args))
        if key not in self.compiled:
            started = time.perf_counter()
            self.compiled[key] = self.function.lower(*args, **self.static).compile()
            self.seconds += time.perf_counter() - started
        return self.compiled[key](*args)


def split_group(
    chunk: Sessions, group: int, seed: int, validation: float
) -> tuple[Sessions, Sessions]:
    """(training rows, held-out rows) of one row group: the same draw in every epoch."""
    held = np.random.default_rng([seed, group]).random(chunk.n) < validation
    return chunk.subset(~held), chunk.subset(held)


def _steps(n: int, batch_size: int) -> tuple[int, int]:
    """(minibatches, rows per minibatch) for n training rows of a row group."""
    rows = min(batch_size, padded_rows(n))
    return -(-n // rows), rows


def _log_likelihood(programs: Programs, theta, sessions: Sessions, dtype: str) -> float:
    return sum(float(programs(theta, batch)) for _, batch in chunks(sessions, dtype))


def fit_parquet(
    model: str,
    path: str | os.PathLike,
    prior: Prior = (2.0, 2.0),
    learning_rate: float = 0.01,
    batch_size: int = 4096,
    epochs: int = 50,
    patience: int = 0,
    min_delta: float = 1e-5,
    validation: float | None = 0.1,
    dtype: str = "float32",
    seed: int = 0,
    init: dict[str, np.ndarray] | None = None,
) -> Fit:
    """Fit `model` to the Parquet log at `path` by streamed Adam (module docstring); the
    arguments as gradient.fit with optimizer "adam". settings: row_groups, train_sessions."""
    name = resolve(model)
    if name in catalogue.VISION_MODELS:
        raise ValueError(f"{name}: streamed fits cover the ten classic models; load the log")
    fraction = 0.0 if validation is None else float(validation)
    if isinstance(validation, Sessions) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"a streamed fit holds out a fraction in [0, 1), got {validation!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if prior is not None:
        prior = (float(prior[0]), float(prior[1]))
    vocabulary, sizes = parquet_header(path)
    n_train, train_impressions, held_impressions, steps = 0, 0.0, 0.0, 0
    for group, chunk in enumerate(iter_parquet(path)):
        train, held = split_group(chunk, group, seed, fraction)
        n_train += train.n
        train_impressions += train.n_impressions
        held_impressions += held.n_impressions
        steps += _steps(train.n, batch_size)[0] if train.n else 0
    if n_train == 0:
        raise ValueError(f"{os.fspath(path)}: cannot fit a click model to no sessions")

    # Rows are shuffled by the generator in-memory Adam uses (a log of one row group gets the
    # minibatches gradient.fit would draw), row groups by a generator of their own.
    rng, group_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    history: list[dict] = []
    converged = False
    with precision(dtype):
        start = initial_logits(name, vocabulary, init)
        theta = {k: jnp.asarray(v, dtype) for k, v in start.items()}
        opt_state = optax.adam(learning_rate).init(theta)
        n_imp = jnp.asarray(train_impressions, dtype)
        scale = jnp.asarray(steps, dtype)
        train_step = Programs(adam.run_steps, model=name, prior=prior, learning_rate=learning_rate)
        loglik = Programs(jax.jit(log_likelihood, static_argnames=("model",)), model=name)
        stopping = adam.EarlyStopping(patience, min_delta, theta)
        clock = 0.0
        for epoch in range(1, epochs + 1):
            started, compiling = time.perf_counter(), train_step.seconds + loglik.seconds
            losses = []
            order = group_rng.permutation(sizes.size)
            for group, chunk in zip(order, iter_parquet(path, order), strict=True):
                train, _ = split_group(chunk, int(group), seed, fraction)
                if train.n == 0:
                    continue
                n_batches, rows = _steps(train.n, batch_size)
                data = to_batch(train.subset(rng.permutation(train.n)), n_batches * rows, dtype)
                batches = jnp.arange(n_batches * rows, dtype=jnp.int32).reshape(n_batches, rows)
                theta, opt_state, value = train_step(theta, opt_state, data, batches, n_imp, scale)
                losses.append(float(value) * n_batches)
            train_ll = held_ll = 0.0
            for group, chunk in enumerate(iter_parquet(path)):
                train, held = split_group(chunk, group, seed, fraction)
                train_ll += _log_likelihood(loglik, theta, train, dtype)
                held_ll += _log_likelihood(loglik, theta, held, dtype) if held.n else 0.0
            jax.block_until_ready(theta)
            clock += time.perf_counter() - started - (
                train_step.seconds + loglik.seconds - compiling
            )
            val_loss = -held_ll / held_impressions if held_impressions else None
            history.append(
                {
                    "seconds": clock,
                    "objective": (train_ll + float(log_prior(theta, prior))) / train_impressions,
                    "train_loss": sum(losses) / steps,
                    "validation": None if val_loss is None else -val_loss,
                }
            )
            if stopping.update(theta, val_loss, epoch):
                converged = True
                break
        fitted = jax.tree.map(np.asarray, stopping.theta)
    result = adam.Result(stopping.theta, history, converged, train_step.seconds + loglik.seconds,
                         stopping.epoch)
    settings = {
        "optimizer": "adam", "dtype": dtype, "streamed": os.fspath(path),
        "learning_rate": learning_rate, "batch_size": batch_size, "epochs": epochs,
        "patience": patience, "min_delta": min_delta, "seed": seed, "validation": validation,
        "row_groups": int(sizes.size), "train_sessions": n_train, "best_epoch": stopping.epoch,
    }
    return make_fit(name, fitted, vocabulary, result, prior, dtype, settings)
