"""Simulators against the brute-force reference (tests/reference.py) and their contracts.

The central check: for every model, the empirical click rate at each rank, and the frequency of
each whole click pattern, match the exact probabilities that enumerating the model's
generative program gives for the pages actually shown, within 4 standard errors (patterns
with an expected count under 5 are pooled into one cell; a pattern of probability 0 must never
occur). Two deliberately wrong truths show that the check rejects a mis-specified sampler.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from reference import (
    click_distribution,
    enumerate_session,
    session_params,
    unconditional_click_probs,
)

from benchmarks.simulate import (
    read_letor,
    sample_sessions,
    simulate,
    simulate_from_letor,
    simulate_image_search,
)
from benchmarks.simulate.world import zipf_probabilities
from clicklog import catalogue
from clicklog.io_report import FormatError

ALL_MODELS = catalogue.MODELS + catalogue.VISION_MODELS
SMALL = {"n_queries": 2, "K": 4, "pool_size": 4, "min_length": 3}
N_SMALL = 20_000
Z_LIMIT = 4.0


def worst_z(sim, truth=None) -> float:
    """Largest |z| over per-rank click counts and pooled click-pattern counts (module doc);
    infinity if a pattern of probability 0 occurs."""
    s, K = sim.sessions, sim.sessions.K
    truth = sim.truth if truth is None else truth
    rows, count = np.unique(s.qd, axis=0, return_counts=True)
    rank_mean, rank_var = np.zeros(K), np.zeros(K)
    pattern_mean: dict[tuple, float] = {}
    pattern_var: dict[tuple, float] = {}
    for row, n in zip(rows, count, strict=True):
        L = int((row >= 0).sum())
        qd = row[:L]
        paths = enumerate_session(
            sim.model, session_params(sim.model, truth, qd, s.qd_doc[qd]), L
        )
        for clicks, p in click_distribution(paths).items():
            key = (L, clicks)
            pattern_mean[key] = pattern_mean.get(key, 0.0) + n * p
            pattern_var[key] = pattern_var.get(key, 0.0) + n * p * (1 - p)
        p_rank = unconditional_click_probs(paths, L)
        rank_mean[:L] += n * p_rank
        rank_var[:L] += n * p_rank * (1 - p_rank)
    z = list((s.click.sum(axis=0) - rank_mean) / np.sqrt(np.maximum(rank_var, 1e-300)))
    observed: dict[tuple, int] = {}
    for length, clicks in zip(s.length, s.click, strict=True):
        key = (int(length), tuple(int(c) for c in clicks[:length]))
        observed[key] = observed.get(key, 0) + 1
    if any(pattern_mean.get(key, 0.0) == 0.0 for key in observed):
        return np.inf
    rare = [key for key, mean in pattern_mean.items() if mean < 5]
    cells = [[key] for key in pattern_mean if key not in rare] + [rare]
    for cell in cells:
        mean = sum(pattern_mean[key] for key in cell)
        var = sum(pattern_var[key] for key in cell)
        if var > 0:
            z.append((sum(observed.get(key, 0) for key in cell) - mean) / np.sqrt(var))
    return float(np.max(np.abs(z)))


@pytest.mark.parametrize("model", ALL_MODELS)
def test_click_rates_and_patterns_match_reference(model):
    sim = simulate(model, N_SMALL, seed=11, **SMALL)
    assert worst_z(sim) < Z_LIMIT


@pytest.mark.parametrize(
    ("model", "wrong"),
    [
        ("dbn", lambda t: {**t, "continuation": np.asarray(1.0)}),
        # UBM with j = last clicked rank instead of last clicked rank + 1.
        ("ubm", lambda t: {**t, "examination": t["examination"][:, [1, 2, 3, 3]]}),
    ],
)
def test_reference_check_rejects_a_wrong_model(model, wrong):
    sim = simulate(model, N_SMALL, seed=11, **SMALL)
    assert worst_z(sim, wrong(sim.truth)) > 2 * Z_LIMIT


@pytest.mark.parametrize("model", ALL_MODELS)
def test_truth_has_catalogue_names_and_shapes(model):
    sim = simulate(model, 10, seed=1, n_queries=7, K=5)
    s = sim.sessions
    shapes = catalogue.parameter_shapes(model, s.K, s.n_qd, s.n_docs)
    assert {k: v.shape for k, v in sim.truth.items()} == shapes
    for value in sim.truth.values():
        assert np.all((value > 0) & (value < 1))
    assert s.n_qd == 7 * 10  # every (query, pool document) pair, pool = 2K


def test_default_truth_has_its_documented_form():
    K = 5
    pbm = simulate("pbm", 10, seed=2, K=K).truth
    ubm = simulate("ubm", 10, seed=2, K=K).truth["examination"]
    dcm = simulate("dcm", 10, seed=2, K=K).truth["continuation"]
    np.testing.assert_allclose(pbm["examination"], 0.95 * np.arange(1, K + 1) ** -0.7)
    assert ubm[3, 1] == pytest.approx(0.95 * 3**-0.6 * 4**-0.2)
    used = np.tril(np.ones((K, K), bool))
    assert np.all(ubm[~used] == 0.5)
    assert np.all(np.diff(ubm, axis=1)[np.tril(np.ones((K, K - 1), bool), -1)] > 0)
    np.testing.assert_allclose(dcm, np.linspace(0.8, 0.4, K))
    dbn = simulate("dbn", 10, seed=2).truth
    ccm = simulate("ccm", 10, seed=2).truth
    assert (float(dbn["continuation"]), float(ccm["tau1"]), float(ccm["tau3"])) == (0.9, 0.9, 0.3)


def test_same_seed_same_output_other_seed_differs():
    a, b = (simulate("dbn", 500, seed=5, min_length=4) for _ in range(2))
    c = simulate("dbn", 500, seed=6, min_length=4)
    for name in ("query", "qd", "doc", "click", "length"):
        np.testing.assert_array_equal(getattr(a.sessions, name), getattr(b.sessions, name))
    for name in a.truth:
        np.testing.assert_array_equal(a.truth[name], b.truth[name])
    np.testing.assert_array_equal(a.sessions.labels, b.sessions.labels)
    assert not np.array_equal(a.sessions.qd, c.sessions.qd)
    assert not np.array_equal(a.truth["attraction"], c.truth["attraction"])


def test_more_sessions_keep_the_world_and_chunks_are_reproducible():
    small = simulate("pbm", 100, seed=9)
    large = simulate("pbm", 1000, seed=9)
    np.testing.assert_array_equal(small.truth["attraction"], large.truth["attraction"])
    chunk = sample_sessions(small, 300, seed=(9, 1))
    again = sample_sessions(small, 300, seed=(9, 1))
    other = sample_sessions(small, 300, seed=(9, 2))
    np.testing.assert_array_equal(chunk.click, again.click)
    assert not np.array_equal(chunk.qd, other.qd)
    np.testing.assert_array_equal(chunk.qd_doc, small.sessions.qd_doc)


def test_padding_and_variable_page_length():
    s = simulate("ubm", 4000, seed=3, K=6, min_length=2).sessions
    assert set(np.unique(s.length)) == {2, 3, 4, 5, 6}
    pad = ~s.mask
    assert np.all(s.qd[pad] == -1) and np.all(s.doc[pad] == -1) and not s.click[pad].any()
    assert s.click[:, 2:][s.length[:, None] > np.arange(2, 6)].any()
    full = simulate("ubm", 100, seed=3, K=6).sessions
    assert np.all(full.length == 6)


def test_rankings_follow_plackett_luce_and_vary():
    """P(pool document i shown first) = softmax(score)_i with Gumbel noise of scale 1."""
    sim = simulate("pbm", 20_000, seed=4, n_queries=1, K=3, pool_size=5)
    s, world = sim.sessions, sim.world
    assert len(np.unique(s.qd, axis=0)) > 20
    for qd in range(5):
        assert len(np.unique(np.nonzero(s.qd == qd)[1])) == 3
    score = world.score[0]
    expected = np.exp(score - score.max()) / np.exp(score - score.max()).sum()
    observed = np.bincount(s.qd[:, 0], minlength=5) / s.n
    se = np.sqrt(expected * (1 - expected) / s.n)
    assert np.all(np.abs(observed - expected) < Z_LIMIT * se)
    assert np.all(s.qd_query[s.qd[:, 0]] == 0)


def test_query_frequencies_are_zipf():
    np.testing.assert_allclose(zipf_probabilities(3, 1.0), [6 / 11, 3 / 11, 2 / 11])
    s = simulate("gctr", 50_000, seed=8, n_queries=20, zipf_exponent=1.2).sessions
    p = zipf_probabilities(20, 1.2)
    observed = np.bincount(s.query, minlength=20) / s.n
    assert np.all(np.abs(observed - p) < Z_LIMIT * np.sqrt(p * (1 - p) / s.n))


def test_documents_are_shared_across_queries():
    s = simulate("pbm", 10, seed=1, n_queries=50, K=4).sessions
    queries_per_doc = np.bincount(s.qd_doc, minlength=s.n_docs)
    assert queries_per_doc.max() >= 3
    for q in range(s.n_queries):
        pool = s.qd_doc[s.qd_query == q]
        assert len(np.unique(pool)) == len(pool) == 8


def test_params_override_only_what_is_given():
    base = simulate("pbm", 200, seed=7, K=4)
    exam = np.array([0.9, 0.1, 0.5, 0.3])
    over = simulate("pbm", 200, seed=7, K=4, params={"examination": exam})
    np.testing.assert_array_equal(over.truth["examination"], exam)
    np.testing.assert_array_equal(over.truth["attraction"], base.truth["attraction"])
    np.testing.assert_array_equal(over.sessions.qd, base.sessions.qd)
    with pytest.raises(ValueError, match="no parameter 'tau1'"):
        simulate("pbm", 10, seed=7, params={"tau1": 0.5})
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        simulate("pbm", 10, seed=7, K=4, params={"examination": [0.5] * 3})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        simulate("pbm", 10, seed=7, K=4, params={"examination": [0.5, 0.5, 0.5, 1.5]})


def test_labels_grade_the_true_relevance():
    sim = simulate("dbn", 10, seed=2, n_queries=40)
    labels = sim.sessions.labels
    relevance = sim.truth["attraction"] * sim.truth["satisfaction"]
    assert labels.dtype == np.float32 and set(np.unique(labels)) == {0.0, 1.0, 2.0}
    assert np.all(np.diff(labels[np.argsort(relevance)]) >= 0)
    assert np.mean(labels == 2) == pytest.approx(0.2, abs=0.01)
    assert simulate("rctr", 10, seed=2).sessions.labels is None


def test_image_search_world():
    sim = simulate_image_search("vubm-2", 200_000, seed=12)
    s = sim.sessions
    assert s.doc_features.dtype == np.float32 and s.doc_features.shape == (s.n_docs, 8)
    per_query = np.bincount(s.query, minlength=s.n_queries)
    assert per_query.max() >= 10_000 and np.any((per_query >= 1) & (per_query <= 10))
    assert np.all(np.diff(s.labels[np.argsort(sim.truth["attraction"])]) >= 0)
    sigma = sim.truth["vision"]
    assert 0 < sigma.min() and sigma.max() < 1 and sigma.std() > 0.1
    # Nonlinear in the features: a linear fit of logit(sigma) leaves much unexplained.
    logit = np.log(sigma / (1 - sigma))
    x = np.column_stack([np.ones(s.n_docs), s.doc_features])
    residual = logit - x @ np.linalg.lstsq(x, logit, rcond=None)[0]
    assert residual.var() / logit.var() > 0.1


@pytest.mark.parametrize(("model", "control"), [("vpbm-2", 1e-6), ("vpbm-1", 1 - 1e-6)])
def test_image_search_control_has_no_vision_bias(model, control):
    biased = simulate_image_search(model, 2000, seed=13)
    plain = simulate_image_search(model, 2000, seed=13, vision_strength=0.0)
    assert np.all(plain.truth["vision"] == control)
    np.testing.assert_array_equal(plain.truth["attraction"], biased.truth["attraction"])
    np.testing.assert_array_equal(plain.sessions.doc_features, biased.sessions.doc_features)
    with pytest.raises(ValueError, match="vision models"):
        simulate_image_search("pbm", 10, seed=1)


LETOR_LINES = """\
2 qid:10 1:0.5 2:1.0 #docid = A inc = 1
0 qid:10 1:0.1 2:0.0 #docid = B
1 qid:10 1:0.3 2:0.2 #docid = C
0 qid:20 1:0.9 2:0.4 #docid = A
1 qid:20 1:0.2 2:0.6 #docid = D
0 qid:30 1:0.0 2:0.0 #docid = E
2 qid:30 1:0.7 2:0.8 #docid = F
0 qid:30 1:0.4 2:0.1 #docid = G
1 qid:30 1:0.6 2:0.3 #docid = H
"""


@pytest.fixture
def letor_file(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(LETOR_LINES)
    return path


def test_read_letor(letor_file, tmp_path):
    data = read_letor(letor_file)
    assert list(data.qid) == ["10"] * 3 + ["20"] * 2 + ["30"] * 4
    assert list(data.label) == [2, 0, 1, 0, 1, 0, 2, 0, 1]
    assert data.features.shape == (9, 2) and data.features[3, 0] == np.float32(0.9)
    bad = tmp_path / "bad" / "x.txt"
    bad.parent.mkdir()
    bad.write_text(LETOR_LINES + "1 qid:40 1:0.2 2:oops #docid = Z\n")
    with pytest.raises(FormatError, match=r"x\.txt, line 10"):
        read_letor(bad.parent)


def test_letor_simulation_follows_labels_and_reference(letor_file):
    sim = simulate_from_letor(letor_file, "dbn", N_SMALL, seed=14, K=4)
    s = sim.sessions
    assert list(s.query_ids) == ["10", "20", "30"] and list(s.doc_ids[:3]) == ["A", "B", "C"]
    np.testing.assert_array_equal(np.bincount(s.length, minlength=5)[[2, 3, 4]] > 0, True)
    assert np.all(s.length == np.array([3, 2, 4])[s.query])
    np.testing.assert_allclose(s.doc_features[0], [0.7, 0.7])  # A: mean of its two rows
    np.testing.assert_array_equal(s.labels, [2, 0, 1, 0, 1, 0, 2, 0, 1])
    grade = s.labels.astype(int)
    np.testing.assert_allclose(sim.truth["attraction"], np.array([0.05, 0.3, 0.7])[grade])
    np.testing.assert_allclose(sim.truth["satisfaction"], np.array([0.1, 0.4, 0.8])[grade])
    assert worst_z(sim) < Z_LIMIT


def _mq2008() -> Path:
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("CLICKFIT_DATA", root.parent / "shared" / "data")) / "mq2008-sample"


@pytest.mark.realdata
@pytest.mark.skipif(not _mq2008().is_dir(), reason="../shared/data/mq2008-sample is absent")
def test_mq2008_simulation():
    sim = simulate_from_letor(_mq2008(), "vpbm-2", 30_000, seed=15)
    s = sim.sessions
    assert (s.n_queries, s.doc_features.shape[1]) == (313, 46)
    shown = s.labels[s.qd[s.mask]]
    clicked = s.click[s.mask]
    rates = [clicked[shown == grade].mean() for grade in (0, 1, 2)]
    assert rates[0] < rates[1] < rates[2]
