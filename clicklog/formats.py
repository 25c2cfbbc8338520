"""The file formats clicklog reads and writes, and how a file name names one."""

from __future__ import annotations

import os
from pathlib import Path

FORMATS = ("sample", "yandex-log", "tsv", "csv", "parquet", "clax")
WRITE_FORMATS = ("parquet", "tsv", "csv", "clax")
EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv", ".tab": "tsv", ".csv": "csv"}


def format_from_name(path: str | os.PathLike) -> str | None:
    """The format a file name's extension names (a trailing .gz is ignored), else None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None
