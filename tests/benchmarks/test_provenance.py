"""benchmarks.bench.readme.provenance: the commit and whether the code had uncommitted changes.
A command records provenance after writing its outputs under results/, so those must not make
a clean tree look dirty, while any change to the code must."""

import subprocess

import pytest

from benchmarks.bench.readme import provenance


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "table.md").write_text("| a |\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "init")
    return tmp_path


def test_outputs_under_results_do_not_count(repo):
    (repo / "results" / "table.md").write_text("| b |\n")
    made = provenance(repo)
    assert len(made["commit"]) == 40
    assert made["uncommitted_changes"] is False


def test_a_code_change_counts(repo):
    (repo / "code.py").write_text("x = 2\n")
    assert provenance(repo)["uncommitted_changes"] is True
