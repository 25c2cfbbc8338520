"""One translation of pyarrow's failures to open a Parquet file into clickfit's error, shared
by the three Parquet readers (clickfit's own, CLAX's layout, long tables) and the sniffing of
which one a file is."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from clicklog.io_report import FormatError


@contextmanager
def parquet_errors(path: str | os.PathLike) -> Iterator[None]:
    """Inside: a file that is no readable Parquet raises FormatError naming `path`; a missing
    file stays FileNotFoundError, which the command line reports as such."""
    try:
        yield
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise FormatError(path, None, f"not a readable Parquet file ({err})") from None
