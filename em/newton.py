"""Newton's method for the M-step of a linear source (logistic regression on soft targets).

The M-step of em/sources.py for a network with no hidden layer minimises the convex loss

    L(w, b) = [sum_k T_k softplus(z_k) - S1_k z_k + (l2 / 2) |w|^2] / sum_k T_k,  z = X w + b,

whose gradient is X^T (T sigmoid(z) - S1) (plus l2 w) and whose Hessian is
X^T diag(T p (1 - p)) X (plus l2 on w). With F features the Hessian is (F + 1) x (F + 1):
a Newton step solves that small system, and from a warm start (the previous M-step's weights)
one or two steps reach the optimum to rounding, where conjugate gradient needed dozens of
passes over the keys. On many keys the Hessian is estimated from a fixed, seeded subsample of
HESSIAN_ROWS keys (subsampled Newton: the step direction is approximate, the gradient and loss
are exact over every key, so the fixed point and the accept/reject test are exact). A step
that does not lower L is halved until it does (the EM guard needs only no increase).

Numba rather than BLAS or JAX: the loss-and-gradient pass and the Hessian are sums over keys,
and a threaded BLAS or XLA splits those sums by thread count, so results would change in the
last bits between 1 and 2 threads (measured: 1.6e-11 with float32 BLAS for the Hessian). Here
keys are summed in fixed chunks of CHUNK, in order, on one thread: the same bits on any thread
count. One thread on purpose: one fused pass reads the features once per evaluation and is
bound by memory, and on this shared 2-core machine a parallel region waits for its slowest
thread (measured under load 11: a 10^6 x 64 pass 0.07 s on one thread, 4.7 s on two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

CHUNK = 4096
HESSIAN_ROWS = 16_384
# Stop when the Newton decrement (predicted decrease of the per-trial loss) is below this.
DECREMENT_TOL = 1e-15
HALVINGS = 30


@numba.njit(cache=True, inline="always")
def _softplus(z: float) -> float:
    return max(z, 0.0) + np.log1p(np.exp(-abs(z)))


@numba.njit(cache=True, inline="always")
def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z)
    return e / (1.0 + e)


# Reassociation lets the per-key dot product vectorise; the order is fixed at compile time.
@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _pass(x, w, b, s1, t):  # pragma: no cover - compiled
    """(sum_k T_k softplus(z_k) - S1_k z_k, its gradient in (w, b)) in fixed-order chunks."""
    n, f = x.shape
    n_chunks = (n + CHUNK - 1) // CHUNK
    losses = np.zeros(n_chunks)
    grads = np.zeros((n_chunks, f + 1))
    for c in range(n_chunks):
        g = np.zeros(f + 1)
        total = 0.0
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            z = b
            for j in range(f):
                z += x[i, j] * w[j]
            total += t[i] * _softplus(z) - s1[i] * z
            r = t[i] * _sigmoid(z) - s1[i]
            for j in range(f):
                g[j] += r * x[i, j]
            g[f] += r
        losses[c] = total
        grads[c] = g
    loss = 0.0
    grad = np.zeros(f + 1)
    for c in range(n_chunks):
        loss += losses[c]
        grad += grads[c]
    return loss, grad


@dataclass(frozen=True)
class Sample:
    """The keys whose curvature estimates the Hessian: all, or a fixed seeded sample of
    HESSIAN_ROWS (features x, rows into them)."""

    x: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> Sample:
        n, f = x.shape
        size = max(HESSIAN_ROWS, 4 * (f + 1) ** 2)
        rows = (np.arange(n) if n <= size
                else np.sort(np.random.default_rng(0).choice(n, size, replace=False)))
        return cls(x, rows)

    def hessian(self, w: np.ndarray, b: float, t: np.ndarray) -> np.ndarray:
        """sum over the sample of T p (1 - p) [x, 1][x, 1]^T, scaled up to all keys."""
        return _hessian(self.x, self.rows, w, b, t) * (t.size / self.rows.size)


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _hessian(x, rows, w, b, t):  # pragma: no cover - compiled
    """sum over `rows` of T p (1 - p) [x, 1][x, 1]^T, in fixed-order chunks."""
    f = x.shape[1]
    m = rows.size
    n_chunks = (m + CHUNK - 1) // CHUNK
    parts = np.zeros((n_chunks, f + 1, f + 1))
    for c in range(n_chunks):
        h = np.zeros((f + 1, f + 1))
        v = np.empty(f + 1)
        for a in range(c * CHUNK, min(m, (c + 1) * CHUNK)):
            i = rows[a]
            z = b
            for j in range(f):
                v[j] = x[i, j]
                z += x[i, j] * w[j]
            v[f] = 1.0
            p = _sigmoid(z)
            curvature = t[i] * p * (1.0 - p)
            # The full square (not the triangle): twice the work, but a loop that vectorises.
            for j in range(f + 1):
                cj = curvature * v[j]
                for k in range(f + 1):
                    h[j, k] += cj * v[k]
        parts[c] = h
    out = np.zeros((f + 1, f + 1))
    for c in range(n_chunks):
        out += parts[c]
    return out


def loss(x, w: np.ndarray, b: float, s1, t, l2: float) -> tuple[float, np.ndarray]:
    """Per-trial loss of the module docstring and its gradient [dw, db]."""
    total, grad = _pass(x, w, b, s1, t)
    trials = max(float(np.sum(t)), 1e-300)
    grad[:-1] += l2 * w
    return (total + 0.5 * l2 * float(w @ w)) / trials, grad / trials


def minimise(
    x: np.ndarray, w: np.ndarray, b: float, s1: np.ndarray, t: np.ndarray, steps: int,
    l2: float = 0.0, sample: Sample | None = None,
) -> tuple[np.ndarray, float, float, float]:
    """Up to `steps` Newton steps on the loss from (w, b): (w, b, loss at the start, loss at
    the end); the end is never above the start. sample: Sample.of(x) if not given."""
    f = x.shape[1]
    sample = Sample.of(x) if sample is None else sample
    trials = max(float(np.sum(t)), 1e-300)
    ridge = np.zeros(f + 1)
    ridge[:f] = l2 / trials
    value, grad = loss(x, w, b, s1, t, l2)
    start = value
    for _ in range(steps):
        h = sample.hessian(w, b, t) / trials + np.diag(ridge)
        # A tiny ridge keeps a column without spread (standardised to 0) from singular H.
        h[np.diag_indices_from(h)] += 1e-12 * max(float(np.trace(h)) / (f + 1), 1e-300)
        direction = np.linalg.solve(h, grad)
        decrement = 0.5 * float(grad @ direction)
        if not decrement > DECREMENT_TOL:
            break
        step = 1.0
        for _ in range(HALVINGS):
            w_new, b_new = w - step * direction[:-1], b - step * direction[-1]
            new_value, new_grad = loss(x, w_new, b_new, s1, t, l2)
            if new_value <= value:
                break
            step *= 0.5
        else:
            break
        w, b, done = w_new, b_new, value - new_value <= DECREMENT_TOL * 1e-3
        value, grad = new_value, new_grad
        if done:
            break
    return w, b, start, value
