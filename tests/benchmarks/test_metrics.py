"""benchmarks.metrics: hand-computed values on tiny logs, weights against replication,
brute force over tie orders for the ranking metrics, scipy for the t-test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from benchmarks import metrics
from clicklog.sessions import Sessions, from_arrays

LN = math.log


@pytest.fixture
def tiny() -> tuple[Sessions, np.ndarray]:
    """Three sessions, K = 3, padding and weights 2, 1, 3; probs hold P(C_r = 1)."""
    s = from_arrays(
        query=[0, 0, 1],
        docs=[[0, 1, 2], [1, 0, -1], [3, -1, -1]],
        click=[[1, 0, 0], [0, 1, 0], [1, 0, 0]],
        length=[3, 2, 1],
        weight=[2, 1, 3],
    )
    probs = np.array([[0.5, 0.2, 0.1], [0.4, 0.8, 0.0], [0.9, 0.0, 0.0]])
    return s, probs


def expand(s: Sessions) -> Sessions:
    """The log each weight stands for: every row repeated weight times, weights 1."""
    rows = np.repeat(np.arange(s.n), s.weight.astype(int))
    return s.subset(rows).with_weight(np.ones(rows.size))


def random_log(seed: int, n: int = 40, K: int = 5, n_queries: int = 6) -> tuple[Sessions, dict]:
    rng = np.random.default_rng(seed)
    query = rng.integers(0, n_queries, n)
    docs = np.array([rng.permutation(8)[:K] + 8 * q for q in query])
    length = rng.integers(1, K + 1, n)
    click = rng.random((n, K)) < 0.3
    s = from_arrays(query, docs, click, length=length, weight=rng.integers(1, 5, n))
    mask = s.mask
    arrays = {
        "click_probs": np.where(mask, rng.random((n, K)), 0.0),
        "cond_probs": np.where(mask, rng.random((n, K)), 0.0),
        "relevance": np.where(mask, rng.choice([0.1, 0.2, 0.3], (n, K)), 0.0),
        "labels": np.where(rng.random(s.n_qd) < 0.2, np.nan, rng.integers(0, 3, s.n_qd)),
    }
    return s, arrays


def test_log_likelihood_by_hand(tiny):
    s, probs = tiny
    # P(C_r = c_r): session 0: .5 .8 .9, session 1: .6 .8, session 2: .9; 11 weighted impressions
    session_ll = [LN(0.5) + LN(0.8) + LN(0.9), LN(0.6) + LN(0.8), LN(0.9)]
    np.testing.assert_allclose(metrics.session_log_likelihood(s, probs), session_ll)
    expected = (2 * session_ll[0] + session_ll[1] + 3 * session_ll[2]) / 11
    assert metrics.log_likelihood(s, probs) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(
        metrics.rank_log_likelihood(s, probs),
        [(2 * LN(0.5) + LN(0.6) + 3 * LN(0.9)) / 6, LN(0.8), LN(0.9)],
    )


def test_perplexity_is_per_rank_not_pooled(tiny):
    s, probs = tiny
    result = metrics.perplexity(s, probs)
    p0 = (0.5**2 * 0.6 * 0.9**3) ** (-1 / 6)
    np.testing.assert_allclose(result.per_rank, [p0, 1.25, 1 / 0.9])
    assert result.overall == pytest.approx((p0 + 1.25 + 1 / 0.9) / 3, rel=1e-12)
    pooled = (0.5**2 * 0.8**2 * 0.9**2 * 0.6 * 0.8 * 0.9**3) ** (-1 / 11)
    assert abs(result.overall - pooled) > 0.01


def test_padding_is_ignored_whatever_it_holds(tiny):
    s, probs = tiny
    junk = np.where(s.mask, probs, np.nan)
    assert metrics.log_likelihood(s, junk) == metrics.log_likelihood(s, probs)
    np.testing.assert_array_equal(
        metrics.perplexity(s, junk).per_rank, metrics.perplexity(s, probs).per_rank
    )


def test_clipping_keeps_impossible_clicks_finite(tiny):
    s, probs = tiny
    certain = probs.copy()
    certain[0, 0] = 0.0  # a click the model calls impossible
    certain[0, 1] = 1.0  # a skip the model calls impossible
    certain[2, 0] = 1.0  # a click the model calls certain
    logp = metrics.observed_log_probs(s, certain)
    assert logp[0, 0] == pytest.approx(LN(1e-6), rel=1e-12)
    assert logp[0, 1] == pytest.approx(LN(1e-6), rel=1e-9)  # 1 - (1 - 1e-6) rounds
    assert logp[2, 0] == pytest.approx(LN(1 - 1e-6), rel=1e-12)
    assert np.isfinite(metrics.perplexity(s, certain).overall)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.log_likelihood(s, np.where(s.mask, np.nan, 0.0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.log_likelihood(s, probs * 2)


def test_scores_bundle_the_three_numbers(tiny):
    s, probs = tiny
    cond = np.where(s.mask, 0.3, 0.0)
    result = metrics.scores(s, probs, cond)
    assert result.log_likelihood == metrics.log_likelihood(s, cond)
    assert result.perplexity == metrics.perplexity(s, probs).overall
    assert result.conditional_perplexity == metrics.perplexity(s, cond).overall


def test_weights_equal_replication():
    s, a = random_log(0)
    big = expand(s)
    rows = np.repeat(np.arange(s.n), s.weight.astype(int))
    for name in ("click_probs", "cond_probs"):
        p = a[name]
        assert metrics.log_likelihood(s, p) == pytest.approx(
            metrics.log_likelihood(big, p[rows]), rel=1e-12)
        np.testing.assert_allclose(metrics.perplexity(s, p).per_rank,
                                   metrics.perplexity(big, p[rows]).per_rank, rtol=1e-12)
    np.testing.assert_allclose(metrics.qd_counts(s), metrics.qd_counts(big))
    relevance = metrics.per_qd(s, a["relevance"])
    np.testing.assert_allclose(relevance, metrics.per_qd(big, a["relevance"][rows]))
    assert metrics.mrr(s, relevance, a["labels"]) == metrics.mrr(big, relevance, a["labels"])
    assert metrics.ndcg_at_k(s, relevance, a["labels"], 3) == metrics.ndcg_at_k(
        big, relevance, a["labels"], 3)
    la = metrics.session_log_likelihood(s, a["click_probs"])
    lb = metrics.session_log_likelihood(s, a["cond_probs"])
    np.testing.assert_allclose(metrics.paired_ttest(s, la, lb),
                               metrics.paired_ttest(big, la[rows], lb[rows]), rtol=1e-10)


def test_query_frequency_and_buckets():
    s = from_arrays(query=[0, 2, 0, 2], docs=[[0], [1], [0], [1]], click=np.zeros((4, 1)),
                    weight=[4, 10, 5, 20], query_ids=np.array(["a", "b", "c"]))
    np.testing.assert_array_equal(metrics.query_frequency(s), [9.0, 0.0, 30.0])
    freq = [0, 0.5, 1, 9, 10, 29.5, 30, 99, 100, 499, 500, 1999, 2000, 9999, 10000, 1e7]
    np.testing.assert_array_equal(
        metrics.frequency_bucket(np.array(freq)),
        [-1, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
    )
    assert [metrics.bucket_label(b) for b in (-1, 0, 6)] == ["unseen", "1-10", ">=10000"]


def test_frequency_breakdown():
    log = from_arrays(
        query=[0, 1, 0, 1, 2, 1],
        docs=[[0, 1], [2, 3], [1, 0], [3, 2], [4, 5], [2, 3]],
        click=[[1, 0], [0, 0], [0, 1], [1, 0], [0, 0], [0, 1]],
        weight=[5, 12, 2, 3, 1, 4],
    )
    train, test = log.subset(np.arange(2)), log.subset(np.arange(2, 6))
    probs = np.full((4, 2), 0.25)
    rows = metrics.frequency_breakdown(train, test, probs, probs)
    # training frequencies: query 0 -> 5 ("1-10"), query 1 -> 12 ("10-30"), query 2 -> unseen
    assert [(r.label, r.sessions, r.queries) for r in rows] == [
        ("unseen", 1.0, 1), ("1-10", 2.0, 1), ("10-30", 7.0, 1)]
    # "1-10" holds one session, clicks (0, 1): LL = (ln .75 + ln .25) / 2
    assert rows[1].scores.log_likelihood == pytest.approx((LN(0.75) + LN(0.25)) / 2)
    assert rows[1].scores.perplexity == pytest.approx((1 / 0.75 + 1 / 0.25) / 2)
    # "10-30": rank 1 has clicks (0 w3, 1 w4) -> p = 2 ** -((3 log2 .75 + 4 log2 .25) / 7)
    rank1 = (0.75**3 * 0.25**4) ** (-1 / 7)
    rank0 = (0.25**3 * 0.75**4) ** (-1 / 7)
    assert rows[2].scores.conditional_perplexity == pytest.approx((rank0 + rank1) / 2)
    other_vocabulary = from_arrays(query=[0], docs=[[0, 1]], click=[[0, 0]])
    with pytest.raises(ValueError, match="one log"):
        metrics.frequency_breakdown(train, other_vocabulary, probs[:1], probs[:1])


def test_improvements():
    assert metrics.ll_improvement(-0.5, -0.4) == pytest.approx(0.2)
    assert metrics.ll_improvement(-0.5, -0.6) == pytest.approx(-0.2)
    assert metrics.perplexity_improvement(1.5, 1.4) == pytest.approx(0.2)
    assert metrics.perplexity_improvement(1.5, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        metrics.perplexity_improvement(1.0, 1.2)


def test_paired_ttest_matches_scipy_on_expanded_log():
    s, a = random_log(1)
    la = metrics.session_log_likelihood(s, a["click_probs"])
    lb = metrics.session_log_likelihood(s, a["cond_probs"])
    w = s.weight.astype(int)
    expected = stats.ttest_rel(np.repeat(la, w), np.repeat(lb, w))
    t, p, degenerate = metrics.paired_ttest(s, la, lb)
    assert not degenerate
    assert t == pytest.approx(expected.statistic, rel=1e-10)
    assert p == pytest.approx(expected.pvalue, rel=1e-8)
    unweighted = stats.ttest_rel(la, lb)
    assert t != pytest.approx(unweighted.statistic, rel=1e-3)


def test_paired_ttest_degenerate(tiny):
    s, _ = tiny
    x = np.array([-1.0, -2.0, -3.0])
    none = (0.0, 1.0, True)
    assert metrics.paired_ttest(s, x, x) == none
    assert metrics.paired_ttest(s, x + 0.5, x) == none  # no spread: no evidence either way
    assert metrics.paired_ttest(s, x - 0.5, x) == none
    one = s.subset(np.arange(1))
    assert metrics.paired_ttest(one, np.array([-1.0]), np.array([-2.0])) == none
    heavy_one = one.with_weight([7.0])
    assert metrics.paired_ttest(heavy_one, np.array([-1.0]), np.array([-2.0])) == none
    halves = s.subset(np.arange(2)).with_weight([0.5, 0.5])
    assert metrics.paired_ttest(halves, np.array([1.0, 2.0]), np.zeros(2)) == none
    t, p, degenerate = metrics.paired_ttest(s, x + np.array([0.5, 0.4, 0.6]), x)
    assert not degenerate and np.isfinite(t) and 0.0 < p < 1.0


@pytest.fixture
def judged() -> tuple[Sessions, np.ndarray, np.ndarray]:
    """Four queries; qd indices follow first appearance: q0 -> 0, 1, 2; q1 -> 3, 4; q2 -> 5;
    q3 -> 6, 7. Query 0 has weight 6, query 1 weight 1."""
    s = from_arrays(
        query=[0, 1, 2, 3, 0],
        docs=[[0, 1, 2], [3, 4, -1], [5, -1, -1], [6, 7, -1], [2, 0, 1]],
        click=np.zeros((5, 3)),
        length=[3, 2, 1, 2, 3],
        weight=[1, 1, 1, 1, 5],
    )
    relevance = np.array([0.9, 0.5, 0.7, 0.3, 0.3, 0.1, 0.2, 0.4])
    labels = np.array([0, 2, 1, 1, 0, np.nan, 0, 0])
    return s, relevance, labels


def test_mrr_by_hand(judged):
    s, relevance, labels = judged
    # q0 ranks qd 0 (label 0), 2 (1), 1 (2): RR 1/2. q1 ties qd 3 (1) and 4 (0): RR 1 or 1/2.
    # q2 has no judged document, q3 no label above 0: both left out. Unweighted: query 0's
    # five extra sessions do not count.
    assert metrics.mrr(s, relevance, labels) == pytest.approx((0.5 + 0.75) / 2)


def test_ndcg_by_hand(judged):
    s, relevance, labels = judged
    l3 = math.log2(3)
    q0 = (1 / l3 + 3 / 2) / (3 + 1 / l3)
    q1 = 0.5 * (1 + 1 / l3) / 1
    assert metrics.ndcg_at_k(s, relevance, labels, 3) == pytest.approx((q0 + q1) / 2)
    # k = 1: q0 puts label 0 first (0 / 3); q1's tie puts label 1 first half of the time
    assert metrics.ndcg_at_k(s, relevance, labels, 1) == pytest.approx((0 + 0.5) / 2)
    with pytest.raises(ValueError):
        metrics.ndcg_at_k(s, relevance, labels, 0)


def test_ranking_needs_a_relevant_query(judged):
    s, relevance, _ = judged
    with pytest.raises(ValueError, match="label above 0"):
        metrics.mrr(s, relevance, np.zeros(s.n_qd))
    with pytest.raises(ValueError, match="relevance"):
        metrics.mrr(s, np.full(s.n_qd, np.nan), np.ones(s.n_qd))


def brute_force_ranking(query_rel, query_labels, k):
    """Average RR and nDCG@k over every order consistent with decreasing relevance."""
    rr, ndcg = [], []
    ideal = sorted(query_labels, reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    for order in itertools.permutations(range(len(query_rel))):
        rel = [query_rel[i] for i in order]
        if any(rel[i] < rel[i + 1] for i in range(len(rel) - 1)):
            continue
        lab = [query_labels[i] for i in order]
        rr.append(next(1 / (i + 1) for i, g in enumerate(lab) if g > 0))
        ndcg.append(sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(lab[:k])) / idcg)
    return np.mean(rr), np.mean(ndcg)


@pytest.mark.parametrize("seed", range(4))
def test_ranking_ties_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_queries, per_query = 4, 6
    docs = np.arange(n_queries * per_query).reshape(n_queries, per_query)
    s = from_arrays(np.arange(n_queries), docs, np.zeros(docs.shape))
    relevance = rng.choice([0.1, 0.2, 0.3], s.n_qd)
    labels = rng.integers(0, 3, s.n_qd).astype(float)
    labels[rng.random(s.n_qd) < 0.2] = np.nan
    k = 3
    rr, nd = [], []
    for q in range(n_queries):
        qd = np.flatnonzero((s.qd_query == q) & ~np.isnan(labels))
        if not np.any(labels[qd] > 0):
            continue
        r, n = brute_force_ranking(relevance[qd], labels[qd], k)
        rr.append(r)
        nd.append(n)
    assert metrics.mrr(s, relevance, labels) == pytest.approx(np.mean(rr), rel=1e-12)
    assert metrics.ndcg_at_k(s, relevance, labels, k) == pytest.approx(np.mean(nd), rel=1e-12)


def test_per_qd(tiny):
    s, _ = tiny
    # qd: doc 0 -> 0, doc 1 -> 1, doc 2 -> 2 (query 0), doc 3 -> 3 (query 1)
    values = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.0], [0.6, 0.0, 0.0]])
    np.testing.assert_allclose(metrics.per_qd(s, values),
                               [(2 * 0.1 + 0.5) / 3, (2 * 0.2 + 0.4) / 3, 0.3, 0.6])
    np.testing.assert_array_equal(metrics.qd_counts(s), [3, 3, 2, 3])
    constant = np.where(s.mask, 0.1, 0.0)
    assert np.all(metrics.per_qd(s.with_weight([3, 7, 1]), constant) == 0.1)
    unshown = metrics.per_qd(s.subset(np.arange(2)), values[:2])
    assert np.isnan(unshown[3]) and np.all(np.isfinite(unshown[:3]))


def test_recovery_error():
    true = np.array([0.1, 0.5, 0.9])
    fitted = np.array([0.2, 0.5, 0.6])
    all_entries = metrics.recovery_error(true, fitted)
    assert all_entries.mae == pytest.approx(0.4 / 3)
    assert all_entries.max_error == pytest.approx(0.3)
    assert all_entries.entries == 3
    shown = metrics.recovery_error(true, fitted, counts=np.array([10, 0, 5]), min_count=1)
    assert shown == pytest.approx((0.2, 0.3, 2))
    assert metrics.recovery_error(0.3, 0.25).mae == pytest.approx(0.05)
    with pytest.raises(ValueError, match="at least"):
        metrics.recovery_error(true, fitted, counts=np.zeros(3), min_count=1)
    with pytest.raises(ValueError, match="shape"):
        metrics.recovery_error(true, fitted[:2])
