"""Long logs with the user's own columns: CSV through pyarrow's reader (quoting, gzip), long
Parquet from pandas, DataFrames, rank bases and feature columns; and the e-commerce log of
issue 10 against the same log in the native format."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import em
from benchmarks.data_commands import describe
from clicklog import FormatError, from_arrays, from_frame, read, write

MAPPING = {"session_id": "session", "query": "query_text", "doc": "product_id",
           "rank": "position", "click": "clicked"}


def shop_sessions(n: int = 400, seed: int = 3):
    """A log with query texts holding commas and quotes, and product ids like 'p017'."""
    rng = np.random.default_rng(seed)
    K = 5
    query = rng.integers(0, 12, n)
    docs = np.stack([rng.permutation(30)[:K] for _ in range(n)])
    length = rng.integers(2, K + 1, n)
    attraction = rng.uniform(0.05, 0.6, 30)
    examination = 0.9 ** np.arange(K)
    click = rng.random((n, K)) < attraction[docs] * examination
    query_ids = np.array([f'shoes, size {i}' if i % 3 else f'bag "{i}", red' for i in range(12)])
    doc_ids = np.array([f"p{i:03d}" for i in range(30)])
    return from_arrays(query, docs, click, length, None, query_ids, doc_ids)


def shop_frame(s) -> pd.DataFrame:
    """The e-commerce export: one row per shown result, own names, 0-based positions."""
    mask = s.mask
    row, rank = np.nonzero(mask)
    return pd.DataFrame({
        "session": 1000 + row,
        "query_text": s.query_ids[s.query[row]],
        "product_id": s.doc_ids[s.doc[mask]],
        "position": rank,
        "clicked": s.click[mask].astype(int),
    })


def test_ecommerce_csv_matches_the_native_log(tmp_path):
    s = shop_sessions()
    write(s, tmp_path / "native.tsv")
    frame = shop_frame(s)
    frame.to_csv(tmp_path / "shop.csv", index=False)
    text = (tmp_path / "shop.csv").read_text()
    assert '"shoes, size 1"' in text and '"bag ""0"", red"' in text  # pandas quoted them
    native = read(tmp_path / "native.tsv")
    shop = read(tmp_path / "shop.csv", columns=MAPPING)
    assert shop.report.rank_base == "0 (detected)" and native.report.rank_base == "1 (detected)"
    a, b = describe(native), describe(shop)
    for key in ("sessions", "queries", "documents", "qd_pairs", "clicks", "per_rank"):
        assert a[key] == b[key], key
    assert [r["clicks"] for r in a["per_rank"]] == list(s.click.sum(axis=0))
    assert set(shop.query_ids) == set(s.query_ids[s.query])  # the quoted texts, verbatim
    fit_native = em.fit("pbm", native, max_iter=30)
    fit_shop = em.fit("pbm", shop, max_iter=30)
    assert fit_shop.objective(shop) == pytest.approx(fit_native.objective(native), abs=1e-12)
    np.testing.assert_allclose(fit_shop.params["examination"], fit_native.params["examination"],
                               atol=1e-12)
    # the same log from pandas, in memory and as a long Parquet file, reads the same
    same = from_frame(frame, columns=MAPPING)
    frame.to_parquet(tmp_path / "shop.parquet")
    from_parquet = read(tmp_path / "shop.parquet", columns=MAPPING)
    for other in (same, from_parquet):
        for name in ("query", "qd", "doc", "click", "length", "query_ids", "doc_ids"):
            np.testing.assert_array_equal(getattr(other, name), getattr(shop, name), name)
    assert from_parquet.report.format == "long-parquet"


def test_quoted_commas_gzip_and_a_bom(tmp_path):
    text = ("\ufeffsession,query_text,product_id,position,clicked\n"
            '1,"a, b",x,1,1\n1,"a, b",y,2,0\n\n2,"say ""hi""",x,1,0\n')
    (tmp_path / "log.csv.gz").write_bytes(gzip.compress(text.encode()))
    s = read(tmp_path / "log.csv.gz", columns=MAPPING)
    assert list(s.query_ids) == ["a, b", 'say "hi"']
    np.testing.assert_array_equal(s.length, [2, 1])
    (tmp_path / "log.txt").write_text(text.replace("session,", "session_id,").replace(
        "query_text", "query").replace("product_id", "doc").replace("position", "rank")
        .replace("clicked", "click"))
    assert read(tmp_path / "log.txt").n == 2  # the BOM does not hide the header from sniffing


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ('1,"a, b",x,0,1\n1,"a, b",y,1,0,7\n', 3, "expected 5 fields, found 6"),
        ("1,q,x,0,1\n\n\n1,q,y,0,0\n", 5, "has rank 0 twice (also on line 2)"),
        ("1,q,x,0,1\n2,q,y,2,0\n", 3, "session '2' has no rank 0"),
        ("1,q,x,0,1\n1,r,y,1,0\n", 3, "query 'r' differs from 'q' on line 2"),
        ("1,q,x\x00z,0,1\n", 2, "a NUL character in doc"),
        ("1,q,x,0,maybe\n", 2, "click must be 0 or 1"),
    ],
)
def test_errors_name_the_line(tmp_path, body, line, problem):
    path = tmp_path / "log.csv"
    path.write_text("session,query_text,product_id,position,clicked\n" + body)
    with pytest.raises(FormatError) as err:
        read(path, columns=MAPPING)
    assert err.value.line == line, str(err.value)
    assert problem in str(err.value) and str(err.value).startswith(f"{path}, line {line}: ")


