"""`clickfit data stats/convert` on a user's own long log: --columns, --rank-base, feature
options, and the argument helper other commands reuse."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.data_commands import add_log_arguments, log_options
from clicklog import read

SHOP = (
    "session,query_text,product_id,position,clicked,feat_price,device\n"
    '1,"red shoes, size 9",p1,0,1,9.5,1\n'
    '1,"red shoes, size 9",p2,1,0,12,1\n'
    "2,bag,p1,0,0,9.5,0\n"
    "2,bag,p3,1,1,30,0\n"
    "2,bag,p2,2,0,12,0\n"
)
COLUMNS = "session_id=session,query=query_text,doc=product_id,rank=position,click=clicked"


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text(SHOP)
    return path


def test_stats_with_own_columns_reports_the_rank_base(shop, capsys):
    assert main(["data", "stats", str(shop), "--columns", COLUMNS, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["sessions"] == 2 and stats["clicks"] == 2
    assert [r["clicks"] for r in stats["per_rank"]] == [1, 1, 0]
    assert stats["read_report"]["rank_base"] == "0 (detected)"
    assert main(["data", "stats", str(shop), "--columns", COLUMNS]) == 0
    assert "rank base (number of the first rank)" in capsys.readouterr().out


def test_rank_base_option_and_bad_values(shop, capsys):
    assert main(["data", "stats", str(shop), "--columns", COLUMNS, "--rank-base", "1"]) == 1
    assert capsys.readouterr().err == (
        f"clickfit: error: {shop}, line 2: rank 0 below the rank base 1\n"
    )
    with pytest.raises(SystemExit):
        main(["data", "stats", str(shop), "--rank-base", "2"])
    with pytest.raises(SystemExit):
        main(["data", "stats", str(shop), "--columns", "session_id"])
    assert main(["data", "stats", str(shop)]) == 1
    assert "no column(s) session_id" in capsys.readouterr().err


def test_convert_with_features_to_parquet_and_clax(shop, tmp_path, capsys):
    out = tmp_path / "shop.parquet"
    args = ["data", "convert", str(shop), str(out), "--columns", COLUMNS,
            "--qd-features", "feat_*", "--bias-features", "device"]
    assert main(args) == 0
    s = read(out)
    np.testing.assert_array_equal(s.qd_features[:, 0], [9.5, 12, 9.5, 30, 12])
    np.testing.assert_array_equal(s.bias_features[:, :, 0], [[1, 1, 0], [0, 0, 0]])
    capsys.readouterr()
    assert main(["data", "convert", str(out), str(tmp_path / "s.tsv")]) == 0
    assert read(tmp_path / "s.tsv").qd_features is not None
    capsys.readouterr()
    assert main(["data", "convert", str(out), str(tmp_path / "c.pq"), "--to", "clax"]) == 1
    assert "integer ids" in capsys.readouterr().err  # product ids p1.. are strings
    assert main(["data", "convert", str(out), str(tmp_path / "x.json")]) == 1
    assert "x.json: cannot write this file name" in capsys.readouterr().err


def test_the_helper_parses_every_option():
    parser = argparse.ArgumentParser()
    add_log_arguments(parser)
    args = parser.parse_args(["--columns", "query=q, doc=d", "--rank-base", "auto",
                              "--qd-features", "a,b", "--bias-features", "dev_*"])
    assert log_options(args) == {"columns": {"query": "q", "doc": "d"}, "rank_base": "auto",
                                 "qd_features": ["a", "b"], "bias_features": "dev_"}
    assert log_options(parser.parse_args([])) == {}
