"""CLAX's dataset layout: Parquet, one row per session, list columns (format name "clax").

As CLAX's ParquetDataset reads it (github.com/philipphager/clax, clax/datasets/parquet.py):

    query_doc_ids  list<int>    the results shown, in rank order (CLAX keys its parameters on
                                these ids; clickfit takes them as document ids)
    clicks         list<number> 0/1 per result (CLAX reads them as float16), same length
    positions      list<int>    optional: 1-based rank of each entry; entries are put in rank
                                order and must then run 1..L
    mask           list<bool>   optional: False marks a padding entry, dropped on reading
    query_id       int          optional: the session's query; without it every session gets
                                query id -1 (NO_QUERY), so a query-document pair is a
                                query_doc_id, as in CLAX
    weight         float        clickfit's addition, written only when some weight is not 1
                                (CLAX ignores it): deduplicated logs keep their multiplicities

Positions and mask are derived data in CLAX (its loader builds them from the list lengths);
the writer writes both (1..L, all True) so that either kind of loader reads the file, and
query_id unless every session has NO_QUERY. Reading such a file and writing it back gives the
same columns (a test checks it); per-document and per-pair features, labels and the read
report are not part of the layout and are not written.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clicklog.atomic import atomic_path
from clicklog.io_frame import Origin, ids_of
from clicklog.io_report import FormatError, ReadReport
from clicklog.io_text import list_ranks
from clicklog.parquet_open import parquet_errors
from clicklog.sessions import PAD, Sessions, pad_rows
from clicklog.vocabulary import Vocabulary

NO_QUERY = -1
REQUIRED = ("query_doc_ids", "clicks")
MAX_RANK = np.iinfo(np.int16).max


def _lists(origin: Origin, table: pa.Table, name: str, sizes: np.ndarray | None) -> pa.Array:
    arr = table[name].combine_chunks()
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        origin.fail(None, f"column {name} holds {arr.type}, not lists")
    if arr.null_count:
        origin.fail_first(_np(arr.is_null()), lambda i: f"{name} is null")
    if sizes is not None:
        own = _np(pc.list_value_length(arr))
        origin.fail_first(own != sizes, lambda i: f"{name} holds {own[i]} entries, "
                          f"query_doc_ids {sizes[i]}")
    values = arr.flatten()
    if values.null_count:
        row, _ = list_ranks(arr)
        origin.fail(int(row[np.flatnonzero(_np(values.is_null()))[0]]), f"a null in {name}")
    return arr


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def read_clax(path: str | os.PathLike, vocabulary: Vocabulary | None = None) -> Sessions:
    """Sessions of a file in CLAX's layout; ids go into `vocabulary` when one is given."""
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    origin = Origin(str(path))
    with parquet_errors(path):
        table = pq.read_table(path)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        origin.fail(None, f"no column(s) {', '.join(missing)}: not CLAX's layout")
    if table.num_rows == 0:
        origin.fail(None, "no sessions: the file has no rows")
    docs = _lists(origin, table, "query_doc_ids", None)
    sizes = _np(pc.list_value_length(docs)).astype(np.int64)
    row, entry = list_ranks(docs)
    flat_docs = docs.flatten()
    if not (pa.types.is_integer(flat_docs.type) or pa.types.is_string(flat_docs.type)):
        origin.fail(None, f"query_doc_ids holds {flat_docs.type}; ids must be integers")
    clicks = _np(_lists(origin, table, "clicks", sizes).flatten().cast(pa.float64()))
    bad = (clicks != 0) & (clicks != 1)
    if bad.any():
        origin.fail(int(row[np.flatnonzero(bad)[0]]), "clicks must be 0 or 1")
    keep = np.ones(row.size, bool)
    if "mask" in table.column_names:
        keep = _np(_lists(origin, table, "mask", sizes).flatten().cast(pa.bool_())).astype(bool)
    rank = entry.astype(np.int64)
    if "positions" in table.column_names:
        positions = _lists(origin, table, "positions", sizes).flatten()
        rank = _np(positions.cast(pa.int64())) - 1
    row, rank, keep_index = row[keep], rank[keep], np.flatnonzero(keep)
    length = np.bincount(row, minlength=table.num_rows)
    origin.fail_first(length == 0, lambda i: "a session without any (unmasked) result")
    order = np.lexsort((rank, row))
    expected = np.arange(row.size) - np.repeat(np.cumsum(length) - length, length)
    wrong = rank[order] != expected
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        origin.fail(int(row[order][i]), f"positions must run 1..L, found {rank[order][i] + 1} "
                    f"where {expected[i] + 1} was due")
    origin.fail_first(length > MAX_RANK, lambda i: f"more than {MAX_RANK} results")
    doc_codes = pc.dictionary_encode(flat_docs)
    doc_index = vocabulary.doc_index(ids_of(doc_codes.dictionary))
    picked = keep_index[order]
    doc = pad_rows(doc_index[_np(doc_codes.indices)[picked]], length, PAD)
    click = pad_rows(clicks[picked] == 1, length, False)
    if "query_id" in table.column_names:
        query_arr = table["query_id"].combine_chunks()
        if query_arr.null_count:
            origin.fail_first(_np(query_arr.is_null()), lambda i: "query_id is null")
        query_codes = pc.dictionary_encode(query_arr)
        query = vocabulary.query_index(ids_of(query_codes.dictionary))[_np(query_codes.indices)]
    else:
        query = np.repeat(vocabulary.query_index(np.array([NO_QUERY])), table.num_rows)
    weight = None
    if "weight" in table.column_names:
        weight = _np(table["weight"].combine_chunks().cast(pa.float64()))
        with np.errstate(over="ignore", under="ignore"):
            ok = np.isfinite(weight.astype(np.float32)) & (weight.astype(np.float32) > 0)
        origin.fail_first(
            ~ok, lambda i: f"weight {float(weight[i])!r} is not a positive finite float32"
        )
    report = ReadReport(path=str(path), format="clax", lines=table.num_rows,
                        sessions=table.num_rows, clicks_in_file=int(clicks[keep].sum()),
                        clicks_kept=int(click.sum()))
    return vocabulary.build(query, doc, click, length, weight, source=str(path), report=report)


