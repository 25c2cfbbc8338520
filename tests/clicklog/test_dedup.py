"""Deduplication: weights sum, order is by first occurrence, weighted totals are unchanged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clicklog import dedup, from_arrays
from clicklog.dedup import groups


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


def reference_dedup(sessions):
    """The previous implementation (a byte key per row, np.unique, bincount), kept as the
    specification the hashing one must reproduce exactly."""
    columns = [sessions.query, sessions.length.astype(np.int32), sessions.qd, sessions.click]
    if sessions.bias_features is not None:
        bias = (sessions.bias_features + np.float32(0)).reshape(sessions.n, -1)
        columns.append(np.ascontiguousarray(bias).view(np.int32))
    fields = np.ascontiguousarray(np.column_stack(columns).astype(np.int32))
    keys = fields.view(np.dtype((np.void, fields.shape[1] * 4))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    weight = np.bincount(inverse.ravel(), weights=sessions.weight.astype(np.float64))
    order = np.argsort(first, kind="stable")
    return first[order], weight[order]


def duplicated_log(make_sessions, seed: int, extras: bool):
    """A random log (fractional weights, optionally bias features) whose rows repeat in a
    shuffled order, with some bias features flipped so that equal pages differ only there."""
    s = make_sessions(seed=seed, n=80, extras=extras)
    rng = np.random.default_rng(seed)
    log = s.subset(rng.permutation(np.repeat(np.arange(s.n), rng.integers(1, 6, s.n))))
    if extras:
        bias = log.bias_features.copy()
        flip = rng.random(log.n) < 0.1
        bias[flip, 0, 0] = 1.0 - bias[flip, 0, 0]
        bias[rng.random(log.n) < 0.1] *= -1.0  # -0.0 where the feature was 0
        log = replace(log, bias_features=bias)
    return log


@pytest.mark.parametrize("extras", [False, True])
@pytest.mark.parametrize("seed", [31, 32])
def test_equals_the_reference_exactly(make_sessions, seed, extras):
    log = duplicated_log(make_sessions, seed, extras)
    first, weight = reference_dedup(log)
    assert first.size < log.n  # the log does repeat
    d = dedup(log)
    expected = replace(log.subset(first), weight=weight.astype(np.float32))
    for name in ("query", "qd", "doc", "click", "length", "weight", "bias_features"):
        x, y = getattr(d, name), getattr(expected, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize(("hash_bits", "part_bits"), [(1, 0), (3, 0), (3, 2), (64, 4)])
def test_hash_collisions_never_merge_different_sessions(make_sessions, hash_bits, part_bits):
    # with 2 or 8 distinct hash values almost every pair of different sessions collides;
    # part_bits > 0 splits the rows into buckets grouped apart, as on large logs
    log = duplicated_log(make_sessions, 33, extras=True)
    first, weight = reference_dedup(log)
    got_first, got_weight = groups(log, hash_bits=hash_bits, part_bits=part_bits)
    np.testing.assert_array_equal(got_first, first)
    np.testing.assert_array_equal(got_weight, weight)
    np.testing.assert_array_equal(groups(log)[0], first)


def test_hash_bits_out_of_range(make_sessions):
    with pytest.raises(ValueError, match="hash_bits"):
        groups(make_sessions(seed=1, n=5), hash_bits=0)
    with pytest.raises(ValueError, match="part_bits"):
        groups(make_sessions(seed=1, n=5), hash_bits=2, part_bits=3)
