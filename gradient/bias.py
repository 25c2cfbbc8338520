"""PBM, UBM and the vision family with examination (the vision models' position part gamma) as
a function of per-impression bias features, trained end to end (DESIGN.md section 9; the EM
side is em/bias.py).

The examination entry of the parameter pytree is an `Examination`: a gradient.sources.Network
(so the prior skips it and its weights train with everything else) whose static data also
holds the standardisation of its inputs, the per-column mean and scale over the training log's
cells (clicklog/cells.py), the same as em.sources.Regression's. gradient.sources.tables hands
it the batch's raw bias features (Batch.features under the examination's kind, per session,
gradient/batch.py) and gets back per-session logits: [B, K] for PBM and vPBM, [B, K, K] (rank
r, column j) for UBM and vUBM, which gradient/pbm.py, ubm.py and vision.py read in place of
the table. The network's definition and starting weights are clicklog.network's, shared
with EM.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import catalogue, cells, model_file, network
from clicklog.fit import Fit, FitVocabulary
from clicklog.sessions import Sessions
from gradient import predict
from gradient.batch import chunks
from gradient.logmath import LOGIT_BOUND, probabilities
from gradient.models import REGISTRY
from gradient.objective import log_likelihood
from gradient.sources import Network, is_network, tables

NAME = cells.NAME


@jax.tree_util.register_pytree_node_class
class Examination(Network):
    """The examination function's weights and weight prior (l2; leaves, as
    gradient.sources.Network's) and, as static data, its activation, the training K, whether it
    has a column j and its inputs' standardisation."""

    def __init__(self, weights, activation: str, K: int, by_last: bool,
                 mean: tuple[float, ...], scale: tuple[float, ...], l2=0.0) -> None:
        super().__init__(weights, activation, l2)
        self.K, self.by_last, self.mean, self.scale = K, by_last, mean, scale

    def tree_flatten(self):
        return (self.weights, self.l2), (self.activation, self.K, self.by_last, self.mean,
                                         self.scale)

    @classmethod
    def tree_unflatten(cls, static, children):
        return cls(children[0], *static, l2=children[1])

    def inputs(self, bias, xp=jnp):
        """Standardised network inputs of every impression (and UBM column): bias [B, K', Bf]
        -> [B, K', F] (PBM) or [B, K', K', F] (UBM), K' <= K the batch's ranks."""
        n, k_here, _ = bias.shape
        eye = xp.eye(self.K, dtype=bias.dtype)[:k_here]
        if self.by_last:
            shape = (n, k_here, k_here)
            parts = [xp.broadcast_to(eye[None, :, None, :], (*shape, self.K)),
                     xp.broadcast_to(eye[None, None, :, :], (*shape, self.K)),
                     xp.broadcast_to(bias[:, :, None, :], (*shape, bias.shape[2]))]
        else:
            parts = [xp.broadcast_to(eye[None], (n, k_here, self.K)), bias]
        x = xp.concatenate(parts, axis=-1)
        return (x - xp.asarray(self.mean, bias.dtype)) / xp.asarray(self.scale, bias.dtype)

    def logits(self, x, xp=jnp):
        """Per-session logits, held inside the probabilities' [EPS, 1 - EPS] as EM's are, by a
        clip that passes the gradient through: a plain clip's zero gradient would leave an
        impression pushed past the bound by a long line-search step stuck there, a plateau
        that L-BFGS takes for an optimum."""
        z = network.logits(self.weights, self.inputs(x, xp), self.activation, xp)
        if xp is np:
            return np.clip(z, -LOGIT_BOUND, LOGIT_BOUND)
        return z + jax.lax.stop_gradient(jnp.clip(z, -LOGIT_BOUND, LOGIT_BOUND) - z)


def is_examination(value: object) -> bool:
    return isinstance(value, Examination)


def start(model: str, spec: network.Spec, sessions: Sessions, seed: int) -> Examination:
    """The seeded starting function (every probability 1/2), standardised on the sessions'
    cells as em.sources.Regression is."""
    if spec.target != "soft":
        raise ValueError(f"target={spec.target!r} is an EM M-step option; the gradient engine "
                         f"trains {NAME!r} end to end on the objective")
    found = cells.of(sessions, model, cells.by_last(model))
    scaling = network.Scaling.of(found.features)
    weights = network.initial_weights(found.features.shape[1], seed, spec.hidden)
    return Examination(weights, spec.activation, sessions.K, cells.by_last(model),
                       tuple(map(float, scaling.mean)), tuple(map(float, scaling.scale)),
                       np.float64(spec.l2))


