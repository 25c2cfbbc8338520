"""Long tables, one row per shown result, from any source: the shared core of the CSV/TSV
reader (clicklog.io_long), long Parquet files (e.g. written by pandas) and `from_frame`
(a pandas DataFrame).

The five columns are `session_id`, `query`, `doc`, `rank`, `click`, plus an optional
`weight`; `columns={"session_id": "session", "query": "query_text", ...}` names the table's
own columns for them (clickfit's name -> the table's). Values may be typed (Parquet, pandas)
or text (CSV): ids are integers or strings (text ids become int64 only where every one is a
canonical decimal integer, clicklog.vocabulary); ranks integers; clicks 0/1, true/false or
booleans; weights positive numbers, the same on every row of a session, as is the query.

Ranks count from `rank_base`: 0, 1, or "auto" (the default: 0 if the smallest rank in the
table is 0, 1 if it is 1, an error otherwise); the ReadReport says which was used and whether
it was detected. Within a session the ranks must run base..base+L-1 without gaps or repeats;
the rows of a session need not be adjacent or in rank order. Sessions come in the order
their ids first appear.

Feature columns, by a list of names or a name prefix: `qd_features` (one vector per
query-document pair; every row of a pair must carry the same values) and `bias_features`
(per row, i.e. per impression), into Sessions.qd_features and Sessions.bias_features.

Every problem is a FormatError naming the file and the line (text) or row (tables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clicklog.io_report import FormatError, ReadReport
from clicklog.io_text import ANY_INT, ids_from_tokens
from clicklog.sessions import PAD, Sessions, pad_rows, per_pair
from clicklog.vocabulary import Vocabulary

COLUMNS = ("session_id", "query", "doc", "rank", "click")
OPTIONAL_COLUMNS = ("weight",)
RANK_BASES = (0, 1, "auto")
MAX_RANK = np.iinfo(np.int16).max
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_CLICK = {"0": False, "1": True, "false": False, "true": True}

Features = Sequence[str] | str | None


@dataclass(frozen=True)
class Origin:
    """Where the rows of a table come from, for error messages: row i (0-based) is reported as
    `line_of(i)` in `unit`s ("line" for text, "row" for tables); header problems name
    `header_line` (1 for text, None for tables)."""

    path: str
    unit: str = "row"
    line_of: Callable[[int], int] = lambda i: i + 1
    header_line: int | None = None

    def fail(self, row: int | None, problem: str) -> NoReturn:
        if row is None:
            raise FormatError(self.path, self.header_line, problem)
        raise FormatError(self.path, self.line_of(row), problem, unit=self.unit)

    def fail_first(self, bad: np.ndarray, problem: Callable[[int], str]) -> None:
        """FormatError for the first bad row (rows are in file order)."""
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            self.fail(i, problem(i))

    def where(self, row: int) -> str:
        return f"{self.unit} {self.line_of(row)}"


def column_mapping(columns: Mapping[str, str] | None, names: Sequence[str]) -> dict[str, str]:
    """clickfit column -> table column for the five columns and, when the table has it (or it
    is mapped), weight. ValueError for a key that is not one of them."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(COLUMNS) - set(OPTIONAL_COLUMNS))
    if unknown:
        raise ValueError(
            f"unknown column name(s) {', '.join(unknown)} in columns=: the keys are "
            f"{', '.join(COLUMNS + OPTIONAL_COLUMNS)}, each mapped to a column of the file"
        )
    mapping = {name: columns.get(name, name) for name in COLUMNS}
    if "weight" in columns or "weight" in names:
        mapping["weight"] = columns.get("weight", "weight")
    return mapping


def _resolve(origin: Origin, table: pa.Table, mapping: dict[str, str]) -> None:
    names = table.column_names
    missing = [(ours, theirs) for ours, theirs in mapping.items() if theirs not in names]
    if missing:
        wanted = ", ".join(
            theirs if ours == theirs else f"{theirs} (for {ours})" for ours, theirs in missing
        )
        origin.fail(
            None,
            f"no column(s) {wanted}; the columns are {', '.join(map(str, names))}. Name yours "
            "with columns={'session_id': ..., 'query': ..., 'doc': ..., 'rank': ..., 'click': "
            "...} (command line: --columns session_id=...,query=...)",
        )
    used = list(mapping.values())
    twice = sorted({c for c in used if used.count(c) > 1} | {c for c in used if names.count(c) > 1})
    if twice:
        origin.fail(None, f"column(s) {', '.join(twice)} appear twice in the header or mapping")


