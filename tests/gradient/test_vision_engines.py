"""Both engines recover the generating sigma_d of the vision models, per document and through
the feature network on held-out documents. (Their agreement on the shared objective is in
tests/test_agreement.py, with the ten models'.)

Recovery, Beta(2, 2) prior, absolute errors of sigma_d. What the clicks identify: in the "-2"
models the click probability a (g + (1 - g) s) is unchanged by g -> alpha + beta g together
with odds(s) -> beta odds(s) - alpha (and a matching change of a), wherever everything stays
inside [0, 1]; the prior and those bounds pick one point of that family, so recovery is only
approximate, and it is checked where the data is rich (pages of 10 results whose rankings vary
a lot, steep position examination for vPBM). In the "-1" models a * g * s only identifies the
product, sigma_d not at all, so they have no recovery test.

- per document (vision="per-doc"; 20,000 sessions on 40 documents, >= 2,000 impressions
  each): mean error <= 0.08, max <= 0.25, Pearson correlation with the truth >= 0.97;
- network (vision="mlp"; 20,000 sessions, 1,500 documents with 4 features, about half never
  shown in training): on the never-shown documents, whose sigma_d comes from their features
  alone, mean error <= 0.15 and correlation >= 0.9.
"""

from __future__ import annotations

import numpy as np
import pytest

import em
import gradient
from benchmarks.simulate import simulate_image_search

PRIOR = (2.0, 2.0)
K = 10
STEEP = {"examination": 0.95 * (np.arange(K) + 1.0) ** -1.5}


def _fit(engine: str, model: str, sessions, vision: str = "per-doc"):
    if engine == "em":
        # The network's M-steps cost more than an E-step; 60 rounds suffice for recovery.
        max_iter = 60 if vision == "mlp" else 3_000
        return em.fit(model, sessions, prior=PRIOR, max_iter=max_iter, tol=1e-7, vision=vision)
    return gradient.fit(model, sessions, prior=PRIOR, vision=vision)


@pytest.fixture(scope="module", params=["vpbm-2", "vubm-2"])
def rich_log(request):
    model = request.param
    sim = simulate_image_search(model, 20_000, 5, n_queries=10, n_docs=40, K=K,
                                ranking_noise=3.0, params=STEEP if "pbm" in model else None)
    return sim


@pytest.mark.parametrize("engine", ["em", "gradient"])
def test_per_document_recovery(rich_log, engine):
    sessions, true = rich_log.sessions, rich_log.truth["vision"]
    impressions = np.bincount(sessions.doc[sessions.mask], minlength=sessions.n_docs)
    rich = impressions >= 2_000
    assert rich.sum() >= 30
    fitted = _fit(engine, rich_log.model, sessions).params["vision"][rich]
    error = np.abs(fitted - true[rich])
    assert error.mean() <= 0.08 and error.max() <= 0.25, (error.mean(), error.max())
    assert np.corrcoef(fitted, true[rich])[0, 1] >= 0.97


@pytest.fixture(scope="module")
def feature_log():
    return simulate_image_search("vpbm-2", 20_000, 5, n_queries=50, n_docs=1_500, K=K,
                                 ranking_noise=3.0, n_features=4, params=STEEP)


@pytest.mark.parametrize("engine", ["em", "gradient"])
def test_network_recovers_sigma_of_unseen_documents(feature_log, engine):
    sessions, true = feature_log.sessions, feature_log.truth["vision"]
    unseen = np.bincount(sessions.doc[sessions.mask], minlength=sessions.n_docs) == 0
    assert unseen.sum() >= 500
    fit = _fit(engine, "vpbm-2", sessions, vision="mlp")
    fitted = fit.params["vision"][unseen]
    error = np.abs(fitted - true[unseen])
    assert error.mean() <= 0.15, error.mean()
    assert np.corrcoef(fitted, true[unseen])[0, 1] >= 0.9
    if engine == "em":
        objective = [fit.settings["initial_objective"]] + [h["objective"] for h in fit.history]
        assert np.all(np.diff(objective) >= -1e-12), "generalised EM must never go down"
