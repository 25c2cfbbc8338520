"""Parquet, clickfit's native storage: Sessions round-trip losslessly, and in row-group chunks.

Schema, one row per session (so that a file streams in row groups, e.g. for streaming EM):

    query   int32         query index
    length  int16         number of real results (the dtype of Sessions.length is kept)
    weight  float32       multiplicity
    qd      list<int32>   qd indices of the real ranks (`length` entries, no padding)
    doc     list<int32>   doc indices of the real ranks
    click   list<bool>    clicks of the real ranks
    bias    list<fixed_size_list<float32, B>>   per-impression bias features of the real
                          ranks (only when the sessions carry bias_features)

Everything that is not per session lives in the file's key-value metadata, each array as an
Arrow IPC stream (exact dtypes, zstd-compressed): `clickfit.query_ids`, `clickfit.doc_ids`,
`clickfit.qd` (columns query, doc), and when present `clickfit.labels`,
`clickfit.doc_features` and `clickfit.qd_features` (one fixed-size-list column each); plus
`clickfit` (JSON): format version, page width K, bias feature width B (0 without), numpy
dtypes of the id arrays and length, and the ReadReport of the read that first produced the
sessions (provenance: converting a dirty log keeps its drop counts). A file whose metadata
cannot be decoded, or whose rows do not fit it (a page longer than K), is a FormatError naming
the file and row group. The footer, vocabularies included, is read whole when a file is
opened, which bounds the vocabulary size at a few hundred MB.

A log too large to hold in memory is written chunk by chunk (`write_parquet_chunks`: the
chunks share one growing index space and the footer gets the last chunk's vocabularies) and
read row group by row group (`iter_parquet`, any subset of the row groups, in any order);
`parquet_header` gives the vocabularies and row-group sizes without reading a row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clicklog.atomic import atomic_path
from clicklog.io_report import FormatError, ReadReport
from clicklog.parquet_open import parquet_errors
from clicklog.sessions import PAD, Sessions, SessionsError, pad_rows
from clicklog.vocabulary import Vocabulary

FORMAT_VERSION = 1
ROW_GROUP_SESSIONS = 65_536
_META = b"clickfit"
_PER_RANK = ("qd", "doc", "click")
# The vocabularies sit in the footer; Arrow's default Thrift limits (100 MB) would refuse a
# large one.
_FOOTER_LIMITS = {"thrift_string_size_limit": 2**31 - 1, "thrift_container_size_limit": 2**31 - 1}


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


def session_table(sessions: Sessions) -> pa.Table:
    """The per-session columns of the schema above."""
    mask = sessions.mask
    offsets = pa.array(np.r_[0, np.cumsum(sessions.length, dtype=np.int64)].astype(np.int32))
    per_rank = {
        name: pa.ListArray.from_arrays(offsets, pa.array(getattr(sessions, name)[mask]))
        for name in _PER_RANK
    }
    if sessions.bias_features is not None:
        values = sessions.bias_features[mask]
        per_rank["bias"] = pa.ListArray.from_arrays(offsets, _fixed_lists(values))
    return pa.table(
        {
            "query": pa.array(sessions.query),
            "length": pa.array(sessions.length),
            "weight": pa.array(sessions.weight),
            **per_rank,
        }
    )


def _fixed_lists(rows: np.ndarray) -> pa.FixedSizeListArray:
    """A float32 [m, F] array as m fixed-size lists of F."""
    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1])


def _matrix(column: pa.ChunkedArray | pa.Array, width: int | None = None) -> np.ndarray:
    """Inverse of _fixed_lists. Parquet gives fixed-size lists back as plain lists, so their
    `width` is checked here (ValueError naming the first wrong row)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if width is None:
        width = column.type.list_size
    sizes = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(sizes != width)
    if wrong.size:
        raise ValueError(f"feature list {wrong[0]} holds {sizes[wrong[0]]} values, not {width}")
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(column), width)


