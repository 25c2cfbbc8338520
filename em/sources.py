"""Regression-based EM: the M-step of a parameter whose source is a function of features.

DESIGN.md section 9. The E-step is unchanged: it gives, per key k of the parameter (a
query-document pair, a document), the weighted expected successes S1_k and trials T_k of the
parameter's Bernoulli draws. For a function p_k = f_w(x_k) of the key's features
(clicklog.network: "linear" or "mlp") the expected complete-data log-posterior in w is the
soft-target cross-entropy plus the weights' Gaussian prior (l2; 0 by default, no prior)

    Q(w) = sum_k S1_k log f_w(x_k) + (T_k - S1_k) log(1 - f_w(x_k)) - (l2 / 2) |w|^2,

which the M-step raises over w, warm-started from the previous M-step's weights (`steps`
solver iterations at most). The new weights are kept only if Q did not fall, so EM stays
monotone (generalised EM; Wang et al., WSDM 2018; Xu et al. 2021, section 4.2): an M-step
needs an improvement, not the optimum. Keys without trials (pairs never shown) add nothing to
Q and get f_w(x_k) from their features, which is what a function source is for.

Solvers, by the shape of the problem:
- linear: Newton steps (em/newton.py; Numba on one thread, the same bits on any thread
  count). The loss is convex with an (F + 1)-square Hessian, so from a warm start one or two
  steps reach the M-step's optimum, at about two passes over the keys each.
- mlp: L-BFGS on a jitted JAX value-and-grad (float64), with a backtracking Armijo line
  search (usually one evaluation per iteration, where scipy's conjugate gradient spent two or
  three), restarted every M-step. (Keeping the curvature memory across M-steps optimised
  further still, but on the vision recovery test, with no prior on the weights, it followed
  the likelihood's ridge into worse held-out sigma: 0.155 vs 0.137 mean error.) JAX rather
  than Numba for the network: the loss is written once, as clicklog.network's forward pass
  that the gradient engine trains end to end, its gradient is exact for any depth and
  activation by autodiff, and XLA runs each layer as one matrix product over all keys. It is
  compiled once per shape (warm_up), never per M-step.

Hard targets (target="hard", the vision paper's Algorithm 1): per key with T_k > 0 the label
y_k = [S1_k / T_k > tau], tau = sum S1 / sum T, fitted with weight T_k. That is no longer Q,
so its steps are not guarded and EM is not monotone under it. Deterministic: the starting
weights come from the seed, the solvers draw nothing at random (the Newton Hessian's subsample
is fixed), and neither Numba's fixed chunks nor XLA's CPU kernels add randomness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import network
from clicklog.network import Scaling, Spec
from em import newton

# Stop an M-step early once the gradient of the per-trial loss is this small.
GRADIENT_TOL = 1e-10
# L-BFGS: curvature pairs kept, Armijo constant, halvings before giving up on a direction.
MEMORY = 10
ARMIJO = 1e-4
HALVINGS = 30
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


def _loss(weights, x, s1, t, activation: str, l2):
    """-Q(w) / sum T: [sum_k T_k softplus(z_k) - S1_k z_k + (l2 / 2) |w|^2] / sum T."""
    z = network.logits(weights, x, activation, jnp)
    penalty = -network.weight_log_prior(weights, l2, jnp)
    return (jnp.sum(t * jax.nn.softplus(z) - s1 * z) + penalty) / jnp.maximum(jnp.sum(t), _TINY)


@partial(jax.jit, static_argnames=("hidden", "activation"))
def _value_and_grad(flat, x, s1, t, l2, *, hidden: tuple[int, ...], activation: str):
    def loss(f):
        return _loss(unpack(f, x.shape[1], hidden, jnp), x, s1, t, activation, l2)

    return jax.value_and_grad(loss)(flat)


@partial(jax.jit, static_argnames=("activation",))
def _logits(weights, x, activation: str):
    return network.logits(weights, x, activation, jnp)


def logits(weights: Mapping[str, np.ndarray], x, activation: str = "tanh") -> np.ndarray:
    """The network's logits of the rows of standardised features x (numpy or a float64 JAX
    array), in float64, by XLA. Not numpy: its product of x [n_keys, F] with the first layer
    goes to a multithreaded BLAS, which on a machine whose cores are busy takes tens of times
    as long as one thread would, and every M-step evaluates the network on all keys."""
    with jax.enable_x64(True):
        device = {k: jnp.asarray(v, jnp.float64) for k, v in weights.items()}
        return np.asarray(_logits(device, jnp.asarray(x, jnp.float64), activation))


@dataclass
class Memory:
    """L-BFGS curvature pairs (s, y), newest last."""

    s: list = field(default_factory=list)
    y: list = field(default_factory=list)

    def direction(self, grad: np.ndarray) -> np.ndarray:
        """-H grad by the two-loop recursion (scaled steepest descent without pairs)."""
        if not self.s:
            return -grad / max(1.0, float(np.max(np.abs(grad))) * 10.0)
        q = grad.copy()
        alphas = []
        for s, y in zip(reversed(self.s), reversed(self.y), strict=True):
            alpha = (s @ q) / (y @ s)
            q -= alpha * y
            alphas.append(alpha)
        q *= (self.s[-1] @ self.y[-1]) / (self.y[-1] @ self.y[-1])
        for (s, y), alpha in zip(zip(self.s, self.y, strict=True), reversed(alphas),
                                 strict=True):
            q += (alpha - (y @ q) / (y @ s)) * s
        return -q

    def add(self, s: np.ndarray, y: np.ndarray) -> None:
        if s @ y > 1e-12 * float(np.linalg.norm(s)) * float(np.linalg.norm(y)):
            self.s, self.y = [*self.s, s][-MEMORY:], [*self.y, y][-MEMORY:]


def lbfgs(fun, start: np.ndarray, steps: int, memory: Memory) -> tuple[np.ndarray, float, float]:
    """Up to `steps` L-BFGS iterations on fun (flat -> (value, grad)) from `start`, updating
    `memory`: (end, value at start, value at end), the end never above the start."""
    flat, (value, grad) = start, fun(start)
    first = value
    for _ in range(steps):
        if float(np.max(np.abs(grad))) <= GRADIENT_TOL:
            break
        direction = memory.direction(grad)
        slope = float(grad @ direction)
        if not slope < 0.0:
            memory.s, memory.y = [], []
            direction = memory.direction(grad)
            slope = float(grad @ direction)
        step = 1.0
        for _ in range(HALVINGS):
            candidate = flat + step * direction
            new_value, new_grad = fun(candidate)
            if new_value <= value + ARMIJO * step * slope:
                break
            step *= 0.5
        else:
            memory.s, memory.y = [], []
            break
        memory.add(candidate - flat, new_grad - grad)
        flat, value, grad = candidate, new_value, new_grad
    return flat, first, value


def solve(
    weights: Mapping[str, np.ndarray],
    x: np.ndarray | jax.Array,
    s1: np.ndarray,
    t: np.ndarray,
    activation: str = "tanh",
    steps: int = network.STEPS,
    guard: bool = True,
    l2: float = 0.0,
    sample: newton.Sample | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """Up to `steps` solver iterations on -Q from `weights` (module docstring): the new weights
    and whether they were kept (with `guard`, only if -Q did not rise; else the old ones are
    returned). Newton for a linear network, L-BFGS otherwise.

    x: standardised float64 features [n_keys, F] (numpy; a float64 JAX array for the MLP to
    avoid a copy per call); s1, t: per-key counts (hard 0/1 targets: s1 = t * y, guard=False);
    sample: the linear Hessian's keys (em.newton.Sample.of(x) if not given)."""
    n_features = x.shape[1]
    hidden = tuple(weights[f"w{i}"].shape[1] for i in range(1, len(weights) // 2))
    s1, t = np.asarray(s1, np.float64), np.asarray(t, np.float64)
    if not hidden:
        w, b, before, after = newton.minimise(
            np.asarray(x, np.float64), np.asarray(weights["w1"], np.float64),
            float(weights["b1"]), s1, t, int(steps), l2, sample)
        new = {"w1": w, "b1": np.asarray(b)}
    else:
        with jax.enable_x64(True):
            args = (jnp.asarray(x, jnp.float64), jnp.asarray(s1), jnp.asarray(t),
                    jnp.asarray(l2, jnp.float64))

            def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
                value, grad = _value_and_grad(jnp.asarray(flat), *args, hidden=hidden,
                                              activation=activation)
                return float(value), np.asarray(grad)

            end, before, after = lbfgs(fun, pack(weights, hidden), int(steps), Memory())
        new = unpack(end, n_features, hidden)
    keep = bool(after <= before) or not guard
    return (new if keep else dict(weights)), keep


def loss_and_gradient(
    weights: Mapping[str, np.ndarray], x: np.ndarray, s1: np.ndarray, t: np.ndarray,
    activation: str = "tanh", l2: float = 0.0,
) -> tuple[float, dict[str, np.ndarray]]:
    """-Q(w) / sum T and its gradient, in float64 (what `solve` descends)."""
    with jax.enable_x64(True):
        device = {k: jnp.asarray(v, jnp.float64) for k, v in weights.items()}
        value, grad = jax.value_and_grad(_loss)(
            device, jnp.asarray(x), jnp.asarray(s1), jnp.asarray(t), activation, l2
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
        self._solver_x = None
        self._sample = None
        self._device_x = None

    def _features_of(self, rows: np.ndarray):
        """The features of the keys with trials (on the device for an MLP); copied once per set
        of keys (a parameter's trials usually sit on the same keys every iteration)."""
        if not np.array_equal(rows, self._rows):
            self._rows = rows
            x = np.ascontiguousarray(self.x[rows])
            if self.spec.hidden:
                with jax.enable_x64(True):
                    x = jnp.asarray(x)
            else:
                self._sample = newton.Sample.of(x)
            self._solver_x = x
        return self._solver_x

    def table(self, features: np.ndarray | None = None) -> np.ndarray:
        """Probabilities under the current weights of the fitted keys, or of the keys of
        another feature table (standardised as the fitted one was)."""
        if features is not None:
            # Predictions in numpy, as a saved fit's (em/saved.py), so a loaded fit matches
            # the fit bit for bit; the fitted keys, every M-step, by XLA (`logits`).
            x = self.scaling(features)
            return network.probabilities(network.logits(self.weights, x, self.spec.activation))
        if self._device_x is None:
            with jax.enable_x64(True):
                self._device_x = jnp.asarray(self.x)
        return network.probabilities(logits(self.weights, self._device_x, self.spec.activation))

    def log_prior(self) -> float:
        """The weights' Gaussian log-prior -(l2 / 2) |w|^2 (0 without l2), part of the EM
        objective (em.engine)."""
        return float(network.weight_log_prior(self.weights, self.spec.l2))

    def warm_up(self, t: np.ndarray) -> None:
        """Compile the solver for the keys with trials in `t` (with zero counts it returns
        after one evaluation) and the network's evaluation on every key."""
        rows = np.asarray(t) > 0
        zeros = np.zeros(int(rows.sum()))
        # l2 is traced, not compiled in; with zero trials a prior would dwarf the loss.
        solve(self.weights, self._features_of(rows), zeros, zeros, self.spec.activation, 1,
              sample=self._sample)
        self.table()

    def __call__(self, s1: np.ndarray, t: np.ndarray) -> np.ndarray:
        s1 = np.asarray(s1, np.float64)
        t = np.asarray(t, np.float64)
        hard = self.spec.target == "hard"
        if hard:
            s1 = hard_targets(s1, t)
        # Keys without trials add nothing to Q: the solver sees only the others.
        rows = t > 0
        if rows.any():
            x = self._features_of(rows)
            self.weights, _ = solve(
                self.weights, x, s1[rows], t[rows], self.spec.activation, self.spec.steps,
                guard=not hard, l2=self.spec.l2, sample=self._sample,
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


def log_prior(free: Mapping | object) -> float:
    """The weights' log-prior summed over the Regressions among `free`'s values (names alone,
    as a saved fit has them, give 0): em.engine adds it to the objective."""
    values = free.values() if isinstance(free, Mapping) else ()
    return sum(r.log_prior() for r in values if isinstance(r, Regression))
