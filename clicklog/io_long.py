"""The long text format: one line per shown result, TSV or CSV with a required header.

    session_id  query  doc  rank  click  [weight]  [features...]

Parsed with pyarrow's CSV reader, then checked by clicklog.io_frame (which also says what the
values may be, how `columns=` maps a file's own column names, the rank base and feature
columns):

- `rank` runs 1..L (or 0..L-1, detected or given with rank_base) without gaps or repeats
  within a session (L = the page length; pages may differ in length); `click` is 0/1 or
  true/false.
- `weight` (optional, > 0) is the session's multiplicity (clicklog.dedup) and must be the same
  on all lines of a session, as must `query`. Other columns are ignored unless named as
  features.
- A session is every line with its `session_id`, in the order the ids first appear; the
  lines of one session need not be adjacent or in rank order.
- The delimiter is a tab for .tsv/.tab, a comma for .csv (a trailing .gz means gzip), else
  whichever of the two the header line contains. A field may be quoted ("a, b"; "" is a
  quote) as pandas and spreadsheets write them; it cannot hold a line break. Ids are taken
  verbatim (not trimmed). Empty lines are skipped; a UTF-8 byte-order mark is allowed.
- Ids become int64 where a whole column is canonical decimal integers, else strings
  (clicklog.vocabulary), so writing and reading back gives the same original ids.

The writer writes session_id = row number, 1-based ranks, the weight column only when some
weight is not 1, and the features as columns `qd_feature_<j>` and `bias_feature_<j>` (which the
reader takes back by default). Fields holding the delimiter or a quote are quoted. Sessions ->
text -> Sessions is lossless up to the order of the vocabularies, which text cannot carry (nor
doc_features, labels or the read report): compare through the ids.
"""

from __future__ import annotations

import codecs
import gzip
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from clicklog.atomic import atomic_path
from clicklog.formats import format_from_name
from clicklog.io_frame import COLUMNS, Features, Origin, read_table
from clicklog.io_report import FormatError
from clicklog.io_text import read_bytes, read_text
from clicklog.sessions import Sessions
from clicklog.vocabulary import Vocabulary

QD_PREFIX = "qd_feature_"
BIAS_PREFIX = "bias_feature_"


def delimiter_for(path: str | os.PathLike, header: str | None = None) -> str:
    """Tab or comma, from the file name (.tsv, .tab, .csv, optionally + .gz) or the header."""
    named = format_from_name(path)
    if named in ("tsv", "csv"):
        return "\t" if named == "tsv" else ","
    if header is not None:
        if "\t" in header:
            return "\t"
        if "," in header:
            return ","
    raise FormatError(path, 1, "cannot tell the delimiter: name the file .tsv or .csv")


def _record_lines(raw: bytes) -> np.ndarray:
    """1-based line numbers of the non-empty lines (records, header first), as pyarrow's reader
    counts them: a line holding nothing or only a carriage return is skipped."""
    buf = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [buf.size]))
    size = stops - starts
    cr = np.zeros(size.size, bool)
    cr[size > 0] = buf[np.maximum(stops[size > 0] - 1, 0)] == ord("\r")
    return np.flatnonzero(size - cr > 0) + 1


class _Lines:
    """Data row -> line number, worked out only when an error needs one."""

    def __init__(self, raw: bytes) -> None:
        self.raw, self.lines = raw, None

    def __call__(self, row: int) -> int:
        if self.lines is None:
            self.lines = _record_lines(self.raw)
        return int(self.lines[row + 1]) if row + 1 < self.lines.size else row + 2


