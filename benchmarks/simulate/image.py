"""Image-search simulation for the vision-bias models (Xu et al., "Incorporating Vision Bias
into Click Models for Image-oriented Search Engine").

Sessions as `simulate` draws them, with three additions:

- many queries (default n_sessions // 10) with Zipf frequencies, so that with enough sessions
  the query-frequency buckets of the paper's Table 1 (1-10 up to >= 10000 sessions) are all
  populated;
- every document carries a float32 feature vector x_d ~ Normal(0, I_F) (`doc_features`);
- the true vision probability sigma_d is a NONLINEAR function of x_d: a fixed random network
  z_d = w2 . tanh(W1 x_d + b1) (16 hidden units, W1 entries ~ Normal(0, 9 / F), x_d
  standardised per feature), standardised over documents to s_d = sigmoid(1.5 * z_d), then
  scaled by `vision_strength` (v) so that v = 0 means no vision bias at all:
      "-2" models (eq. 4, E~ = g + (1 - g) sigma):  sigma_d = v * s_d          (v = 0: 0)
      "-1" models (eq. 15, E~ = g * sigma):          sigma_d = 1 - v * (1 - s_d)  (v = 0: 1)
  clipped into [1e-6, 1 - 1e-6], the probability range of both engines;
- graded labels 0/1/2 from the attraction (benchmarks.simulate.truth.graded_labels), for MRR.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from benchmarks.simulate.core import Seed, Simulation, seeded_world, simulate_world
from clicklog import catalogue

HIDDEN_UNITS = 16
INPUT_SCALE = 3.0
LOGIT_SCALE = 1.5
PROB_EPS = 1e-6


def vision_from_features(
    features: np.ndarray, model: str, strength: float, rng: np.random.Generator
) -> np.ndarray:
    """sigma_d for every document (module docstring), from a network drawn from `rng`."""
    x = features.astype(np.float64)
    # Standardised columns, so that raw LETOR features in [0, 1] drive the network as much as
    # Normal(0, 1) image features do.
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    n_features = x.shape[1]
    # Pre-activations of standard deviation about 3: the tanh units saturate, so sigma is far
    # from a logistic-linear function of the features.
    w1 = INPUT_SCALE * rng.standard_normal((n_features, HIDDEN_UNITS)) / np.sqrt(n_features)
    b1 = 0.5 * rng.standard_normal(HIDDEN_UNITS)
    w2 = rng.standard_normal(HIDDEN_UNITS) / np.sqrt(HIDDEN_UNITS)
    z = np.tanh(x @ w1 + b1) @ w2
    z = (z - z.mean()) / max(float(z.std()), 1e-12)
    s = 1.0 / (1.0 + np.exp(-LOGIT_SCALE * z))
    sigma = strength * s if model.endswith("-2") else 1.0 - strength * (1.0 - s)
    return np.clip(sigma, PROB_EPS, 1.0 - PROB_EPS)


def simulate_image_search(
    model: str,
    n_sessions: int,
    seed: Seed,
    *,
    n_features: int = 8,
    vision_strength: float = 1.0,
    n_queries: int | None = None,
    params: dict | None = None,
    **world_options,
) -> Simulation:
    """Sessions of a vision model (vpbm-1, vpbm-2, vubm-1, vubm-2) on an image-search world.

    `world_options` are `simulate`'s world options (K, pool_size, zipf_exponent, n_docs,
    min_length, ranking_noise, ranker_noise). `params` overrides as in `simulate`, `vision`
    included. The same seed gives the same world, features and network whatever the
    strength, so a run with vision_strength=0 is the matched control.
    """
    model = catalogue.base_model(model)
    if model not in catalogue.VISION_MODELS:
        raise ValueError(f"image search simulates the vision models "
                         f"{', '.join(catalogue.VISION_MODELS)}, not {model!r}")
    if not 0.0 <= vision_strength <= 1.0:
        raise ValueError(f"vision_strength must lie in [0, 1], got {vision_strength}")
    n_queries = max(10, n_sessions // 10) if n_queries is None else n_queries
    world, rng, session_seq = seeded_world(seed, n_queries=n_queries, **world_options)
    features = rng.standard_normal((world.n_docs, n_features)).astype(np.float32)
    vision = vision_from_features(features, model, vision_strength, rng)
    world = replace(world, doc_features=features)
    return simulate_world(
        model, world, n_sessions, rng, session_seq, {"vision": vision, **(params or {})}
    )
