"""Parquet, clickfit's native storage: Sessions round-trip losslessly, and in row-group chunks.

Schema, one row per session (so that a file streams in row groups, e.g. for streaming EM):

    query   int32         query index
    length  int16         number of real results (the dtype of Sessions.length is kept)
    weight  float32       multiplicity
    qd      list<int32>   qd indices of the real ranks (`length` entries, no padding)
    doc     list<int32>   doc indices of the real ranks
    click   list<bool>    clicks of the real ranks

Everything that is not per session lives in the file's key-value metadata, each array as an
Arrow IPC stream (exact dtypes, zstd-compressed): `clickfit.query_ids`, `clickfit.doc_ids`,
`clickfit.qd` (columns query, doc), and when present `clickfit.labels` and
`clickfit.doc_features` (one fixed-size-list column); plus `clickfit` (JSON): format
version, page width K, numpy dtypes of the id arrays and length, and the ReadReport of the
read that first produced the sessions (provenance: converting a dirty log keeps its drop
counts). The footer, vocabularies included, is read whole when a file is opened, which bounds
the vocabulary size at a few hundred MB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clicklog.atomic import atomic_path
from clicklog.io_report import FormatError, ReadReport
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
    return pa.table(
        {
            "query": pa.array(sessions.query),
            "length": pa.array(sessions.length),
            "weight": pa.array(sessions.weight),
            **per_rank,
        }
    )


def _metadata(sessions: Sessions) -> dict[bytes, bytes]:
    info = {
        "format_version": FORMAT_VERSION,
        "K": sessions.K,
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
    if sessions.doc_features is not None:
        features = sessions.doc_features
        flat = pa.array(features.reshape(-1))
        column = pa.FixedSizeListArray.from_arrays(flat, features.shape[1])
        meta[b"clickfit.doc_features"] = _ipc(pa.table({"features": column}))
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


class _File:
    """An open clickfit Parquet file: its footer decoded, row groups read on demand."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        try:
            self.file = pq.ParquetFile(path, **_FOOTER_LIMITS)
        except (pa.ArrowInvalid, OSError) as err:
            if isinstance(err, FileNotFoundError):
                raise
            raise FormatError(path, None, f"not a readable Parquet file ({err})") from None
        meta = self.file.metadata.metadata or {}
        if _META not in meta:
            raise FormatError(
                path,
                None,
                "a Parquet file without clickfit metadata; write it "
                "with clicklog.write (or convert a log with `clickfit data "
                "convert`)",
            )
        info = json.loads(meta[_META])
        if info.get("format_version") != FORMAT_VERSION:
            raise FormatError(
                path,
                None,
                f"clickfit Parquet format version "
                f"{info.get('format_version')}; this reader knows {FORMAT_VERSION}",
            )
        self.K = int(info["K"])
        self.query_ids = self._ids(meta, b"clickfit.query_ids", info["dtypes"]["query_ids"])
        self.doc_ids = self._ids(meta, b"clickfit.doc_ids", info["dtypes"]["doc_ids"])
        qd = _from_ipc(meta[b"clickfit.qd"])
        self.qd_query = qd["query"].to_numpy()
        self.qd_doc = qd["doc"].to_numpy()
        self.labels = None
        if b"clickfit.labels" in meta:
            self.labels = _from_ipc(meta[b"clickfit.labels"])["label"].to_numpy()
        self.doc_features = None
        if b"clickfit.doc_features" in meta:
            column = _from_ipc(meta[b"clickfit.doc_features"])["features"].combine_chunks()
            flat = column.flatten().to_numpy()
            self.doc_features = flat.reshape(len(column), column.type.list_size)
        report = info.get("report")
        self.report = None if report is None else ReadReport.from_dict(report)

    @staticmethod
    def _ids(meta: dict, key: bytes, dtype: str) -> np.ndarray:
        return _from_ipc(meta[key])["id"].to_numpy(zero_copy_only=False).astype(dtype)

    def sessions(self, table: pa.Table, first_row: int) -> Sessions:
        """Sessions of some rows of the file (row `first_row` onwards), with its vocabularies."""
        length = table["length"].to_numpy()
        arrays = {}
        for name in _PER_RANK:
            lists = table[name].combine_chunks()
            sizes = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
            wrong = np.flatnonzero(sizes != length)
            if wrong.size:
                raise FormatError(
                    self.path,
                    first_row + int(wrong[0]) + 1,
                    f"{name} holds {sizes[wrong[0]]} entries, length says {length[wrong[0]]}",
                    unit="row",
                )
            values = lists.flatten().to_numpy(zero_copy_only=False)
            arrays[name] = pad_rows(values, length, False if name == "click" else PAD, self.K)
        try:
            return Sessions(
                query=table["query"].to_numpy(),
                length=length,
                weight=table["weight"].to_numpy(),
                query_ids=self.query_ids,
                doc_ids=self.doc_ids,
                qd_query=self.qd_query,
                qd_doc=self.qd_doc,
                doc_features=self.doc_features,
                labels=self.labels,
                source=self.path,
                report=self.report,
                **arrays,
            )
        except SessionsError as err:
            raise FormatError(self.path, None, str(err)) from None


def read_parquet(path: str | os.PathLike, vocabulary: Vocabulary | None = None) -> Sessions:
    """The whole file as Sessions; re-indexed into `vocabulary` when one is given."""
    f = _File(path)
    sessions = f.sessions(f.file.read(), 0)
    return sessions if vocabulary is None else vocabulary.adopt(sessions)


def iter_parquet(path: str | os.PathLike) -> Iterator[Sessions]:
    """The file one row group at a time; every chunk carries the file's whole vocabularies."""
    f = _File(path)
    first_row = 0
    for group in range(f.file.num_row_groups):
        table = f.file.read_row_group(group)
        yield f.sessions(table, first_row)
        first_row += table.num_rows
