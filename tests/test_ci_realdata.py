"""tests/conftest.py: with CI=true a `realdata` test that skips for want of ../shared/data
fails (an error at setup) instead; elsewhere it skips as before, and other skips are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()

TESTS = """
import pytest

pytestmark = pytest.mark.realdata


@pytest.fixture
def data():
    pytest.skip("the Yandex WSCD sample is not in ../shared/data")


@pytest.mark.skipif(True, reason="../shared/data absent")
def test_marked_skipif():
    pass


def test_fixture_skip(data):
    pass


@pytest.mark.realdata
def test_present():
    pass
"""

OTHER = """
import pytest


def test_unrelated_skip():
    pytest.skip("not real data")
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    realdata: needs ../shared/data\n")
    pytester.makepyfile(test_real=TESTS, test_other=OTHER)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider")


def test_real_data_skips_fail_in_ci(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "true")
    result.assert_outcomes(passed=1, errors=2, skipped=1)
    result.stdout.fnmatch_lines(["*CI=true: a real-data test may not skip*"])


@pytest.mark.parametrize("ci", [None, "false"])
def test_real_data_skips_skip_elsewhere(pytester, monkeypatch, ci):
    _run(pytester, monkeypatch, ci).assert_outcomes(passed=1, skipped=3)
