"""Atomic file writes: an interrupted run never leaves a half-written file (DESIGN.md section 7).

Everything is written to a temporary file in the destination's own directory (so that the
final `os.replace` is a rename within one file system, which POSIX makes atomic) and moved
over the destination only once it is complete and flushed to disk. On any exception the
temporary file is removed and the destination is left as it was.

Interruptions that skip `finally`:
- SIGTERM (its default action ends the process at once): while a write is open, a handler
  removes every temporary file of the process first, then lets the signal do what it did
  before (the previous handler is called, or the process dies of the signal as it would
  have). The previous handler is back in place once the last write ends.
- SIGKILL cannot be caught, so the next write into the same directory removes what such a
  run left: temporary files are named `.NAME.HOST-PID.XXXXXXXX.tmp`, and one is removed only
  if it was made on this host by a process that no longer runs (or by this process's pid but
  not by this process) and was last modified over a minute ago, or, whichever host made it,
  over a day ago. Nothing else is ever touched.

Write errors (a read-only directory, a full disk) are `FormatError`s naming the destination.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from clicklog.io_report import FormatError

# mkstemp creates files readable by the owner only; a finished file should get the usual
# permissions, so the process umask is read once (reading it means setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)

HOST = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:40] or "host"
# mkstemp's random part: 8 characters of [a-z0-9_].
TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.tmp$")
STALE_SECONDS = 60.0  # a dead writer's file younger than this is left (its rename may be due)
ABANDONED_SECONDS = 86_400.0  # untouched this long: abandoned, whoever made it

_lock = threading.RLock()  # reentrant: the SIGTERM handler may interrupt its holder
_live: set[Path] = set()  # this process's open temporary files
_swept: set[Path] = set()  # directories already cleaned by this process
_previous: list = []  # (replaced SIGTERM handler, pid that replaced it) while _on_sigterm is in


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def is_stale(entry: os.DirEntry | Path, now: float | None = None) -> bool:
    """Whether `entry` is a temporary file of an atomic write that will never finish."""
    match = TEMP_NAME.match(entry.name)
    if match is None:
        return False
    try:
        age = (time.time() if now is None else now) - entry.stat().st_mtime
    except OSError:
        return False
    if age > ABANDONED_SECONDS:
        return True
    if match["host"] != HOST or age <= STALE_SECONDS:
        return False
    pid = int(match["pid"])
    if pid == os.getpid():  # this process (or an earlier one that had its pid)
        with _lock:
            return entry.name not in {tmp.name for tmp in _live}
    return not _running(pid)


def sweep(directory: str | os.PathLike) -> list[Path]:
    """Remove the stale temporary files of `directory` (see the module docstring); the paths
    removed."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and is_stale(entry, now):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def _on_sigterm(signum: int, frame) -> None:
    previous, installer = _previous[0] if _previous else (signal.SIG_DFL, None)
    if callable(previous):
        # It may raise (e.g. SystemExit); then each open write's `finally` removes its file.
        previous(signum, frame)
        return
    if installer == os.getpid():  # a child forked mid-write inherits the handler, not the files
        with _lock:
            for tmp in _live:
                tmp.unlink(missing_ok=True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _guard_sigterm() -> bool:
    """Install _on_sigterm if no write has yet; True where this call installed it."""
    if threading.current_thread() is not threading.main_thread() or _previous:
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current in (signal.SIG_IGN, None):  # ignored, or a handler not set from Python
        return False
    _previous.append((current, os.getpid()))
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def _unguard_sigterm() -> None:
    previous, _ = _previous.pop()
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, previous)


def _reason(err: OSError, *ours: Path) -> str:
    """An OSError in words, without the temporary file's name."""
    if not err.strerror:
        return str(err)
    named = err.filename is not None and Path(os.fsdecode(err.filename)) not in ours
    return f"{err.strerror} ({os.fsdecode(err.filename)})" if named else err.strerror


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to (for libraries that take a path, e.g. pyarrow or
    matplotlib's savefig); on success it replaces `path`. FormatError for a write that fails
    for a reason of the file system (OSError)."""
    path = Path(path)
    guarded = _guard_sigterm()
    tmp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            directory = path.parent.resolve()
            if directory not in _swept:
                _swept.add(directory)
                sweep(directory)
            prefix = f".{path.name}.{HOST}-{os.getpid()}."
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
            tmp = Path(name)
            with _lock:
                _live.add(tmp)
            os.close(fd)
            tmp.chmod(0o666 & ~_UMASK)
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            raise FormatError(path, None, f"cannot write: {_reason(err, path, tmp)}") from err
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
                with _lock:
                    _live.discard(tmp)
    finally:
        if guarded:
            _unguard_sigterm()


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
