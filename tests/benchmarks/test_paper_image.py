"""The paper-shaped image-search simulator (benchmarks/simulate/paper_image.py): the shape of
the log it promises, the split, determinism, and the DBN-with-vision program against its
hand-computed click probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import paper_image as pi


@pytest.fixture(scope="module")
def logs():
    return {g: pi.simulate_paper_log(g, 20_000, 7) for g in pi.GENERATORS}


def test_the_query_law_solves_its_equation():
    n, s_total = 1_000, 25_300
    s = pi.zipf_exponent(n, s_total)
    assert np.sum((n / np.arange(1, n + 1)) ** s) == pytest.approx(s_total, rel=1e-9)
    # at the paper's size the law is steeper than Zipf's 1 and puts a query above 10000
    s_paper = pi.zipf_exponent(pi.PAPER_QUERIES, pi.PAPER_SESSIONS)
    assert 1.05 < s_paper < 1.15
    assert pi.PAPER_QUERIES**s_paper > 10_000
    assert pi.shape(pi.PAPER_SESSIONS) == (pi.PAPER_QUERIES, pi.PAPER_IMAGES)
    with pytest.raises(ValueError, match="at least one session"):
        pi.zipf_exponent(100, 50)


def test_the_log_has_the_papers_shape(logs):
    log = logs["vubm-2"]
    s = log.sessions
    assert s.n == 20_000
    assert s.doc_features.shape == (s.n_docs, 64)
    assert 4.0 < s.n_qd / s.n_queries < 6.0  # about five images per query
    assert 3.5 < s.length.mean() < 6.0 and s.length.max() >= 10
    assert 0.03 < np.mean(s.length >= 10) < 0.2  # a long tail, not every page full
    clicks = s.click.sum(axis=1)
    assert 0.7 < clicks.mean() < 1.3
    assert s.n_docs / s.n_queries == pytest.approx(pi.PAPER_IMAGES / pi.PAPER_QUERIES, rel=0.01)
    assert np.all(np.isin(s.labels, (0.0, 1.0, 2.0)))


def test_generators_share_the_pages_and_runs_repeat(logs):
    a, b, c = (logs[g].sessions for g in pi.GENERATORS)
    assert np.array_equal(a.qd, b.qd) and np.array_equal(a.qd, c.qd)
    assert not np.array_equal(a.click, b.click)
    again = pi.simulate_paper_log("dbn-vision", 20_000, 7).sessions
    assert np.array_equal(again.click, c.click)
    assert np.array_equal(again.doc_features, c.doc_features)
    with pytest.raises(ValueError, match="unknown generator"):
        pi.simulate_paper_log("cm", 1_000, 7)


def test_split_by_order_restricted_to_training_queries_and_images(logs):
    s = logs["ubm"].sessions
    train, test = pi.split(s)
    assert train.n == 15_000
    assert np.array_equal(train.query, s.query[:15_000])
    assert 0 < test.n <= 5_000
    assert np.all(np.isin(test.query, train.query))
    assert np.all(np.isin(test.doc[test.mask], train.doc[train.mask]))
    # the kept test rows are the later sessions, in order
    later = s.subset(np.arange(15_000, s.n))
    kept = np.isin(later.query, train.query) & np.all(
        ~later.mask | np.isin(later.doc, train.doc[train.mask]), axis=1)
    assert np.array_equal(test.qd, later.qd[kept])


def test_dbn_vision_clicks_match_hand_computed_probabilities():
    # P(C1) = a1 (the cascade examines rank 1). The cascade reaches rank r + 1 with
    # q_{r+1} = q_r gamma (1 - a_r s_r), and rank r is looked at if the cascade reaches it or
    # its image catches the eye: P(C_r) = a_r (q_r + (1 - q_r) sigma_r).
    a, sat, sigma, gamma = np.array([0.6, 0.5, 0.4]), np.array([0.7, 0.6, 0.5]), \
        np.array([0.9, 0.3, 0.5]), 0.8
    truth = {"attraction": a, "satisfaction": sat, "continuation": gamma, "vision": sigma}
    n = 200_000
    qd = np.tile([0, 1, 2], (n, 1))
    click = pi._dbn_vision_clicks(truth, qd, qd, np.full(n, 3), np.random.default_rng(3))
    q = np.array([1.0, gamma * (1 - a[0] * sat[0]), 0.0])
    q[2] = q[1] * gamma * (1 - a[1] * sat[1])
    expected = a * (q + (1 - q) * sigma)
    observed = click.mean(axis=0)
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n))
    # page lengths: padded ranks are never clicked
    short = pi._dbn_vision_clicks(truth, qd, qd, np.full(n, 2), np.random.default_rng(3))
    assert not short[:, 2].any()
