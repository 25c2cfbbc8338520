"""EM for the vision models (em/vision.py) against brute-force enumeration (tests/reference.py),
and the degenerate cases in which they are exactly PBM and UBM.

The pages of tests/vision_pages.py (every click vector, two queries sharing documents), random
parameters: posteriors of every hidden draw ("P" position examination, "V" vision, "E" = E~,
"A" attraction), session likelihoods, click probabilities and weighted, chunked E-step
statistics must equal the enumerated sums to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference
from vision_pages import enumerated, pages, random_params

from clicklog import catalogue, network
from em import engine, sources
from em.layout import layout

MODELS = catalogue.VISION_MODELS
BASE = {"vpbm-1": "pbm", "vpbm-2": "pbm", "vubm-1": "ubm", "vubm-2": "ubm"}


@pytest.mark.parametrize("model", MODELS)
def test_posteriors_likelihood_and_click_probabilities(model):
    """The engine's [n, K] tables equal the enumerated ones entry by entry (0 at padding and
    where a variable is never drawn)."""
    sessions = pages()
    params = random_params(model, sessions, sum(map(ord, model)))
    spec = engine.get_model(model)
    hidden = engine.posteriors(model, params, sessions)
    got = {
        **{name: np.stack(pair) for name, pair in hidden.items()},
        "conditional": spec.conditional(params, sessions),
        "unconditional": spec.unconditional(params, sessions),
    }
    want = {name: np.zeros_like(table) for name, table in got.items()}
    want_ll = np.zeros(sessions.n)
    for i in range(sessions.n):
        paths, clicks, L = enumerated(model, params, sessions, i)
        for (name, r), pair in reference.posteriors(paths, clicks).items():
            want[name][:, i, r] = pair
        want["conditional"][i, :L] = reference.conditional_click_probs(paths, clicks, L)
        want["unconditional"][i, :L] = reference.unconditional_click_probs(paths, L)
        want_ll[i] = np.log(reference.session_likelihood(paths, clicks))
    assert set(got) == set(want) == {"P", "V", "E", "A", "conditional", "unconditional"}
    for name, table in got.items():
        np.testing.assert_allclose(table, want[name], rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(engine.session_loglik(model, params, sessions), want_ll,
                               rtol=1e-9)


def _entry(model, name, r, doc, qd, clicks):
    """(parameter, index) of the reference's draw `name`_r; None for the noted E~."""
    if name == "A":
        return "attraction", qd[r]
    if name == "V":
        return "vision", doc[r]
    if name == "P":
        if model.startswith("vpbm"):
            return "examination", r
        above = [k for k in range(r) if clicks[k]]
        return "examination", (r, above[-1] + 1 if above else 0)
    return None


