"""Writers and readers together: lossless round trips, chunked Parquet, shared vocabularies."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clicklog import FormatError, ReadReport, concat, iter_parquet, read, read_many, write
from clicklog.io_parquet import session_table
from clicklog.vocabulary import Vocabulary


@pytest.mark.parametrize("string_ids", [True, False])
def test_parquet_is_lossless(tmp_path, make_sessions, identical, string_ids):
    s = make_sessions(seed=1, string_ids=string_ids, extras=True)
    s = replace(s, report=ReadReport(path="orig.log", format="sample", clicks_in_file=9))
    write(s, tmp_path / "s.parquet")
    back = read(tmp_path / "s.parquet")
    identical(s, back)
    assert back.report == s.report  # the original read's counters travel with the data
    assert back.source == str(tmp_path / "s.parquet")


def test_parquet_keeps_narrow_dtypes(tmp_path, make_sessions, identical):
    s = make_sessions(seed=2, string_ids=False)
    s = replace(s, query_ids=s.query_ids.astype(np.int32), length=s.length.astype(np.int8))
    write(s, tmp_path / "s.pq")
    identical(s, read(tmp_path / "s.pq"))


@pytest.mark.parametrize("name", ["s.tsv", "s.csv", "s.tsv.gz"])
@pytest.mark.parametrize("string_ids", [True, False])
def test_text_round_trip_through_ids(tmp_path, make_sessions, same_by_ids, name, string_ids):
    s = make_sessions(seed=3, string_ids=string_ids)
    write(s, tmp_path / name)
    back = read(tmp_path / name)
    same_by_ids(s, back)
    assert back.query_ids.dtype.kind == s.query_ids.dtype.kind
    assert back.n_qd == np.unique(s.qd[s.mask]).size


def test_parquet_and_tsv_convert_both_ways(tmp_path, make_sessions, same_by_ids, identical):
    s = make_sessions(seed=4)
    write(s, tmp_path / "a.tsv")
    from_tsv = read(tmp_path / "a.tsv")
    write(from_tsv, tmp_path / "b.parquet")
    identical(from_tsv, read(tmp_path / "b.parquet"))
    write(read(tmp_path / "b.parquet"), tmp_path / "c.tsv")
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "c.tsv").read_bytes()
    same_by_ids(s, read(tmp_path / "c.tsv"))


def test_unit_weights_write_no_weight_column(tmp_path, make_sessions):
    write(make_sessions(seed=5, weights=False), tmp_path / "s.tsv")
    assert (tmp_path / "s.tsv").read_text().split("\n")[0] == "session_id\tquery\tdoc\trank\tclick"


def test_text_writer_quotes_delimiters_and_refuses_line_breaks(tmp_path, make_sessions):
    s = make_sessions(seed=6)
    s = replace(s, query_ids=np.array([f'a\tb, "c"{i}' for i in range(s.n_queries)]))
    for name in ("s.tsv", "s.csv"):
        write(s, tmp_path / name)
        assert read(tmp_path / name).query_ids[0].startswith('a\tb, "c"')
    s = replace(s, query_ids=np.array([f"a\nb{i}" for i in range(s.n_queries)]))
    with pytest.raises(FormatError, match="line break"):
        write(s, tmp_path / "t.tsv")
    assert not (tmp_path / "t.tsv").exists()


def test_parquet_streams_in_row_groups(tmp_path, make_sessions, identical):
    s = make_sessions(seed=7, n=250, extras=True)
    from clicklog.io_parquet import write_parquet

    write_parquet(s, tmp_path / "s.parquet", row_group_size=60)
    chunks = list(iter_parquet(tmp_path / "s.parquet"))
    assert [c.n for c in chunks] == [60, 60, 60, 60, 10]
    for c in chunks:
        assert c.K == s.K and c.n_qd == s.n_qd and c.doc_features is not None
    identical(s, concat(chunks))


def test_empty_sessions_are_no_log(tmp_path, make_sessions, identical):
    s = make_sessions(seed=8, string_ids=False)
    empty = s.subset(np.zeros(s.n, bool))
    write(empty, tmp_path / "e.parquet")
    from clicklog.io_parquet import read_parquet

    identical(empty, read_parquet(tmp_path / "e.parquet"))  # the storage layer keeps them
    for name in ("e.parquet", "e.tsv", "e.csv", "e.clax.parquet"):
        write(empty, tmp_path / name, "clax" if "clax" in name else None)
        with pytest.raises(FormatError, match="no sessions"):
            read(tmp_path / name)  # but there is nothing to fit


def test_parquet_that_is_not_a_log_names_the_problem(tmp_path):
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "other.parquet")
    with pytest.raises(FormatError, match="no column"):
        read(tmp_path / "other.parquet")  # read as a long table, which it is not
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(FormatError, match="not a readable Parquet file"):
        read(tmp_path / "junk.parquet")


def test_parquet_row_with_wrong_list_length_names_the_row(tmp_path, make_sessions):
    from clicklog.io_parquet import _metadata

    s = make_sessions(seed=9)
    table = session_table(s)
    bad_length = s.length.copy()
    bad_length[4] = s.length[4] - 1 if s.length[4] > 1 else 2
    table = table.set_column(1, "length", pa.array(bad_length))
    with pq.ParquetWriter(tmp_path / "bad.parquet", table.schema, store_schema=False) as w:
        w.write_table(table)
        w.add_key_value_metadata(_metadata(s))
    with pytest.raises(FormatError) as err:
        read(tmp_path / "bad.parquet")
    assert err.value.line == 5 and "row 5" in str(err.value)


def test_read_many_shares_one_index_space(tmp_path, make_sessions, same_by_ids):
    a, b = make_sessions(seed=10), make_sessions(seed=11, string_ids=True)
    write(a, tmp_path / "a.tsv")
    write(b, tmp_path / "b.parquet")
    ra, rb = read_many([tmp_path / "a.tsv", tmp_path / "b.parquet"])
    for name in ("query_ids", "doc_ids", "qd_query", "qd_doc"):
        np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name))
    same_by_ids(a, ra)
    same_by_ids(b, rb)
    # one (query, doc) pair has one index whichever file it came from
    pair_a = {(q, d): i for i, (q, d) in enumerate(zip(ra.qd_query, ra.qd_doc, strict=True))}
    assert len(pair_a) == ra.n_qd


def test_read_many_on_the_same_log_twice_gives_equal_indices(tmp_path, make_sessions):
    write(make_sessions(seed=12), tmp_path / "a.tsv")
    one, two = read_many([tmp_path / "a.tsv", tmp_path / "a.tsv"])
    np.testing.assert_array_equal(one.qd, two.qd)
    np.testing.assert_array_equal(one.query, two.query)


def test_vocabulary_indices_are_stable_and_mixed_kinds_become_strings():
    v = Vocabulary()
    np.testing.assert_array_equal(v.doc_index(np.array([50, 7, 50])), [0, 1, 0])
    np.testing.assert_array_equal(v.doc_index(np.array(["7", "x", "50"])), [1, 2, 0])
    assert list(v.doc_ids) == ["50", "7", "x"]
    np.testing.assert_array_equal(v.qd_index(np.array([0, 1, 0]), np.array([2, 2, 2])), [0, 1, 0])
    assert list(v.qd_query) == [0, 1] and list(v.qd_doc) == [2, 2]


def test_adopt_pads_labels_and_features_of_unknown_entries(make_sessions):
    s = make_sessions(seed=13, extras=True)
    v = Vocabulary()
    v.doc_index(np.array(["never-in-s"]))
    adopted = v.adopt(s)
    assert adopted.n_docs == s.n_docs + 1
    assert np.all(np.isnan(adopted.doc_features[0]))
    np.testing.assert_array_equal(adopted.doc_features[1:], s.doc_features)
    np.testing.assert_array_equal(adopted.doc_ids[adopted.doc[s.mask]], s.doc_ids[s.doc[s.mask]])
    np.testing.assert_array_equal(adopted.labels[adopted.qd[s.mask]], s.labels[s.qd[s.mask]])


def test_reading_into_an_existing_sessions_vocabulary(tmp_path, make_sessions):
    train, other = make_sessions(seed=14), make_sessions(seed=15)
    write(other, tmp_path / "other.tsv")
    into = read(tmp_path / "other.tsv", vocabulary=Vocabulary.of(train))
    # train's indices are kept, so parameters fitted on train index `into` directly
    assert into.n_qd >= train.n_qd
    np.testing.assert_array_equal(into.qd_query[: train.n_qd], train.qd_query)
    np.testing.assert_array_equal(into.doc_ids[: train.n_docs], train.doc_ids)
    np.testing.assert_array_equal(into.query_ids[into.query], other.query_ids[other.query])


def _rewrite_metadata(tmp_path, s, change) -> str:
    from clicklog.io_parquet import _metadata

    table = session_table(s)
    meta = change(_metadata(s))
    path = tmp_path / "broken.parquet"
    with pq.ParquetWriter(path, table.schema, store_schema=False) as w:
        w.write_table(table, row_group_size=100)
        w.add_key_value_metadata(meta)
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: {**m, b"clickfit": b"{not json"}, "broken clickfit metadata"),
        (lambda m: {k: v for k, v in m.items() if k != b"clickfit.doc_ids"},
         "broken clickfit metadata (missing b'clickfit.doc_ids')"),
        (lambda m: {**m, b"clickfit.qd": b"garbage"}, "broken clickfit metadata"),
        (lambda m: {**m, b"clickfit": b'{"format_version": 1}'}, "missing 'K'"),
        (lambda m: {**m, b"clickfit": b"[1]"}, "broken clickfit metadata"),
    ],
)
def test_broken_clickfit_metadata_is_a_format_error(tmp_path, make_sessions, change, problem):
    path = _rewrite_metadata(tmp_path, make_sessions(seed=14), change)
    with pytest.raises(FormatError) as err:
        read(path)
    assert problem in str(err.value) and str(err.value).startswith(str(path))


def test_page_longer_than_k_names_the_row_group(tmp_path, make_sessions):
    import json

    s = make_sessions(seed=15, n=250)

    def narrow(meta):
        info = json.loads(meta[b"clickfit"])
        info["K"] = s.K - 1
        return {**meta, b"clickfit": json.dumps(info).encode()}

    path = _rewrite_metadata(tmp_path, s, narrow)
    with pytest.raises(FormatError, match=r"row \d+: row group 0: a page of 6 results, longer "
                       "than the file's page width K = 5"):
        read(path)
    with pytest.raises(FormatError, match=r"row \d+: row group 0: a page of 6 results"):
        list(iter_parquet(path))


def test_nul_in_stored_ids_is_refused_not_merged(tmp_path, make_sessions):
    s = make_sessions(seed=16)
    ids = s.doc_ids.astype(object)
    ids[1] = ids[0] + "\x00"
    from clicklog.io_parquet import _ipc

    path = _rewrite_metadata(
        tmp_path, s, lambda m: {**m, b"clickfit.doc_ids": _ipc(pa.table({"id": pa.array(ids)}))}
    )
    with pytest.raises(FormatError, match="NUL character in doc_ids"):
        read(path)


def test_unknown_output_extension_is_a_format_error(tmp_path, make_sessions):
    with pytest.raises(FormatError, match=r"out.json: cannot write this file name"):
        write(make_sessions(seed=17), tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
