"""Atomic writes: the destination is either the old file or the whole new one, whatever
interrupts the write (an exception, SIGTERM, SIGKILL then a later run) or makes it fail."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from benchmarks.cli import main
from clicklog import FormatError, atomic, atomic_path, atomic_write

REPO = Path(__file__).resolve().parents[2]


def test_success_replaces_the_file_with_usual_permissions(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with atomic_write(path) as f:
        f.write("new")
        assert path.read_text() == "old"  # nothing visible until the write completes
    assert path.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "wb") as f:
            f.write(b"half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_path_creates_missing_directories(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    with atomic_path(path) as tmp:
        assert tmp.parent == path.parent
        tmp.write_text("x")
    assert path.read_text() == "x"


def test_failure_on_a_new_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("partial")
            raise KeyError
    assert os.listdir(tmp_path) == []


# --- interruptions: SIGTERM, SIGKILL, and the next run's sweep ---------------------------

# The kernel hands a SIGTERM sent to the process to any thread that does not block it (pyarrow
# and Numba start some), and Python runs its handler once the main thread is back in bytecode.
# The writer blocks the signal in its main thread, so that another thread always takes it, and
# waits in short sleeps as a working program returns to bytecode: one time.sleep(60) outlasted
# the test's 30 s wait whenever another thread happened to take the signal.
WRITER = """
import signal, sys, threading, time
from pathlib import Path
from clicklog.atomic import atomic_path
if sys.argv[2] == "raise":
    def stop(signum, frame):
        raise SystemExit(3)
    signal.signal(signal.SIGTERM, stop)
threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
with atomic_path(Path(sys.argv[1]) / "out.bin") as tmp:
    tmp.write_bytes(b"half")
    print("writing", flush=True)
    for _ in range(600):
        time.sleep(0.1)
"""


def _start_writer(directory, handler: str = "default") -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), handler],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout.readline() == "writing\n"
    return child


def _temporaries(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def test_sigterm_removes_the_temporary_file_and_still_terminates(tmp_path):
    child = _start_writer(tmp_path)
    assert len(_temporaries(tmp_path)) == 1
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM  # died of the signal, as without us
    assert os.listdir(tmp_path) == []


def test_sigterm_calls_the_previous_handler(tmp_path):
    child = _start_writer(tmp_path, "raise")
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 3  # the program's own handler decided
    assert os.listdir(tmp_path) == []


def test_the_sigterm_handler_is_restored_after_the_last_write(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    assert before is not atomic._on_sigterm  # earlier writes restored it too
    with atomic_path(tmp_path / "a") as a:
        assert signal.getsignal(signal.SIGTERM) is atomic._on_sigterm
        with atomic_path(tmp_path / "b") as b:
            b.write_text("b")
        assert signal.getsignal(signal.SIGTERM) is atomic._on_sigterm
        a.write_text("a")
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_sigkilled_write_is_swept_by_the_next_run(tmp_path):
    child = _start_writer(tmp_path)
    child.kill()
    child.wait(timeout=30)
    (left,) = _temporaries(tmp_path)
    assert atomic.TEMP_NAME.match(left)["pid"] == str(child.pid)
    old = time.time() - 2 * atomic.STALE_SECONDS
    os.utime(tmp_path / left, (old, old))
    subprocess.run(
        [sys.executable, "-c", f"from clicklog import atomic_write\n"
         f"with atomic_write({str(tmp_path / 'other.txt')!r}) as f: f.write('x')"],
        check=True,
        cwd=REPO,
    )
    assert os.listdir(tmp_path) == ["other.txt"]


def _temp_name(pid: int, host: str = atomic.HOST, target: str = "out.bin") -> str:
    return f".{target}.{host}-{pid}.abc_1234.tmp"


def test_the_sweep_removes_only_abandoned_files(tmp_path):
    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        minutes, days = time.time() - 300, time.time() - 2 * atomic.ABANDONED_SECONDS
        files = {
            _temp_name(dead.pid): (minutes, True),
            _temp_name(dead.pid, target="fresh.bin"): (time.time(), False),  # rename may be due
            _temp_name(live.pid): (minutes, False),  # its writer still runs
            _temp_name(os.getpid()): (minutes, True),  # our pid, not our write: pid reused
            _temp_name(dead.pid, host="elsewhere"): (minutes, False),  # pid of another machine
            _temp_name(live.pid, host="elsewhere", target="old.bin"): (days, True),
            ".out.bin.abc_1234.tmp": (days, False),  # not our pattern: no host-pid
            "notes.tmp": (days, False),
            "results.csv": (days, False),
        }
        for name, (mtime, _) in files.items():
            (tmp_path / name).write_text("x")
            os.utime(tmp_path / name, (mtime, mtime))
        removed = {path.name for path in atomic.sweep(tmp_path)}
        with atomic_path(tmp_path / "mine.bin") as mine:  # our own write, still open
            os.utime(mine, (minutes, minutes))
            assert atomic.sweep(tmp_path) == [] and mine.exists()
    finally:
        live.kill()
        live.wait()
    assert removed == {name for name, (_, stale) in files.items() if stale}
    assert sorted(os.listdir(tmp_path)) == sorted(set(files) - removed | {"mine.bin"})


# --- write errors: FormatError naming the destination ------------------------------------


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("mkstemp", OSError(errno.EROFS, "Read-only file system")),
        ("fsync", OSError(errno.ENOSPC, "No space left on device")),
        ("replace", OSError(errno.EACCES, "Permission denied")),
    ],
)
def test_file_system_errors_are_format_errors_and_keep_the_old_file(
    tmp_path, monkeypatch, where, error
):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(tempfile if where == "mkstemp" else os, where, fail)
    with pytest.raises(FormatError) as err:
        with atomic_write(path) as f:
            f.write("new")
    assert str(err.value) == f"{path}: cannot write: {error.strerror}"
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_a_full_disk_mid_write_is_a_format_error(tmp_path):
    """The temporary file's descriptor is pointed at /dev/full, which fails every write with
    ENOSPC as a full disk does."""
    path = tmp_path / "out.bin"
    with pytest.raises(FormatError) as err:
        with atomic_write(path, "wb") as f:
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, f.fileno())
            os.close(full)
            f.write(b"x" * 10)
            f.flush()
    assert str(err.value) == f"{path}: cannot write: No space left on device"
    assert os.listdir(tmp_path) == []


def test_the_command_line_reports_an_unwritable_output_in_one_line(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log"
    log.write_text("q1\ta,b : a;")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = tmp_path / "ro" / "out.parquet"
    assert main(["data", "convert", str(log), str(out), "--from", "sample"]) == 1
    assert capsys.readouterr().err == (
        f"clickfit: error: {out}: cannot write: Read-only file system\n"
    )