@pytest.mark.parametrize("model", MODELS)
def test_estep_statistics(model):
    """Expected successes and trials of every parameter entry (vision: per document, summed
    over the pairs that show it), on shuffled, weighted sessions cut into three chunks."""
    sessions = pages(np.random.default_rng(3))
    params = random_params(model, sessions, 4)
    expected = {name: (np.zeros_like(v), np.zeros_like(v)) for name, v in params.items()}
    want_ll = 0.0
    for i in range(sessions.n):
        paths, clicks, _ = enumerated(model, params, sessions, i)
        w = float(sessions.weight[i])
        want_ll += w * np.log(reference.session_likelihood(paths, clicks))
        # Which entry a draw uses depends on the observed clicks only, so each variable's
        # posterior adds its expected trials and successes to one entry.
        for (name, r), (drawn, one) in reference.posteriors(paths, clicks).items():
            entry = _entry(model, name, r, sessions.doc[i], sessions.qd[i], clicks)
            if entry is not None:
                expected[entry[0]][0][entry[1]] += w * one
                expected[entry[0]][1][entry[1]] += w * drawn
    stats, ll = engine.get_model(model).estep(layout(sessions, n_chunks=3), params)
    assert set(stats) == set(params)
    for name, (s1, t) in stats.items():
        np.testing.assert_allclose(s1, expected[name][0], rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(t, expected[name][1], rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ll, want_ll, rtol=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_degenerate_vision_is_the_base_model(model):
    """sigma_d = 0 turns vPBM-2 / vUBM-2 into PBM / UBM exactly (eq. 4: V never fires), and
    sigma_d = 1 does the same for the "-1" models (eq. 15: V always fires): click
    probabilities, likelihoods, the posteriors of P (the base model's E) and A, and the
    attraction and examination statistics, to the last bits."""
    sessions = pages()
    base = BASE[model]
    params = random_params(base, sessions, 5)
    vision = {**params, "vision": np.full(sessions.n_docs, 0.0 if model.endswith("2") else 1.0)}
    ours, theirs = engine.get_model(model), engine.get_model(base)
    for predict in ("conditional", "unconditional", "relevance"):
        np.testing.assert_allclose(
            getattr(ours, predict)(vision, sessions),
            getattr(theirs, predict)(params, sessions), rtol=1e-15, atol=0, err_msg=predict,
        )
    np.testing.assert_allclose(
        engine.session_loglik(model, vision, sessions),
        engine.session_loglik(base, params, sessions), rtol=1e-15,
    )
    ours_hidden = engine.posteriors(model, vision, sessions)
    theirs_hidden = engine.posteriors(base, params, sessions)
    for name, other in (("P", "E"), ("A", "A")):
        np.testing.assert_allclose(ours_hidden[name][1], theirs_hidden[other][1], rtol=1e-14)
    lay = layout(sessions)
    ours_stats, ours_ll = ours.estep(lay, vision)
    theirs_stats, theirs_ll = theirs.estep(lay, params)
    assert ours_ll == pytest.approx(theirs_ll, rel=1e-15)
    for name, (s1, t) in theirs_stats.items():
        np.testing.assert_allclose(ours_stats[name][0], s1, rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(ours_stats[name][1], t, rtol=1e-14)


def test_vision_option_is_checked():
    sessions = pages()
    with pytest.raises(ValueError, match="vision must be one of"):
        engine.fit("vpbm-2", sessions, vision="cnn")
    with pytest.raises(ValueError, match="applies to the vision models"):
        engine.fit("pbm", sessions, vision="mlp")
    with pytest.raises(ValueError, match="document features"):
        engine.fit("vpbm-2", sessions, vision="mlp")


def test_network_mstep():
    """em/sources.py: the gradient of -Q matches central differences; an M-step never lowers
    Q, moves towards the soft targets, and gives every document (those without trials too)
    the network's sigma; the same seed gives the same network."""
    rng = np.random.default_rng(7)
    features = rng.standard_normal((60, 3))
    t = rng.uniform(0.0, 5.0, 60)
    t[:10] = 0.0
    regression = sources.Regression(network.parse("mlp"), features, seed=1)
    x = regression.x
    target = 1.0 / (1.0 + np.exp(-2.0 * x[:, 0]))
    s1 = t * target
    hidden = network.HIDDEN

    def loss(flat):
        value, grad = sources.loss_and_gradient(sources.unpack(flat, 3, hidden), x, s1, t)
        return value, sources.pack(grad, hidden)

    start = sources.pack(regression.weights, hidden)
    flat = start + 0.3 * rng.standard_normal(start.size)
    value, grad = loss(flat)
    step = 1e-6
    for i in rng.choice(flat.size, 25, replace=False):
        e = np.zeros_like(flat)
        e[i] = step
        numeric = (loss(flat + e)[0] - loss(flat - e)[0]) / (2 * step)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)

    before = loss(start)[0]
    sigma = regression(s1, t)
    after = loss(sources.pack(regression.weights, hidden))[0]
    assert after < before
    assert sigma.shape == (60,) and np.all((sigma > 0) & (sigma < 1))
    assert np.corrcoef(sigma[10:], target[10:])[0, 1] > 0.9
    assert np.corrcoef(sigma[:10], target[:10])[0, 1] > 0.9  # no trials: from features alone
    again = sources.Regression(network.parse("mlp"), features, seed=1)
    np.testing.assert_array_equal(again(s1, t), sigma)