def _metadata(sessions: Sessions) -> dict[bytes, bytes]:
    info = {
        "format_version": FORMAT_VERSION,
        "K": sessions.K,
        "bias_width": 0 if sessions.bias_features is None else sessions.bias_features.shape[2],
        "dtypes": {
            "query_ids": sessions.query_ids.dtype.str,
            "doc_ids": sessions.doc_ids.dtype.str,
        },
        "report": None if sessions.report is None else sessions.report.as_dict(),
    }
    meta = {
        _META: json.dumps(info).encode(),
        b"clickfit.query_ids": _ipc(pa.table({"id": pa.array(sessions.query_ids)})),
        b"clickfit.doc_ids": _ipc(pa.table({"id": pa.array(sessions.doc_ids)})),
        b"clickfit.qd": _ipc(pa.table({"query": sessions.qd_query, "doc": sessions.qd_doc})),
    }
    if sessions.labels is not None:
        meta[b"clickfit.labels"] = _ipc(pa.table({"label": pa.array(sessions.labels)}))
    for name in ("doc_features", "qd_features"):
        if getattr(sessions, name) is not None:
            column = _fixed_lists(getattr(sessions, name))
            meta[f"clickfit.{name}".encode()] = _ipc(pa.table({"features": column}))
    return meta


def write_parquet(
    sessions: Sessions, path: str | os.PathLike, row_group_size: int = ROW_GROUP_SESSIONS
) -> None:
    """Write `sessions` atomically, `row_group_size` sessions per row group."""
    table = session_table(sessions)
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, table.schema, compression="zstd", store_schema=False) as w:
            w.write_table(table, row_group_size=max(row_group_size, 1))
            w.add_key_value_metadata(_metadata(sessions))


def _extends(before: Sessions, after: Sessions, path: str | os.PathLike) -> None:
    """ValueError unless `after`'s page width and vocabularies continue `before`'s."""
    if after.K != before.K:
        raise ValueError(f"{os.fspath(path)}: chunks of page width {before.K} and {after.K}")
    for name in ("query_ids", "doc_ids", "qd_query", "qd_doc"):
        old, new = getattr(before, name), getattr(after, name)
        if old is not new and not np.array_equal(old, new[: old.size]):
            raise ValueError(
                f"{os.fspath(path)}: a chunk's {name} does not extend the previous chunk's; "
                "build every chunk with one growing clicklog.Vocabulary"
            )


def write_parquet_chunks(
    chunks: Iterable[Sessions],
    path: str | os.PathLike,
    row_group_size: int = ROW_GROUP_SESSIONS,
) -> int:
    """Write sessions arriving in chunks to one file, atomically, holding one chunk at a time;
    return the number of sessions written.

    The chunks share one growing index space (built with one clicklog.Vocabulary, say): each
    chunk's vocabularies start with the previous chunk's, and the file takes the last one's.
    Row groups never span two chunks, so chunks of a multiple of `row_group_size` sessions
    give row groups of one size.
    """
    written, last, writer = 0, None, None
    with atomic_path(path) as tmp:
        try:
            for chunk in chunks:
                if last is not None:
                    _extends(last, chunk, path)
                table = session_table(chunk)
                if writer is None:
                    writer = pq.ParquetWriter(
                        tmp, table.schema, compression="zstd", store_schema=False
                    )
                writer.write_table(table, row_group_size=max(row_group_size, 1))
                written += chunk.n
                last = chunk
            if last is None:
                raise ValueError(f"{os.fspath(path)}: no chunks to write")
            writer.add_key_value_metadata(_metadata(last))
        finally:
            if writer is not None:
                writer.close()
    return written


