"""The EM loop shared by every model: initialise, E-step, MAP M-step, track the objective.

The objective is the one both engines maximise (DESIGN.md section 3):

    J(theta) = sum_i w_i log P(c_i | theta) + log_prior(theta),

reported per impression (divided by the weighted number of real ranks). Each E-step returns,
per parameter, expected successes S1 and trials T of its Bernoulli complete-data draws, and
the M-step is the Beta-Bernoulli MAP update

    theta = (S1 + a - 1) / (T + a + b - 2),

(a = b = 1 without a prior), clipped to [1e-6, 1 - 1e-6]; an entry without trials (T = 0)
takes the prior's mode. EM never decreases J; the loop (em/loop.py) stops when J changes by
less than `tol` per impression or after `max_iter` iterations. history[i] holds the objective
after iteration i + 1 and the seconds since the fit started, Numba compilation excluded: that
is timed separately (compile_seconds) by running every kernel once on a single session first.
With prior="empirical" the prior is itself fitted (em/empirical.py; clicklog.priors defines
the objective, normalising constants included, and which families are learned).
`accelerate=True` runs the same steps under Anderson acceleration (em/anderson.py; or
accelerate="squarem", em/squarem.py): the same optimum in fewer E-steps. A Parquet path
instead of Sessions is fitted by streaming (em/stream.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from functools import partial

import numpy as np

from clicklog import catalogue, defaults, network, priors
from clicklog.fit import Callback, Fit, FitVocabulary
from clicklog.sessions import Sessions
from em import bias, ccm, cm, ctr, dbn, dcm, fused, pbm, ubm
from em.anderson import iterate_anderson
from em.empirical import alternate
from em.layout import layout
from em.loop import Run, Steps, iterate
from em.model import Hidden, Model, Params, Stats
from em.sources import log_prior as weight_log_prior
from em.sources import regressions as function_sources
from em.sources import warm_up
from em.squarem import iterate_squarem
from em.vision import VISION_MODELS

EPS = 1e-6

# A prior as the engine applies it: one pair for every parameter, none, or (a fitted
# empirical prior) a pair per parameter name.
Prior = tuple[float, float] | Mapping[str, tuple[float, float]] | None

MODELS: dict[str, Model] = {
    "gctr": ctr.GCTR,
    "rctr": ctr.RCTR,
    "dctr": ctr.DCTR,
    "pbm": pbm.PBM,
    "cm": cm.CM,
    "ubm": ubm.UBM,
    "dcm": dcm.DCM,
    "ccm": ccm.CCM,
    "dbn": dbn.DBN,
    "sdbn": dbn.SDBN,
    "dcm-counting": dcm.DCM_COUNTING,
    "sdbn-counting": dbn.SDBN_COUNTING,
}


def get_model(model: str) -> Model:
    """A model of MODELS or of the vision family (VISION_MODELS, kept apart from MODELS,
    which the ten-model tests and benchmarks iterate over)."""
    name = model.lower()
    spec = MODELS.get(name) or VISION_MODELS.get(name)
    if spec is None:
        known = list(MODELS) + list(VISION_MODELS)
        raise ValueError(f"unknown click model {model!r} for the EM engine; known: {known}")
    return spec


def check_prior(prior: tuple[float, float] | None) -> tuple[float, float] | None:
    """The prior as two floats. Beta(a, b) needs a, b >= 1: below 1 the log prior is convex
    near 0 or 1 and the closed-form M-step would no longer maximise. "empirical" is fitted by
    em.fit on sessions in memory only; every other caller (streamed, distributed EM) gets a
    ValueError saying so."""
    if prior is None:
        return None
    if priors.is_empirical(prior):
        raise ValueError(
            "prior='empirical' is fitted in memory only (em.fit with Sessions): "
            "streamed and distributed EM take a fixed prior (a, b) or None"
        )
    a, b = (float(v) for v in prior)
    if not (1.0 <= a < np.inf and 1.0 <= b < np.inf):
        raise ValueError(f"EM needs prior None or Beta(a, b) with a, b >= 1; got {prior!r}")
    return a, b


def map_update(
    s1: np.ndarray, t: np.ndarray, prior: tuple[float, float] | None
) -> np.ndarray:
    """MAP of a Beta(a, b)-prior Bernoulli probability from S1 successes in T trials (the
    maximiser for a, b >= 1, which check_prior and clicklog.priors.fit_beta guarantee)."""
    a, b = prior if prior is not None else (1.0, 1.0)
    return fused.map_update(s1, t, a, b, catalogue.prior_mode(prior))


def initial_params(
    model: str, sessions: Sessions, init: dict[str, float | np.ndarray] | None = None
) -> Params:
    """Every parameter at 0.5, or at the value `init` gives it (a scalar or a full array)."""
    shapes = catalogue.parameter_shapes(model, sessions.K, sessions.n_qd, sessions.n_docs)
    unknown = set(init or {}) - set(shapes)
    if unknown:
        raise ValueError(f"init names unknown parameters {sorted(unknown)}; known: {list(shapes)}")
    params = {}
    for name, shape in shapes.items():
        value = np.broadcast_to(np.asarray((init or {}).get(name, 0.5), np.float64), shape)
        if not np.all((value >= 0.0) & (value <= 1.0)):
            raise ValueError(f"init of {name!r} must hold probabilities in [0, 1]")
        params[name] = np.clip(value, EPS, 1.0 - EPS)
    return params


def check_compatible(params: Params, sessions: Sessions) -> Sessions:
    """`sessions` if they index inside the fitted parameter arrays, else a ValueError."""
    size = {"attraction": sessions.n_qd, "satisfaction": sessions.n_qd, "vision": sessions.n_docs}
    for name, value in params.items():
        needed = size.get(name, sessions.K if np.ndim(value) else 0)
        if np.ndim(value) and np.shape(value)[0] < needed:
            raise ValueError(
                f"parameter {name!r} has {np.shape(value)[0]} entries but the sessions need "
                f"{needed}: predict with sessions that share the training vocabulary and K"
            )
    return sessions


def _log_prior(params: Params, prior: Prior, free: Collection[str]) -> float:
    """catalogue.log_prior of every parameter but the `free` ones (a network's output); a
    fixed pair as one compiled pass per parameter (em/fused.py); plus the networks' weight
    prior where `free` maps names to em.sources.Regression (0 for names alone)."""
    if prior is None or isinstance(prior, Mapping):
        return weight_log_prior(free) + catalogue.log_prior(
            {k: v for k, v in params.items() if k not in free}, prior)
    return weight_log_prior(free) + sum(
        fused.log_beta(v, *prior) for k, v in params.items() if k not in free)


def objective(
    spec: Model,
    params: Params,
    prior: Prior,
    sessions: Sessions,
    free: Collection[str] = (),
) -> float:
    """Shared objective per impression of `params` on `sessions` (no prior on `free`)."""
    lay = layout(check_compatible(params, sessions))
    _, ll = spec.estep(lay, params)
    return (ll + _log_prior(params, prior, free)) / lay.n_impressions


def _predictor(fn, params: Params):
    return lambda sessions: fn(params, check_compatible(params, sessions))


def compile_kernels(spec: Model, params: Params, sessions: Sessions) -> float:
    """Seconds to compile (or load from Numba's cache) every kernel the model uses."""
    start = time.perf_counter()
    one = sessions.subset(np.arange(1))
    spec.estep(layout(one), params)
    for predict in (spec.conditional, spec.unconditional, spec.relevance):
        predict(params, one)
    return time.perf_counter() - start


def mstep(stats: Stats, prior: Prior, regressions: Mapping = {}) -> Params:
    """Every parameter's MAP update under its prior (one pair for all, or a dict per
    parameter: clicklog.priors.prior_of), or its network's fit for the `regressions` ones."""
    return {
        name: regressions[name](s1, t) if name in regressions
        else map_update(s1, t, priors.prior_of(prior, name))
        for name, (s1, t) in stats.items()
    }


def check_iterations(max_iter: int) -> None:
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")


def run(
    steps: Steps,
    params: Params,
    max_iter: int,
    tol: float,
    closed_form: bool,
    start: float,
    accelerate: str | bool,
) -> Run:
    """Plain EM (em/loop.py) where `accelerate` is False, else the accelerator it names
    (ACCELERATORS)."""
    loop = ACCELERATORS[accelerate] if accelerate else iterate
    return loop(steps, params, max_iter, tol, closed_form, start)


ACCELERATORS = {"anderson": iterate_anderson, "squarem": iterate_squarem}


def accelerator(accelerate: bool | str | None, default: bool) -> str | bool:
    """The name of the accelerator `accelerate` asks for (True: Anderson's), False for plain
    EM; None takes `default`."""
    if accelerate is None:
        accelerate = default
    if accelerate is True:
        return "anderson"
    if accelerate is False or accelerate in ACCELERATORS:
        return accelerate
    raise ValueError(f"accelerate must be True, False or one of {sorted(ACCELERATORS)}, "
                     f"got {accelerate!r}")


def assemble(
    model: str,
    result: Run,
    prior: Prior,
    compile_seconds: float,
    settings: dict,
    free: Collection[str] = (),
    vocabulary: FitVocabulary | None = None,
    spec: Model | None = None,
    objective_of=None,
) -> Fit:
    """The Fit of an EM run: predictors and objective of `model` (or of `spec` with its
    `objective_of`, em/bias.py's) at the run's parameters, in `vocabulary` (the training
    sessions' one)."""
    spec = spec or get_model(model)
    params = result.params
    return Fit(
        model=model.lower(),
        engine="em",
        params=params,
        history=result.history,
        prior=prior,
        _click_probs=_predictor(spec.unconditional, params),
        _conditional_click_probs=_predictor(spec.conditional, params),
        _relevance=_predictor(spec.relevance, params),
        _objective=objective_of or partial(objective, spec, params, prior, free=tuple(free)),
        compile_seconds=compile_seconds,
        converged=result.converged,
        settings={"initial_objective": result.initial, "esteps": result.esteps, **settings},
        vocabulary=vocabulary,
    )


def fit(
    model: str,
    sessions: Sessions | str | os.PathLike,
    prior: tuple[float, float] | str | None = (2.0, 2.0),
    max_iter: int = defaults.MAX_ITER,
    tol: float = defaults.TOL,
    init: dict[str, float | np.ndarray] | None = None,
    vision: str = "per-doc",
    seed: int = 0,
    accelerate: bool | str | None = None,
    sources: Mapping[str, str | Mapping] | None = None,
    callback: Callback | None = None,
) -> Fit:
    """Fit `model` to `sessions` by exact EM on the shared objective; see the module docstring.

    sessions: in memory, or the path of a clickfit Parquet file, fitted by streaming with
    bounded memory (em/stream.py; the vision models need sessions in memory).
    prior: Beta(a, b) on every probability parameter, None for maximum likelihood, or
    "empirical": one Beta per qd-keyed family learned by type-II maximum likelihood, in rounds
    alternating with fixed-prior fits (em/empirical.py, clicklog.priors), in fit.prior as a
    dict per parameter and in settings["learned_prior"]; in memory only (not streamed).
    max_iter then bounds each round's fit (as each L-BFGS run's in gradient.fit).
    tol: stop when the per-impression objective changes by less than this.
    init: starting values by parameter name (default 0.5 everywhere, as the gradient engine).
    sources: parameter name -> "table" (default), "linear", "mlp" or an options dict
    (clicklog.network.parse): a function source is a function of its keys' features fitted
    in every M-step (regression-based EM, em/sources.py; no prior on it; seed: its starting
    weights, in settings[f"{name}_network"] after the fit). The examination of PBM, UBM and
    the vision models (their gamma): a function of each impression's rank (and column) and
    Sessions.bias_features (em/bias.py).
    vision (vision models): "per-doc" (a table) or "mlp", the same as sources={"vision": "mlp"}.
    accelerate: True or "anderson" for Anderson acceleration (em/anderson.py), "squarem" for
    SQUAREM (em/squarem.py), False for plain EM; not with a function source, which is no
    probability table to extrapolate. None (default): Anderson for the rounds of
    prior="empirical" without a function source, plain EM otherwise.
    callback: called with each history entry (iteration, seconds, objective) as it is made.
    Defaults of max_iter and tol: clicklog.defaults, shared with gradient.fit and the CLI.
    """
    if not isinstance(sessions, Sessions):
        if sources or vision != "per-doc":
            raise ValueError("function sources need the sessions in memory, not a Parquet path")
        # em.stream builds on this module, so it can only be imported once this one is.
        from em.stream import fit_parquet

        return fit_parquet(
            model, sessions, prior=prior, max_iter=max_iter, tol=tol, init=init,
            accelerate=accelerate, callback=callback,
        )
    spec = get_model(model)
    empirical = priors.is_empirical(prior)
    prior = None if empirical else check_prior(prior)
    if sessions.n == 0:
        raise ValueError("cannot fit a click model to zero sessions")
    check_iterations(max_iter)
    params = initial_params(spec.parameters, sessions, init)
    sources = network.with_vision(spec.parameters, sources, vision)
    # Examination from bias features keys its own cells (em/bias.py); the rest are em.sources'.
    attached = bias.attach(spec, params, sessions, sources, seed, init)
    spec, params = attached.spec, attached.params
    regressions = {**function_sources(spec.parameters, sessions, attached.sources, seed),
                   **attached.regressions}
    accelerate = accelerator(accelerate, empirical and not regressions)
    if accelerate and regressions:
        raise ValueError("accelerate=True cannot extrapolate a function source; use tables")
    compile_seconds = compile_kernels(spec, params, sessions)
    if regressions:
        # The solvers compile for the keys with trials, which the first E-step shows.
        compile_seconds += warm_up(regressions, spec.estep(layout(sessions), params)[0])

    start = time.perf_counter()
    lay = layout(sessions)
    steps = Steps(
        estep=partial(spec.estep, lay),
        mstep=partial(mstep, prior=prior, regressions=regressions),
        log_prior=partial(_log_prior, prior=prior, free=regressions),
        n_impressions=lay.n_impressions,
        callback=callback,
    )
    closed_form = spec.closed_form and not regressions
    if empirical:
        result, prior, rounds = alternate(
            model, spec, sessions, params, partial(_under, steps, regressions=regressions),
            lambda s, p, n, t: run(s, p, n, t, closed_form, start, accelerate),
            max_iter, tol, tuple(regressions), EPS,
        )
    else:
        result = run(steps, params, max_iter, tol, closed_form, start, accelerate)
    settings = {
        "max_iter": max_iter,
        "tol": tol,
        "init": "0.5" if init is None else sorted(init),
        "accelerate": accelerate,
        "chunks": int(lay.starts.size - 1),
        **({"vision": vision} if spec.parameters in VISION_MODELS else {}),
        **{f"{name}_network": r.weights for name, r in regressions.items()},
        **({"sources": {k: r.spec.describe() for k, r in regressions.items()}}
           if regressions else {}),
        **(_empirical_settings(model, prior, rounds, regressions) if empirical else {}),
    }
    return assemble(model, result, prior, compile_seconds, settings, free=regressions,
                    vocabulary=FitVocabulary.of(sessions), spec=spec,
                    objective_of=attached.objective(result.params, prior, regressions))


def _under(steps: Steps, prior: Prior, regressions: Mapping) -> Steps:
    """`steps` with the MAP M-step and the log prior of `prior` (a round of em/empirical.py)."""
    return replace(steps, mstep=partial(mstep, prior=prior, regressions=regressions),
                   log_prior=partial(_log_prior, prior=prior, free=regressions))


def _empirical_settings(model: str, prior: Prior, rounds: int, free: Collection[str]) -> dict:
    return {"prior": priors.EMPIRICAL, "empirical_rounds": rounds,
            "learned_prior": {name: list(prior[name]) for name in priors.learned(model)
                              if name not in free}}


def posteriors(model: str, params: Params, sessions: Sessions) -> Hidden:
    """Exact E-step posteriors per session and rank, named as in tests/reference.py.

    name -> (P(variable drawn | clicks), P(variable drawn and equal to 1 | clicks)), [n, K].
    """
    hidden, _ = get_model(model).posteriors(params, check_compatible(params, sessions))
    return hidden


def session_loglik(model: str, params: Params, sessions: Sessions) -> np.ndarray:
    """Unweighted log P(clicks) of every session [n] (CM: ranks up to the first click)."""
    _, ll = get_model(model).posteriors(params, check_compatible(params, sessions))
    return ll
