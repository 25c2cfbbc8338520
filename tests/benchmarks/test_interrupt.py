"""Ctrl-C during `clickfit bench` (benchmarks/interrupt.py): the run stops at the next fit
boundary with one line and status 130, the finished fit is cached, and the rerun resumes.

The SIGINT is sent by the process to itself from inside the first fit (engines.load patched in
a subprocess), so the test knows where it lands without waiting on any clock; the fit it
interrupts is a real JAX/Numba fit, where an unhandled KeyboardInterrupt used to be
swallowed or turned into a SystemError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, signal, sys
from benchmarks import cli
from benchmarks.bench import engines

real_load = engines.load
calls = []

class Interrupting:
    def __init__(self, module):
        self.module = module

    def fit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return self.module.fit(*args, **kwargs)

engines.load = lambda engine: Interrupting(real_load(engine))
sys.exit(cli.main(sys.argv[1:]))
"""


def _bench(tmp_path: Path, interrupt: bool) -> subprocess.CompletedProcess:
    args = ["bench", "--models", "pbm", "--engines", "em,gradient-lbfgs", "--datasets",
            "simulated", "--size", "tiny", "--results", str(tmp_path / "results"),
            "--cache", str(tmp_path / "cache"), "--no-progress"]
    command = [sys.executable, "-c", SCRIPT, *args] if interrupt else [
        sys.executable, "-m", "benchmarks.cli", *args]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_ctrl_c_stops_at_a_fit_boundary_and_the_rerun_resumes(tmp_path):
    stopped = _bench(tmp_path, interrupt=True)
    assert stopped.returncode == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr and "SystemError" not in stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("clickfit: interrupted: stopped after 1 of 2 fits"), last
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    assert not (tmp_path / "results").exists()

    resumed = _bench(tmp_path, interrupt=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 fits computed, 1 from the cache" in resumed.stderr
