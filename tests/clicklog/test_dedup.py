"""Deduplication: weights sum, order is by first occurrence, weighted totals are unchanged."""

from __future__ import annotations

import numpy as np

from clicklog import dedup, from_arrays


def rows(s) -> list[tuple]:
    """The rows as a sorted list, to compare logs whose row order differs."""
    return sorted(map(tuple, np.column_stack([s.query, s.qd, s.click, s.weight])))


def test_hand_example():
    # rows 0, 2 and 3 are identical; row 1 differs from them only in its clicks,
    # row 4 only in its length
    docs = np.array([[0, 1, 2]] * 5)
    click = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], bool)
    s = from_arrays(np.zeros(5), docs, click, length=np.array([3, 3, 3, 3, 2]),
                    weight=np.array([1, 1, 2, 0.5, 1]))
    d = dedup(s)
    assert d.n == 3
    np.testing.assert_array_equal(d.weight, np.array([3.5, 1, 1], np.float32))
    np.testing.assert_array_equal(d.click, s.click[[0, 1, 4]])
    np.testing.assert_array_equal(d.length, [3, 3, 2])
    assert d.n_qd == s.n_qd  # vocabularies are kept whole


def test_expanded_log_collapses_back(make_sessions):
    s = make_sessions(seed=21, n=60, weights=False)
    rng = np.random.default_rng(0)
    copies = rng.integers(1, 5, s.n)
    expanded = s.subset(rng.permutation(np.repeat(np.arange(s.n), copies)))
    d = dedup(expanded)
    assert d.total_weight == expanded.total_weight == copies.sum()
    # identical rows of s (possible at random) merge too, so compare per distinct row
    expected = dedup(s.with_weight(copies))
    assert rows(d) == rows(expected)
    # weighted statistics are unchanged
    for x in (expanded, d):
        clicks = (x.weight[:, None] * x.click).sum(axis=0)
        np.testing.assert_allclose(clicks, (copies[:, None] * s.click).sum(axis=0))


def test_first_occurrence_order_and_idempotence(make_sessions):
    s = make_sessions(seed=22, n=40)
    doubled = s.subset(np.r_[np.arange(s.n), np.arange(s.n)])
    d = dedup(doubled)
    once = dedup(s)
    np.testing.assert_array_equal(d.qd, once.qd)
    np.testing.assert_allclose(d.weight, 2 * once.weight, rtol=1e-6)
    assert dedup(d).n == d.n