def cell_probabilities(function: Examination, model: str, sessions: Sessions) -> np.ndarray:
    """The function's probability of every cell of `sessions` (em/bias.py's params entry)."""
    found = cells.of(sessions, model, function.by_last, function.K)
    x = (found.features - np.asarray(function.mean)) / np.asarray(function.scale)
    return probabilities(network.logits(function.weights, x, function.activation, np))


def state(theta: dict, source: dict) -> dict:
    """The model file's fields of a fitted pytree (clicklog.model_file): the examination
    function (`source`: its spec, described) and the logits of the tables, which the
    predictors read as they are."""
    function = theta[NAME]
    return {
        model_file.FUNCTION: model_file.function_state(
            source, function.weights, function.K, function.by_last, function.mean,
            function.scale),
        "logits": {k: np.asarray(v, np.float64) for k, v in theta.items() if not is_network(v)},
    }


def _device(theta: dict, dtype: str) -> dict:
    return jax.tree.map(lambda v: jnp.asarray(v, dtype), theta)


@partial(jax.jit, static_argnames=("model",))
def _log_probs(theta, batch, *, model):
    return REGISTRY[model].log_probs(tables(theta, batch.features, model), batch)


_log_likelihood = jax.jit(log_likelihood, static_argnames=("model",))


def _probabilities(model: str, theta: dict, sessions: Sessions, dtype: str,
                   field: str) -> np.ndarray:
    out = np.zeros((sessions.n, sessions.K))
    with predict.precision(dtype):
        device = _device(theta, dtype)
        for part, batch in chunks(sessions, dtype):
            values = getattr(_log_probs(device, batch, model=model), field)
            out[part] = np.exp(np.asarray(values, np.float64)[: part.stop - part.start])
    return np.where(sessions.mask, out, 0.0)


def objective(model: str, theta: dict, params: dict, prior, dtype: str,
              sessions: Sessions, free: Collection[str] = ()) -> float:
    """The shared objective per impression on any sessions: the Beta prior on the tables, the
    networks' weight priors (0 without l2). `free`: parameters that had a function source but
    come as tables (a loaded fit's, gradient/saved.py), which carry no Beta prior either."""
    total = 0.0
    with predict.precision(dtype):
        device = _device(theta, dtype)
        for _, batch in chunks(sessions, dtype):
            total += float(_log_likelihood(device, batch, model=model))
    tabled = {k: v for k, v in params.items() if not is_network(theta[k]) and k not in free}
    weights = sum(float(v.log_prior(np)) for v in theta.values() if is_network(v))
    return (total + catalogue.log_prior(tabled, prior) + weights) / sessions.n_impressions


def make_fit(name: str, fitted: dict, sessions: Sessions, result, prior, dtype: str,
             settings: dict, to_params) -> Fit:
    """gradient.core.make_fit's Fit for a pytree whose examination is a function: params hold
    the probability of every training cell (as em.fit's), the predictors evaluate the
    function on any sessions' bias features. to_params: gradient.sources.to_params."""
    function = fitted[NAME]
    params = to_params({k: v for k, v in fitted.items() if k != NAME}, sessions, name)
    params[NAME] = cell_probabilities(function, name, sessions)
    theta = fitted
    settings.update({f"{k}_network": dict(v.weights) for k, v in fitted.items() if is_network(v)})
    return Fit(
        model=name,
        engine="gradient",
        params=params,
        history=result.history,
        prior=prior,
        _click_probs=partial(_probabilities, name, theta, dtype=dtype, field="unconditional"),
        _conditional_click_probs=partial(_probabilities, name, theta, dtype=dtype,
                                         field="click"),
        _relevance=partial(REGISTRY[name].relevance, params),
        _objective=model_file.Objective(partial(objective, name, theta, params, prior, dtype),
                                        state(theta, settings["sources"][NAME])),
        compile_seconds=result.compile_seconds,
        converged=result.converged,
        settings=settings,
        vocabulary=FitVocabulary.of(sessions),
    )
