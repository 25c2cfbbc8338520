"""The long TSV/CSV format: reading by hand, and one test per failure mode."""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import FormatError, read
from clicklog.io_long import read_long

HEADER = "session_id\tquery\tdoc\trank\tclick\n"
# s2's lines come in reverse rank order and s1's are not adjacent: both are allowed.
LONG = HEADER + (
    "s1\tq\td1\t1\t0\n"
    "s1\tq\td2\t2\t1\n"
    "s2\tq2\td2\t2\t0\n"
    "s2\tq2\td3\t1\t1\n"
    "\n"
    "s1\tq\td3\t3\t0\n"
)


def write(tmp_path, text, name="log.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tsv_by_hand(tmp_path):
    s = read_long(write(tmp_path, LONG))
    assert list(s.query_ids) == ["q", "q2"]
    assert list(s.doc_ids) == ["d1", "d2", "d3"]
    np.testing.assert_array_equal(s.length, [3, 2])
    np.testing.assert_array_equal(s.doc, [[0, 1, 2], [2, 1, -1]])
    np.testing.assert_array_equal(s.click.astype(int), [[0, 1, 0], [1, 0, 0]])
    assert s.report.format == "tsv" and s.report.clicks_in_file == 2
    assert s.report.sessions == 2 and s.report.lines == 7


def test_csv_with_weights_extra_columns_and_integer_ids(tmp_path):
    text = (
        "rank,click,session_id,query,doc,weight,note\n"
        "1,1,7,100,5,2.5,x\n"
        "2,0,7,100,6,2.5,y\n"
        "1,0,8,101,6,1,z\n"
    )
    s = read(write(tmp_path, text, "log.csv"))
    assert s.report.format == "csv"
    assert s.query_ids.dtype == np.int64 and list(s.query_ids) == [100, 101]
    assert list(s.doc_ids) == [5, 6]
    np.testing.assert_array_equal(s.weight, np.array([2.5, 1.0], np.float32))
    np.testing.assert_array_equal(s.length, [2, 1])


def test_delimiter_sniffed_from_the_header(tmp_path):
    path = write(tmp_path, LONG.replace("\t", ","), "log.txt")
    assert read_long(path).report.format == "csv"
    assert read(path).n == 2


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("s1\tq\td1\t1\n", 2, "expected 5 fields, found 4"),
        ("s1\tq\td1\t1\t0\ns1\tq\td2\tx\t0\n", 3, "rank must be an integer, got 'x'"),
        ("s1\tq\td1\t-1\t0\n", 2, "rank -1 is negative"),
        ("s1\tq\td1\t40000\t0\n", 2, "rank 40000 exceeds 32767"),
        ("s1\tq\td1\t1\t2\n", 2, "click must be 0 or 1 (or true/false), got '2'"),
        ("s1\tq\td1\t1\tyes\n", 2, "click must be 0 or 1 (or true/false), got 'yes'"),
        ("s1\tq\td1\t1\t0\ns1\tq\td2\t1\t1\n", 3, "session 's1' has rank 1 twice (also on line 2)"),
        ("s0\tq\td1\t1\t0\ns1\tq\td1\t1\t0\ns1\tq\td2\t3\t1\n", 3, "session 's1' has no rank 2"),
        ("s1\tq\td2\t2\t0\n", 2, "session 's1' has no rank 1"),
        ("s1\tq\td1\t1\t0\ns1\tq9\td2\t2\t0\n", 3, "query 'q9' differs from 'q' on line 2"),
        ("s1\tq\t\t1\t0\n", 2, "empty doc"),
        ("\tq\td\t1\t0\n", 2, "empty session_id"),
    ],
)
def test_malformed_rows(tmp_path, body, line, problem):
    path = write(tmp_path, HEADER + body)
    with pytest.raises(FormatError) as err:
        read_long(path)
    assert err.value.line == line
    assert problem in str(err.value)
    assert str(err.value).startswith(f"{path}, line {line}: ")


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("s\tq\td\t1\t0\t2\ns\tq\te\t2\t0\t3\n", 3, "weight 3.0 differs from 2.0 on line 2"),
        ("s\tq\td\t1\t0\t-1\n", 2, "weight must be a positive finite number, got -1.0"),
        ("s\tq\td\t1\t0\tabc\n", 2, "weight must be a number, got 'abc'"),
        ("s\tq\td\t1\t0\t0\n", 2, "positive finite number, got 0.0"),
    ],
)
def test_malformed_weights(tmp_path, body, line, problem):
    path = write(tmp_path, HEADER.replace("click", "click\tweight") + body)
    with pytest.raises(FormatError) as err:
        read_long(path)
    assert err.value.line == line and problem in str(err.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("session_id\tquery\tdoc\trank\n", "no column(s) click"),
        ("session_id\tquery\tdoc\trank\tclick\tclick\n", "click appear twice"),
        ("session_id query doc rank click\n", "cannot tell the delimiter"),
    ],
)
def test_bad_header(tmp_path, text, problem):
    path = write(tmp_path, text, "log.txt")
    with pytest.raises(FormatError) as err:
        read_long(path)
    assert err.value.line == 1 and problem in str(err.value)


@pytest.mark.parametrize("text", ["", "\n\n", HEADER, "\ufeff" + HEADER + "\n"])
def test_empty_and_header_only_files_are_no_sessions(tmp_path, text):
    with pytest.raises(FormatError, match="no sessions"):
        read(write(tmp_path, text))


def test_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes(b"\xef\xbb\xbfsession_id,query,doc,rank,click\r\n1,q,d,1,1\r\n")
    s = read_long(path)
    assert list(s.doc_ids) == ["d"] and s.click[0, 0]


def test_text_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(HEADER.encode() + b"s\tq\td\t1\t0\ns\tq\t\xe9t\xe9\t2\t0\n")
    with pytest.raises(FormatError) as err:
        read_long(path)
    assert err.value.line == 3 and "not UTF-8" in str(err.value)
