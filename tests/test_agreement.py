"""EM and gradient descent optimise one objective: on the same simulated log, with the same
Beta(2, 2) prior and the same start (every probability 0.5), both engines must reach the same
optimum, for every one of the ten models and the four vision models (on image-search logs).

Tolerances (DESIGN.md section 3): final objectives within 1e-4 nats per impression, and
conditional click probabilities on held-out sessions within 1e-3 mean absolute difference.
Both engines are run to tight convergence (EM to 1e-10 per impression, L-BFGS in float64),
which in practice puts them about 1e-9 and 1e-5 apart.
"""

from __future__ import annotations

import numpy as np
import pytest

import em
import gradient
from benchmarks.simulate import sample_sessions, simulate, simulate_image_search

PRIOR = (2.0, 2.0)


@pytest.mark.parametrize("model", gradient.MODELS + gradient.VISION_MODELS)
def test_em_and_gradient_agree(model):
    draw = simulate_image_search if model in gradient.VISION_MODELS else simulate
    sim = draw(model, 4_000, 1, K=5, n_queries=8, pool_size=7, min_length=3)
    held_out = sample_sessions(sim, 1_000, 2)
    by_em = em.fit(model, sim.sessions, prior=PRIOR, max_iter=3_000, tol=1e-10)
    by_gradient = gradient.fit(model, sim.sessions, prior=PRIOR, dtype="float64")
    assert by_em.converged and by_gradient.converged

    objective_em = by_em.objective(sim.sessions)
    objective_gradient = by_gradient.objective(sim.sessions)
    assert objective_gradient == pytest.approx(objective_em, abs=1e-4)
    assert by_gradient.history[-1]["objective"] == pytest.approx(objective_gradient, abs=1e-9)

    cond_em = by_em.conditional_click_probs(held_out)
    cond_gradient = by_gradient.conditional_click_probs(held_out)
    assert np.abs(cond_em - cond_gradient)[held_out.mask].mean() < 1e-3
