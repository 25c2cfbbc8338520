"""The Relevance Prediction Challenge log reader, on tests/clicklog/fixtures/relpred_log.txt.

The fixture, line by line (blank line 9):
  1  session 1 queries 1974 in region 0: URLs 11..20          -> row 0
  2  click 12 (rank 2)   3  click 12 again (merged)   4  click 99 (not on the page)
  5  session 1 queries 1974 in region 2: URLs 20, 11, 21      -> row 1
  6  click 11 (rank 2 of row 1, the latest query of session 1)
  7  session 2 clicks 13 before any query (dropped)
  8  session 2 queries 1974 in region 0: 13 11 12 14 .. 20    -> row 2
 10  click 20 (rank 10 of row 2)   11  session 1 clicks 21 (rank 3 of row 1: interleaved
     sessions still find their own latest query)   12  session 2 clicks 13 (rank 1)
"""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import FormatError, read
from clicklog.io_yandex import read_yandex_log


@pytest.fixture
def log(fixtures_dir):
    return fixtures_dir / "relpred_log.txt"


def test_pages_and_clicks_by_hand(log):
    s = read_yandex_log(log)
    assert list(s.query_ids) == ["1974_0", "1974_2"]
    np.testing.assert_array_equal(s.query, [0, 1, 0])
    np.testing.assert_array_equal(s.length, [10, 3, 10])
    assert s.doc_ids.dtype == np.int64
    assert list(s.doc_ids) == list(range(11, 21)) + [21]
    np.testing.assert_array_equal(s.doc_ids[s.doc[1, :3]], [20, 11, 21])
    np.testing.assert_array_equal(s.doc_ids[s.doc[2]], [13, 11, 12, 14, 15, 16, 17, 18, 19, 20])
    expected = np.zeros((3, 10), bool)
    expected[0, 1] = expected[1, 1] = expected[1, 2] = expected[2, 9] = expected[2, 0] = True
    np.testing.assert_array_equal(s.click, expected)


def test_report(log):
    r = read_yandex_log(log).report
    assert (r.format, r.lines, r.sessions) == ("yandex-log", 12, 3)
    assert r.clicks_in_file == 8
    assert r.clicks_kept == 5
    assert r.duplicate_clicks == 1
    assert r.dropped_clicks_not_on_page == 1
    assert r.dropped_clicks_without_query == 1
    assert r.clicks_in_file == r.clicks_kept + r.duplicate_clicks + r.dropped_clicks


def test_query_without_region_is_pyclicks_convention(log):
    s = read_yandex_log(log, query_with_region=False)
    assert s.query_ids.dtype == np.int64 and list(s.query_ids) == [1974]
    np.testing.assert_array_equal(s.query, [0, 0, 0])
    # URL 11 under regions 0 and 2 is one query-document pair now, and two with the region
    assert s.qd[0, 0] == s.qd[1, 1]
    with_region = read_yandex_log(log)
    assert with_region.qd[0, 0] != with_region.qd[1, 1]
    assert with_region.qd[0, 0] == with_region.qd[2, 1]


def test_read_sniffs_the_log(log):
    assert read(log).report.format == "yandex-log"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("1\t0\tQ\t5\t0\t7\n1\t3\tX\t7\n", 2, "unknown action type 'X'"),
        ("1\t0\tQ\t5\t0\n", 1, "at least one URLID; found 5 fields"),
        ("1\t0\tQ\t5\t0\t7\n\n1\t3\tC\t7\t8\n", 3, "found 5 fields"),
        ("1\t0\tQ\t5\t0\t7\n1\tabc\tC\t7\n", 2, "must be an integer, got 'abc'"),
        ("1\t0\tQ\t5\t0\t7\t1.5\n", 1, "must be an integer, got '1.5'"),
        ("1 0 Q 5 0 7\n", 1, "expected tab-separated"),
    ],
)
def test_malformed_lines(tmp_path, text, line, problem):
    path = tmp_path / "log.txt"
    path.write_text(text)
    with pytest.raises(FormatError) as err:
        read_yandex_log(path)
    assert err.value.line == line and problem in str(err.value)
    assert str(path) in str(err.value)


def test_the_last_line_needs_no_newline(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("1\t0\tQ\t5\t0\t7\t8\n2\t0\tQ\t6\t0\t8\t9\n2\t4\tC\t9")
    s = read_yandex_log(path)
    assert s.report.lines == 3 and s.report.clicks_kept == 1
    np.testing.assert_array_equal(s.click, [[False, False], [False, True]])


@pytest.mark.parametrize("text", ["", "\n \n", "1\t0\tC\t7\n"])
def test_a_log_without_pages_is_an_error(tmp_path, text):
    path = tmp_path / "log.txt"
    path.write_text(text)
    with pytest.raises(FormatError) as err:
        read_yandex_log(path)
    assert str(err.value) == f"{path}: no sessions: no query (Q) line in the file"


def test_a_page_wider_than_int16_is_an_error(tmp_path):
    path = tmp_path / "log.txt"
    urls = "\t".join(map(str, range(40_000)))
    path.write_text(f"1\t0\tQ\t5\t0\t7\n1\t0\tQ\t5\t0\t{urls}\n")
    with pytest.raises(FormatError, match=r"line 2: more than 32767 URLs"):
        read_yandex_log(path)
