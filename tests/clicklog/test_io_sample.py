"""The compact Yandex sample reader: hand-checked arrays, drop counters and errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from clicklog import FormatError, read
from clicklog.io_sample import read_sample

SAMPLE = (
    "q1\ta,b,c : b , b , z;q2_0\tc,a,c,d :;\n"
    "q1\ta,b : a , c;\n"
    " q3\tx : x;\n"
    "q2_0\tc,a,c,d : c ;\n"
)


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sampleLog"
    path.write_text(SAMPLE)
    return path


def test_arrays_by_hand(sample):
    s = read_sample(sample)
    assert list(s.query_ids) == ["q1", "q2_0", "q3"]
    assert list(s.doc_ids) == ["a", "b", "c", "d", "x"]
    np.testing.assert_array_equal(s.query, [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(s.length, [3, 4, 2, 1, 4])
    np.testing.assert_array_equal(
        s.doc,
        [[0, 1, 2, -1], [2, 0, 2, 3], [0, 1, -1, -1], [4, -1, -1, -1], [2, 0, 2, 3]],
    )
    np.testing.assert_array_equal(
        s.click.astype(int),
        [[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]],
    )
    # the same (query, doc) shares one qd index, across ranks and sessions
    assert s.qd[1, 0] == s.qd[1, 2] == s.qd[4, 0]
    assert s.qd[0, 0] == s.qd[2, 0] != s.qd[1, 1]
    assert s.n_qd == 3 + 3 + 1
    np.testing.assert_array_equal(s.weight, np.ones(5, np.float32))


def test_report_counts_every_click(sample):
    r = read_sample(sample).report
    assert (r.format, r.lines, r.sessions) == ("sample", 4, 5)
    # b,b,z | - | a,c | x | c  = 7 clicks
    assert r.clicks_in_file == 7
    assert r.clicks_kept == 4
    assert r.duplicate_clicks == 1  # the second b
    assert r.dropped_clicks_not_on_page == 2  # z, and c on the page a,b
    assert r.clicks_on_repeated_doc == 1  # c shown at ranks 1 and 3: the click goes to rank 1
    assert r.clicks_in_file == r.clicks_kept + r.duplicate_clicks + r.dropped_clicks


def test_integer_ids_only_when_canonical(tmp_path):
    ints = tmp_path / "ints"
    ints.write_text("9_0\t12,7,30 : 7;")
    s = read_sample(ints)
    assert s.doc_ids.dtype == np.int64 and list(s.doc_ids) == [12, 7, 30]
    padded = tmp_path / "padded"
    padded.write_text("9_0\t12,7,003 : 7;")
    assert list(read_sample(padded).doc_ids) == ["12", "7", "003"]


def test_read_sniffs_the_sample_format(sample):
    assert read(sample).report.format == "sample"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("q1\ta,b : a;\nq2 a,b : a;", 2, "no tab"),
        ("q1\ta,b a;", 1, "no ':'"),
        ("q1\ta,,b : a;", 1, "empty document id"),
        ("q1\ta,b : a , ;", 1, "stray ','"),
        ("q1\ta : a;\n\n  q2\tb  c;", 3, "no ':'"),
        ("q1\t : a;", 1, "empty document id"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "bad"
    path.write_text(text)
    with pytest.raises(FormatError) as err:
        read_sample(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}, line {line}: ")
    assert problem in str(err.value)


@pytest.mark.parametrize("end", ["", "\n", "  \r\n"])
def test_the_last_session_needs_no_closing_semicolon(tmp_path, end):
    path = tmp_path / "sampleLog"
    path.write_text(f"q1\ta,b : a;\nq2\tc,d,e : e , c{end}")
    s = read_sample(path)
    assert s.n == 2 and s.report.sessions == 2
    assert list(s.query_ids[s.query]) == ["q1", "q2"]
    np.testing.assert_array_equal(s.doc_ids[s.doc[1]], ["c", "d", "e"])
    np.testing.assert_array_equal(s.click[1], [True, False, True])
    assert s.report.clicks_kept == s.report.clicks_in_file == 3


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("q1\ta,b : a;\nq2\ta,b : a : b;", 2, "a second ':'"),
        ("q1\ta,b :: a;", 1, "a second ':'"),
        ("q1\ta,b : a;\nq2\ta\0,a : a;", 2, "NUL byte"),
        ("q1\ta,b : a;\nq2\tcaf\xe9 : a;", 2, "not UTF-8"),
    ],
)
def test_malformed_bytes_and_sessions(tmp_path, text, line, problem):
    path = tmp_path / "bad"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FormatError) as err:
        read_sample(path)
    assert (err.value.line, str(err.value)[: len(str(path))]) == (line, str(path))
    assert problem in err.value.problem


@pytest.mark.parametrize("text", ["", "  \n\t\n", ";;\n;"])
def test_an_empty_log_is_an_error(tmp_path, text):
    path = tmp_path / "empty"
    path.write_text(text)
    with pytest.raises(FormatError, match="no sessions"):
        read_sample(path)


def test_gzip_files_read_and_broken_gzip_is_a_format_error(tmp_path):
    whole = gzip.compress(SAMPLE.encode())
    (tmp_path / "ok.gz").write_bytes(whole)
    assert read_sample(tmp_path / "ok.gz").n == 5
    cases = {
        "truncated.gz": (whole[: len(whole) // 2], "truncated"),
        "plain.gz": (SAMPLE.encode(), "not a valid gzip file"),
    }
    for name, (data, problem) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FormatError) as err:
            read_sample(tmp_path / name)
        assert str(err.value).startswith(f"{tmp_path / name}: ") and problem in str(err.value)
