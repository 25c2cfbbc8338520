"""clicklog.io_letor: LETOR lines read back exactly; every malformed line named by file and line."""

from __future__ import annotations

import numpy as np
import pytest

from clicklog.io_letor import letor_files, read_letor
from clicklog.io_report import FormatError

LINES = """\
2 qid:10 1:0.5 2:1.0 #docid = A inc = 1
0 qid:10 1:0.1 2:0.0 #docid = B

1 qid:20 1:-0.25 2:3e-1 #docid = A
"""


def test_reads_labels_ids_and_features(tmp_path):
    (tmp_path / "b.txt").write_text(LINES)
    (tmp_path / "a.txt").write_text("0 qid:5 1:1 2:2 #docid = Z\n")
    (tmp_path / "notes.md").write_text("not LETOR")
    data = read_letor(tmp_path)
    assert [f.name for f in letor_files(tmp_path)] == ["a.txt", "b.txt"]
    assert list(data.qid) == ["5", "10", "10", "20"]
    assert list(data.docid) == ["Z", "A", "B", "A"]
    np.testing.assert_array_equal(data.label, [0, 2, 0, 1])
    assert data.features.dtype == np.float32 and data.n == 4
    np.testing.assert_array_equal(data.features[3], np.float32([-0.25, 0.3]))


@pytest.mark.parametrize("line, problem", [
    ("2 1:0.5 2:1.0 #docid = X", "expected 'label qid:ID"),
    ("x qid:1 1:0.5 2:1.0 #docid = X", "label 'x' is not an integer"),
    ("-1 qid:1 1:0.5 2:1.0 #docid = X", "label -1 is negative"),
    ("1 qid:1 1:0.5 3:1.0 #docid = X", "expected 2:v"),
    ("1 qid:1 1:0.5 2:oops #docid = X", "feature 2 = 'oops' is not a number"),
    ("1 qid:1 1:0.5 2:1.0", "missing '#docid = ID'"),
    ("1 qid:1 1:0.5 #docid = X", "1 features where the first line has 2"),
    ("1 qid:10 1:0.5 2:1.0 #docid = B", "document B of query 10 is judged again"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.txt"
    path.write_text(LINES + line + "\n")
    with pytest.raises(FormatError, match=r"bad\.txt, line 5: ") as err:
        read_letor(path)
    assert problem in str(err.value)
    assert err.value.line == 5


def test_missing_or_empty_input(tmp_path):
    with pytest.raises(FormatError, match="no LETOR file"):
        read_letor(tmp_path / "absent.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(FormatError, match="no LETOR lines"):
        read_letor(tmp_path)
