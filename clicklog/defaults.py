"""The fitting defaults every entry point shares (em.fit, gradient.fit, `clickfit fit`).

Defined once here so that a fit from Python and one from the command line stop by the same
rule, and `clickfit fit --help` shows the values the engines use.

    MAX_ITER       EM iterations (E-step + M-step) or L-BFGS steps at most
    TOL            EM: stop once the per-impression objective changes by less than this
                   between two iterations and Aitken's estimate of the gain still to come is
                   below it too (em/loop.py); L-BFGS in float32: the same bound on the change
                   per step (or the largest gradient entry), sqrt(TOL) on the largest gradient
                   with respect to a probability (gradient/lbfgs.py); about float32's
                   resolution at ~0.3 nats per impression
    TOL_FLOAT64    the same rule for the gradient engine in float64, where the objective is
                   resolved far more finely: tight enough for EM/gradient agreement to 1e-4
                   nats per impression
    LEARNING_RATE, BATCH_SIZE, EPOCHS   minibatch Adam, CLAX's published setting
"""

from __future__ import annotations

MAX_ITER = 1000
TOL = 1e-7
TOL_FLOAT64 = 1e-10
LEARNING_RATE = 0.01
BATCH_SIZE = 4096
EPOCHS = 50


def gradient_tol(dtype: str) -> float:
    """The default tolerance of the gradient engine at a precision ("float32" or "float64")."""
    return TOL_FLOAT64 if dtype == "float64" else TOL