def feature_columns(
    origin: Origin, names: Sequence[str], spec: Features, taken: set[str], what: str
) -> list[str]:
    """The columns `spec` names: a list of names, or a prefix string (matching columns in
    table order, the five/six mapped columns excluded)."""
    if spec is None:
        return []
    if isinstance(spec, str):
        chosen = [c for c in names if c.startswith(spec) and c not in taken]
        if not chosen:
            origin.fail(None, f"no {what} columns start with {spec!r}")
        return chosen
    chosen = list(spec)
    missing = [c for c in chosen if c not in names]
    if missing:
        origin.fail(None, f"no {what} column(s) {', '.join(missing)}")
    clash = [c for c in chosen if c in taken]
    if clash:
        origin.fail(None, f"{what} column(s) {', '.join(clash)} are already used")
    return chosen


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array, dictionaries (pandas categoricals) decoded."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _no_nulls(origin: Origin, arr: pa.Array, what: str) -> None:
    if arr.null_count:
        origin.fail_first(arr.is_null().to_numpy(zero_copy_only=False), lambda i: f"empty {what}")


def _ids(origin: Origin, column, what: str) -> pa.Array:
    """An id column checked: no empty values, no NUL characters, integers or strings."""
    arr = _plain(column)
    _no_nulls(origin, arr, what)
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64())
    if not pa.types.is_string(arr.type):
        origin.fail(None, f"the {what} column holds {arr.type}; ids must be integers or strings")
    origin.fail_first(_np(pc.equal(pc.utf8_length(arr), 0)), lambda i: f"empty {what}")
    origin.fail_first(
        _np(pc.match_substring(arr, "\x00")),
        lambda i: f"a NUL character in {what} {arr[i].as_py()!r}",
    )
    return arr


def _np(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _numbers(origin: Origin, column, what: str, integer: bool) -> np.ndarray:
    """float64 (or int64) values of a numeric or text column; FormatError at a bad one."""
    arr = _plain(column)
    _no_nulls(origin, arr, what)
    if pa.types.is_string(arr.type):
        token = pc.utf8_trim_whitespace(arr)
        ok = _np(pc.match_substring_regex(token, ANY_INT if integer else _NUMBER))
        kind = "an integer" if integer else "a number"
        origin.fail_first(~ok, lambda i: f"{what} must be {kind}, got {arr[i].as_py()!r}")
        arr = token
    elif pa.types.is_boolean(arr.type) or not (
        pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)
    ):
        origin.fail(None, f"the {what} column holds {arr.type}, not numbers")
    values = _np(arr.cast(pa.int64() if integer and not pa.types.is_floating(arr.type)
                          else pa.float64()))
    if integer and values.dtype.kind == "f":
        origin.fail_first(values != np.round(values), lambda i: f"{what} {values[i]} is not whole")
        values = values.astype(np.int64)
    return values


def _clicks(origin: Origin, column) -> np.ndarray:
    arr = _plain(column)
    _no_nulls(origin, arr, "click")
    if pa.types.is_boolean(arr.type):
        return _np(arr).astype(bool)
    if pa.types.is_string(arr.type):
        token = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
        ok = _np(pc.is_in(token, pa.array(list(_CLICK))))
        origin.fail_first(
            ~ok, lambda i: f"click must be 0 or 1 (or true/false), got {arr[i].as_py()!r}"
        )
        return _np(pc.is_in(token, pa.array(["1", "true"]))).astype(bool)
    values = _numbers(origin, arr, "click", integer=False)
    origin.fail_first((values != 0) & (values != 1), lambda i: f"click must be 0 or 1, got "
                      f"{arr[i].as_py()!r}")
    return values == 1


def _features(origin: Origin, table: pa.Table, names: list[str], what: str) -> np.ndarray:
    """float32 [rows, F] from the named columns; FormatError at a value that is not a finite
    float32."""
    out = np.empty((table.num_rows, len(names)), np.float32)
    for j, name in enumerate(names):
        values = _numbers(origin, table[name], f"{what} {name}", integer=False)
        with np.errstate(over="ignore"):
            out[:, j] = values
        origin.fail_first(
            ~np.isfinite(out[:, j]),
            lambda i, v=values, n=name: f"{what} {n} = {v[i]!r} is not a finite float32",
        )
    return out


