"""Where the data directory comes from: an override, then CLICKFIT_DATA, then ../shared/data."""

from __future__ import annotations

from clicklog import shared_data_dir, yandex_sample_paths
from clicklog.paths import REPO_ROOT


def test_override_then_environment_then_default(tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv("CLICKFIT_DATA", str(env_dir))
    assert shared_data_dir(tmp_path) == tmp_path
    assert shared_data_dir() == env_dir
    assert shared_data_dir(tmp_path / "missing") is None
    monkeypatch.setenv("CLICKFIT_DATA", str(tmp_path / "missing"))
    assert shared_data_dir() is None
    monkeypatch.delenv("CLICKFIT_DATA")
    default = REPO_ROOT.parent / "shared" / "data"
    assert shared_data_dir() == (default if default.is_dir() else None)


def test_yandex_sample_paths_need_both_files(tmp_path):
    folder = tmp_path / "yandex-wscd-sample"
    folder.mkdir()
    (folder / "trainSample").write_text("")
    assert yandex_sample_paths(tmp_path) is None
    (folder / "testSample").write_text("")
    assert yandex_sample_paths(tmp_path) == (folder / "trainSample", folder / "testSample")
