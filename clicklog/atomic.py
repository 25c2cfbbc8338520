"""Atomic file writes: an interrupted run never leaves a half-written file (DESIGN.md section 7).

Everything is written to a temporary file in the destination's own directory (so that the
final `os.replace` is a rename within one file system, which POSIX makes atomic) and moved
over the destination only once it is complete and flushed to disk. On any exception the
temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# mkstemp creates files readable by the owner only; a finished file should get the usual
# permissions, so the process umask is read once (reading it means setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to (for libraries that take a path, e.g. pyarrow or
    matplotlib's savefig); on success it replaces `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_UMASK)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary file for writing (`mode` "w" or "wb"); on success it replaces `path`."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        text = mode == "w"
        with open(
            tmp, mode, encoding=encoding if text else None, newline="" if text else None
        ) as f:
            yield f
