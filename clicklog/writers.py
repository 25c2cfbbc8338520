"""`write`: Sessions to Parquet (lossless), the long TSV/CSV format or CLAX's layout, always
atomically (an interrupted write leaves no half-written file)."""

from __future__ import annotations

import os

from clicklog.formats import WRITE_FORMATS, format_from_name
from clicklog.io_clax import write_clax
from clicklog.io_long import write_long
from clicklog.io_parquet import write_parquet
from clicklog.io_report import FormatError
from clicklog.sessions import Sessions

# What each output format leaves out of a Sessions, so that a converter can say so.
NOT_CARRIED = {
    "parquet": (),
    "tsv": ("doc_features", "labels"),
    "csv": ("doc_features", "labels"),
    "clax": ("doc_features", "labels", "qd_features", "bias_features"),
}


def write(sessions: Sessions, path: str | os.PathLike, format: str | None = None) -> None:
    """Write `sessions` to `path` in `format` (default: from the name, e.g. .parquet, .tsv);
    FormatError naming the file when neither says a format clickfit writes."""
    format = format_from_name(path) if format is None else format
    if format == "parquet":
        write_parquet(sessions, path)
    elif format in ("tsv", "csv"):
        write_long(sessions, path, delimiter="\t" if format == "tsv" else ",")
    elif format == "clax":
        write_clax(sessions, path)
    else:
        raise FormatError(
            path,
            None,
            f"cannot write {'this file name' if format is None else repr(format)}: pass "
            f"format= (command line: --to) one of {', '.join(WRITE_FORMATS)} or name the file "
            ".parquet, .tsv or "
            ".csv (optionally + .gz)",
        )


def left_out(sessions: Sessions, format: str) -> list[str]:
    """The optional fields of `sessions` that `format` does not store."""
    return [name for name in NOT_CARRIED.get(format, ()) if getattr(sessions, name) is not None]