class _File:
    """An open clickfit Parquet file: its footer decoded, row groups read on demand."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        with parquet_errors(path):
            self.file = pq.ParquetFile(path, **_FOOTER_LIMITS)
        meta = self.file.metadata.metadata or {}
        if _META not in meta:
            raise FormatError(
                path,
                None,
                "a Parquet file without clickfit metadata; write it "
                "with clicklog.write (or convert a log with `clickfit data "
                "convert`)",
            )
        try:
            info = json.loads(meta[_META])
            version = info.get("format_version")
        except (ValueError, AttributeError) as err:
            raise FormatError(path, None, f"broken clickfit metadata ({err})") from None
        if version != FORMAT_VERSION:
            raise FormatError(
                path,
                None,
                f"clickfit Parquet format version {version}; this reader knows {FORMAT_VERSION}",
            )
        try:
            self._decode(meta, info)
        except (KeyError, ValueError, TypeError, OSError, pa.ArrowException) as err:
            # IPC blobs that do not decode raise OSError or ArrowInvalid
            problem = f"missing {err}" if isinstance(err, KeyError) else str(err)
            raise FormatError(path, None, f"broken clickfit metadata ({problem})") from None

    def _decode(self, meta: dict, info: dict) -> None:
        self.K = int(info["K"])
        self.bias_width = int(info.get("bias_width", 0))
        if self.K < 1 or self.bias_width < 0:
            raise ValueError(f"K = {self.K}, bias width = {self.bias_width}")
        self.query_ids = self._ids(meta, b"clickfit.query_ids", info["dtypes"]["query_ids"])
        self.doc_ids = self._ids(meta, b"clickfit.doc_ids", info["dtypes"]["doc_ids"])
        qd = _from_ipc(meta[b"clickfit.qd"])
        self.qd_query = qd["query"].to_numpy()
        self.qd_doc = qd["doc"].to_numpy()
        self.labels = None
        if b"clickfit.labels" in meta:
            self.labels = _from_ipc(meta[b"clickfit.labels"])["label"].to_numpy()
        self.doc_features = self.qd_features = None
        for name in ("doc_features", "qd_features"):
            key = f"clickfit.{name}".encode()
            if key in meta:
                setattr(self, name, _matrix(_from_ipc(meta[key])["features"]))
        report = info.get("report")
        self.report = None if report is None else ReadReport.from_dict(report)

    @staticmethod
    def _ids(meta: dict, key: bytes, dtype: str) -> np.ndarray:
        """An id array; ValueError for a NUL character (numpy's str would drop a trailing one
        and merge two ids) or a repeated id."""
        column = _from_ipc(meta[key])["id"]
        name = key.decode().removeprefix("clickfit.")
        if pa.types.is_string(column.type) and pc.any(pc.match_substring(column, "\x00")).as_py():
            raise ValueError(f"a NUL character in {name}")
        ids = column.to_numpy(zero_copy_only=False).astype(dtype)
        if np.unique(ids).size != ids.size:
            raise ValueError(f"{name} holds an id twice")
        return ids

    def read(self, group: int | None = None) -> pa.Table:
        """The whole file or one row group; FormatError where the data pages are corrupt."""
        try:
            return self.file.read() if group is None else self.file.read_row_group(group)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
            where = "" if group is None else f"row group {group}: "
            raise FormatError(self.path, None, f"{where}unreadable data ({err})") from None

    def row_group_sizes(self) -> np.ndarray:
        meta = self.file.metadata
        return np.array([meta.row_group(g).num_rows for g in range(meta.num_row_groups)], np.int64)

    def empty(self) -> Sessions:
        """No sessions, with the file's page width and vocabularies."""
        rows = np.zeros((0, self.K), np.int32)
        bias = np.zeros((0, self.K, self.bias_width), np.float32) if self.bias_width else None
        return Sessions(
            query=np.zeros(0, np.int32),
            qd=rows,
            doc=rows,
            click=rows.astype(bool),
            length=np.zeros(0, np.int16),
            weight=np.zeros(0, np.float32),
            bias_features=bias,
            **self.shared_fields(),
        )

    def shared_fields(self) -> dict:
        """The Sessions fields every chunk of the file shares: vocabularies and provenance."""
        return {
            "query_ids": self.query_ids,
            "doc_ids": self.doc_ids,
            "qd_query": self.qd_query,
            "qd_doc": self.qd_doc,
            "doc_features": self.doc_features,
            "qd_features": self.qd_features,
            "labels": self.labels,
            "source": self.path,
            "report": self.report,
        }

    def sessions(self, table: pa.Table, first_row: int, group: int | None = None) -> Sessions:
        """Sessions of some rows of the file (row `first_row` onwards, of row group `group`
        when one), with its vocabularies."""
        def fail(row: int | None, problem: str) -> None:
            at = group
            if at is None and row is not None:  # the whole file: find the row's group
                at = int(np.searchsorted(np.cumsum(self.row_group_sizes()), row - 1, "right"))
            where = "" if at is None else f"row group {at}: "
            raise FormatError(self.path, row, where + problem, unit="row")

        names = ("query", "length", "weight", *_PER_RANK) + (("bias",) if self.bias_width else ())
        missing = [name for name in names if name not in table.column_names]
        if missing:
            fail(None, f"no column(s) {', '.join(missing)}")
        kinds = {"query": pa.types.is_integer, "length": pa.types.is_integer,
                 "weight": pa.types.is_floating}
        wrong = [f"{n} ({table[n].type})" for n, ok in kinds.items() if not ok(table[n].type)]
        if wrong:
            fail(None, f"column(s) of the wrong type: {', '.join(wrong)}")
        try:
            length = table["length"].to_numpy()
            query = table["query"].to_numpy()
            weight = table["weight"].to_numpy()
        except pa.ArrowException as err:
            fail(None, f"unreadable columns ({err})")
        longest = int(length.max(initial=0))
        if longest > self.K:
            row = int(np.argmax(length))
            fail(first_row + row + 1, f"a page of {longest} results, longer than the file's "
                 f"page width K = {self.K} in its metadata")
        if length.size and length.min() < 1:
            row = int(np.argmin(length))
            fail(first_row + row + 1, f"length {length[row]} (must be at least 1)")
        bad = np.flatnonzero(~(np.isfinite(weight) & (weight > 0)))
        if bad.size:
            fail(first_row + int(bad[0]) + 1, f"weight {weight[bad[0]]} (must be finite and > 0)")
        bad = np.flatnonzero((query < 0) | (query >= self.query_ids.size))
        if bad.size:
            fail(first_row + int(bad[0]) + 1, f"query index {query[bad[0]]} out of range "
                 f"[0, {self.query_ids.size})")
        arrays = {}
        for name in _PER_RANK + (("bias",) if self.bias_width else ()):
            lists = table[name].combine_chunks()
            sizes = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
            wrong = np.flatnonzero(sizes != length)
            if wrong.size:
                fail(first_row + int(wrong[0]) + 1,
                     f"{name} holds {sizes[wrong[0]]} entries, length says {length[wrong[0]]}")
            if name == "bias":
                try:
                    values = _matrix(lists.flatten(), self.bias_width)
                except ValueError as err:
                    fail(None, f"bias features: {err}")
                arrays["bias_features"] = _pad_features(values, length, self.K)
                continue
            values = lists.flatten().to_numpy(zero_copy_only=False)
            arrays[name] = pad_rows(values, length, False if name == "click" else PAD, self.K)
        try:
            return Sessions(
                query=query,
                length=length,
                weight=weight,
                **self.shared_fields(),
                **arrays,
            )
        except SessionsError as err:
            fail(None, str(err).removeprefix(f"{self.path}: "))


