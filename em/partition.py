"""Sessions split by query into partitions, each with a compact qd index of its own.

The unit of work of streamed EM (em/stream.py) and distributed EM (em/distributed.py). The
queries are dealt out by index, query q to partition q mod P, and so are the qd pairs, by their
query: every pair of the vocabulary, shown or not, belongs to exactly one partition. A
partition holds all sessions of its queries, deduplicated (identical sessions share a query,
so this is the log's exact deduplication) and sorted by query, with qd re-indexed 0..m-1 over
its own pairs. An E-step on one partition therefore yields complete per-qd statistics for its
pairs: per-qd parameters can be updated where the partition lives, and only the per-rank and
global statistics need adding up across partitions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from clicklog import catalogue
from clicklog.dedup import groups
from clicklog.sessions import PAD, Sessions
from em.layout import Layout, sorted_layout
from em.model import Params

# The per-session arrays a partition is cut from, as they travel between machines or to disk.
ROWS = ("query", "qd", "click", "length", "weight")
Rows = dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class Partition:
    """Sessions of some queries, in query order, their pairs numbered locally."""

    query: np.ndarray  # int32 [n], sorted
    qd: np.ndarray  # int32 [n, K], local pair index, -1 at padding
    click: np.ndarray  # bool [n, K]
    length: np.ndarray  # int16 [n]
    weight: np.ndarray  # float32 [n]
    qd_global: np.ndarray  # int64 [m], the vocabulary's index of local pair i (increasing)
    qd_doc: np.ndarray  # int32 [m], the document of local pair i

    @property
    def n(self) -> int:
        return int(self.query.shape[0])

    def layout(self) -> Layout:
        return sorted_layout(
            self.query, self.qd, self.click, self.length, self.weight, self.qd_doc
        )

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for field in fields(self):
            np.save(directory / f"{field.name}.npy", getattr(self, field.name))

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = False) -> Partition:
        directory = Path(directory)
        mode = "r" if mmap else None
        return cls(**{f.name: np.load(directory / f"{f.name}.npy", mmap_mode=mode)
                      for f in fields(cls)})


def kinds_of(model: str) -> dict[str, str]:
    """What each parameter of `model` is keyed on; ValueError for document-keyed ones, which a
    partition by query cannot keep local."""
    kinds = catalogue.parameters(model)
    if "doc" in kinds.values():
        raise ValueError(
            f"{model} has per-document parameters, which streamed and distributed EM do not "
            "fit: documents cross query partitions; fit it on sessions in memory"
        )
    return kinds


def owner(query: np.ndarray, n_parts: int) -> np.ndarray:
    """The partition of each query index."""
    return np.asarray(query, np.int64) % n_parts


def pairs_of(vocabulary: Sessions, part: int, n_parts: int) -> np.ndarray:
    """Vocabulary indices of the qd pairs partition `part` owns, increasing."""
    return np.flatnonzero(owner(vocabulary.qd_query, n_parts) == part)


def deal(sessions: Sessions, n_parts: int) -> list[Rows]:
    """The rows of `sessions` each partition owns, in their order in `sessions`; one stable
    sort by owner rather than a mask per partition, which would cost n_parts passes."""
    owners = owner(sessions.query, n_parts)
    order = np.argsort(owners, kind="stable")
    bounds = np.searchsorted(owners[order], np.arange(n_parts + 1))
    dealt = {name: getattr(sessions, name)[order] for name in ROWS}
    return [
        {name: rows[bounds[part]:bounds[part + 1]] for name, rows in dealt.items()}
        for part in range(n_parts)
    ]


def build(
    pieces: list[Rows], vocabulary: Sessions, part: int, n_parts: int, deduplicate: bool = True
) -> Partition:
    """Partition `part` from the rows of its queries (in pieces, from anywhere in the log);
    `vocabulary` is the log's (sessions of it, any number)."""
    rows = {name: np.concatenate([piece[name] for piece in pieces]) for name in ROWS}
    mask = rows["qd"] != PAD
    doc = np.where(mask, vocabulary.qd_doc[np.where(mask, rows["qd"], 0)], PAD).astype(np.int32)
    # Sessions once, for its checks and for deduplication's grouping; the rows kept are then
    # cut from the arrays directly: Sessions.subset would check them again, twice.
    sessions = Sessions(
        doc=doc,
        query_ids=vocabulary.query_ids,
        doc_ids=vocabulary.doc_ids,
        qd_query=vocabulary.qd_query,
        qd_doc=vocabulary.qd_doc,
        **rows,
    )
    keep, weight = np.arange(sessions.n), rows["weight"]
    if deduplicate and sessions.n:
        keep, summed = groups(sessions)
        weight = summed.astype(np.float32)
    order = np.argsort(rows["query"][keep], kind="stable")
    keep, weight = keep[order], weight[order]
    qd = rows["qd"][keep]
    mask = qd != PAD
    pairs = pairs_of(vocabulary, part, n_parts)
    # A vocabulary-sized lookup beats a binary search per impression on large partitions.
    lookup = np.empty(max(vocabulary.n_qd, 1), np.int32)
    lookup[pairs] = np.arange(pairs.size, dtype=np.int32)
    return Partition(
        query=rows["query"][keep],
        qd=np.where(mask, lookup[np.where(mask, qd, 0)], PAD).astype(np.int32),
        click=rows["click"][keep],
        length=rows["length"][keep],
        weight=weight,
        qd_global=pairs,
        qd_doc=vocabulary.qd_doc[pairs],
    )

def split(sessions: Sessions, n_parts: int, deduplicate: bool = True) -> list[Partition]:
    """`sessions` in memory as `n_parts` partitions."""
    return [
        build([rows], sessions, part, n_parts, deduplicate)
        for part, rows in enumerate(deal(sessions, n_parts))
    ]


def local(params: Params, partition: Partition, per_qd: frozenset[str]) -> Params:
    """The parameters as partition-local arrays: per-qd ones cut to its pairs."""
    return {
        name: value[partition.qd_global] if name in per_qd else value
        for name, value in params.items()
    }
