"""Every case of the malformed-input corpus (tests/clicklog/make_corpus.py) through `clickfit
data stats` / `convert`, in-process: no traceback, no hang, and the outcome the case names (a
one-line error naming the file, a counted drop, or a clean read)."""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
from pathlib import Path

import pytest

from benchmarks.cli import main

_spec = importlib.util.spec_from_file_location(
    "make_corpus", Path(__file__).with_name("make_corpus.py")
)
make_corpus = importlib.util.module_from_spec(_spec)
sys.modules["make_corpus"] = make_corpus
_spec.loader.exec_module(make_corpus)

CASES = make_corpus.all_cases()
HANG_SECONDS = 60
DROPS = ("duplicate_clicks", "dropped_clicks_not_on_page", "dropped_clicks_without_query")


class Hang(Exception):
    pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    built = make_corpus.build_corpus(tmp_path_factory.mktemp("corpus"))
    return {case.name: path for case, path in built}


def _run(argv: list[str]) -> tuple[int, list[str]]:
    """main(argv), ended by Hang after HANG_SECONDS; with the exceptions Python reported as
    "Exception ignored in ..." (a traceback on the user's terminal all the same)."""
    ignored = []

    def alarm(signum, frame):
        raise Hang(f"no answer after {HANG_SECONDS} s")

    def unraisable(info):
        ignored.append(f"{type(info.exc_value).__name__}: {info.exc_value} in {info.object}")

    previous, hook = signal.signal(signal.SIGALRM, alarm), sys.unraisablehook
    sys.unraisablehook = unraisable
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        return main(argv), ignored
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = hook


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 130
    outcomes = {case.expect for case in CASES}
    assert outcomes == set(make_corpus.OUTCOMES)
    assert sum(case.expect == "error" for case in CASES) >= 130


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case, corpus, capsys):
    path = corpus[case.name]
    if case.output is None:
        argv = ["data", "stats", str(path), "--json", *case.args]
        named = path
    else:
        named = path.parent / case.output
        argv = ["data", "convert", str(path), str(named), *case.args]
    status, ignored = _run(argv)  # an exception here is the traceback a user would see
    out, err = capsys.readouterr()
    assert "Traceback" not in err and not ignored, ignored
    if case.expect == "error":
        assert status == 1, f"accepted: {out[:300]}"
        assert err.startswith("clickfit: error: ") and err.count("\n") == 1, err
        assert str(named) in err, f"the message does not name {named}: {err}"
        return
    assert status == 0, err
    if case.output is not None:
        assert named.is_file()
        return
    stats = json.loads(out)
    assert stats["sessions"] > 0
    report = stats["read_report"] or {}
    drops = sum(report.get(key, 0) for key in DROPS)
    assert (drops > 0) == (case.expect == "drop"), report