def test_rank_base_given_or_detected(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("session_id,query,doc,rank,click\n1,q,x,1,1\n1,q,y,2,0\n2,q,y,1,0\n")
    assert read(path).report.rank_base == "1 (detected)"
    given = read(path, rank_base=1)
    assert given.report.rank_base == "1 (given)" and given.K == 2
    with pytest.raises(FormatError, match="session '1' has no rank 0"):
        read(path, rank_base=0)
    path.write_text("session_id,query,doc,rank,click\n1,q,x,0,1\n")
    with pytest.raises(FormatError, match="rank 0 below the rank base 1"):
        read(path, rank_base=1)
    with pytest.raises(ValueError, match="rank_base"):
        read(path, rank_base=2)


def test_frame_with_typed_columns_and_errors_naming_rows():
    frame = pd.DataFrame({"s": ["a", "a", "b"], "q": pd.Categorical(["x", "x", "y"]),
                          "d": [10, 11, 10], "r": [1, 2, 1], "c": [True, False, True],
                          "w": [2.0, 2.0, 1.0]})
    mapping = {"session_id": "s", "query": "q", "doc": "d", "rank": "r", "click": "c",
               "weight": "w"}
    s = from_frame(frame, columns=mapping)
    assert s.doc_ids.dtype == np.int64 and list(s.query_ids) == ["x", "y"]
    np.testing.assert_array_equal(s.weight, [2.0, 1.0])
    frame.loc[1, "w"] = 3.0
    with pytest.raises(FormatError, match=r"DataFrame, row 2: weight 3.0 differs from 2.0 on "
                                          "row 1"):
        from_frame(frame, columns=mapping)
    with pytest.raises(ValueError, match="unknown column name"):
        from_frame(frame, columns={"sessions": "s"})
    with pytest.raises(FormatError, match="no column"):
        from_frame(frame)
    empty = frame.iloc[:0]
    with pytest.raises(FormatError, match="no sessions"):
        from_frame(empty, columns=mapping)


def test_feature_columns_by_name_and_prefix(tmp_path):
    text = ("session_id,query,doc,rank,click,feat_a,feat_b,device\n"
            "1,q,x,1,1,0.5,1,0\n1,q,y,2,0,0.25,2,0\n2,q,x,1,0,0.5,1,1\n")
    path = tmp_path / "log.csv"
    path.write_text(text)
    s = read(path, qd_features="feat_", bias_features=["device"])
    np.testing.assert_array_equal(s.qd_features, [[0.5, 1], [0.25, 2]])
    np.testing.assert_array_equal(s.bias_features[:, :, 0], [[0, 0], [1, 0]])
    assert read(path).qd_features is None  # not asked for, not taken
    # the long writer writes them under its own prefixes and the reader takes them back
    write(s, tmp_path / "back.tsv")
    back = read(tmp_path / "back.tsv")
    np.testing.assert_array_equal(back.qd_features, s.qd_features)
    np.testing.assert_array_equal(back.bias_features, s.bias_features)
    path.write_text(text.replace("2,q,x,1,0,0.5", "2,q,x,1,0,0.75"))
    with pytest.raises(FormatError) as err:
        read(path, qd_features=["feat_a", "feat_b"])
    assert err.value.line == 4 and "differ from those on line 2" in str(err.value)
    with pytest.raises(FormatError, match="no qd feature columns start with 'zz'"):
        read(path, qd_features="zz")
    path.write_text(text.replace("0.25", "abc"))
    with pytest.raises(FormatError, match="line 3: qd feature feat_a must be a number"):
        read(path, qd_features="feat_")


def test_long_parquet_without_clickfit_metadata_reads_like_csv(tmp_path):
    table = pa.table({"session_id": [1, 1, 2], "query": ["q", "q", "r"], "doc": [5, 6, 5],
                      "rank": [0, 1, 0], "click": [1, 0, 1]})
    pq.write_table(table, tmp_path / "long.parquet")
    s = read(tmp_path / "long.parquet")
    np.testing.assert_array_equal(s.length, [2, 1])
    assert s.report.rank_base == "0 (detected)"
    pq.write_table(table.set_column(3, "rank", pa.array([0, 0, 0])), tmp_path / "bad.parquet")
    with pytest.raises(FormatError, match=r"bad.parquet, row 2: session 1 has rank 0 twice"):
        read(tmp_path / "bad.parquet")


def test_the_example_shop_log_is_what_its_script_writes():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("make_shop", root / "examples/make_shop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.shop_log()
    on_disk = read(root / "examples/shop.csv", columns={**MAPPING}, qd_features="feat_",
                   bias_features=["is_phone"])
    fresh = from_frame(frame, columns=MAPPING, qd_features="feat_", bias_features=["is_phone"])
    for name in ("query", "qd", "doc", "click", "length", "query_ids", "doc_ids",
                 "qd_features", "bias_features"):
        np.testing.assert_array_equal(getattr(on_disk, name), getattr(fresh, name), name)
    assert on_disk.report.rank_base == "0 (detected)"
