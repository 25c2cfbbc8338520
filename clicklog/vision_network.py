"""The network that maps document features to the vision probability sigma_d, shared by both
engines (regression-based EM in em/mlp.py, end-to-end training in gradient/mlp.py).

Xu et al., "Incorporating Vision Bias into Click Models for Image-oriented Search Engine",
section 4.2: a multilayer perceptron with two hidden layers of 16 and 8 units,

    sigma_d = sigmoid(w3 . tanh(W2^T tanh(W1^T x_d + b1) + b2) + b3),

x_d the document's features standardised per column over all documents (so that raw features
of any scale drive the tanh units alike). tanh rather than ReLU: the objective is then smooth,
which both L-BFGS solvers need. The starting weights are drawn once here from a seed, so that
both engines start from the same network; w3 = 0 and b3 = 0 make every starting sigma_d
exactly 1/2, the starting value of every other parameter.
"""

from __future__ import annotations

import numpy as np

HIDDEN: tuple[int, int] = (16, 8)
NAMES: tuple[str, ...] = ("w1", "b1", "w2", "b2", "w3", "b3")


def standardise(features: np.ndarray) -> np.ndarray:
    """Columns with mean 0 and standard deviation 1 over documents (constant ones: 0), float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"document features must be [n_docs, F], got shape {x.shape}")
    spread = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


def shapes(n_features: int) -> dict[str, tuple[int, ...]]:
    first, second = HIDDEN
    return {
        "w1": (n_features, first),
        "b1": (first,),
        "w2": (first, second),
        "b2": (second,),
        "w3": (second,),
        "b3": (),
    }


def initial_weights(n_features: int, seed: int) -> dict[str, np.ndarray]:
    """Glorot-scaled hidden weights from `seed`, zero biases, zero output layer (sigma = 1/2)."""
    rng = np.random.default_rng(seed)
    first, second = HIDDEN
    return {
        "w1": rng.standard_normal((n_features, first)) / np.sqrt(n_features),
        "b1": np.zeros(first),
        "w2": rng.standard_normal((first, second)) / np.sqrt(first),
        "b2": np.zeros(second),
        "w3": np.zeros(second),
        "b3": np.zeros(()),
    }


def document_features(sessions_features: np.ndarray | None, model: str) -> np.ndarray:
    """The standardised features of a log, or a ValueError naming what is missing."""
    if sessions_features is None:
        raise ValueError(
            f"vision='mlp' fits {model}'s sigma_d from document features, but these sessions "
            "have none (Sessions.doc_features is None); use vision='per-doc'"
        )
    return standardise(sessions_features)