def _pad_features(values: np.ndarray, length: np.ndarray, K: int) -> np.ndarray:
    """[n, K, B] from the [sum(length), B] rows of the real ranks, zeros at padded ranks."""
    mask = np.arange(K)[None, :] < length[:, None]
    out = np.zeros((*mask.shape, values.shape[1]), np.float32)
    out[mask] = values
    return out


def is_clickfit_parquet(path: str | os.PathLike) -> bool:
    """Whether a Parquet file carries clickfit's metadata (FormatError if it is no Parquet)."""
    with parquet_errors(path):
        meta = pq.ParquetFile(path, **_FOOTER_LIMITS).metadata.metadata or {}
    return _META in meta


def read_parquet(path: str | os.PathLike, vocabulary: Vocabulary | None = None) -> Sessions:
    """The whole file as Sessions; re-indexed into `vocabulary` when one is given."""
    f = _File(path)
    sessions = f.sessions(f.read(), 0)
    return sessions if vocabulary is None else vocabulary.adopt(sessions)


def iter_parquet(
    path: str | os.PathLike, groups: Sequence[int] | None = None
) -> Iterator[Sessions]:
    """The file one row group at a time (all of them in order, or the `groups` given, in their
    order); every chunk carries the file's whole vocabularies."""
    f = _File(path)
    sizes = f.row_group_sizes()
    first_rows = np.concatenate(([0], np.cumsum(sizes)))
    for group in range(sizes.size) if groups is None else groups:
        if not 0 <= group < sizes.size:
            raise ValueError(f"{f.path} has row groups 0..{sizes.size - 1}, not {group}")
        yield f.sessions(f.read(int(group)), int(first_rows[group]), int(group))


def parquet_header(path: str | os.PathLike) -> tuple[Sessions, np.ndarray]:
    """(zero sessions carrying the file's page width and vocabularies, the number of sessions
    in each row group), read from the footer alone."""
    f = _File(path)
    return f.empty(), f.row_group_sizes()
