"""The long text format: one line per shown result, TSV or CSV with a required header.

    session_id  query  doc  rank  click  [weight]

- `rank` is 1-based and must run 1..L without gaps or repeats within a session (L = the
  page length; pages may differ in length); `click` is 0 or 1.
- `weight` (optional, > 0) is the session's multiplicity (clicklog.dedup) and must be the same
  on all lines of a session, as must `query`. Other columns are ignored.
- A session is every line with its `session_id`, in the order the ids first appear; the
  lines of one session need not be adjacent or in rank order.
- The delimiter is a tab for .tsv/.tab, a comma for .csv (a trailing .gz means gzip), else
  whichever of the two the header line contains. There is no quoting: a field cannot contain
  the delimiter or a line break; fields are taken verbatim (ids are not trimmed). Blank lines
  are skipped.
- Ids become int64 where a whole column is canonical decimal integers, else strings
  (clicklog.vocabulary), so writing and reading back gives the same original ids.

The writer writes session_id = row number, and the weight column only when some weight is
not 1. Sessions -> text -> Sessions is lossless up to the order of the vocabularies, which
text cannot carry (nor doc_features, labels or the read report): compare through the ids.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from clicklog.atomic import atomic_path
from clicklog.formats import format_from_name
from clicklog.io_report import FormatError, ReadReport
from clicklog.io_text import (
    check_nonempty,
    check_pattern,
    fail_first,
    index_tokens,
    nonempty,
    read_text,
    split_lines,
    to_numpy,
    trim,
)
from clicklog.sessions import PAD, Sessions, pad_rows
from clicklog.vocabulary import Vocabulary

COLUMNS = ("session_id", "query", "doc", "rank", "click")
MAX_RANK = np.iinfo(np.int16).max
_RANK = r"^[1-9][0-9]{0,4}$"
_WEIGHT = r"^[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


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


def _column(fields: pa.Array, width: int, j: int) -> pa.Array:
    return pc.list_flatten(fields).take(pa.array(np.arange(j, len(fields) * width, width)))


def _same_within_session(path, values: np.ndarray, session: np.ndarray, line, what: str) -> None:
    first_row = np.full(session.max(initial=-1) + 1, -1, np.int64)
    first_row[session[::-1]] = np.arange(session.size)[::-1]
    reference = values[first_row[session]]
    fail_first(
        path,
        values != reference,
        line,
        lambda i: (
            f"{what} {values[i].item()!r} differs from {reference[i].item()!r} on line "
            f"{line[first_row[session[i]]]} of the same session"
        ),
    )


def _check_ranks(path, rank: np.ndarray, session: np.ndarray, line, session_ids) -> None:
    """Ranks of each session must be exactly 1..L: name the first repeat or gap."""
    order = np.lexsort((line, rank, session))
    s, r, ln = session[order], rank[order], line[order]
    start = np.ones(s.size, bool)
    start[1:] = s[1:] != s[:-1]
    repeat = np.zeros(s.size, bool)
    repeat[1:] = ~start[1:] & (r[1:] == r[:-1])
    fail_first(
        path,
        repeat,
        ln,
        lambda i: f"session {session_ids[s[i]]!r} has rank {r[i]} twice (also on line {ln[i - 1]})",
    )
    position = np.arange(s.size) - np.maximum.accumulate(np.where(start, np.arange(s.size), 0))
    first_line = np.minimum.reduceat(ln, np.flatnonzero(start)) if s.size else ln[:0]
    session_line = first_line[np.cumsum(start) - 1]
    fail_first(
        path,
        r != position + 1,
        session_line,
        lambda i: (
            f"session {session_ids[s[i]]!r} has no rank {position[i] + 1} (ranks must run 1..L)"
        ),
    )


def read_long(
    path: str | os.PathLike,
    vocabulary: Vocabulary | None = None,
    delimiter: str | None = None,
) -> Sessions:
    """Sessions of a long TSV/CSV file; ids go into `vocabulary` when one is given."""
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    lines = split_lines(read_text(path))
    if len(lines) == 0:
        raise FormatError(path, 1, "empty file: expected a header line " + ", ".join(COLUMNS))
    header_line = lines[0].as_py()
    sep = delimiter or delimiter_for(path, header_line)
    header = header_line.split(sep)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise FormatError(
            path,
            1,
            f"header lacks column(s) {', '.join(missing)}: expected "
            f"{', '.join(COLUMNS)} separated by {sep!r}, got {header_line!r}",
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise FormatError(path, 1, f"column(s) {', '.join(repeated)} appear twice in the header")
    body = lines.slice(1)
    nonblank = nonempty(trim(body))
    line = np.flatnonzero(nonblank) + 2
    fields = pc.split_pattern(body.filter(pa.array(nonblank)), sep)
    count = to_numpy(pc.list_value_length(fields))
    fail_first(
        path,
        count != len(header),
        line,
        lambda i: f"expected {len(header)} fields, found {count[i]}",
    )

    col = {name: _column(fields, len(header), header.index(name)) for name in COLUMNS}
    for name in ("session_id", "query", "doc"):
        check_nonempty(path, col[name], line, name)
    rank_tok, click_tok = trim(col["rank"]), trim(col["click"])
    check_pattern(path, rank_tok, line, _RANK, f"rank must be an integer in 1..{MAX_RANK}")
    rank = to_numpy(pc.cast(rank_tok, pa.int64()))
    fail_first(path, rank > MAX_RANK, line, lambda i: f"rank {rank[i]} exceeds {MAX_RANK}")
    check_pattern(path, click_tok, line, r"^[01]$", "click must be 0 or 1")

    encoded = pc.dictionary_encode(col["session_id"])
    session = to_numpy(encoded.indices).astype(np.int64)
    session_ids = to_numpy(encoded.dictionary)
    query_tok = to_numpy(col["query"]).astype(str)
    _same_within_session(path, query_tok, session, line, "query")
    weight = None
    if "weight" in header:
        weight_tok = trim(_column(fields, len(header), header.index("weight")))
        check_pattern(path, weight_tok, line, _WEIGHT, "weight must be a positive number")
        weight = to_numpy(pc.cast(weight_tok, pa.float64()))
        fail_first(
            path,
            ~(np.isfinite(weight) & (weight > 0)),
            line,
            lambda i: f"weight must be a positive finite number, got {weight[i]}",
        )
        _same_within_session(path, weight, session, line, "weight")
    _check_ranks(path, rank, session, line, session_ids)

    n = session_ids.size
    order = np.lexsort((rank, session))
    length = np.bincount(session, minlength=n)
    doc_index = index_tokens(col["doc"].take(pa.array(order)), vocabulary.doc_index)
    doc = pad_rows(doc_index, length, PAD)
    click = pad_rows(to_numpy(click_tok).astype(str)[order] == "1", length, False)
    first = np.unique(session, return_index=True)[1]
    query = index_tokens(pa.array(query_tok[first]), vocabulary.query_index)
    report = ReadReport(
        path=str(path),
        format="csv" if sep == "," else "tsv",
        lines=len(lines),
        sessions=n,
        clicks_in_file=int(click.sum()),
        clicks_kept=int(click.sum()),
    )
    return vocabulary.build(
        query,
        doc,
        click,
        length,
        None if weight is None else weight[first],
        source=str(path),
        report=report,
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
    return pa.table(columns)


def write_long(sessions: Sessions, path: str | os.PathLike, delimiter: str | None = None) -> None:
    """Write the long format atomically (gzip-compressed when the name ends in .gz)."""
    sep = delimiter or delimiter_for(path)
    table = long_table(sessions)
    for name in ("query", "doc"):
        text = pc.cast(table[name], pa.string())
        bad = pc.or_(pc.match_substring(text, sep), pc.match_substring_regex(text, "[\r\n]"))
        if pc.any(bad).as_py():
            example = text.filter(bad)[0].as_py()
            raise ValueError(
                f"cannot write {name} id {example!r} to {path}: it contains the "
                "delimiter or a line break, which the long format cannot quote"
            )
    # pyarrow would quote the header names; the format has no quoting, so it is written here.
    header = (sep.join(table.column_names) + "\n").encode()
    options = pacsv.WriteOptions(delimiter=sep, quoting_style="none", include_header=False)
    with atomic_path(path) as tmp:
        opener = gzip.open if Path(path).suffix == ".gz" else open
        with opener(tmp, "wb") as out:
            out.write(header)
            pacsv.write_csv(table, out, write_options=options)
