"""`read` and `read_many`: pick the reader for a file and share one index space across files.

Formats (FORMATS): "sample" (compact Yandex sample, clicklog.io_sample), "yandex-log"
(Relevance Prediction Challenge log, clicklog.io_yandex), "tsv" and "csv" (the long format,
clicklog.io_long) and "parquet" (clicklog.io_parquet). Every reader returns Sessions whose
`report` is the ReadReport of the read.

Without `format` the name decides (.parquet/.pq, .tsv/.tab, .csv, each optionally + .gz),
then the content: Parquet's magic bytes; a header line naming the long format's columns; a
first line `ID<TAB>TIME<TAB>Q|C<TAB>...` for the log; `QUERY<TAB>DOCS : CLICKS` for the sample.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Sequence
from pathlib import Path

from clicklog.formats import FORMATS, format_from_name
from clicklog.io_long import COLUMNS, read_long
from clicklog.io_parquet import read_parquet
from clicklog.io_report import FormatError
from clicklog.io_sample import read_sample
from clicklog.io_yandex import read_yandex_log
from clicklog.sessions import Sessions
from clicklog.vocabulary import Vocabulary

_LOG_LINE = re.compile(r"^\s*-?\d+\t\s*-?\d+\t\s*[QC]\s*\t")
_SAMPLE_LINE = re.compile(r"^[^\t;]+\t[^:;]*:")


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.read(1 << 16)
    return head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")


def sniff_format(path: str | os.PathLike) -> str:
    """The format of a file, from its name or else its first bytes (FormatError if neither)."""
    path = Path(path)
    named = format_from_name(path)
    if named is not None:
        return named
    with open(path, "rb") as f:
        if f.read(4) == b"PAR1":
            return "parquet"
    line = _first_line(path)
    for sep, name in (("\t", "tsv"), (",", "csv")):
        if set(COLUMNS) <= set(line.split(sep)):
            return name
    if _LOG_LINE.match(line):
        return "yandex-log"
    if _SAMPLE_LINE.match(line):
        return "sample"
    raise FormatError(
        path,
        1,
        f"cannot tell the format from the name or the first line; pass one of {', '.join(FORMATS)}",
    )


def read(
    path: str | os.PathLike,
    format: str | None = None,
    vocabulary: Vocabulary | None = None,
    **options,
) -> Sessions:
    """Sessions of one file; `options` go to the format's reader (e.g. query_with_region)."""
    format = sniff_format(path) if format is None else format
    if format == "sample":
        return read_sample(path, vocabulary, **options)
    if format == "yandex-log":
        return read_yandex_log(path, vocabulary, **options)
    if format in ("tsv", "csv"):
        return read_long(path, vocabulary, delimiter="\t" if format == "tsv" else ",", **options)
    if format == "parquet":
        return read_parquet(path, vocabulary, **options)
    raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")


def read_many(
    paths: Sequence[str | os.PathLike], format: str | None = None, **options
) -> list[Sessions]:
    """Several files in one index space (e.g. trainSample and testSample): every result has
    the same, complete vocabularies, so parameters fitted on one index the others."""
    vocabulary = Vocabulary()
    each = [read(path, format, vocabulary, **options) for path in paths]
    return [vocabulary.adopt(sessions) for sessions in each]
