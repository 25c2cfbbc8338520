"""CLAX's dataset layout: reading by hand, lossless round trips both ways, clear errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clicklog import FormatError, dedup, read, write
from clicklog.io_clax import NO_QUERY


def clax_file(path, **columns):
    table = {
        "query_id": pa.array([7, 7, 9], pa.int32()),
        "query_doc_ids": pa.array([[10, 11, 12], [11, 10], [13]], pa.list_(pa.int32())),
        "clicks": pa.array([[0.0, 1.0, 0.0], [1.0, 0.0], [0.0]], pa.list_(pa.float16())),
        "positions": pa.array([[1, 2, 3], [1, 2], [1]], pa.list_(pa.int16())),
        "mask": pa.array([[True] * 3, [True] * 2, [True]], pa.list_(pa.bool_())),
    }
    table.update(columns)
    table = {k: v for k, v in table.items() if v is not None}
    pq.write_table(pa.table(table), path)
    return path


def test_clax_by_hand(tmp_path):
    s = read(clax_file(tmp_path / "c.parquet"))
    assert s.report.format == "clax"
    assert list(s.query_ids) == [7, 9] and list(s.doc_ids) == [10, 11, 12, 13]
    np.testing.assert_array_equal(s.length, [3, 2, 1])
    np.testing.assert_array_equal(s.doc, [[0, 1, 2], [1, 0, -1], [3, -1, -1]])
    np.testing.assert_array_equal(s.click.astype(int), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    assert s.n_qd == 4  # (7, 10), (7, 11), (7, 12), (9, 13)


def test_reading_and_writing_back_is_lossless(tmp_path):
    original = pq.read_table(clax_file(tmp_path / "c.parquet"))
    write(read(tmp_path / "c.parquet"), tmp_path / "back.parquet", "clax")
    back = pq.read_table(tmp_path / "back.parquet")
    assert back.column_names == original.column_names
    for name in original.column_names:
        assert back[name].to_pylist() == original[name].to_pylist(), name
    # and Sessions -> CLAX -> Sessions, weights of a deduplicated log included
    s = dedup(read(tmp_path / "c.parquet", "clax"))
    s = s.with_weight(np.array([2.5, 1.0, 4.0], np.float32))
    write(s, tmp_path / "w.parquet", "clax")
    again = read(tmp_path / "w.parquet")
    for name in ("query", "qd", "doc", "click", "length", "weight", "query_ids", "doc_ids",
                 "qd_query", "qd_doc"):
        np.testing.assert_array_equal(getattr(again, name), getattr(s, name), name)


def test_optional_columns(tmp_path):
    # without query_id every session has the query NO_QUERY; without positions and mask the
    # lists are in rank order; a mask drops padding; positions reorder
    path = clax_file(tmp_path / "a.parquet", query_id=None, positions=None, mask=None)
    s = read(path)
    assert list(s.query_ids) == [NO_QUERY] and s.n_qd == 4
    write(s, tmp_path / "a2.parquet", "clax")
    assert "query_id" not in pq.read_schema(tmp_path / "a2.parquet").names
    masked = clax_file(
        tmp_path / "m.parquet",
        positions=pa.array([[2, 1, 3], [2, 1], [1]], pa.list_(pa.int16())),
        mask=pa.array([[True, True, False], [True, True], [True]]),
    )
    s = read(masked)
    np.testing.assert_array_equal(s.length, [2, 2, 1])
    np.testing.assert_array_equal(s.doc_ids[s.doc[0, :2]], [11, 10])  # by position
    np.testing.assert_array_equal(s.doc_ids[s.doc[1, :2]], [10, 11])


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ({"clicks": pa.array([[0, 1, 0], [1], [0]])}, "row 2: clicks holds 1 entries"),
        ({"clicks": pa.array([[0, 2, 0], [1, 0], [0]])}, "row 1: clicks must be 0 or 1"),
        ({"positions": pa.array([[1, 2, 4], [1, 2], [1]])}, "row 1: positions must run 1..L"),
        ({"positions": pa.array([[0, 1, 2], [0, 1], [0]])}, "found 0 where 1 was due"),
        ({"query_doc_ids": pa.array([[10, None, 12], [11, 10], [13]])}, "row 1: a null"),
        ({"mask": pa.array([[True] * 3, [False] * 2, [True]])}, "row 2: a session without"),
        ({"clicks": None}, "no column(s) clicks"),
    ],
)
def test_malformed(tmp_path, columns, problem):
    path = tmp_path / "bad.parquet"
    if "clicks" in columns and columns["clicks"] is None:
        clax_file(path, clicks=None)
        with pytest.raises(FormatError, match="no column"):
            read(path, "clax")
        return
    clax_file(path, **columns)
    with pytest.raises(FormatError) as err:
        read(path)
    assert problem in str(err.value) and str(err.value).startswith(str(path))


def test_string_ids_cannot_be_written(tmp_path, make_sessions):
    with pytest.raises(FormatError, match="integer ids"):
        write(make_sessions(seed=1, string_ids=True), tmp_path / "s.parquet", "clax")
