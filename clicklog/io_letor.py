"""Reader of LETOR learning-to-rank files (MQ2007, MQ2008, OHSUMED, ...).

A LETOR line is `label qid:ID 1:v1 2:v2 ... F:vF #docid = DOCID [more comment]`: a graded
relevance judgment (a non-negative integer, 0/1/2 in MQ2008), the query id, the F features of
the (query, document) pair numbered 1..F in order, and the document id in the comment. Blank
lines are skipped. A directory is read as all of its *.txt files in name order (e.g. an MQ2008
fold's train/vali/test), one table of rows in file order.

Anything else raises clicklog.FormatError naming the file, the 1-based line and the problem:
a missing `qid:`, a non-integer or negative label, a feature that is not a number or out of
order, a missing `#docid = ID`, a feature count that differs from the first line's, a
(query, document) pair judged twice. The benchmarks build simulated click logs on top of this
(benchmarks.simulate.letor); it lives in clicklog because it is a reader of a public format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clicklog.io_report import FormatError


@dataclass(frozen=True)
class Letor:
    """One entry per judged (query, document) line, in file order.

    label int64 [n], qid str [n], docid str [n], features float32 [n, F].
    """

    label: np.ndarray
    qid: np.ndarray
    docid: np.ndarray
    features: np.ndarray

    @property
    def n(self) -> int:
        return int(self.label.shape[0])


def _parse_line(text: str, path: Path, number: int) -> tuple[int, str, str, list[float]]:
    body, _, comment = text.partition("#")
    tokens = body.split()
    if len(tokens) < 2 or not tokens[1].startswith("qid:") or len(tokens[1]) == 4:
        raise FormatError(path, number, f"expected 'label qid:ID 1:v ...', got {text[:60]!r}")
    try:
        label = int(tokens[0])
    except ValueError:
        raise FormatError(path, number, f"label {tokens[0]!r} is not an integer") from None
    if label < 0:
        raise FormatError(path, number, f"label {label} is negative")
    values = []
    for position, token in enumerate(tokens[2:], start=1):
        key, colon, value = token.partition(":")
        if not colon or key != str(position):
            raise FormatError(path, number, f"feature {token!r}: features must read "
                                            f"1:v 2:v ... in order, expected {position}:v")
        try:
            values.append(float(value))
        except ValueError:
            raise FormatError(path, number, f"feature {key} = {value!r} is not a number") from None
    words = comment.split()
    if len(words) < 3 or words[0] != "docid" or words[1] != "=":
        raise FormatError(path, number, "missing '#docid = ID' after the features")
    return label, tokens[1][4:], words[2], values


def letor_files(path: str | os.PathLike) -> list[Path]:
    """A LETOR file, or every *.txt file of a directory in name order."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FormatError(path, None, "no LETOR file there (a file, or a directory of *.txt)")
    return files


def read_letor(path: str | os.PathLike) -> Letor:
    """Read a LETOR file or directory (module docstring for the format and the errors)."""
    labels, qids, docids, features = [], [], [], []
    seen: dict[tuple[str, str], str] = {}
    width = None
    for file in letor_files(path):
        with open(file, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                label, qid, docid, values = _parse_line(text, file, number)
                if width is None:
                    width = len(values)
                elif len(values) != width:
                    raise FormatError(file, number, f"{len(values)} features where the first "
                                                    f"line has {width}")
                if (qid, docid) in seen:
                    raise FormatError(file, number, f"document {docid} of query {qid} is "
                                                    f"judged again (first at {seen[qid, docid]})")
                seen[qid, docid] = f"{file.name}:{number}"
                labels.append(label)
                qids.append(qid)
                docids.append(docid)
                features.append(values)
    if width is None:
        raise FormatError(path, None, "no LETOR lines (every file is empty)")
    return Letor(
        label=np.array(labels, np.int64),
        qid=np.array(qids),
        docid=np.array(docids),
        features=np.array(features, np.float32).reshape(len(labels), width),
    )
