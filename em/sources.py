"""Regression-based EM: the M-step of a parameter whose source is a function of features.

DESIGN.md section 9. The E-step is unchanged: it gives, per key k of the parameter (a
query-document pair, a document), the weighted expected successes S1_k and trials T_k of the
parameter's Bernoulli draws. For a function p_k = f_w(x_k) of the key's features
(clicklog.network: "linear" or "mlp") the expected complete-data log-likelihood in w is the
soft-target cross-entropy

    Q(w) = sum_k S1_k log f_w(x_k) + (T_k - S1_k) log(1 - f_w(x_k)),

which the M-step raises over w by conjugate gradient, warm-started from the previous M-step's
weights (`steps` iterations at most; the next M-step continues where this one stopped). The new
weights are kept only if Q did not fall, so EM stays monotone (generalised EM; Wang et al.,
WSDM 2018; Xu et al. 2021, section 4.2). No prior on the weights: the Beta prior covers the
tables. Keys without trials (pairs never shown) add nothing to Q and get f_w(x_k) from their
features, which is what a function source is for.

Hard targets (target="hard", the vision paper's Algorithm 1): per key with T_k > 0 the label
y_k = [S1_k / T_k > tau], tau = sum S1 / sum T, fitted with weight T_k. That is no longer Q,
so its steps are not guarded and EM is not monotone under it.

The loss and its gradient are one jitted JAX function (float64), driven by scipy's nonlinear
conjugate gradient, whose Wolfe line search only accepts steps that lower the loss. JAX rather
than Numba because the loss is then written once, as the forward pass of clicklog.network that
the gradient engine trains end to end, and its gradient is exact for any depth and activation
by autodiff; XLA runs each layer as one matrix product over all keys, where the previous
hand-written serial Numba kernel walked the keys one by one (results/features.md has the
speed table). Conjugate gradient rather than L-BFGS-B, whose small threaded BLAS calls cost
more than the work on a busy machine, and rather than optax's L-BFGS inside one jitted loop,
which took seconds to compile per shape. Deterministic: the starting weights come from the
seed, and neither scipy nor XLA's CPU kernels add randomness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from functools import partial
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from clicklog import network
from clicklog.network import Scaling, Spec

# Stop an M-step early once the gradient of the per-trial loss is this small.
GRADIENT_TOL = 1e-10
_TINY = 1e-300


def pack(weights: Mapping[str, np.ndarray], hidden: tuple[int, ...]) -> np.ndarray:
    """The weights as one float64 vector, in clicklog.network.shapes' order."""
    return np.concatenate([np.ravel(weights[name]) for name in network.names(hidden)])


def unpack(flat, n_features: int, hidden: tuple[int, ...], xp: ModuleType = np) -> dict:
    out, at = {}, 0
    for name, shape in network.shapes(n_features, hidden).items():
        size = math.prod(shape)
        out[name] = xp.reshape(flat[at : at + size], shape)
        at += size
    return out


def _loss(weights, x, s1, t, activation: str):
    """-Q(w) / sum T: sum_k T_k softplus(z_k) - S1_k z_k over the total of trials."""
    z = network.logits(weights, x, activation, jnp)
    return jnp.sum(t * jax.nn.softplus(z) - s1 * z) / jnp.maximum(jnp.sum(t), _TINY)


@partial(jax.jit, static_argnames=("hidden", "activation"))
def _value_and_grad(flat, x, s1, t, *, hidden: tuple[int, ...], activation: str):
    def loss(f):
        return _loss(unpack(f, x.shape[1], hidden, jnp), x, s1, t, activation)

    return jax.value_and_grad(loss)(flat)


