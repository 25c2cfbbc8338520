"""clicklog: the data layer shared by both engines and the benchmark (DESIGN.md section 2).

    Sessions, from_arrays, concat  the container (clicklog.sessions)
    read, read_many, sniff_format  readers (clicklog.readers); FormatError, ReadReport
    from_frame                     a pandas DataFrame, one row per shown result (clicklog.io_frame)
    write, iter_parquet            writers (clicklog.writers), chunked Parquet reading
    atomic_write, atomic_path      atomic file writes (clicklog.atomic)
    dedup                          identical sessions -> one weighted row (clicklog.dedup)
    split_by_order, split_by_query, restrict_to_seen_queries   (clicklog.split)
    shared_data_dir, yandex_sample_paths                       (clicklog.paths)
    Vocabulary                     shared index spaces (clicklog.vocabulary)

The readers, writers and vocabularies need pyarrow and pandas; they are imported on first
use, so that `import clicklog.sessions` (all the Numba and JAX engines need) stays light, and
dedup's Numba kernels load on the first deduplication, so that `clickfit data stats` does not
wait for Numba.
"""

from __future__ import annotations

import importlib

from clicklog.atomic import atomic_path, atomic_write
from clicklog.dedup import dedup
from clicklog.formats import FORMATS
from clicklog.io_report import FormatError, ReadReport
from clicklog.paths import shared_data_dir, yandex_sample_paths
from clicklog.sessions import PAD, Sessions, SessionsError, concat, from_arrays
from clicklog.split import Restricted, restrict_to_seen_queries, split_by_order, split_by_query

_LAZY = {
    "read": "clicklog.readers",
    "read_many": "clicklog.readers",
    "sniff_format": "clicklog.readers",
    "from_frame": "clicklog.io_frame",
    "write": "clicklog.writers",
    "iter_parquet": "clicklog.io_parquet",
    "Vocabulary": "clicklog.vocabulary",
}

__all__ = [
    "FORMATS",
    "PAD",
    "FormatError",
    "ReadReport",
    "Restricted",
    "Sessions",
    "SessionsError",
    "atomic_path",
    "atomic_write",
    "concat",
    "dedup",
    "from_arrays",
    "restrict_to_seen_queries",
    "shared_data_dir",
    "split_by_order",
    "split_by_query",
    "yandex_sample_paths",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'clicklog' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
