"""The text machinery the readers share (clicklog.io_text): lines, bytes, weights."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from clicklog import FormatError, read
from clicklog.io_text import float32_weights, read_bytes, read_text, split_lines

TSV = "session_id\tquery\tdoc\trank\tclick\ns1\tq1\ta\t1\t0\ns1\tq1\tb\t2\t0\ns2\tq2\tc\t1\t1"


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("a\nb", ["a", "b"]),
        ("a\nb\n", ["a", "b"]),
        ("a\r\nb\r\n", ["a", "b"]),
        ("a\n\nb", ["a", "", "b"]),
        ("", []),
        ("\n", [""]),
    ],
)
def test_split_lines_keeps_a_last_line_without_newline(text, lines):
    assert split_lines(text).to_pylist() == lines


@pytest.mark.parametrize("end", ["", "\n", "\r\n"])
def test_a_tsv_without_final_newline_keeps_its_last_session(tmp_path, end):
    path = tmp_path / "log.tsv"
    path.write_text(TSV + end)
    s = read(path)
    assert s.n == 2 and s.report.lines == 4
    assert list(s.query_ids[s.query]) == ["q1", "q2"]
    assert s.doc_ids[s.doc[1, 0]] == "c" and s.length[1] == 1
    np.testing.assert_array_equal(s.click, [[False, False], [True, False]])


def test_read_bytes_and_read_text(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress("\ufeffé\n".encode()))
    assert read_bytes(tmp_path / "a.gz", 2) == b"\xef\xbb"
    assert read_text(tmp_path / "a.gz") == "é\n"  # the byte-order mark dropped
    (tmp_path / "nul").write_bytes(b"a\nb\nc\0\n")
    with pytest.raises(FormatError, match=r"nul, line 3: a NUL byte"):
        read_text(tmp_path / "nul")


def test_float32_weights_names_the_first_line_out_of_float32_range():
    lines = np.array([2, 3, 5, 8])
    good = np.array([1.0, 2.5, 1e38, 1e-44])
    np.testing.assert_array_equal(float32_weights("f", good, lines), good.astype(np.float32))
    for bad, at in ((1e300, 2), (1e39, 3), (1e-50, 5), (-1.0, 8), (np.nan, 2)):
        weight = good.copy()
        weight[lines.tolist().index(at)] = bad
        with pytest.raises(FormatError) as err:
            float32_weights("f", weight, lines)
        assert err.value.line == at and "not a positive finite float32" in err.value.problem
