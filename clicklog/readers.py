"""`read` and `read_many`: pick the reader for a file and share one index space across files.

Formats (FORMATS): "sample" (compact Yandex sample, clicklog.io_sample), "yandex-log"
(Relevance Prediction Challenge log, clicklog.io_yandex), "tsv" and "csv" (the long format,
clicklog.io_long), "parquet" (clicklog.io_parquet's native files, else a long table as pandas
writes one, clicklog.io_frame) and "clax" (CLAX's layout, clicklog.io_clax). Every reader
returns Sessions whose `report` is the ReadReport of the read; a log without any session is
a FormatError ("no sessions"), whatever its format.

Without `format` the name decides (.parquet/.pq, .tsv/.tab, .csv, each optionally + .gz),
then the content: Parquet's magic bytes (then clickfit's metadata, CLAX's list columns, or
else a long table); a header line naming the long format's columns; a first line
`ID<TAB>TIME<TAB>Q|C<TAB>...` for the log; `QUERY<TAB>DOCS : CLICKS` for the sample. A UTF-8
byte-order mark is ignored.

The long formats take `columns`, `rank_base`, `qd_features` and `bias_features`
(clicklog.io_frame); passing them for another format is a ValueError.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from clicklog.formats import FORMATS, format_from_name
from clicklog.io_clax import REQUIRED as CLAX_COLUMNS
from clicklog.io_clax import read_clax
from clicklog.io_frame import COLUMNS, Origin, read_table
from clicklog.io_long import read_long
from clicklog.io_parquet import is_clickfit_parquet, read_parquet
from clicklog.io_report import FormatError
from clicklog.io_sample import read_sample
from clicklog.io_text import read_bytes
from clicklog.io_yandex import read_yandex_log
from clicklog.parquet_open import parquet_errors
from clicklog.sessions import Sessions
from clicklog.vocabulary import Vocabulary

_LOG_LINE = re.compile(r"^\s*-?\d+\t\s*-?\d+\t\s*[QC]\s*\t")
_SAMPLE_LINE = re.compile(r"^[^\t;]+\t[^:;]*:")
LONG_OPTIONS = ("columns", "rank_base", "qd_features", "bias_features")


def _first_line(path: Path) -> str:
    head = read_bytes(path, 1 << 16)
    return head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")


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
        f"cannot tell the format from the name or the first line; pass one of {', '.join(FORMATS)}"
        " (for a long log with your own column names, name it .csv/.tsv or pass the format)",
    )


def parquet_layout(path: str | os.PathLike) -> str:
    """"parquet" (clickfit's own), "clax" (CLAX's list columns) or "long" (one row per shown
    result, e.g. from pandas), from the footer."""
    if is_clickfit_parquet(path):
        return "parquet"
    with parquet_errors(path):
        names = pq.read_schema(path).names
    return "clax" if set(CLAX_COLUMNS) <= set(names) else "long"


def read_long_parquet(path: str | os.PathLike, vocabulary: Vocabulary | None = None,
                      **options) -> Sessions:
    """A long Parquet table (one row per shown result), options as for the text format."""
    with parquet_errors(path):
        table = pq.read_table(path)
    return read_table(table, Origin(str(path)), vocabulary, format="long-parquet",
                      lines=table.num_rows, **options)


def read(
    path: str | os.PathLike,
    format: str | None = None,
    vocabulary: Vocabulary | None = None,
    **options,
) -> Sessions:
    """Sessions of one file; `options` go to the format's reader (e.g. query_with_region, or
    columns=/rank_base=/qd_features=/bias_features= for the long formats)."""
    format = sniff_format(path) if format is None else format
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    layout = parquet_layout(path) if format == "parquet" else format
    long_options = {k: v for k, v in options.items() if k in LONG_OPTIONS}
    if long_options and layout not in ("tsv", "csv", "long"):
        raise ValueError(
            f"{', '.join(long_options)}: options of long logs (CSV, TSV, long Parquet); "
            f"{os.fspath(path)} is read as {layout!r}"
        )
    if layout == "sample":
        sessions = read_sample(path, vocabulary, **options)
    elif layout == "yandex-log":
        sessions = read_yandex_log(path, vocabulary, **options)
    elif layout in ("tsv", "csv"):
        sessions = read_long(path, vocabulary, delimiter="\t" if format == "tsv" else ",",
                             **options)
    elif layout == "long":
        sessions = read_long_parquet(path, vocabulary, **options)
    elif layout == "clax":
        sessions = read_clax(path, vocabulary, **options)
    else:
        sessions = read_parquet(path, vocabulary, **options)
    if sessions.n == 0:
        raise FormatError(path, None, "no sessions: the file holds no session to fit")
    return sessions


def read_many(
    paths: Sequence[str | os.PathLike], format: str | None = None, **options
) -> list[Sessions]:
    """Several files in one index space (e.g. trainSample and testSample): every result has
    the same, complete vocabularies, so parameters fitted on one index the others."""
    vocabulary = Vocabulary()
    each = [read(path, format, vocabulary, **options) for path in paths]
    return [vocabulary.adopt(sessions) for sessions in each]