def _same_within_session(origin: Origin, codes: np.ndarray, session: np.ndarray, show,
                         what: str) -> np.ndarray:
    """Rows where `codes` differs from the session's first row: FormatError at the first.
    Returns each row's session's first row."""
    first_row = np.full(int(session.max(initial=-1)) + 1, -1, np.int64)
    first_row[session[::-1]] = np.arange(session.size)[::-1]
    reference = first_row[session]
    origin.fail_first(
        codes != codes[reference],
        lambda i: f"{what} {show(i)!r} differs from {show(int(reference[i]))!r} on "
        f"{origin.where(int(reference[i]))} of the same session",
    )
    return first_row


def _check_ranks(origin: Origin, rank: np.ndarray, session: np.ndarray, session_ids,
                 base: int) -> None:
    """Each session's ranks must be exactly base..base+L-1: name the first repeat or gap."""
    row = np.arange(rank.size)
    order = np.lexsort((row, rank, session))
    s, r, ln = session[order], rank[order], row[order]
    start = np.ones(s.size, bool)
    start[1:] = s[1:] != s[:-1]
    repeat = np.zeros(s.size, bool)
    repeat[1:] = ~start[1:] & (r[1:] == r[:-1])
    if repeat.any():
        i = int(np.flatnonzero(repeat)[np.argmin(ln[repeat])])
        name = session_ids[int(s[i])].as_py()
        origin.fail(int(ln[i]), f"session {name!r} has rank {r[i] + base} twice "
                    f"(also on {origin.where(int(ln[i - 1]))})")
    position = np.arange(s.size) - np.maximum.accumulate(np.where(start, np.arange(s.size), 0))
    first_row = np.minimum.reduceat(ln, np.flatnonzero(start)) if s.size else ln[:0]
    session_row = first_row[np.cumsum(start) - 1]
    gap = r != position
    if gap.any():
        i = int(np.flatnonzero(gap)[np.argmin(session_row[gap])])
        name = session_ids[int(s[i])].as_py()
        origin.fail(int(session_row[i]), f"session {name!r} has no rank "
                    f"{position[i] + base} (ranks must run {'1..L' if base else '0..L-1'})")


def _rank_base(origin: Origin, rank: np.ndarray, rank_base) -> tuple[int, str]:
    if rank_base not in RANK_BASES:
        raise ValueError(f"rank_base must be 0, 1 or 'auto', got {rank_base!r}")
    if rank_base != "auto":
        low = rank < rank_base
        origin.fail_first(low, lambda i: f"rank {rank[i]} below the rank base {rank_base}")
        return rank_base, f"{rank_base} (given)"
    lowest = int(rank.min())
    if lowest < 0:
        origin.fail(int(np.argmin(rank)), f"rank {lowest} is negative")
    # A smallest rank above 1 is a 1-based log missing its first ranks, reported as such.
    base = min(lowest, 1)
    return base, f"{base} (detected)"


