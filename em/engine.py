"""The EM loop shared by every model: initialise, E-step, MAP M-step, track the objective.

The objective is the one both engines maximise (DESIGN.md section 3):

    J(theta) = sum_i w_i log P(c_i | theta) + log_prior(theta),

reported per impression (divided by the weighted number of real ranks). Each E-step returns,
per parameter, expected successes S1 and trials T of its Bernoulli complete-data draws, and
the M-step is the Beta-Bernoulli MAP update

    theta = (S1 + a - 1) / (T + a + b - 2),

(a = b = 1 without a prior), clipped to [1e-6, 1 - 1e-6]; an entry without trials (T = 0)
takes the prior's mode. EM never decreases J; the loop stops when J changes by less than
`tol` per impression or after `max_iter` iterations. history[i] holds the objective after
iteration i + 1 and the seconds since the fit started, Numba compilation excluded: that is
timed separately (compile_seconds) by running every kernel once on a single session first.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from clicklog import catalogue
from clicklog.fit import Fit
from clicklog.sessions import Sessions
from em import ccm, cm, ctr, dbn, dcm, pbm, ubm
from em.layout import layout
from em.model import Hidden, Model, Params

EPS = 1e-6

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
    name = model.lower()
    if name not in MODELS:
        raise ValueError(f"unknown click model {model!r} for the EM engine; known: {list(MODELS)}")
    return MODELS[name]


def check_prior(prior: tuple[float, float] | None) -> tuple[float, float] | None:
    """The prior as two floats. Beta(a, b) needs a, b >= 1: below 1 the log prior is convex
    near 0 or 1 and the closed-form M-step would no longer maximise."""
    if prior is None:
        return None
    a, b = (float(v) for v in prior)
    if not (1.0 <= a < np.inf and 1.0 <= b < np.inf):
        raise ValueError(f"EM needs prior None or Beta(a, b) with a, b >= 1; got {prior!r}")
    return a, b


def map_update(
    s1: np.ndarray, t: np.ndarray, prior: tuple[float, float] | None
) -> np.ndarray:
    """MAP of a Beta(a, b)-prior Bernoulli probability from S1 successes in T trials."""
    a, b = prior if prior is not None else (1.0, 1.0)
    num = np.asarray(s1, np.float64) + (a - 1.0)
    den = np.asarray(t, np.float64) + (a + b - 2.0)
    theta = np.full(np.shape(den), catalogue.prior_mode(prior))
    np.divide(num, den, out=theta, where=(np.asarray(t) > 0) & (den > 0))
    return np.clip(theta, EPS, 1.0 - EPS)


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
    size = {"attraction": sessions.n_qd, "satisfaction": sessions.n_qd}
    for name, value in params.items():
        needed = size.get(name, sessions.K if np.ndim(value) else 0)
        if np.ndim(value) and np.shape(value)[0] < needed:
            raise ValueError(
                f"parameter {name!r} has {np.shape(value)[0]} entries but the sessions need "
                f"{needed}: predict with sessions that share the training vocabulary and K"
            )
    return sessions


def objective(
    spec: Model, params: Params, prior: tuple[float, float] | None, sessions: Sessions
) -> float:
    """Shared objective per impression of `params` on `sessions`."""
    lay = layout(check_compatible(params, sessions))
    _, ll = spec.estep(lay, params)
    return (ll + catalogue.log_prior(params, prior)) / lay.n_impressions


def _predictor(fn, params: Params):
    return lambda sessions: fn(params, check_compatible(params, sessions))


def _compile(spec: Model, params: Params, sessions: Sessions) -> float:
    """Seconds to compile (or load from Numba's cache) every kernel the model uses."""
    start = time.perf_counter()
    one = sessions.subset(np.arange(1))
    spec.estep(layout(one), params)
    for predict in (spec.conditional, spec.unconditional, spec.relevance):
        predict(params, one)
    return time.perf_counter() - start


def fit(
    model: str,
    sessions: Sessions,
    prior: tuple[float, float] | None = (2.0, 2.0),
    max_iter: int = 50,
    tol: float = 1e-7,
    init: dict[str, float | np.ndarray] | None = None,
) -> Fit:
    """Fit `model` to `sessions` by exact EM on the shared objective; see the module docstring.

    prior: Beta(a, b) on every probability parameter, None for maximum likelihood.
    tol: stop when the per-impression objective changes by less than this.
    init: starting values by parameter name (default 0.5 everywhere, as the gradient engine).
    """
    spec = get_model(model)
    prior = check_prior(prior)
    if sessions.n == 0:
        raise ValueError("cannot fit a click model to zero sessions")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    params = initial_params(spec.parameters, sessions, init)
    compile_seconds = _compile(spec, params, sessions)

    start = time.perf_counter()
    lay = layout(sessions)
    stats, ll = spec.estep(lay, params)
    previous = (ll + catalogue.log_prior(params, prior)) / lay.n_impressions
    initial = previous
    history: list[dict] = []
    converged = False
    for iteration in range(1, max_iter + 1):
        params = {name: map_update(s1, t, prior) for name, (s1, t) in stats.items()}
        stats, ll = spec.estep(lay, params)
        value = (ll + catalogue.log_prior(params, prior)) / lay.n_impressions
        history.append(
            {"iteration": iteration, "seconds": time.perf_counter() - start, "objective": value}
        )
        converged = spec.closed_form or abs(value - previous) < tol
        previous = value
        if converged:
            break

    return Fit(
        model=model.lower(),
        engine="em",
        params=params,
        history=history,
        prior=prior,
        _click_probs=_predictor(spec.unconditional, params),
        _conditional_click_probs=_predictor(spec.conditional, params),
        _relevance=_predictor(spec.relevance, params),
        _objective=partial(objective, spec, params, prior),
        compile_seconds=compile_seconds,
        converged=converged,
        settings={
            "max_iter": max_iter,
            "tol": tol,
            "init": "0.5" if init is None else sorted(init),
            "initial_objective": initial,
            "chunks": int(lay.starts.size - 1),
        },
    )


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