def _check_utf8(path, raw: bytes, chunk: int = 1 << 24) -> None:
    """FormatError naming the line of the first byte that is not UTF-8: checked before parsing,
    as pyarrow's reader reports no line (and its bad-row callback cannot decode such a row)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(raw), chunk):
        try:
            decoder.decode(raw[start:start + chunk], final=start + chunk >= len(raw))
        except UnicodeDecodeError:
            read_text(path)  # raises, naming the line
            raise


def _default_features(spec: Features, names: list[str], prefix: str) -> Features:
    if spec is not None:
        return spec
    return prefix if any(n.startswith(prefix) for n in names) else None


def _header(path, raw: bytes, sep: str | None) -> tuple[str, list[str]]:
    """(delimiter, column names) of the first line, parsed as CSV (quoted names allowed)."""
    first = raw.split(b"\n", 1)[0].rstrip(b"\r")
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    text = first.decode("utf-8")  # checked by _check_utf8
    sep = sep or delimiter_for(path, text)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(first + b"\n"),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )
    except pa.ArrowInvalid as err:
        raise FormatError(path, 1, f"unreadable header ({err})") from None
    return sep, [str(table[c][0].as_py()) for c in table.column_names]


def read_long(
    path: str | os.PathLike,
    vocabulary: Vocabulary | None = None,
    delimiter: str | None = None,
    columns: Mapping[str, str] | None = None,
    rank_base: int | str = "auto",
    qd_features: Features = None,
    bias_features: Features = None,
) -> Sessions:
    """Sessions of a long TSV/CSV file; ids go into `vocabulary` when one is given. Options as
    clicklog.io_frame.read_table; feature columns default to the writer's prefixes."""
    raw = read_bytes(path)
    if not raw.strip(b"\xef\xbb\xbf\r\n"):
        raise FormatError(path, 1, "no sessions: empty file, expected a header line "
                          + ", ".join(COLUMNS))
    _check_utf8(path, raw)
    sep, names = _header(path, raw, delimiter)
    lines = _Lines(raw)
    origin = Origin(str(path), "line", lambda row: lines(row), header_line=1)
    bad_rows = []

    def invalid(row) -> str:
        bad_rows.append(row)
        return "error"

    def parse(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        table = parse(threads=True)
    except pa.ArrowInvalid as err:
        if bad_rows and bad_rows[0].number is None:
            bad_rows.clear()
            try:  # single-threaded, the reader knows the number of the bad row
                parse(threads=False)
            except pa.ArrowInvalid:
                pass
        if bad_rows:
            row = bad_rows[0]
            line = lines(row.number - 2) if row.number is not None else None
            raise FormatError(path, line, f"expected {row.expected_columns} fields, found "
                              f"{row.actual_columns}") from None
        raise FormatError(path, None, f"unreadable CSV ({err})") from None
    total_lines = raw.count(b"\n") + int(not raw.endswith(b"\n"))
    return read_table(
        table,
        origin,
        vocabulary,
        columns,
        rank_base,
        _default_features(qd_features, names, QD_PREFIX),
        _default_features(bias_features, names, BIAS_PREFIX),
        format="csv" if sep == "," else "tsv",
        lines=total_lines,
    )


def long_table(sessions: Sessions) -> pa.Table:
    """The long format as an Arrow table, one row per real rank, sessions in row order."""
    mask = sessions.mask
    row, rank = np.nonzero(mask)
    columns = {
        "session_id": pa.array(row.astype(np.int64)),
        "query": pa.array(sessions.query_ids[sessions.query[row]]),
        "doc": pa.array(sessions.doc_ids[sessions.doc[mask]]),
        "rank": pa.array((rank + 1).astype(np.int16)),
        "click": pa.array(sessions.click[mask].astype(np.int8)),
    }
    if np.any(sessions.weight != 1):
        columns["weight"] = pa.array(sessions.weight[row])
    if sessions.qd_features is not None:
        values = sessions.qd_features[sessions.qd[mask]]
        columns.update({f"{QD_PREFIX}{j}": pa.array(values[:, j]) for j in range(values.shape[1])})
    if sessions.bias_features is not None:
        values = sessions.bias_features[mask]
        columns.update({f"{BIAS_PREFIX}{j}": pa.array(values[:, j])
                        for j in range(values.shape[1])})
    return pa.table(columns)


def _field(column: pa.ChunkedArray, sep: str) -> pa.Array:
    """A column as CSV text: quoted (quotes doubled) where it holds the delimiter or a quote."""
    text = pc.cast(column, pa.string())
    needs = pc.or_(pc.match_substring(text, sep), pc.match_substring(text, '"'))
    if not pc.any(needs).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, text)


def write_long(sessions: Sessions, path: str | os.PathLike, delimiter: str | None = None) -> None:
    """Write the long format atomically (gzip-compressed when the name ends in .gz)."""
    sep = delimiter or delimiter_for(path)
    table = long_table(sessions)
    for name in ("query", "doc"):
        text = pc.cast(table[name], pa.string())
        bad = pc.match_substring_regex(text, "[\r\n\x00]")
        if pc.any(bad).as_py():
            example = text.filter(bad)[0].as_py()
            raise FormatError(
                path,
                None,
                f"cannot write {name} id {example!r}: it contains a line break or a NUL "
                "character, which the long format cannot hold (write Parquet instead)",
            )
    with atomic_path(path) as tmp:
        opener = gzip.open if Path(path).suffix == ".gz" else open
        with opener(tmp, "wb") as out:
            out.write((sep.join(table.column_names) + "\n").encode())
            for batch in table.to_batches(max_chunksize=1 << 18):
                fields = [_field(column, sep) for column in batch.columns]
                lines = pc.binary_join_element_wise(*fields, sep)
                out.write(("\n".join(lines.to_pylist()) + "\n").encode())
