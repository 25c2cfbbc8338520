"""Splits by order and by query, and the restriction of test sessions to seen queries."""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import restrict_to_seen_queries, split_by_order, split_by_query


def test_split_by_order_cuts_at_the_floor(make_sessions):
    s = make_sessions(seed=31, n=101)
    train, test = split_by_order(s, 0.75)
    assert (train.n, test.n) == (75, 26)
    np.testing.assert_array_equal(train.qd, s.qd[:75])
    np.testing.assert_array_equal(test.qd, s.qd[75:])
    assert train.query_ids is s.query_ids and test.n_qd == s.n_qd
    assert split_by_order(s, 1.0)[1].n == 0
    with pytest.raises(ValueError):
        split_by_order(s, 1.5)


def test_split_by_query_holds_out_whole_queries(make_sessions):
    s = make_sessions(seed=32, n=400)
    train, test = split_by_query(s, 0.3, seed=5)
    held_out = np.unique(test.query)
    assert held_out.size == round(0.3 * np.unique(s.query).size)
    assert not np.isin(train.query, held_out).any()
    assert train.n + test.n == s.n
    # row order is kept on both sides
    in_test = np.isin(s.query, held_out)
    np.testing.assert_array_equal(test.qd, s.qd[in_test])
    np.testing.assert_array_equal(train.qd, s.qd[~in_test])
    # the seed decides, reproducibly
    again = split_by_query(s, 0.3, seed=5)[1]
    np.testing.assert_array_equal(again.query, test.query)
    others = {tuple(np.unique(split_by_query(s, 0.3, seed=k)[1].query)) for k in range(10)}
    assert len(others) > 1


def test_restrict_to_seen_queries_counts_what_it_removes(make_sessions):
    s = make_sessions(seed=33, n=200)
    train, test = split_by_query(s, 0.3, seed=1)
    mixed = s  # every query of train is in s, and s has the held-out ones too
    result = restrict_to_seen_queries(mixed, train)
    seen = np.isin(s.query, train.query)
    assert result.sessions.n == seen.sum()
    assert result.removed_sessions == (~seen).sum() == test.n
    assert result.removed_weight == pytest.approx(float(test.weight.sum()))
    assert result.removed_queries == np.unique(test.query).size
    assert restrict_to_seen_queries(test, train).sessions.n == 0


def test_restrict_compares_original_ids_across_vocabularies(make_sessions):
    s = make_sessions(seed=34, n=100)
    other = make_sessions(seed=35, n=100)  # the same query ids, indexed differently
    result = restrict_to_seen_queries(other, s.subset(s.query == 0))
    keep = other.query_ids[other.query] == s.query_ids[0]
    assert result.sessions.n == keep.sum() > 0
