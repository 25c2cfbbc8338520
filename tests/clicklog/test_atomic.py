"""Atomic writes: the destination is either the old file or the whole new one."""

from __future__ import annotations

import os

import pytest

from clicklog import atomic_path, atomic_write


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