def clax_table(sessions: Sessions, path: str | os.PathLike = "") -> pa.Table:
    """Sessions in CLAX's layout (see the module docstring); FormatError naming `path` for
    string ids, which the layout cannot hold."""
    for name in ("query_ids", "doc_ids"):
        if getattr(sessions, name).dtype.kind not in "iu":
            raise FormatError(path, None, f"CLAX's layout holds integer ids; these sessions' "
                              f"{name} are strings (write Parquet, or map the ids to integers)")
    mask = sessions.mask
    offsets = pa.array(np.r_[0, np.cumsum(sessions.length, dtype=np.int64)].astype(np.int32))
    rank = np.nonzero(mask)[1]

    def lists(values: np.ndarray) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, pa.array(values))

    columns = {}
    query_ids = sessions.query_ids[sessions.query].astype(np.int64)
    if not (sessions.n and np.all(query_ids == NO_QUERY)):
        columns["query_id"] = pa.array(query_ids)
    columns.update(
        query_doc_ids=lists(sessions.doc_ids[sessions.doc[mask]].astype(np.int64)),
        clicks=lists(sessions.click[mask].astype(np.int8)),
        positions=lists((rank + 1).astype(np.int16)),
        mask=lists(np.ones(rank.size, bool)),
    )
    if np.any(sessions.weight != 1):
        columns["weight"] = pa.array(sessions.weight)
    return pa.table(columns)


def write_clax(sessions: Sessions, path: str | os.PathLike) -> None:
    """Write `sessions` in CLAX's layout, atomically."""
    table = clax_table(sessions, path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
