"""Query-document and bias features on Sessions: validation, from_arrays, row operations
(subset, sort, dedup, splits, concat), vocabulary adoption and Parquet storage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clicklog import (
    SessionsError,
    concat,
    dedup,
    from_arrays,
    read,
    split_by_order,
    split_by_query,
    write,
)
from clicklog.vocabulary import Vocabulary


def small(bias: bool = True):
    """Four sessions of one query over docs 0..2; rows 0 and 2 identical but for device."""
    docs = np.array([[0, 1, 2], [1, 0, 2], [0, 1, 2], [0, 1, 2]])
    click = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]], bool)
    length = np.array([3, 3, 3, 2])
    device = np.array([0.0, 0.0, 1.0, 0.0], np.float32)
    bias_features = np.broadcast_to(device[:, None, None], (4, 3, 1)) if bias else None
    qd_features = np.array([[0.5, 1.0], [0.25, -1.0], [2.0, 0.0]], np.float32)[docs]
    return from_arrays(np.zeros(4), docs, click, length=length, qd_features=qd_features,
                       bias_features=bias_features)


def test_from_arrays_collapses_per_impression_features_to_pairs():
    s = small()
    # pairs in first-seen order are docs 0, 1, 2
    np.testing.assert_array_equal(s.qd_doc, [0, 1, 2])
    np.testing.assert_array_equal(s.qd_features, [[0.5, 1.0], [0.25, -1.0], [2.0, 0.0]])
    assert s.bias_features.dtype == np.float32 and s.bias_features.shape == (4, 3, 1)
    assert s.bias_features[3, 2, 0] == 0  # padded rank zeroed
    per_pair = from_arrays(np.zeros(4), np.array([[0, 1, 2]] * 4), np.zeros((4, 3), bool),
                           qd_features=s.qd_features)
    np.testing.assert_array_equal(per_pair.qd_features, s.qd_features)


def test_disagreeing_impressions_of_one_pair_are_an_error():
    features = np.zeros((2, 2, 1), np.float32)
    features[1, 0, 0] = 1.0  # doc 0 at row 1 rank 1 disagrees with row 0 rank 1
    with pytest.raises(SessionsError, match="row 1, rank 1"):
        from_arrays(np.zeros(2), np.array([[0, 1], [0, 1]]), np.zeros((2, 2), bool),
                    qd_features=features)


@pytest.mark.parametrize(
    "change, problem",
    [
        (dict(qd_features=np.zeros((2, 2), np.float32)), "n_qd=3"),
        (dict(qd_features=np.zeros((3, 2), np.float64)), "float32"),
        (dict(bias_features=np.zeros((4, 3), np.float32)), "n=4, K=3"),
        (dict(bias_features=np.ones((4, 3, 1), np.float32)), "0 at padded ranks"),
        (dict(bias_features=np.full((4, 3, 1), np.inf, np.float32)), "finite"),
    ],
)
def test_validation_names_the_problem(change, problem):
    with pytest.raises(SessionsError, match=problem):
        replace(small(), **change)


def test_row_operations_carry_bias_features():
    s = small()
    sub = s.subset(np.array([2, 0]))
    np.testing.assert_array_equal(sub.bias_features[:, 0, 0], [1.0, 0.0])
    assert sub.qd_features is s.qd_features
    by_query = replace(s, query=np.array([0, 0, 0, 0], np.int32)).sorted_by_query()
    np.testing.assert_array_equal(by_query.bias_features, s.bias_features)
    train, test = split_by_order(s, 0.5)
    np.testing.assert_array_equal(test.bias_features, s.bias_features[2:])
    _, held = split_by_query(s, 1.0, seed=0)
    np.testing.assert_array_equal(held.bias_features, s.bias_features)


def test_bias_features_are_part_of_a_rows_identity():
    d = dedup(small())
    # rows 0 and 2 differ only in their device: three distinct rows stay (0, 1, 2 and 3)
    assert d.n == 4
    without = dedup(small(bias=False))
    assert without.n == 3 and without.weight[0] == 2
    same = replace(small(), bias_features=np.where(small().mask[..., None], -0.0, 0.0)
                   .astype(np.float32))
    assert dedup(same).n == 3  # -0.0 and 0.0 are one value
    twice = concat([small(), small()])
    dd = dedup(twice)
    assert dd.n == 4 and dd.total_weight == 8
    np.testing.assert_array_equal(dd.bias_features, small().bias_features)


def test_concat_widens_pages_and_checks_vocabularies():
    s = small()
    narrow = s.subset(np.array([3]))
    narrow = replace(narrow, qd=narrow.qd[:, :2], doc=narrow.doc[:, :2],
                     click=narrow.click[:, :2], bias_features=narrow.bias_features[:, :2])
    glued = concat([narrow, s])
    assert glued.K == 3 and glued.n == 5
    np.testing.assert_array_equal(glued.qd[1:], s.qd)
    np.testing.assert_array_equal(glued.qd[0], s.qd[3])
    other = from_arrays(np.zeros(1), np.array([[5, 6]]), np.zeros((1, 2), bool))
    with pytest.raises(ValueError, match="different"):
        concat([s, other])
    with pytest.raises(ValueError, match="some parts"):
        concat([s, small(bias=False)])


def test_adopt_maps_qd_features_and_keeps_bias():
    s = small()
    vocab = Vocabulary()
    vocab.qd_index(np.array([0]), vocab.doc_index(np.array([99])))  # a pair s does not know
    vocab.query_index(np.array([0]))
    moved = vocab.adopt(s)
    assert moved.n_qd == 4 and np.isnan(moved.qd_features[0]).all()
    mask = s.mask
    np.testing.assert_array_equal(moved.qd_features[moved.qd[mask]], s.qd_features[s.qd[mask]])
    np.testing.assert_array_equal(moved.bias_features, s.bias_features)


def test_parquet_round_trip_keeps_features(tmp_path, identical):
    s = small()
    write(s, tmp_path / "f.parquet")
    back = read(tmp_path / "f.parquet")
    identical(s, back)
    write(small(bias=False), tmp_path / "g.parquet")
    assert read(tmp_path / "g.parquet").bias_features is None
