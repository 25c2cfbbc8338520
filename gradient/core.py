"""`gradient.fit`: fit a click model by gradient descent on the shared objective, return a Fit.

Parameters are logits (probability 0.5 = logit 0 at the start, as in EM) in a dict pytree
keyed by the catalogue's names; the loss is minus the shared objective per impression
(gradient.objective). By default float64 for L-BFGS, float32 for Adam (DEFAULT_DTYPE); float64
runs inside jax.enable_x64 so the caller's global JAX configuration is never touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import catalogue, cells, defaults, network, priors
from clicklog.dedup import dedup
from clicklog.fit import Callback, Fit, FitVocabulary
from clicklog.sessions import Sessions
from gradient import adam, bias, lbfgs, predict
from gradient import empirical as gradient_empirical
from gradient.batch import padded_rows, to_batch
from gradient.logmath import logits
from gradient.models import REGISTRY, resolve
from gradient.objective import Prior
from gradient.predict import precision
from gradient.sources import describe, is_network, to_params
from gradient.sources import start as sources_start

# Default tolerance on the per-impression objective (clicklog.defaults): about float32's
# resolution at ~0.3 nats, and small enough in float64 for EM/gradient agreement to 1e-4 nats
# per impression.
DEFAULT_TOL = {dtype: defaults.gradient_tol(dtype) for dtype in ("float32", "float64")}
# Float64 for full-batch L-BFGS: float32 resolves a per-impression objective of ~0.3 nats only
# to ~3e-8, so L-BFGS stops 1e-6 to 1e-5 short of the optimum; float64 costs ~1.5x per
# evaluation on CPU. Minibatch Adam is noisier than float32 anyway (CLAX trains in float32).
DEFAULT_DTYPE = {"lbfgs": "float64", "adam": "float32"}


def fit(
    model: str,
    sessions: Sessions | str | os.PathLike,
    prior: Prior | str = (2.0, 2.0),
    optimizer: str = "lbfgs",
    max_iter: int = defaults.MAX_ITER,
    tol: float | None = None,
    learning_rate: float = defaults.LEARNING_RATE,
    batch_size: int = defaults.BATCH_SIZE,
    epochs: int = defaults.EPOCHS,
    patience: int = 0,
    min_delta: float = 1e-5,
    validation: float | Sessions | None = 0.1,
    dtype: str | None = None,
    seed: int = 0,
    init: dict[str, np.ndarray] | None = None,
    memory_size: int = 10,
    vision: str = "per-doc",
    sources: Mapping[str, str | Mapping] | None = None,
    callback: Callback | None = None,
) -> Fit:
    """Fit `model` to `sessions` and return a clicklog.fit.Fit (engine "gradient").

    optimizer "lbfgs": full-batch L-BFGS to convergence (max_iter, tol: on the change of the
    per-impression objective and on the largest gradient entry; memory_size), on the
    deduplicated sessions (the same objective, fewer rows; its time counts in `seconds`).
    "adam": CLAX's minibatch Adam (learning_rate, batch_size, epochs, seed for shuffling and
    the validation draw) with early stopping on `validation` (a fraction of `sessions` held out
    at random, a separate Sessions, or None for no early stopping; patience, min_delta).
    init: starting probabilities by parameter name (any subset); the rest start at 0.5.
    prior: Beta(a, b) on every probability, None, or "empirical" (L-BFGS only): the qd-keyed
    families' Beta learned by type-II ML, alternated with L-BFGS (gradient/empirical.py); then
    fit.prior is a dict per parameter and settings["learned_prior"] the learned pairs.
    sessions may be the path of a clickfit Parquet log instead: streamed Adam
    (gradient/stream.py; optimizer "adam", validation a fraction or None).
    sources: parameter name -> "table" (default), "linear", "mlp" or an options dict
    (clicklog.network.parse): a function of its keys' features trained end to end
    (gradient/sources.py; from the same seeded weights as em.fit's; no prior on it; its weights
    in settings[f"{name}_network"], its probability of every key in params[name]). The
    examination of PBM, UBM and the vision models (gamma): a function of each impression's rank
    (and column) and Sessions.bias_features (gradient/bias.py; params["examination"] per cell,
    as em.fit's).
    vision (vision models): "per-doc" (a table) or "mlp", the same as sources={"vision": "mlp"}.
    callback: called with each history entry (L-BFGS step or Adam epoch) as it is made (not
    for a streamed fit). Defaults (max_iter, tol: None for the dtype's; Adam's): clicklog.defaults.
    """
    dtype = dtype or DEFAULT_DTYPE.get(optimizer, "float32")
    empirical = priors.is_empirical(prior)
    if empirical and (optimizer != "lbfgs" or not isinstance(sessions, Sessions)):
        raise ValueError("prior='empirical' alternates full-batch L-BFGS with the prior's fit: "
                         "it needs sessions in memory and optimizer='lbfgs'")
    if not isinstance(sessions, Sessions):
        if sources or vision != "per-doc":
            raise ValueError("function sources need the sessions in memory, not a Parquet path")
        if optimizer != "adam":
            raise ValueError(
                "a Parquet log is fitted by streamed minibatch Adam: pass optimizer='adam' "
                "(L-BFGS needs the sessions in memory)"
            )
        # gradient.stream builds on this module, so it can only be imported once this one is.
        from gradient.stream import fit_parquet

        return fit_parquet(
            model, sessions, prior=prior, learning_rate=learning_rate, batch_size=batch_size,
            epochs=epochs, patience=patience, min_delta=min_delta, validation=validation,
            dtype=dtype, seed=seed, init=init,
        )
    name = resolve(model)
    if dtype not in DEFAULT_TOL:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if sessions.n == 0:
        raise ValueError("cannot fit a click model to no sessions")
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if prior is not None and not empirical:
        prior = (float(prior[0]), float(prior[1]))
    tol = DEFAULT_TOL[dtype] if tol is None else float(tol)
    sources = network.with_vision(name, sources, vision)
    # Examination from bias features (gradient/bias.py); the rest are gradient.sources'.
    examination, sources = cells.split(name, sources)
    start = sources_start(name, sessions, sources, seed, initial_logits(name, sessions, init))
    if examination is not None:
        start[bias.NAME] = bias.start(name, examination, sessions, seed)
    settings: dict = {"optimizer": optimizer, "dtype": dtype}
    specs = {**network.parse_all(name, sources),
             **({bias.NAME: examination} if examination is not None else {})}
    if specs:
        settings["sources"] = {k: spec.describe() for k, spec in specs.items()}
    with precision(dtype):
        theta = jax.tree.map(lambda v: jnp.asarray(v, dtype), start)
        if optimizer == "lbfgs":
            # Identical sessions add identical terms: a full-batch loss needs each row once.
            started = time.perf_counter()
            rows = dedup(sessions)
            data = to_batch(rows, padded_rows(rows.n), dtype)
            dedup_seconds = time.perf_counter() - started
            if empirical:
                result, prior, rounds = gradient_empirical.minimise(
                    theta, data, rows, sessions.n_impressions, name, max_iter, tol,
                    memory_size, callback=callback,
                )
                settings.update(_empirical_settings(name, prior, rounds))
            else:
                result = lbfgs.minimise(
                    theta, data, sessions.n_impressions, name, prior, max_iter, tol,
                    memory_size, callback=callback,
                )
            for entry in result.history:
                entry["seconds"] += dedup_seconds
            settings.update(
                max_iter=max_iter, tol=tol, memory_size=memory_size, distinct_sessions=rows.n
            )
        else:
            rng = np.random.default_rng(seed)
            train, held = adam.split_validation(sessions, validation, rng)
            result = adam.minimise(
                theta, train, held, name, prior, dtype, learning_rate, batch_size, epochs,
                patience, min_delta, rng, callback=callback,
            )
            settings.update(
                learning_rate=learning_rate, batch_size=batch_size, epochs=epochs,
                patience=patience, min_delta=min_delta, seed=seed,
                validation=validation if not isinstance(validation, Sessions) else "sessions",
                train_sessions=train.n, best_epoch=result.best_epoch,
            )
        fitted = jax.tree.map(np.asarray, result.theta)
    if name in catalogue.VISION_MODELS:
        settings["vision"] = vision
    if examination is not None:
        return bias.make_fit(name, fitted, sessions, result, prior, dtype, settings, to_params)
    return make_fit(name, fitted, sessions, result, prior, dtype, settings)


def make_fit(
    name: str,
    fitted: dict,
    sessions: Sessions,
    result: adam.Result | lbfgs.Result,
    prior: Prior,
    dtype: str,
    settings: dict,
) -> Fit:
    """The Fit of fitted logits (and networks) `fitted` on sessions of `sessions`' vocabulary."""
    params = to_params(fitted, sessions, name)
    networks = {k for k, v in fitted.items() if is_network(v)}
    settings.update(describe(fitted))
    return Fit(
        model=name,
        engine="gradient",
        params=params,
        history=result.history,
        prior=prior,
        _click_probs=partial(predict.click_probs, name, params, dtype=dtype),
        _conditional_click_probs=partial(
            predict.conditional_click_probs, name, params, dtype=dtype
        ),
        _relevance=partial(REGISTRY[name].relevance, params),
        _objective=partial(
            predict.objective, name, params, prior=prior, dtype=dtype, free=tuple(networks)
        ),
        compile_seconds=result.compile_seconds,
        converged=result.converged,
        settings=settings,
        vocabulary=FitVocabulary.of(sessions),
    )


def _empirical_settings(name: str, prior: dict, rounds: int) -> dict:
    return {"prior": priors.EMPIRICAL, "empirical_rounds": rounds,
            "learned_prior": {k: list(prior[k]) for k in priors.learned(name) if k in prior}}


def initial_logits(
    model: str, sessions: Sessions, init: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """Starting logits: 0 (probability 0.5) for every parameter entry, or `init` where given."""
    shapes = catalogue.parameter_shapes(model, sessions.K, sessions.n_qd, sessions.n_docs)
    init = init or {}
    unknown = set(init) - set(shapes)
    if unknown:
        raise ValueError(f"init names {sorted(unknown)}; {model} has {sorted(shapes)}")
    start = {}
    for name, shape in shapes.items():
        value = np.asarray(init.get(name, 0.5), np.float64)
        if name in init and value.shape != shape:
            raise ValueError(f"init[{name!r}] has shape {value.shape}, {model} needs {shape}")
        start[name] = np.broadcast_to(logits(value), shape).copy()
    return start

