"""Click probabilities and the shared objective of a model at given parameter probabilities.

`Fit` objects of the gradient engine answer through these functions; they also evaluate any
other parameters with the catalogue's names (an EM fit's, a simulation's truth) the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import catalogue
from clicklog.sessions import Sessions
from gradient.batch import chunks
from gradient.logmath import logits
from gradient.models import REGISTRY, resolve
from gradient.objective import Prior, log_likelihood


def precision(dtype: str):
    """Context in which JAX computes in `dtype`, whatever the global jax_enable_x64 says."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return jax.enable_x64(dtype == "float64")


def click_probs(
    model: str, params: dict[str, np.ndarray], sessions: Sessions, dtype: str = "float64"
) -> np.ndarray:
    """Unconditional P(C_r = 1), float64 [n, K], 0 at padded ranks."""
    return _probabilities(resolve(model), params, sessions, dtype, "unconditional")


def conditional_click_probs(
    model: str, params: dict[str, np.ndarray], sessions: Sessions, dtype: str = "float64"
) -> np.ndarray:
    """P(C_r = 1 | c_<r), float64 [n, K], 0 at padded ranks."""
    return _probabilities(resolve(model), params, sessions, dtype, "click")


def objective(
    model: str,
    params: dict[str, np.ndarray],
    sessions: Sessions,
    prior: Prior,
    dtype: str = "float64",
    free: Collection[str] = (),
) -> float:
    """The shared objective on `sessions`, nats per impression: (weighted log-likelihood of the
    observed clicks + clicklog.catalogue.log_prior(params, prior)) / sessions.n_impressions;
    parameters named in `free` (a network's output) are left out of the prior."""
    model = resolve(model)
    total = 0.0
    with precision(dtype):
        theta = _device_logits(model, params, sessions, dtype)
        for _, batch in chunks(sessions, dtype):
            total += float(_log_likelihood(theta, batch, model=model))
    with_prior = {k: v for k, v in params.items() if k not in free}
    return (total + catalogue.log_prior(with_prior, prior)) / sessions.n_impressions


@partial(jax.jit, static_argnames=("model",))
def _log_probs(theta, batch, *, model):
    return REGISTRY[model].log_probs(theta, batch)


_log_likelihood = jax.jit(log_likelihood, static_argnames=("model",))


def _device_logits(
    model: str, params: dict[str, np.ndarray], sessions: Sessions, dtype: str
) -> dict[str, jax.Array]:
    """Logits on the device, after checking that `params` fit these sessions' vocabulary."""
    wanted = catalogue.parameter_shapes(model, sessions.K, sessions.n_qd, sessions.n_docs)
    shapes = {k: np.shape(v) for k, v in params.items()}
    if wanted != shapes:
        raise ValueError(
            f"these sessions need {model} parameters of shapes {wanted}, got {shapes}: "
            "evaluate on sessions that share the training sessions' vocabulary and K"
        )
    return {k: jnp.asarray(logits(v), dtype) for k, v in params.items()}


def _probabilities(
    model: str, params: dict[str, np.ndarray], sessions: Sessions, dtype: str, field: str
) -> np.ndarray:
    """exp of one LogProbs field as float64 [n, K], 0 at padded ranks."""
    out = np.zeros((sessions.n, sessions.K))
    with precision(dtype):
        theta = _device_logits(model, params, sessions, dtype)
        for part, batch in chunks(sessions, dtype):
            values = getattr(_log_probs(theta, batch, model=model), field)
            out[part] = np.exp(np.asarray(values, np.float64)[: part.stop - part.start])
    return np.where(sessions.mask, out, 0.0)
