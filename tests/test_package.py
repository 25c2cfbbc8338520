"""The package as a user meets it: metadata (SPDX licence, LICENSE file, classifiers),
`clickfit --version`, outputs under the working directory, a closed pipe ending quietly, and
the README's Python example running as written."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from benchmarks import runner
from benchmarks.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
CLICKFIT = [sys.executable, "-c", "import sys; from benchmarks.cli import main; "
            "sys.exit(main())"]


def test_metadata_licence_and_classifiers():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    # An SPDX licence string excludes licence classifiers (setuptools refuses both).
    assert project["classifiers"] and not any(c.startswith("License ::")
                                              for c in project["classifiers"])


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"clickfit {metadata.version('clickfit')}"


def test_results_and_cache_go_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser(["bench"]).parse_args(["bench"])
    assert not args.results.is_absolute() and not args.cache.is_absolute()
    assert args.results.resolve() == tmp_path / "results"
    assert runner.DEFAULT_CACHE.resolve() == tmp_path / ".cache" / "bench"


def test_a_closed_pipe_ends_quietly(tmp_path):
    log = tmp_path / "log.tsv"
    log.write_text("session_id\tquery\tdoc\trank\tclick\ns\tq\td\t1\t1\n")
    proc = subprocess.Popen([*CLICKFIT, "data", "stats", str(log)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first byte, like `| head -0`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == b""


def readme_python() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no Python example"
    return "\n".join(blocks)


@pytest.mark.realdata
@pytest.mark.slow
def test_readme_python_example_runs_as_written():
    import clicklog

    if clicklog.yandex_sample_paths() is None:
        pytest.skip("no ../shared/data/yandex-wscd-sample")
    # From the repository root, as the README says; files the example writes there (the saved
    # model) are removed afterwards.
    before = set(ROOT.iterdir())
    try:
        done = subprocess.run([sys.executable, "-c", readme_python()], cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
    finally:
        for path in set(ROOT.iterdir()) - before:
            if path.is_file():
                path.unlink()
    assert done.returncode == 0, done.stderr[-3000:]
