"""The extrapolation of `clickfit scale`'s largest fits to the Baidu-ULTR size CLAX reports
(about 1.2e9 sessions fitted in about 2 hours on one GPU): what the measured time per E-step
and session implies on this machine and on a 16-core one.

The projection holds what the 10^7-session record measured fixed: the E-step count (it grew
from 10^6 to 10^7 sessions, so the projection is a lower bound on it), the time per E-step per
session (the size table's slopes are about 1; a larger log's deduplication gain is left out),
and, on 16 cores, a speed-up of 8 over these 2 cores, an upper bound (results/throughput.md
measures 1 against 2 threads). A log of that size does not fit in memory here, so the
streamed fit's rate (em-stream) is the one that applies; the in-memory rate is beside it.
"""

from __future__ import annotations

BAIDU_SESSIONS = 1.2e9
BAIDU_CLAX_HOURS = 2.0
CORES_HERE, CORES_LARGE = 2, 16


def hours(record: dict, sessions: float = BAIDU_SESSIONS) -> float:
    """The record's fit (every E-step at its measured time per session) scaled to `sessions`."""
    per_estep = record["fit_seconds"] / record["esteps"]
    return per_estep * sessions / record["sessions"] * record["esteps"] / 3600.0


def table(in_memory: dict[str, dict], streamed: dict[str, dict]) -> list[str]:
    """One row per model with a streamed record: E-steps, seconds per E-step, and hours for
    BAIDU_SESSIONS on CORES_HERE and CORES_LARGE cores."""
    lines = [
        f"| model | E-steps at 10^7 | s per E-step, streamed (in memory) | "
        f"{BAIDU_SESSIONS:.1e} sessions, {CORES_HERE} cores: hours streamed (in memory) | "
        f"{CORES_LARGE} cores: hours streamed | CLAX, one GPU: hours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, record in streamed.items():
        memory = in_memory.get(model)
        per = record["fit_seconds"] / record["esteps"]
        per_memory = "" if memory is None else f" ({memory['fit_seconds'] / memory['esteps']:.2f})"
        here = hours(record)
        here_memory = "" if memory is None else f" ({hours(memory):.1f})"
        lines.append(
            f"| {model} | {record['esteps']} | {per:.2f}{per_memory} | {here:.1f}{here_memory} | "
            f"{here * CORES_HERE / CORES_LARGE:.2f} | {BAIDU_CLAX_HOURS:.0f} (all models) |")
    return lines
