"""A Yandex-like click log of any size, generated in chunks straight to Parquet.

The scale benchmark's data (CLAX times every model on 10M Yandex sessions): pages of K = 10
results, heavy-tailed query frequencies and millions of query-document pairs. The world is
`benchmarks.simulate.simulate`'s synthetic one with these settings (WORLD):

    500,000 queries, Zipf exponent 1.1     the top query takes 13% of the sessions and about
                                           150,000 queries occur in 2M sessions
    pools of 15 documents per query        one million qd pairs in 1M sessions, 2.6M in 10M
    ranking_noise 0.05                     rankings of a query vary little between impressions,
                                           as in the real Yandex sample (its query of 5,452
                                           sessions shows 100 distinct pages; here a query of
                                           1,601 sessions shows 36), so deduplication pays

Clicks follow DBN with the simulator's default truth. Chunk i is `sample_sessions(sim, n,
seed=(seed, i))`, so the log is a deterministic function of the seed and the chunk size.
Every chunk is re-indexed into one growing clicklog.Vocabulary, in first-seen order: the
first n sessions of the file use exactly the first entries of each vocabulary, and `head`
turns any prefix of the file into a log with a compact vocabulary of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from benchmarks.simulate.core import Simulation, sample_sessions, simulate
from clicklog.io_parquet import iter_parquet, write_parquet_chunks
from clicklog.sessions import Sessions
from clicklog.vocabulary import Vocabulary

WORLD = {"n_queries": 500_000, "K": 10, "pool_size": 15, "zipf_exponent": 1.1,
         "ranking_noise": 0.05}
GENERATOR = "dbn"
CHUNK_SESSIONS = 2**19
ROW_GROUP_SESSIONS = 2**17


def yandex_like(seed: int = 0, model: str = GENERATOR, **world: float) -> Simulation:
    """The world and truth of the log (no sessions yet); `world` overrides entries of WORLD."""
    return simulate(model, 0, seed, **{**WORLD, **world})


def compact_chunks(
    simulation: Simulation, n_sessions: int, seed: int, chunk_sessions: int = CHUNK_SESSIONS
) -> Iterator[Sessions]:
    """`n_sessions` sessions in chunks, re-indexed into one growing first-seen vocabulary."""
    vocabulary = Vocabulary()
    for index, start in enumerate(range(0, n_sessions, chunk_sessions)):
        raw = sample_sessions(simulation, min(chunk_sessions, n_sessions - start), (seed, index))
        mask = raw.mask
        query = vocabulary.query_index(raw.query_ids[raw.query])
        doc = np.zeros(raw.doc.shape, np.int64)
        doc[mask] = vocabulary.doc_index(raw.doc_ids[raw.doc[mask]])
        yield vocabulary.build(query, doc, raw.click, raw.length, source="yandex-like")


def write_yandex_like(
    path: str | os.PathLike,
    n_sessions: int,
    seed: int = 0,
    chunk_sessions: int = CHUNK_SESSIONS,
    row_group_size: int = ROW_GROUP_SESSIONS,
    **world: float,
) -> int:
    """Generate the log into one Parquet file (atomically), one chunk in memory at a time;
    `world` overrides entries of WORLD. Returns the number of sessions written."""
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be positive, got {n_sessions}")
    chunks = compact_chunks(yandex_like(seed, **world), n_sessions, seed, chunk_sessions)
    return write_parquet_chunks(chunks, path, row_group_size=row_group_size)


def used_sizes(sessions: Sessions) -> tuple[int, int, int]:
    """(queries, documents, qd pairs) up to the largest index `sessions` use, plus one."""
    mask = sessions.mask
    return tuple(
        int(values.max(initial=-1)) + 1
        for values in (sessions.query, sessions.doc[mask], sessions.qd[mask])
    )


def truncate_vocabularies(sessions: Sessions, sizes: tuple[int, int, int]) -> Sessions:
    """`sessions` with their vocabularies cut to `sizes` (queries, documents, qd pairs): for a
    prefix of a first-seen-ordered log, the sizes it uses make them compact."""
    n_queries, n_docs, n_qd = sizes
    return replace(
        sessions,
        query_ids=sessions.query_ids[:n_queries],
        doc_ids=sessions.doc_ids[:n_docs],
        qd_query=sessions.qd_query[:n_qd],
        qd_doc=sessions.qd_doc[:n_qd],
        labels=None if sessions.labels is None else sessions.labels[:n_qd],
        doc_features=None if sessions.doc_features is None else sessions.doc_features[:n_docs],
    )


def head_chunks(path: str | os.PathLike, n_sessions: int) -> Iterator[Sessions]:
    """The first `n_sessions` sessions of a file, row group by row group (the last one cut)."""
    left = n_sessions
    for chunk in iter_parquet(path):
        if left <= 0:
            return
        yield chunk if chunk.n <= left else chunk.subset(np.arange(left))
        left -= chunk.n


def head(path: str | os.PathLike, n_sessions: int) -> Sessions:
    """The first `n_sessions` sessions of a first-seen-ordered file, in memory, with compact
    vocabularies."""
    parts = list(head_chunks(path, n_sessions))
    if sum(p.n for p in parts) < n_sessions:
        raise ValueError(f"{os.fspath(path)} holds fewer than {n_sessions} sessions")
    whole = replace(
        parts[-1],
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in ("query", "qd", "doc", "click", "length", "weight")
        },
    )
    return truncate_vocabularies(whole, used_sizes(whole))


def write_head(source: str | os.PathLike, path: str | os.PathLike, n_sessions: int) -> int:
    """Write the first `n_sessions` sessions of a first-seen-ordered `source` to `path` with
    compact vocabularies, one row group in memory at a time (two passes over the prefix)."""
    sizes = np.zeros(3, np.int64)
    for chunk in head_chunks(source, n_sessions):
        sizes = np.maximum(sizes, used_sizes(chunk))
    compact = (
        truncate_vocabularies(chunk, tuple(int(v) for v in sizes))
        for chunk in head_chunks(source, n_sessions)
    )
    return write_parquet_chunks(compact, path, row_group_size=ROW_GROUP_SESSIONS)
