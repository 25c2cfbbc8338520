"""`write`: Sessions to Parquet (lossless) or the long TSV/CSV format, always atomically."""

from __future__ import annotations

import os

from clicklog.formats import WRITE_FORMATS, format_from_name
from clicklog.io_long import write_long
from clicklog.io_parquet import write_parquet
from clicklog.sessions import Sessions


def write(sessions: Sessions, path: str | os.PathLike, format: str | None = None) -> None:
    """Write `sessions` to `path` in `format` (default: from the name, e.g. .parquet, .tsv)."""
    format = format_from_name(path) if format is None else format
    if format == "parquet":
        write_parquet(sessions, path)
    elif format in ("tsv", "csv"):
        write_long(sessions, path, delimiter="\t" if format == "tsv" else ",")
    else:
        raise ValueError(
            f"cannot write {os.fspath(path)!r} as {format!r}: pass format= one of "
            f"{', '.join(WRITE_FORMATS)} or name the file .parquet, .tsv or .csv"
        )