def read_table(
    table: pa.Table,
    origin: Origin,
    vocabulary: Vocabulary | None = None,
    columns: Mapping[str, str] | None = None,
    rank_base: int | str = "auto",
    qd_features: Features = None,
    bias_features: Features = None,
    format: str = "long",
    lines: int = 0,
) -> Sessions:
    """Sessions of a long table (see the module docstring); ids go into `vocabulary`."""
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    names = table.column_names
    mapping = column_mapping(columns, names)
    _resolve(origin, table, mapping)
    taken = set(mapping.values())
    qd_names = feature_columns(origin, names, qd_features, taken, "qd feature")
    bias_names = feature_columns(origin, names, bias_features, taken | set(qd_names),
                                 "bias feature")
    if table.num_rows == 0:
        origin.fail(None, "no sessions: the table has a header and no rows")
    col = {ours: table[theirs] for ours, theirs in mapping.items()}

    sessions_col = pc.dictionary_encode(_ids(origin, col["session_id"], "session_id"))
    session = _np(sessions_col.indices).astype(np.int64)
    session_ids = sessions_col.dictionary
    query_col = pc.dictionary_encode(_ids(origin, col["query"], "query"))
    query_code = _np(query_col.indices).astype(np.int64)
    doc_col = pc.dictionary_encode(_ids(origin, col["doc"], "doc"))
    raw_rank = _numbers(origin, col["rank"], "rank", integer=True)
    click = _clicks(origin, col["click"])
    base, base_note = _rank_base(origin, raw_rank, rank_base)
    rank = raw_rank - base
    origin.fail_first(rank >= MAX_RANK, lambda i: f"rank {raw_rank[i]} exceeds {MAX_RANK}")
    first = _same_within_session(origin, query_code, session, lambda i: query_col[i].as_py(),
                                 "query")
    weight = None
    if "weight" in col:
        weight = _numbers(origin, col["weight"], "weight", integer=False)
        origin.fail_first(~(np.isfinite(weight) & (weight > 0)),
                          lambda i: "weight must be a positive finite number, got "
                          f"{float(weight[i])}")
        with np.errstate(over="ignore", under="ignore"):
            single = weight.astype(np.float32)
        origin.fail_first(~(np.isfinite(single) & (single > 0)),
                          lambda i: f"weight {float(weight[i])!r} is not a positive finite float32")
        _same_within_session(origin, weight, session, lambda i: float(weight[i]), "weight")
    _check_ranks(origin, rank, session, session_ids, base)
    qd_values = _features(origin, table, qd_names, "qd feature") if qd_names else None
    bias_values = _features(origin, table, bias_names, "bias feature") if bias_names else None

    order = np.lexsort((rank, session))
    length = np.bincount(session, minlength=len(session_ids))
    query_index = vocabulary.query_index(ids_of(query_col.dictionary))
    doc_index = vocabulary.doc_index(ids_of(doc_col.dictionary))
    doc = pad_rows(doc_index[_np(doc_col.indices)[order]], length, PAD)
    bias = None
    if bias_values is not None:
        mask = np.arange(doc.shape[1])[None, :] < length[:, None]
        bias = np.zeros((*mask.shape, bias_values.shape[1]), np.float32)
        bias[mask] = bias_values[order]
    report = ReadReport(path=origin.path, format=format, lines=lines, sessions=len(session_ids),
                        clicks_in_file=int(click.sum()), clicks_kept=int(click.sum()),
                        rank_base=base_note)
    sessions = vocabulary.build(
        query_index[query_code[first]],
        doc,
        pad_rows(click[order], length, False),
        length,
        None if weight is None else weight[first],
        source=origin.path,
        report=report,
        bias_features=bias,
    )
    if qd_values is None:
        return sessions
    pair = np.empty(table.num_rows, np.int64)
    pair[order] = sessions.qd[sessions.mask]
    features, bad = per_pair(pair, qd_values, sessions.n_qd)
    if bad.size:
        i = int(bad[0])
        reference = int(np.flatnonzero(pair == pair[i])[0])
        origin.fail(i, f"the qd features of query {query_col[i].as_py()!r}, doc "
                    f"{doc_col[i].as_py()!r} differ from those on {origin.where(reference)}")
    return replace(sessions, qd_features=features)


def ids_of(dictionary: pa.Array) -> np.ndarray:
    """Original ids of a dictionary of distinct values (text ids as clicklog.io_text says)."""
    if pa.types.is_string(dictionary.type):
        return ids_from_tokens(dictionary)
    return _np(dictionary).astype(np.int64)


def from_frame(
    frame,
    columns: Mapping[str, str] | None = None,
    rank_base: int | str = "auto",
    qd_features: Features = None,
    bias_features: Features = None,
    vocabulary: Vocabulary | None = None,
    source: str = "DataFrame",
) -> Sessions:
    """Sessions of a pandas DataFrame (or pyarrow Table) with one row per shown result; the
    options are those of clicklog.read for long logs. Errors name `source` and the 0-based
    position of the bad row in the frame as "row N+1"."""
    if isinstance(frame, pa.Table):
        table = frame
    else:
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as err:
            raise FormatError(source, None, f"cannot convert the DataFrame ({err})") from None
    return read_table(table, Origin(source), vocabulary, columns, rank_base, qd_features,
                      bias_features, format="frame", lines=table.num_rows)