def solve(
    weights: Mapping[str, np.ndarray],
    x: np.ndarray | jax.Array,
    s1: np.ndarray,
    t: np.ndarray,
    activation: str = "tanh",
    steps: int = network.STEPS,
    guard: bool = True,
) -> tuple[dict[str, np.ndarray], bool]:
    """Up to `steps` conjugate-gradient iterations on -Q from `weights` (module docstring):
    the new weights and whether they were kept (with `guard`, only if -Q did not rise; else
    the old ones are returned).

    x: standardised float64 features [n_keys, F] (numpy, or a float64 JAX array to avoid a
    copy per call); s1, t: per-key counts (hard 0/1 targets: s1 = t * y, guard=False)."""
    n_features = x.shape[1]
    hidden = tuple(weights[f"w{i}"].shape[1] for i in range(1, len(weights) // 2))
    with jax.enable_x64(True):
        args = (jnp.asarray(x, jnp.float64), jnp.asarray(s1, jnp.float64),
                jnp.asarray(t, jnp.float64))

        def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = _value_and_grad(jnp.asarray(flat), *args, hidden=hidden,
                                          activation=activation)
            return float(value), np.asarray(grad)

        start = pack(weights, hidden)
        before = fun(start)[0]
        result = minimize(fun, start, jac=True, method="CG",
                          options={"maxiter": int(steps), "gtol": GRADIENT_TOL})
    keep = bool(result.fun <= before) or not guard
    return (unpack(result.x, n_features, hidden) if keep else dict(weights)), keep


def loss_and_gradient(
    weights: Mapping[str, np.ndarray], x: np.ndarray, s1: np.ndarray, t: np.ndarray,
    activation: str = "tanh",
) -> tuple[float, dict[str, np.ndarray]]:
    """-Q(w) / sum T and its gradient, in float64 (what `solve` descends)."""
    with jax.enable_x64(True):
        device = {k: jnp.asarray(v, jnp.float64) for k, v in weights.items()}
        value, grad = jax.value_and_grad(_loss)(
            device, jnp.asarray(x), jnp.asarray(s1), jnp.asarray(t), activation
        )
        return float(value), {k: np.asarray(v) for k, v in grad.items()}


def hard_targets(s1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """S1 of the hard labels: T_k * [S1_k / T_k > sum S1 / sum T] (module docstring)."""
    total = t.sum()
    tau = s1.sum() / total if total > 0 else 0.5
    ratio = np.divide(s1, t, out=np.zeros_like(s1), where=t > 0)
    return np.where(ratio > tau, t, 0.0)


class Regression:
    """The M-step of one parameter with a function source: call it with the E-step's (S1, T)
    per key; it refits the function (warm start) and returns the probability of every key,
    those without trials included (from their features)."""

    def __init__(self, spec: Spec, features: np.ndarray, seed: int) -> None:
        """features: the raw feature table of the parameter's keys [n_keys, F]."""
        self.spec = spec
        self.scaling = Scaling.of(features)
        self.x = np.ascontiguousarray(self.scaling(features))
        self.weights = network.initial_weights(self.x.shape[1], seed, spec.hidden)
        self._rows = np.ones(0, bool)
        self._device_x = None

    def _features_of(self, rows: np.ndarray) -> jax.Array:
        """The features of the keys with trials, on the device; copied once per set of keys
        (a parameter's trials usually sit on the same keys every iteration)."""
        if not np.array_equal(rows, self._rows):
            self._rows = rows
            with jax.enable_x64(True):
                self._device_x = jnp.asarray(self.x[rows])
        return self._device_x

    def table(self, features: np.ndarray | None = None) -> np.ndarray:
        """Probabilities under the current weights of the fitted keys, or of the keys of
        another feature table (standardised as the fitted one was)."""
        x = self.x if features is None else self.scaling(features)
        return network.probabilities(network.logits(self.weights, x, self.spec.activation))

    def warm_up(self, t: np.ndarray) -> None:
        """Compile the solver for the keys with trials in `t` (with zero counts it returns
        after one evaluation)."""
        rows = np.asarray(t) > 0
        zeros = np.zeros(int(rows.sum()))
        solve(self.weights, self._features_of(rows), zeros, zeros, self.spec.activation, 1)

    def __call__(self, s1: np.ndarray, t: np.ndarray) -> np.ndarray:
        s1 = np.asarray(s1, np.float64)
        t = np.asarray(t, np.float64)
        hard = self.spec.target == "hard"
        if hard:
            s1 = hard_targets(s1, t)
        # Keys without trials add nothing to Q: the solver sees only the others.
        rows = t > 0
        if rows.any():
            self.weights, _ = solve(
                self.weights, self._features_of(rows), s1[rows], t[rows],
                self.spec.activation, self.spec.steps, guard=not hard,
            )
        return self.table()


def regressions(
    model: str, sessions, sources: Mapping | None, seed: int
) -> dict[str, Regression]:
    """The M-step of every parameter of `model` whose source is a function (tables left out),
    each on its keys' features in `sessions`, from the starting weights of `seed`."""
    return {
        name: Regression(spec, network.key_features(sessions, model, name), seed)
        for name, spec in network.parse_all(model, sources).items()
    }


def warm_up(regressions: Mapping[str, Regression], stats: Mapping) -> float:
    """Seconds to compile every regression's solver for the keys with trials in `stats` (an
    E-step's), timed apart from the fit as Numba's compilation is."""
    start = time.perf_counter()
    for name, regression in regressions.items():
        regression.warm_up(stats[name][1])
    return time.perf_counter() - start
