"""`clickfit paper vision-bias` gives the same tables on any thread count: a small
configuration is run twice in subprocesses, with NUMBA_NUM_THREADS 1 and 2 (so the E-step's
query-ordered chunks, and with them the order of its per-rank sums, differ), and every table
and claims.md must come out identical to the printed precision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SESSIONS = 1_000


def _run(tmp: Path, threads: int) -> Path:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    out = tmp / f"threads-{threads}"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.cli", "paper", "vision-bias", "--sessions",
         str(SESSIONS), "--engines", "em", "--generators", "vubm-2", "--results", str(out),
         "--cache", str(out / "cache"), "--no-progress"],
        check=True, env=env, capture_output=True, text=True, timeout=600,
    )
    return out / "paper" / f"vision-bias-{SESSIONS}-sessions"


def test_same_tables_with_one_and_two_threads(tmp_path):
    one, two = _run(tmp_path, 1), _run(tmp_path, 2)
    tables = sorted(p.name for p in one.glob("*.md"))
    assert "claims.md" in tables and "table5-perplexity-by-rank.md" in tables
    assert tables == sorted(p.name for p in two.glob("*.md"))
    for name in tables:
        assert (one / name).read_text() == (two / name).read_text(), name
